package streams

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/pointsledger/loyalty/domain"
)

func TestOutboundOfARecord(t *testing.T) {
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.FixedZone("CET", 3600))
	meta := domain.FactMeta{MemberID: "m.1 > *", EventID: "e-1", OccurredAt: at}
	expires := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
	rec := LedgerRecord{Seq: 77, FirstFact: 2, MemberID: meta.MemberID, EventID: meta.EventID,
		After: &domain.Standing{Balance: 150, Pending: 0, Tier: "gold"},
		Facts: []domain.Fact{
			domain.PurchaseRecorded{FactMeta: meta, OrderID: "o-1", Total: domain.Money{Minor: 10000, Currency: "EUR"}},
			domain.PointsEarned{FactMeta: meta, Points: 100, Rule: domain.RuleBase, OrderID: "o-1", ExpiresAt: expires},
			domain.TierChanged{FactMeta: meta, From: "silver", To: "gold", Reason: domain.TierReasonQualifyingSpend},
			domain.PointsEarned{FactMeta: meta, Points: 50, Rule: domain.RuleTierBonus, OrderID: "o-1"},
		}}
	got, err := OutboundOf(rec, "test-source")
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		id, name string
		balance  int64
		tier     string
	}{{"77-3", OutPointsEarned, 100, "silver"}, {"77-4", OutTierChanged, 100, "gold"}, {"77-5", OutPointsEarned, 150, "gold"}}
	if len(got) != len(want) {
		t.Fatalf("%d outbound events, want %d", len(got), len(want))
	}
	for i, w := range want {
		ev := got[i]
		if ev.ID != w.id || ev.Name != w.name {
			t.Errorf("event %d is %s %s, want %s %s", i, ev.ID, ev.Name, w.id, w.name)
		}
		wantSubject := fmt.Sprintf("loyalty.out.%s.v1.%d.%s", w.name, PartitionOf(meta.MemberID), MemberKey(meta.MemberID))
		if ev.Subject != wantSubject || !server.IsValidLiteralSubject(ev.Subject) {
			t.Errorf("event %d subject %q: want %s, a literal subject", i, ev.Subject, wantSubject)
		}
		if p, key, ok := OutboundMember(ev.Subject); !ok || key != MemberKey(meta.MemberID) || p != PartitionOf(meta.MemberID) {
			t.Errorf("OutboundMember(%q) = %d, %q, %v; want the member's partition and key", ev.Subject, p, key, ok)
		}
		var ce struct {
			SpecVersion, ID, Source, Type, Subject, DataContentType string
			Time                                                    time.Time
			Data                                                    map[string]any
		}
		if err := json.Unmarshal(ev.Data, &ce); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if ce.SpecVersion != "1.0" || ce.ID != w.id || ce.Source != "test-source" || ce.Type != "loyalty.out."+w.name+".v1" ||
			ce.Subject != meta.MemberID || !ce.Time.Equal(at) || ce.Time.Location() != time.UTC {
			t.Errorf("event %d envelope %+v", i, ce)
		}
		if ce.Data["balance"] != float64(w.balance) || ce.Data["tier"] != w.tier || ce.Data["member_id"] != meta.MemberID {
			t.Errorf("event %d data %v: want balance %d, tier %s after the fact", i, ce.Data, w.balance, w.tier)
		}
	}
	if !strings.Contains(string(got[0].Data), `"expires_at":"2027-03-01T00:00:00Z"`) {
		t.Errorf("points earned lost its expiry: %s", got[0].Data)
	}
}

func TestOutboundOfARefusedHold(t *testing.T) {
	meta := domain.FactMeta{MemberID: "m-2", EventID: "e-2", OccurredAt: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	rec := LedgerRecord{Seq: 5, MemberID: meta.MemberID, After: &domain.Standing{Balance: 500},
		Facts: []domain.Fact{
			domain.RedemptionRejected{FactMeta: meta, RequestID: "r-1", RewardID: "mug", Reason: domain.RedeemOutOfStock},
			domain.HoldReturned{FactMeta: meta, RequestID: "r-1", Points: 300},
		}}
	got, err := OutboundOf(rec, OutboundSource)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("%d events, want the one refusal", len(got))
	}
	for _, want := range []string{`"reason":"out_of_stock"`, `"points_returned":300`, `"balance":500`, `"reward_id":"mug"`} {
		if !strings.Contains(string(got[0].Data), want) {
			t.Errorf("refusal %s lacks %s", got[0].Data, want)
		}
	}
}

func TestOutboundOfOldAndOwnRecords(t *testing.T) {
	meta := domain.FactMeta{MemberID: "m-3", EventID: "e-3", OccurredAt: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	old := LedgerRecord{Seq: 9, MemberID: meta.MemberID, Facts: []domain.Fact{domain.PointsExpired{FactMeta: meta, Points: 10, Rule: domain.RuleExpiry}}}
	got, err := OutboundOf(old, OutboundSource)
	if err != nil || len(got) != 1 {
		t.Fatalf("OutboundOf(record without standing) = %d events, %v", len(got), err)
	}
	if strings.Contains(string(got[0].Data), "balance") {
		t.Errorf("a record that kept no standing tells a balance: %s", got[0].Data)
	}
	stock := meta
	stock.MemberID = domain.StockMemberPrefix + "mug"
	own := LedgerRecord{Seq: 10, MemberID: stock.MemberID, Facts: []domain.Fact{domain.PointsEarned{FactMeta: stock, Points: 1}}}
	if got, _ := OutboundOf(own, OutboundSource); len(got) != 0 {
		t.Errorf("a reward's stock gave %d outbound events", len(got))
	}
}

func TestParseOutboundID(t *testing.T) {
	seq, index, err := ParseOutboundID(OutboundID(18446744073709551615, 12))
	if err != nil || seq != 18446744073709551615 || index != 12 {
		t.Errorf("round trip gave %d, %d, %v", seq, index, err)
	}
	for _, bad := range []string{"", "1", "0-1", "1--1", "a-1", "1-b", "1-1-1", "-1", "99999999999999999999-1"} {
		if _, _, err := ParseOutboundID(bad); err == nil {
			t.Errorf("ParseOutboundID(%q) accepted", bad)
		}
	}
}

func TestOutboundMemberRefusesOtherSubjects(t *testing.T) {
	for _, subject := range []string{"", "loyalty.out", "loyalty.out.points_earned.v1.bS00Mg", "loyalty.out.points_earned.v1.64.bS00Mg",
		"loyalty.out.points_earned.v1.-1.bS00Mg", "loyalty.out.points_earned.v1.07.bS00Mg", "loyalty.out.points_earned.v1.7.",
		"loyalty.out.points_earned.v1.7.a.b", "loyalty.in.points_earned.v1.7.bS00Mg"} {
		if p, key, ok := OutboundMember(subject); ok {
			t.Errorf("OutboundMember(%q) = %d, %q: want refused", subject, p, key)
		}
	}
}
