package main_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/handlers"
	"github.com/pointsledger/loyalty/streams"
)

const asyncAPIPath = "../../docs/asyncapi.yaml"

// TestAsyncAPIDocumentParses runs .ci/node/check-asyncapi.mjs: the document
// parses with @asyncapi/parser, every example in it is valid by its schema,
// and so is every outbound event the engine makes, as published and as a
// webhook's body.
func TestAsyncAPIDocumentParses(t *testing.T) {
	dir := nodeTools(t)
	samples := filepath.Join(t.TempDir(), "samples.json")
	data, err := json.Marshal(outboundSamples(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(samples, data, 0o600); err != nil {
		t.Fatal(err)
	}
	doc, err := filepath.Abs(asyncAPIPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", filepath.Join(dir, "check-asyncapi.mjs"), doc, samples)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), " 0 problems") {
		t.Fatalf("check-asyncapi: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

type asyncAPISample struct {
	Message string            `json:"message"`
	Payload json.RawMessage   `json:"payload"`
	Headers map[string]string `json:"headers,omitempty"`
}

// outboundSamples are outbound events of every type, with the headers the
// relay publishes them with, and each as a webhook body.
func outboundSamples(t *testing.T) []asyncAPISample {
	t.Helper()
	meta := domain.FactMeta{MemberID: "m.42 *>", EventID: "e-1", OccurredAt: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}
	at := meta.OccurredAt.AddDate(1, 0, 0)
	rec := streams.LedgerRecord{Seq: 12, FirstFact: 3, MemberID: meta.MemberID, After: &domain.Standing{Balance: 900, Pending: 40, Tier: "gold"},
		Facts: []domain.Fact{
			domain.MemberEnrolled{FactMeta: meta, Channel: "web", ReferredBy: "m-7"},
			domain.PointsEarned{FactMeta: meta, Points: 40, Rule: domain.RuleBase, OrderID: "o-1", ExpiresAt: at, AvailableAt: at},
			domain.PointsReleased{FactMeta: meta, Points: 40, OrderID: "o-1", ExpiresAt: at},
			domain.PointsReversed{FactMeta: meta, Points: 5, Rule: domain.RuleRefund, OrderID: "o-1"},
			domain.PointsExpiring{FactMeta: meta, Points: 5, ExpiresAt: at},
			domain.PointsExpired{FactMeta: meta, Points: 5, Rule: domain.RuleInactivity},
			domain.PointsRedeemed{FactMeta: meta, Points: 5, RequestID: "r-1", RewardID: "mug", Quantity: 1},
			domain.TierChanged{FactMeta: meta, From: "silver", To: "gold", Reason: domain.TierReasonQualifyingSpend, ExpiresAt: at},
			domain.RedemptionRejected{FactMeta: meta, RequestID: "r-2", RewardID: "vase", Reason: domain.RedeemOutOfStock},
			domain.HoldReturned{FactMeta: meta, RequestID: "r-2", Points: 7},
			domain.PointsAdjusted{FactMeta: meta, RequestID: "case-1", Points: 250, Reason: "missing_points", OperatorID: "a-1", ExpiresAt: at},
			domain.RedemptionCancelled{FactMeta: meta, RequestID: "case-2", RedemptionID: "r-1", RewardID: "mug", Quantity: 1, Points: 5,
				Reason: "customer_request", OperatorID: "a-1"},
			domain.VoucherIssued{FactMeta: meta, RequestID: "r-5", RewardID: "voucher-10", Code: "7KQM2XHD9RTBVW4P", ExpiresAt: at},
			domain.VoucherUsed{FactMeta: meta, RequestID: "till-1", Code: "7KQM2XHD9RTBVW4P", RedemptionID: "r-5", RewardID: "voucher-10"},
			domain.OfferMade{FactMeta: meta, Rule: "come-back-offer", Offer: "winback-call", ProgramVersion: "v1"},
		}}
	events, err := streams.OutboundOf(rec, streams.OutboundSource)
	if err != nil {
		t.Fatal(err)
	}
	var out []asyncAPISample
	names := map[string]bool{}
	for _, ev := range events {
		names[ev.Name] = true
		id := camel(ev.Name)
		out = append(out,
			asyncAPISample{Message: id + "Out", Payload: ev.Data, Headers: map[string]string{
				jetstream.MsgIDHeader: ev.ID, "Content-Type": streams.OutboundContentType,
				handlers.HeaderLedgerSeq: strconv.FormatUint(ev.Seq, 10), handlers.HeaderFactIndex: strconv.Itoa(ev.Index)}},
			asyncAPISample{Message: id + "Webhook", Payload: ev.Data})
	}
	if len(names) != len(streams.OutboundTypes) {
		t.Fatalf("samples of %d outbound types, want all %d", len(names), len(streams.OutboundTypes))
	}
	return out
}

// camel is the message id's stem of an outbound name: points_earned ->
// pointsEarned.
func camel(name string) string {
	parts := strings.Split(name, "_")
	for i := 1; i < len(parts); i++ {
		parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
	}
	return strings.Join(parts, "")
}

// TestAsyncAPIDocumentCoversTheWire checks the document against the code:
// every input type token, outbound type and service endpoint is in it.
func TestAsyncAPIDocumentCoversTheWire(t *testing.T) {
	raw, err := os.ReadFile(asyncAPIPath)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Channels map[string]struct {
			Address *string `yaml:"address"`
		} `yaml:"channels"`
		Components struct {
			Parameters map[string]struct {
				Enum []string `yaml:"enum"`
			} `yaml:"parameters"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var addresses []string
	for _, c := range doc.Channels {
		if c.Address != nil {
			addresses = append(addresses, *c.Address)
		}
	}
	for _, typ := range domain.EventTypes {
		subject, err := streams.InputSubject(typ, "m")
		if err != nil {
			t.Fatal(err)
		}
		token := strings.Split(subject, ".")[2]
		if !slices.Contains(doc.Components.Parameters["typeToken"].Enum, token) {
			t.Errorf("input type token %s (%s) is not in the document", token, typ)
		}
	}
	want := []string{"loyalty.in.{typeToken}.{memberKey}", "loyalty.dlq.{reason}",
		"loyalty.svc.balance", "loyalty.svc.redeem", "loyalty.svc.transfer", "loyalty.svc.adjust", "loyalty.svc.cancel",
		"loyalty.svc.voucher.check", "loyalty.svc.voucher.use"}
	for _, name := range streams.OutboundTypes {
		want = append(want, "loyalty.out."+name+".v1.{partition}.{memberKey}")
	}
	for _, w := range want {
		if !slices.Contains(addresses, w) {
			t.Errorf("no channel at %s in the document", w)
		}
	}
}
