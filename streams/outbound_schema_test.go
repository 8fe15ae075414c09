package streams

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
)

func loadOutboundSchema(t *testing.T, name string) map[string]any {
	t.Helper()
	return loadSchemaFile(t, filepath.Join(schemaDir, "out", OutboundType(name)+".json"))
}

// everyOutboundFact is a record holding every fact that makes an outbound
// event, each with every optional field set, and the refusal of a hold.
func everyOutboundFact() LedgerRecord {
	meta := domain.FactMeta{MemberID: "m-1", EventID: "e-1", OccurredAt: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}
	at := meta.OccurredAt.AddDate(1, 0, 0)
	var facts []domain.Fact
	facts = append(facts,
		domain.MemberEnrolled{FactMeta: meta, Channel: "web", ReferredBy: "m-0"},
		domain.PointsEarned{FactMeta: meta, Points: 10, Rule: domain.RuleBase, OrderID: "o-1", ExpiresAt: at, AvailableAt: at},
		domain.PointsReleased{FactMeta: meta, Points: 10, OrderID: "o-1", ExpiresAt: at},
		domain.PointsReversed{FactMeta: meta, Points: 5, Rule: domain.RuleRefund, OrderID: "o-1"},
		domain.PointsExpiring{FactMeta: meta, Points: 5, ExpiresAt: at},
		domain.PointsRedeemed{FactMeta: meta, Points: 5, RequestID: "r-1", RewardID: "mug", Quantity: 1},
		domain.HoldRedeemed{FactMeta: meta, Points: 5, RequestID: "r-2"},
		domain.TierChanged{FactMeta: meta, From: "bronze", To: "silver", Reason: domain.TierReasonQualifyingSpend, ExpiresAt: at},
		domain.RedemptionRejected{FactMeta: meta, RequestID: "r-3", RewardID: "vase", Reason: domain.RedeemOutOfStock},
		domain.HoldReturned{FactMeta: meta, RequestID: "r-3", Points: 7},
		domain.PointsAdjusted{FactMeta: meta, RequestID: "case-1", Points: -40, Reason: "duplicate_credit", Note: "n", OperatorID: "a-1"},
		domain.RedemptionCancelled{FactMeta: meta, RequestID: "case-2", RedemptionID: "r-1", RewardID: "mug", Quantity: 1, Points: 5,
			Reason: "customer_request", OperatorID: "a-1"},
		domain.VoucherIssued{FactMeta: meta, RequestID: "r-5", RewardID: "gift", Code: "7KQM2XHD9RTBVW4P", ExpiresAt: at},
		domain.VoucherUsed{FactMeta: meta, RequestID: "till-1", Code: "7KQM2XHD9RTBVW4P", RedemptionID: "r-5", RewardID: "gift", Channel: "pos-1"},
		domain.OfferMade{FactMeta: meta, Rule: "come-back-offer", Offer: "winback-call", ProgramVersion: "v1"},
		domain.DebtRepaid{FactMeta: meta, Points: 3},
	)
	for _, rule := range []string{domain.RuleExpiry, domain.RuleInactivity} {
		facts = append(facts, domain.PointsExpired{FactMeta: meta, Points: 1, Rule: rule})
	}
	for _, reason := range domain.TierReasons {
		facts = append(facts, domain.TierChanged{FactMeta: meta, To: "gold", Reason: reason})
	}
	for _, reason := range domain.RedemptionReasons {
		facts = append(facts, domain.RedemptionRejected{FactMeta: meta, RequestID: "r-4", Reason: reason})
	}
	return LedgerRecord{Seq: 3, MemberID: meta.MemberID, After: &domain.Standing{Balance: 100, Pending: 10, Tier: "gold"}, Facts: facts}
}

// TestOutboundSchemas checks docs/schemas/out against what the engine
// sends: every type has a schema, every event it makes is valid, every
// field it writes is documented and every documented field is written.
func TestOutboundSchemas(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(schemaDir, "out", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, name := range OutboundTypes {
		want = append(want, OutboundType(name)+".json")
	}
	var got []string
	for _, f := range files {
		got = append(got, filepath.Base(f))
	}
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Fatalf("schemas %v, want one per outbound type: %v", got, want)
	}
	events, err := OutboundOf(everyOutboundFact(), OutboundSource)
	if err != nil {
		t.Fatal(err)
	}
	written := map[string]map[string]bool{}
	for _, ev := range events {
		s := loadOutboundSchema(t, ev.Name)
		inst, err := parseJSON(ev.Data)
		if err != nil {
			t.Fatal(err)
		}
		if errs := validate(s, inst, "#"); len(errs) > 0 {
			t.Errorf("%s event %s is not valid by its schema: %s", ev.Name, ev.Data, strings.Join(errs, "; "))
		}
		var ce struct{ Data map[string]json.RawMessage }
		if err := json.Unmarshal(ev.Data, &ce); err != nil {
			t.Fatal(err)
		}
		if written[ev.Name] == nil {
			written[ev.Name] = map[string]bool{}
		}
		for k := range ce.Data {
			written[ev.Name][k] = true
		}
	}
	for _, name := range OutboundTypes {
		s := loadOutboundSchema(t, name)
		props, _ := schemaAt(s, "properties", "data", "properties").(map[string]any)
		for k := range written[name] {
			if props[k] == nil {
				t.Errorf("%s: the engine writes data.%s, which the schema does not document", name, k)
			}
		}
		for k := range props {
			if !written[name][k] {
				t.Errorf("%s: the schema documents data.%s, which the engine never writes", name, k)
			}
		}
		for i, ex := range asList(s["examples"]) {
			if errs := validate(s, ex, "#"); len(errs) > 0 {
				t.Errorf("%s: example %d is not valid: %s", name, i, strings.Join(errs, "; "))
			}
		}
		if len(asList(s["examples"])) == 0 {
			t.Errorf("%s: the schema has no example", name)
		}
	}
}

// TestOutboundSchemasRefuseWhatTheEngineNeverSends: the schemas are not
// so loose that anything passes.
func TestOutboundSchemasRefuseWhatTheEngineNeverSends(t *testing.T) {
	s := loadOutboundSchema(t, OutTierChanged)
	ex := asList(s["examples"])[0]
	for _, mutate := range []func(map[string]any){
		func(m map[string]any) { m["id"] = "abc" },
		func(m map[string]any) { m["type"] = "loyalty.out.tier_changed.v2" },
		func(m map[string]any) { delete(m, "subject") },
		func(m map[string]any) { m["data"].(map[string]any)["reason"] = "bribery" },
		func(m map[string]any) { delete(m["data"].(map[string]any), "to_tier") },
		func(m map[string]any) { m["data"].(map[string]any)["balance"] = "12" },
	} {
		raw, _ := json.Marshal(ex)
		inst, _ := parseJSON(raw)
		mutate(inst.(map[string]any))
		if errs := validate(s, inst, "#"); len(errs) == 0 {
			out, _ := json.Marshal(inst)
			t.Errorf("the schema accepts %s", out)
		}
	}
}
