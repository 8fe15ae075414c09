package streams

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/pointsledger/loyalty/domain"
)

var sampleTime = time.Date(2026, 3, 1, 10, 15, 0, 0, time.UTC)

// sampleEvents holds a valid event of every type, with member ids that are
// hard to carry on a subject.
func sampleEvents() []domain.Event {
	return []domain.Event{
		{ID: "0c6f5d54-5a1e-4b35-9a8f-3c1d2e4f5a60", Type: domain.TypeMemberEnrolled, Source: "app-ios",
			MemberID: "m-42", OccurredAt: sampleTime, Body: domain.Enrolment{Channel: "app"}},
		{ID: "6f1c2b1a-3c4d-4e5f-8a9b-0c1d2e3f4a5b", Type: domain.TypePurchaseCompleted, Source: "shop-eu-1",
			MemberID: "m.42 *>", OccurredAt: sampleTime.Add(time.Hour + 123456789*time.Nanosecond),
			Body: domain.Purchase{OrderID: "A-1001", Total: domain.Money{Minor: 1299, Currency: "EUR"}, Channel: "web",
				Lines: []domain.LineItem{
					{SKU: "SKU-1", Category: "beauty", Quantity: 1, UnitPrice: 999},
					{SKU: "SKU-2", Quantity: 3, UnitPrice: 100},
				}}},
		{ID: "b2a1e0f4-1111-4222-8333-944455566677", Type: domain.TypePurchaseRefunded, Source: "shop-eu-1",
			MemberID: "ünïcødé 会员 🎉", OccurredAt: sampleTime.Add(48 * time.Hour),
			Body: domain.Refund{OrderID: "A-1001", Amount: domain.Money{Minor: 500, Currency: "EUR"}}},
		{ID: "b2a1e0f4-1111-4222-8333-944455566678", Type: domain.TypePurchaseRefunded, Source: "pos-berlin-3",
			MemberID: `quote " back \ slash`, OccurredAt: sampleTime.Add(49 * time.Hour),
			Body: domain.Refund{OrderID: "A-1001", Lines: []domain.RefundLine{{SKU: "SKU-2", Quantity: 2}}}},
		{ID: "c3d4e5f6-0000-4000-8000-000000000001", Type: domain.TypeFeedbackSubmitted, Source: "survey",
			MemberID: "<m&42>", OccurredAt: sampleTime,
			Body: domain.Feedback{OrderID: "A-1001", Rating: new(4), NPS: new(0), Comment: "Schnell geliefert 👍\nDanke", Channel: "email"}},
		{ID: "c3d4e5f6-0000-4000-8000-000000000002", Type: domain.TypeFeedbackSubmitted, Source: "survey",
			MemberID: "m-42", OccurredAt: sampleTime, Body: domain.Feedback{NPS: new(10)}},
		{ID: "d4e5f6a7-0000-4000-8000-000000000003", Type: domain.TypeVisitRecorded, Source: "pos-berlin-3",
			MemberID: "m-42", OccurredAt: sampleTime, Body: domain.Visit{Channel: "store-berlin-3"}},
		{ID: "e5f6a7b8-0000-4000-8000-000000000004", Type: domain.TypeMemberStatus, Source: "crm",
			MemberID: "m-42", OccurredAt: sampleTime, Body: domain.StatusChange{Status: domain.StatusBlocked, Reason: "chargeback review"}},
		{ID: "clock-k1-5f0c2a9e4b7d18e3a6c1f0b29d84e7c3", Type: domain.TypeMemberClock, Source: "loyalty-clock",
			MemberID: "m-42", OccurredAt: sampleTime, Body: domain.Clock{}},
		{ID: "f6a7b8c9-0000-4000-8000-000000000005", Type: domain.TypeRedemption, Source: "pos-berlin-3",
			MemberID: "m-42", OccurredAt: sampleTime,
			Body: domain.RedeemRequest{RequestID: "till-3-000812", RewardID: "coffee", Quantity: 1, Channel: "pos-berlin-3"}},
		{ID: "f6a7b8c9-0000-4000-8000-000000000006", Type: domain.TypeRedemption, Source: "shop-eu-1",
			MemberID: "m-42", OccurredAt: sampleTime, Body: domain.RedeemRequest{RequestID: "checkout-77", Points: 500}},
		{ID: "a7b8c9d0-0000-4000-8000-000000000007", Type: domain.TypePurchaseConfirmed, Source: "fulfilment",
			MemberID: "m-42", OccurredAt: sampleTime, Body: domain.Confirmation{OrderID: "A-1001"}},
		{ID: "b8c9d0e1-0000-4000-8000-000000000008", Type: domain.TypeTierAssigned, Source: "crm",
			MemberID: "m-42", OccurredAt: sampleTime, Body: domain.TierAssignment{Tier: "gold", Reason: "status match"}},
		{ID: "c9d0e1f2-0000-4000-8000-000000000009", Type: domain.TypeTransfer, Source: "app",
			MemberID: "m-42", OccurredAt: sampleTime, Body: domain.TransferRequest{RequestID: "gift-17", ToMemberID: "m-43", Points: 500}},
		{ID: "transfer-4c1d9e3b0a7f52e6d8b1c4a9f03e7d26", Type: domain.TypeTransferIn, Source: domain.FollowUpSource,
			MemberID: "m-43", OccurredAt: sampleTime, Body: domain.TransferIn{FromMemberID: "m-42", RequestID: "gift-17", Points: 500}},
		{ID: "referral-9a0e4f1c2b3d5e6f7a8b9c0d1e2f3a4b", Type: domain.TypeReferralReward, Source: domain.FollowUpSource,
			MemberID: "m-42", OccurredAt: sampleTime, Body: domain.ReferralReward{ReferredMemberID: "m-44"}},
		{ID: "d0e1f2a3-0000-4000-8000-00000000000a", Type: domain.TypeMemberEnrolled, Source: "app",
			MemberID: "m-44", OccurredAt: sampleTime, Body: domain.Enrolment{Channel: "app", ReferredBy: "m-42", Birthday: domain.Birthday{Month: time.March, Day: 20}}},
		{ID: "stock-request-1f2e3d4c5b6a79880716253443526170", Type: domain.TypeStockRequest, Source: domain.FollowUpSource,
			MemberID: "stock:lounge-pass", OccurredAt: sampleTime,
			Body: domain.StockRequest{RewardID: "lounge-pass", MemberID: "m-42", RequestID: "till-3-000813", Quantity: 1}},
		{ID: "stock-answer-1f2e3d4c5b6a79880716253443526170", Type: domain.TypeStockAnswer, Source: domain.FollowUpSource,
			MemberID: "m-42", OccurredAt: sampleTime, Body: domain.StockAnswer{RequestID: "till-3-000813", RewardID: "lounge-pass", Granted: true}},
		{ID: "stock-return-7d2e3f4c5b6a79880716253443526171", Type: domain.TypeStockRequest, Source: domain.FollowUpSource,
			MemberID: "stock:lounge-pass", OccurredAt: sampleTime,
			Body: domain.StockRequest{RewardID: "lounge-pass", MemberID: "m-42", RequestID: "till-3-000813", Quantity: 1, Return: true}},
		{ID: "adjust-8e1f0c2d-0000-4000-8000-00000000000b", Type: domain.TypeAdjustment, Source: "loyalty-service",
			MemberID: "m-42", OccurredAt: sampleTime, Body: domain.AdjustRequest{RequestID: "case-5521", Points: 250, Reason: "missing_points",
				Note: "receipt 4411 was not scanned", OperatorID: "agent-7"}},
		{ID: "adjust-8e1f0c2d-0000-4000-8000-00000000000c", Type: domain.TypeAdjustment, Source: "loyalty-service",
			MemberID: "m-42", OccurredAt: sampleTime, Body: domain.AdjustRequest{RequestID: "case-5522", Points: -100, Reason: "duplicate_credit",
				OperatorID: "agent-7"}},
		{ID: "voucher-use-0b3c2d1e-0000-4000-8000-00000000000e", Type: domain.TypeVoucherUse, Source: "loyalty-service",
			MemberID: "m-42", OccurredAt: sampleTime, Body: domain.VoucherUse{RequestID: "till-3-000901", Code: "7KQM-2XHD-9RTB-VW4P",
				Channel: "pos-berlin-3"}},
		{ID: "cancel-9f2a1d3e-0000-4000-8000-00000000000d", Type: domain.TypeRedemptionCancel, Source: "loyalty-service",
			MemberID: "m-42", OccurredAt: sampleTime, Body: domain.CancelRequest{RequestID: "case-5523", RedemptionID: "till-3-000812",
				Reason: "customer_request", OperatorID: "agent-7"}},
		{ID: "erase-5d0c7a1b-0000-4000-8000-00000000000f", Type: domain.TypeErasure, Source: "loyalty-service",
			MemberID: "m-42", OccurredAt: sampleTime, Body: domain.ErasureRequest{Channel: "back-office"}},
		{ID: "scored-5e1f0c2d9a8b7c6d5e4f3a2b1c0d9e8f", Type: domain.TypeMemberScored, Source: "loyalty-engine",
			MemberID: "m-42", OccurredAt: sampleTime, Body: domain.Scored{Scores: domain.Scores{FitID: "17", PAlivePPM: 250000,
				RiskBand: "high", PredictedValue: domain.Money{Minor: 45000, Currency: "EUR"}, ValueBand: "medium", Segment: "hibernating"}}},
		{ID: "c3d4e5f6-0000-4000-8000-000000000010", Type: domain.TypeAttributesUpdated, Source: "crm",
			MemberID: "m-42", OccurredAt: sampleTime, Body: domain.AttributesUpdate{Channel: "crm", Attributes: []domain.Attribute{
				{Name: "age_band", Kind: domain.AttributeString, String: "35-44"}, {Name: "home_store", Kind: domain.AttributeString, String: "s-12"},
				{Name: "old_key"}, {Name: "sms_opt_in", Kind: domain.AttributeBool, Bool: true},
				{Name: "visits_2025", Kind: domain.AttributeInt, Int: 14}}}},
	}
}

func TestSampleEventsAreValid(t *testing.T) {
	seen := map[domain.EventType]bool{}
	for _, e := range sampleEvents() {
		seen[e.Type] = true
		if err := domain.Validate(e, e.OccurredAt); err != nil {
			t.Errorf("sample %s: %v", e.ID, err)
		}
	}
	for _, typ := range domain.EventTypes {
		if !seen[typ] {
			t.Errorf("no sample event of type %s", typ)
		}
	}
}

func TestEventRoundTrip(t *testing.T) {
	for _, want := range sampleEvents() {
		t.Run(string(want.Type), func(t *testing.T) {
			data, err := EncodeEvent(want)
			if err != nil {
				t.Fatalf("EncodeEvent: %v", err)
			}
			got, err := DecodeEvent(data)
			if err != nil {
				t.Fatalf("DecodeEvent(%s): %v", data, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("round trip of %s:\n got %#v\nwant %#v", data, got, want)
			}
			if g, w := EventDigest(got), EventDigest(want); g != w {
				t.Errorf("digest after round trip = %x, want %x", g, w)
			}
			var env map[string]any
			if err := json.Unmarshal(data, &env); err != nil {
				t.Fatal(err)
			}
			if got, want := env["specversion"], "1.0"; got != want {
				t.Errorf("specversion = %v, want %v", got, want)
			}
			if got, want := env["datacontenttype"], "application/json"; got != want {
				t.Errorf("datacontenttype = %v, want %v", got, want)
			}
		})
	}
}

// The example of docs/events.md, as upstream sends it.
const examplePurchase = `{"specversion":"1.0","id":"6f1c2b1a-3c4d-4e5f-8a9b-0c1d2e3f4a5b","source":"shop-eu-1","type":"loyalty.purchase.completed.v1",
 "time":"2026-03-01T10:15:00Z","datacontenttype":"application/json",
 "data":{"member_id":"m-42","order_id":"A-1001","amount":1299,"currency":"EUR","channel":"web",
         "lines":[{"sku":"SKU-1","category":"beauty","quantity":1,"unit_price":1299}]}}`

func TestDecodeEventExample(t *testing.T) {
	got, err := DecodeEvent([]byte(examplePurchase))
	if err != nil {
		t.Fatal(err)
	}
	want := domain.Event{
		ID: "6f1c2b1a-3c4d-4e5f-8a9b-0c1d2e3f4a5b", Type: domain.TypePurchaseCompleted, Source: "shop-eu-1",
		MemberID: "m-42", OccurredAt: sampleTime,
		Body: domain.Purchase{OrderID: "A-1001", Total: domain.Money{Minor: 1299, Currency: "EUR"}, Channel: "web",
			Lines: []domain.LineItem{{SKU: "SKU-1", Category: "beauty", Quantity: 1, UnitPrice: 1299}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %#v\nwant %#v", got, want)
	}
}

// event builds an input event around the given envelope extras and data.
func event(typ, time, data string) string {
	return `{"specversion":"1.0","id":"e-1","source":"test","type":"` + typ + `","time":` + time + `,"data":` + data + `}`
}

const (
	okTime     = `"2026-03-01T10:15:00Z"`
	okPurchase = `{"member_id":"m-42","order_id":"A-1","amount":1299,"currency":"EUR","lines":[{"sku":"S","quantity":1,"unit_price":1299}]}`
)

func purchase(data string) string { return event(string(domain.TypePurchaseCompleted), okTime, data) }
func refund(data string) string   { return event(string(domain.TypePurchaseRefunded), okTime, data) }
func feedback(data string) string { return event(string(domain.TypeFeedbackSubmitted), okTime, data) }
func at(time string) string       { return event(string(domain.TypePurchaseCompleted), time, okPurchase) }

func TestDecodeEventRejects(t *testing.T) {
	padded := strings.Replace(purchase(okPurchase), `{`, `{`+strings.Repeat(" ", MaxEventBytes), 1)
	tests := []struct {
		name   string
		in     string
		reason domain.Reason
		field  string
	}{
		{"oversized valid event", padded, ReasonOversized, ""},
		{"oversized garbage", strings.Repeat("x", MaxEventBytes+1), ReasonOversized, ""},

		{"empty", ``, ReasonMalformedJSON, ""},
		{"not json", `purchase A-1 1299 EUR`, ReasonMalformedJSON, ""},
		{"truncated", purchase(okPurchase)[:100], ReasonMalformedJSON, ""},
		{"trailing data", purchase(okPurchase) + `{}`, ReasonMalformedJSON, ""},
		{"array", `[` + purchase(okPurchase) + `]`, ReasonMalformedJSON, ""},
		{"null", `null`, ReasonMalformedJSON, ""},
		{"string", `"event"`, ReasonMalformedJSON, ""},
		{"invalid utf-8", strings.Replace(purchase(okPurchase), "m-42", "m-\xff42", 1), ReasonMalformedJSON, ""},
		{"lone high surrogate", strings.Replace(purchase(okPurchase), "m-42", `m-\ud83c42`, 1), ReasonMalformedJSON, ""},
		{"lone low surrogate", strings.Replace(purchase(okPurchase), "m-42", `m-\udf8942`, 1), ReasonMalformedJSON, ""},
		{"duplicate envelope key", strings.Replace(purchase(okPurchase), `"id":"e-1"`, `"id":"e-1","id":"e-2"`, 1), ReasonMalformedJSON, ""},
		{"duplicate data key", purchase(`{"member_id":"m-1","member_id":"m-2","order_id":"A-1","amount":1,"currency":"EUR"}`), ReasonMalformedJSON, "data"},
		{"specversion a number", strings.Replace(purchase(okPurchase), `"1.0"`, `1.0`, 1), ReasonMalformedJSON, "specversion"},
		{"id a number", strings.Replace(purchase(okPurchase), `"e-1"`, `17`, 1), ReasonMalformedJSON, "id"},
		{"source an object", strings.Replace(purchase(okPurchase), `"test"`, `{"name":"test"}`, 1), ReasonMalformedJSON, "source"},
		{"data an array", purchase(`[` + okPurchase + `]`), ReasonMalformedJSON, "data"},
		{"data a string", purchase(`"{\"member_id\":\"m-42\"}"`), ReasonMalformedJSON, "data"},
		{"member_id a number", purchase(`{"member_id":42,"order_id":"A-1","amount":1299,"currency":"EUR"}`), ReasonMalformedJSON, "member_id"},
		{"amount a string", purchase(`{"member_id":"m-42","order_id":"A-1","amount":"1299","currency":"EUR"}`), ReasonMalformedJSON, "amount"},
		{"amount a boolean", purchase(`{"member_id":"m-42","order_id":"A-1","amount":true,"currency":"EUR"}`), ReasonMalformedJSON, "amount"},
		{"lines an object", purchase(`{"member_id":"m-42","order_id":"A-1","amount":1,"currency":"EUR","lines":{"sku":"S"}}`), ReasonMalformedJSON, "lines"},
		{"line a string", purchase(`{"member_id":"m-42","order_id":"A-1","amount":1,"currency":"EUR","lines":["S"]}`), ReasonMalformedJSON, "lines[0]"},
		{"quantity a string", purchase(`{"member_id":"m-42","order_id":"A-1","amount":1,"currency":"EUR","lines":[{"sku":"S","quantity":"1","unit_price":1}]}`), ReasonMalformedJSON, "lines[0].quantity"},
		{"rating a string", feedback(`{"member_id":"m-42","rating":"5"}`), ReasonMalformedJSON, "rating"},

		{"unknown type", event("loyalty.purchase.completed.v2", okTime, okPurchase), ReasonUnknownType, "type"},
		{"foreign type", event("com.example.order.created", okTime, okPurchase), ReasonUnknownType, "type"},
		{"fact type", event(string(domain.FactPointsEarned), okTime, okPurchase), ReasonUnknownType, "type"},

		{"no specversion", strings.Replace(purchase(okPurchase), `"specversion":"1.0",`, ``, 1), domain.ReasonMissingField, "specversion"},
		{"no type", strings.Replace(purchase(okPurchase), `"type":"loyalty.purchase.completed.v1",`, ``, 1), domain.ReasonMissingField, "type"},
		{"no id", strings.Replace(purchase(okPurchase), `"id":"e-1",`, ``, 1), domain.ReasonMissingField, "id"},
		{"empty id", strings.Replace(purchase(okPurchase), `"id":"e-1"`, `"id":""`, 1), domain.ReasonMissingField, "id"},
		{"null id", strings.Replace(purchase(okPurchase), `"id":"e-1"`, `"id":null`, 1), domain.ReasonMissingField, "id"},
		{"no time", `{"specversion":"1.0","id":"e-1","type":"loyalty.visit.recorded.v1","data":{"member_id":"m-42"}}`, domain.ReasonMissingField, "time"},
		{"empty time", at(`""`), domain.ReasonMissingField, "time"},
		{"no data", `{"specversion":"1.0","id":"e-1","type":"loyalty.visit.recorded.v1","time":"2026-03-01T10:15:00Z"}`, domain.ReasonMissingField, "data"},
		{"null data", purchase(`null`), domain.ReasonMissingField, "data"},
		{"data_base64 instead of data", `{"specversion":"1.0","id":"e-1","type":"loyalty.visit.recorded.v1","time":"2026-03-01T10:15:00Z","data_base64":"e30="}`, domain.ReasonMissingField, "data"},
		{"no member_id", purchase(`{"order_id":"A-1","amount":1299,"currency":"EUR"}`), domain.ReasonMissingField, "member_id"},
		{"null member_id", purchase(`{"member_id":null,"order_id":"A-1","amount":1299,"currency":"EUR"}`), domain.ReasonMissingField, "member_id"},
		{"purchase without order_id", purchase(`{"member_id":"m-42","amount":1299,"currency":"EUR"}`), domain.ReasonMissingField, "order_id"},
		{"purchase without amount", purchase(`{"member_id":"m-42","order_id":"A-1","currency":"EUR"}`), domain.ReasonMissingField, "amount"},
		{"purchase without currency", purchase(`{"member_id":"m-42","order_id":"A-1","amount":1299}`), domain.ReasonMissingField, "currency"},
		{"line without sku", purchase(`{"member_id":"m-42","order_id":"A-1","amount":1,"currency":"EUR","lines":[{"quantity":1,"unit_price":1}]}`), domain.ReasonMissingField, "lines[0].sku"},
		{"line without quantity", purchase(`{"member_id":"m-42","order_id":"A-1","amount":1,"currency":"EUR","lines":[{"sku":"S","unit_price":1},{"sku":"T"}]}`), domain.ReasonMissingField, "lines[0].quantity"},
		{"second line without unit_price", purchase(`{"member_id":"m-42","order_id":"A-1","amount":1,"currency":"EUR","lines":[{"sku":"S","quantity":1,"unit_price":1},{"sku":"T","quantity":1}]}`), domain.ReasonMissingField, "lines[1].unit_price"},
		{"refund without amount or lines", refund(`{"member_id":"m-42","order_id":"A-1"}`), domain.ReasonMissingField, "amount"},
		{"refund with empty lines", refund(`{"member_id":"m-42","order_id":"A-1","lines":[]}`), domain.ReasonMissingField, "amount"},
		{"refund amount without currency", refund(`{"member_id":"m-42","order_id":"A-1","amount":500}`), domain.ReasonMissingField, "currency"},
		{"refund currency without amount", refund(`{"member_id":"m-42","order_id":"A-1","currency":"EUR","lines":[{"sku":"S","quantity":1}]}`), domain.ReasonMissingField, "amount"},
		{"refund line without quantity", refund(`{"member_id":"m-42","order_id":"A-1","lines":[{"sku":"S"}]}`), domain.ReasonMissingField, "lines[0].quantity"},

		{"date only", at(`"2026-03-01"`), domain.ReasonInvalidTimestamp, "time"},
		{"no offset", at(`"2026-03-01T10:15:00"`), domain.ReasonInvalidTimestamp, "time"},
		{"space separator", at(`"2026-03-01 10:15:00Z"`), domain.ReasonInvalidTimestamp, "time"},
		{"comma fraction", at(`"2026-03-01T10:15:00,5Z"`), domain.ReasonInvalidTimestamp, "time"},
		{"month 13", at(`"2026-13-01T10:15:00Z"`), domain.ReasonInvalidTimestamp, "time"},
		{"offset out of range", at(`"2026-03-01T10:15:00+25:00"`), domain.ReasonInvalidTimestamp, "time"},
		{"words", at(`"yesterday"`), domain.ReasonInvalidTimestamp, "time"},
		{"unix seconds", at(`1772360100`), domain.ReasonInvalidTimestamp, "time"},
		{"unix millis string", at(`"1772360100000"`), domain.ReasonInvalidTimestamp, "time"},
		{"before year 0 in UTC", at(`"0000-01-01T00:30:00+01:00"`), domain.ReasonInvalidTimestamp, "time"},
		{"after year 9999 in UTC", at(`"9999-12-31T23:30:00-01:00"`), domain.ReasonInvalidTimestamp, "time"},

		{"decimal amount", purchase(`{"member_id":"m-42","order_id":"A-1","amount":12.5,"currency":"EUR"}`), domain.ReasonInvalidAmount, "amount"},
		{"amount with .0", purchase(`{"member_id":"m-42","order_id":"A-1","amount":1299.0,"currency":"EUR"}`), domain.ReasonInvalidAmount, "amount"},
		{"amount with exponent", purchase(`{"member_id":"m-42","order_id":"A-1","amount":1e3,"currency":"EUR"}`), domain.ReasonInvalidAmount, "amount"},
		{"amount beyond int64", purchase(`{"member_id":"m-42","order_id":"A-1","amount":9223372036854775808,"currency":"EUR"}`), domain.ReasonInvalidAmount, "amount"},
		{"amount below int64", purchase(`{"member_id":"m-42","order_id":"A-1","amount":-9223372036854775809,"currency":"EUR"}`), domain.ReasonInvalidAmount, "amount"},
		{"decimal unit_price", purchase(`{"member_id":"m-42","order_id":"A-1","amount":1,"currency":"EUR","lines":[{"sku":"S","quantity":1,"unit_price":12.99}]}`), domain.ReasonInvalidAmount, "lines[0].unit_price"},
		{"decimal quantity", purchase(`{"member_id":"m-42","order_id":"A-1","amount":1,"currency":"EUR","lines":[{"sku":"S","quantity":1.5,"unit_price":1}]}`), domain.ReasonInvalidAmount, "lines[0].quantity"},
		{"decimal refund amount", refund(`{"member_id":"m-42","order_id":"A-1","amount":4.99,"currency":"EUR"}`), domain.ReasonInvalidAmount, "amount"},

		{"specversion 0.3", strings.Replace(purchase(okPurchase), `"1.0"`, `"0.3"`, 1), domain.ReasonInvalidField, "specversion"},
		{"xml content", strings.Replace(purchase(okPurchase), `"source":"test"`, `"datacontenttype":"application/xml"`, 1), domain.ReasonInvalidField, "datacontenttype"},
		{"decimal rating", feedback(`{"member_id":"m-42","rating":4.5}`), domain.ReasonInvalidField, "rating"},
		{"huge nps", feedback(`{"member_id":"m-42","nps":99999999999999999999}`), domain.ReasonInvalidField, "nps"},
		{"stock answer neither granted nor refused", event(string(domain.TypeStockAnswer), okTime,
			`{"member_id":"m-42","request_id":"r-1","reward_id":"vase","answer":"maybe"}`), domain.ReasonInvalidField, "answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := DecodeEvent([]byte(tt.in))
			var rejected *domain.RejectedError
			if !errors.As(err, &rejected) {
				t.Fatalf("DecodeEvent = %#v, %v; want a *domain.RejectedError", e, err)
			}
			if got, want := rejected.Reason, tt.reason; got != want {
				t.Errorf("reason = %s, want %s (%v)", got, want, err)
			}
			if got, want := rejected.Field, tt.field; got != want {
				t.Errorf("field = %q, want %q (%v)", got, want, err)
			}
			if !errors.Is(err, domain.ErrRejected) {
				t.Errorf("errors.Is(%v, domain.ErrRejected) = false", err)
			}
			if !reflect.DeepEqual(e, domain.Event{}) {
				t.Errorf("rejected event returned %#v, want the zero Event", e)
			}
		})
	}
}

// Semantic checks belong to domain.Validate: DecodeEvent passes these on.
func TestDecodeEventLeavesSemanticsToValidate(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		reason domain.Reason
	}{
		{"negative amount", purchase(`{"member_id":"m-42","order_id":"A-1","amount":-5,"currency":"EUR"}`), domain.ReasonInvalidAmount},
		{"lowercase currency", purchase(`{"member_id":"m-42","order_id":"A-1","amount":5,"currency":"eur"}`), domain.ReasonUnknownCurrency},
		{"empty member id", purchase(`{"member_id":"","order_id":"A-1","amount":5,"currency":"EUR"}`), domain.ReasonMissingField},
		{"rating 9", feedback(`{"member_id":"m-42","rating":9}`), domain.ReasonInvalidField},
		{"no score", feedback(`{"member_id":"m-42","comment":"ok"}`), domain.ReasonMissingField},
		{"zero quantity", purchase(`{"member_id":"m-42","order_id":"A-1","amount":5,"currency":"EUR","lines":[{"sku":"S","quantity":0,"unit_price":5}]}`), domain.ReasonInvalidField},
		{"year 1970", at(`"1970-01-01T00:00:00Z"`), domain.ReasonInvalidTimestamp},
		{"next week", at(`"2026-03-08T10:15:00Z"`), domain.ReasonFutureTimestamp},
		{"NUL in a member id", purchase(`{"member_id":"m\u0000","order_id":"A-1","amount":5,"currency":"EUR"}`), domain.ReasonInvalidField},
		{"C1 control in a sku", purchase(`{"member_id":"m-42","order_id":"A-1","amount":5,"currency":"EUR","lines":[{"sku":"S\u0085","quantity":1,"unit_price":5}]}`), domain.ReasonInvalidField},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := DecodeEvent([]byte(tt.in))
			if err != nil {
				t.Fatalf("DecodeEvent: %v", err)
			}
			err = domain.Validate(e, sampleTime)
			var rejected *domain.RejectedError
			if !errors.As(err, &rejected) || rejected.Reason != tt.reason {
				t.Errorf("Validate = %v, want reason %s", err, tt.reason)
			}
		})
	}
}

func TestDecodeEventAtSizeLimit(t *testing.T) {
	in := purchase(okPurchase)
	in = strings.Replace(in, `{`, `{`+strings.Repeat(" ", MaxEventBytes-len(in)), 1)
	if len(in) != MaxEventBytes {
		t.Fatalf("test input is %d bytes", len(in))
	}
	if _, err := DecodeEvent([]byte(in)); err != nil {
		t.Errorf("event of exactly MaxEventBytes: %v", err)
	}
}

func TestDecodeEventIgnoresUnknownFields(t *testing.T) {
	in := `{"specversion":"1.0","id":"e-1","source":"shop","type":"loyalty.visit.recorded.v1",
		"subject":"m-42","traceparent":"00-abc-def-01","ID":"other","Time":"bogus","partitionkey":7,
		"time":"2026-03-01T10:15:00Z",
		"data":{"member_id":"m-42","channel":"store-1","Member_ID":"ignored","store":{"geo":[1.5,2.5]},"amount":"n/a"}}`
	got, err := DecodeEvent([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := domain.Event{ID: "e-1", Type: domain.TypeVisitRecorded, Source: "shop", MemberID: "m-42",
		OccurredAt: sampleTime, Body: domain.Visit{Channel: "store-1"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %#v\nwant %#v", got, want)
	}
}

func TestDecodeEventToleratesOptionalAttributes(t *testing.T) {
	// source and datacontenttype are CloudEvents attributes the engine does
	// not need; a JSON content type may carry parameters.
	for _, in := range []string{
		`{"specversion":"1.0","id":"e-1","type":"loyalty.visit.recorded.v1","time":"2026-03-01T10:15:00Z","data":{"member_id":"m-42"}}`,
		`{"specversion":"1.0","id":"e-1","type":"loyalty.visit.recorded.v1","time":"2026-03-01T10:15:00Z","datacontenttype":"application/json; charset=utf-8","data":{"member_id":"m-42"}}`,
		`{"specversion":"1.0","id":"e-1","type":"loyalty.visit.recorded.v1","time":"2026-03-01T10:15:00Z","datacontenttype":"Application/JSON","data":{"member_id":"m-42"}}`,
	} {
		e, err := DecodeEvent([]byte(in))
		if err != nil {
			t.Errorf("DecodeEvent(%s): %v", in, err)
			continue
		}
		if got, want := e.Body, domain.EventBody(domain.Visit{}); got != want {
			t.Errorf("body = %#v, want %#v", got, want)
		}
	}
}

func TestDecodeEventTimeInUTC(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
	}{
		{`"2026-03-01T11:15:00+01:00"`, sampleTime},
		{`"2026-03-01T05:45:00.5-04:30"`, sampleTime.Add(500 * time.Millisecond)},
		{`"2026-03-01T10:15:00.000000001Z"`, sampleTime.Add(time.Nanosecond)},
		{`"2026-03-01t10:15:00z"`, sampleTime}, // RFC 3339 allows lowercase
		{`"2026-03-02T00:15:00+14:00"`, sampleTime},
	}
	for _, tt := range tests {
		e, err := DecodeEvent([]byte(at(tt.in)))
		if err != nil {
			t.Errorf("time %s: %v", tt.in, err)
			continue
		}
		if !e.OccurredAt.Equal(tt.want) {
			t.Errorf("time %s = %s, want %s", tt.in, e.OccurredAt, tt.want)
		}
		if got := e.OccurredAt.Location(); got != time.UTC {
			t.Errorf("time %s is in %s, want UTC", tt.in, got)
		}
		if !reflect.DeepEqual(e.OccurredAt, tt.want) {
			t.Errorf("time %s = %#v, want the UTC value %#v", tt.in, e.OccurredAt, tt.want)
		}
	}
}

func TestDecodeEventKeepsMemberIDs(t *testing.T) {
	tests := []struct {
		json string // as it appears in the event
		want string
	}{
		{`"m.42"`, "m.42"},
		{`"m 42"`, "m 42"},
		{`"*"`, "*"},
		{`">"`, ">"},
		{`"loyalty.in.*.>"`, "loyalty.in.*.>"},
		{`"<m&42>"`, "<m&42>"},
		{`"ünïcødé 会员"`, "ünïcødé 会员"},
		{`"\u00fcn\u00efc\u00f8d\u00e9"`, "ünïcødé"},
		{`"\ud83c\udf89 party"`, "🎉 party"},
		{`"🎉 party"`, "🎉 party"},
		{`"tab\there"`, "tab\there"},
		{`"nul\u0000byte"`, "nul\x00byte"},
		{`"quote\"slash\\"`, `quote"slash\`},
		{`"  padded  "`, "  padded  "},
		{`"` + strings.Repeat("é", 64) + `"`, strings.Repeat("é", 64)},
	}
	for _, tt := range tests {
		in := event(string(domain.TypeVisitRecorded), okTime, `{"member_id":`+tt.json+`}`)
		e, err := DecodeEvent([]byte(in))
		if err != nil {
			t.Errorf("member id %s: %v", tt.json, err)
			continue
		}
		if e.MemberID != tt.want {
			t.Errorf("member id %s decoded as %q, want %q", tt.json, e.MemberID, tt.want)
		}
		back, err := MemberIDFromKey(MemberKey(e.MemberID))
		if err != nil || back != tt.want {
			t.Errorf("member id %q through MemberKey = %q, %v", tt.want, back, err)
		}
		data, err := EncodeEvent(e)
		if err != nil {
			t.Fatal(err)
		}
		if again, err := DecodeEvent(data); err != nil || again.MemberID != tt.want {
			t.Errorf("member id %q re-encoded as %s decodes to %q, %v", tt.want, data, again.MemberID, err)
		}
	}
}

func TestEncodeEventKeepsHTMLCharacters(t *testing.T) {
	data, err := EncodeEvent(domain.Event{ID: "e-1", Type: domain.TypeVisitRecorded, MemberID: "<m&42>",
		OccurredAt: sampleTime, Body: domain.Visit{}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte(`"member_id":"<m&42>"`)) {
		t.Errorf("EncodeEvent escaped the member id: %s", data)
	}
}

func TestEncodeEventErrors(t *testing.T) {
	ok := domain.Event{ID: "e-1", Type: domain.TypeVisitRecorded, MemberID: "m-42", OccurredAt: sampleTime, Body: domain.Visit{}}
	tests := []struct {
		name string
		edit func(*domain.Event)
	}{
		{"body of another type", func(e *domain.Event) { e.Body = domain.Enrolment{} }},
		{"invalid utf-8 member id", func(e *domain.Event) { e.MemberID = "m-\xff" }},
		{"invalid utf-8 id", func(e *domain.Event) { e.ID = "\xc3" }},
		{"invalid utf-8 channel", func(e *domain.Event) { e.Body = domain.Visit{Channel: "\xed\xa0\x80"} }},
		{"year 10000", func(e *domain.Event) { e.OccurredAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"year -1", func(e *domain.Event) { e.OccurredAt = time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC) }},
	}
	for _, tt := range tests {
		e := ok
		tt.edit(&e)
		if data, err := EncodeEvent(e); err == nil {
			t.Errorf("%s: EncodeEvent = %s, want an error", tt.name, data)
		}
	}
}

// EncodeEvent writes invalid events as they are, so a simulator can produce
// them; DecodeEvent then rejects them as the engine would.
func TestEncodeEventWritesInvalidEvents(t *testing.T) {
	tests := []struct {
		name   string
		e      domain.Event
		reason domain.Reason
	}{
		{"no id", domain.Event{Type: domain.TypeVisitRecorded, MemberID: "m", OccurredAt: sampleTime, Body: domain.Visit{}}, domain.ReasonMissingField},
		{"unknown type", domain.Event{ID: "e", Type: "loyalty.points.gifted.v1", MemberID: "m", OccurredAt: sampleTime}, ReasonUnknownType},
		{"no body", domain.Event{ID: "e", Type: domain.TypePurchaseCompleted, MemberID: "m", OccurredAt: sampleTime}, domain.ReasonMissingField},
	}
	for _, tt := range tests {
		data, err := EncodeEvent(tt.e)
		if err != nil {
			t.Fatalf("%s: EncodeEvent: %v", tt.name, err)
		}
		_, err = DecodeEvent(data)
		var rejected *domain.RejectedError
		if !errors.As(err, &rejected) || rejected.Reason != tt.reason {
			t.Errorf("%s: DecodeEvent(%s) = %v, want reason %s", tt.name, data, err, tt.reason)
		}
	}
	// Values only domain.Validate rejects survive the round trip.
	negative := domain.Event{ID: "e", Type: domain.TypePurchaseCompleted, MemberID: "m", OccurredAt: time.Time{},
		Body: domain.Purchase{OrderID: "A", Total: domain.Money{Minor: -1, Currency: "eur"}}}
	data, err := EncodeEvent(negative)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := DecodeEvent(data); err != nil || !reflect.DeepEqual(got, negative) {
		t.Errorf("DecodeEvent(%s) = %#v, %v; want %#v", data, got, err, negative)
	}
}

func TestEventDigestIgnoresFormatting(t *testing.T) {
	compact := `{"specversion":"1.0","id":"e-1","source":"shop-eu-1","type":"loyalty.purchase.completed.v1","time":"2026-03-01T10:15:00Z","datacontenttype":"application/json","data":{"member_id":"m-42","order_id":"A-1001","amount":1299,"currency":"EUR","channel":"web","lines":[{"sku":"SKU-1","category":"beauty","quantity":1,"unit_price":1299}]}}`
	reformatted := `{
	  "data": {
	    "lines": [ { "unit_price": 1299, "quantity": 1, "category": "beauty", "sku": "SKU-1", "discount": null } ],
	    "channel": "web", "currency": "EUR", "amount": 1299, "order_id": "A-1001",
	    "member_id": "m\u002d42",
	    "loyalty_card": {"printed": true}
	  },
	  "time": "2026-03-01T11:15:00.000+01:00",
	  "type": "loyalty.purchase.completed.v1",
	  "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	  "source": "shop-eu-1-retry-worker",
	  "id": "e-1-republished",
	  "specversion": "1.0"
	}`
	a, err := DecodeEvent([]byte(compact))
	if err != nil {
		t.Fatal(err)
	}
	b, err := DecodeEvent([]byte(reformatted))
	if err != nil {
		t.Fatal(err)
	}
	if EventDigest(a) != EventDigest(b) {
		t.Errorf("digests differ for the same event:\n%#v\n%#v", a, b)
	}
}

func TestEventDigestSeesEveryChange(t *testing.T) {
	base := sampleEvents()
	digests := map[uint64]string{}
	add := func(name string, e domain.Event) {
		t.Helper()
		d := EventDigest(e)
		if other, dup := digests[d]; dup {
			t.Errorf("%s and %s have the same digest %x", name, other, d)
		}
		digests[d] = name
	}
	for _, e := range base {
		add("sample "+string(e.Type)+" "+e.ID, e)
	}
	pe := base[1]
	p := pe.Body.(domain.Purchase)
	edit := func(name string, f func(*domain.Event, *domain.Purchase)) {
		e, b := pe, p
		b.Lines = append([]domain.LineItem(nil), p.Lines...)
		f(&e, &b)
		e.Body = b
		add(name, e)
	}
	edit("amount+1", func(_ *domain.Event, b *domain.Purchase) { b.Total.Minor++ })
	edit("currency", func(_ *domain.Event, b *domain.Purchase) { b.Total.Currency = "USD" })
	edit("member", func(e *domain.Event, _ *domain.Purchase) { e.MemberID = "m-43" })
	edit("time+1ns", func(e *domain.Event, _ *domain.Purchase) { e.OccurredAt = e.OccurredAt.Add(time.Nanosecond) })
	// 2^64 ns later: the same UnixNano, wrapped around.
	edit("time+2^64ns", func(e *domain.Event, _ *domain.Purchase) {
		e.OccurredAt = e.OccurredAt.Add(math.MaxInt64).Add(math.MaxInt64).Add(2)
	})
	edit("order", func(_ *domain.Event, b *domain.Purchase) { b.OrderID = "A-1002" })
	edit("channel", func(_ *domain.Event, b *domain.Purchase) { b.Channel = "app" })
	edit("line quantity", func(_ *domain.Event, b *domain.Purchase) { b.Lines[1].Quantity++ })
	edit("line price", func(_ *domain.Event, b *domain.Purchase) { b.Lines[0].UnitPrice++ })
	edit("line category", func(_ *domain.Event, b *domain.Purchase) { b.Lines[1].Category = "toys" })
	edit("line dropped", func(_ *domain.Event, b *domain.Purchase) { b.Lines = b.Lines[:1] })
	edit("no lines", func(_ *domain.Event, b *domain.Purchase) { b.Lines = nil })
	edit("lines swapped", func(_ *domain.Event, b *domain.Purchase) { b.Lines[0], b.Lines[1] = b.Lines[1], b.Lines[0] })
	// Field boundaries are unambiguous: moving a character between adjacent
	// strings changes the digest.
	edit("sku/category boundary", func(_ *domain.Event, b *domain.Purchase) {
		b.Lines[0].SKU, b.Lines[0].Category = "SKU-1b", "eauty"
	})

	fb := domain.Event{ID: "f", Type: domain.TypeFeedbackSubmitted, MemberID: "m-42", OccurredAt: sampleTime}
	for name, body := range map[string]domain.Feedback{
		"rating 4":         {Rating: new(4)},
		"rating 5":         {Rating: new(5)},
		"nps 4":            {NPS: new(4)},
		"rating 4 nps 0":   {Rating: new(4), NPS: new(0)},
		"rating 4 nps nil": {Rating: new(4), Comment: "x"},
		"comment ab":       {Rating: new(4), Comment: "ab", Channel: "c"},
		"comment a":        {Rating: new(4), Comment: "a", Channel: "bc"},
	} {
		fb.Body = body
		add("feedback "+name, fb)
	}
	// The event id and source are not part of the content.
	e := base[0]
	d := EventDigest(e)
	e.ID, e.Source = "another-id", "another-source"
	if EventDigest(e) != d {
		t.Errorf("digest depends on the event id or source")
	}
	e.OccurredAt = e.OccurredAt.In(time.FixedZone("CET", 3600))
	if EventDigest(e) != d {
		t.Errorf("digest depends on the time's location")
	}
}

// decodeRejectReasons are the reasons DecodeEvent may give.
var decodeRejectReasons = map[domain.Reason]bool{
	ReasonOversized: true, ReasonMalformedJSON: true, ReasonUnknownType: true,
	domain.ReasonMissingField: true, domain.ReasonInvalidField: true,
	domain.ReasonInvalidTimestamp: true, domain.ReasonInvalidAmount: true,
}

func FuzzDecodeEvent(f *testing.F) {
	for _, e := range sampleEvents() {
		data, err := EncodeEvent(e)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(examplePurchase))
	f.Add([]byte(refund(`{"member_id":"m-42","order_id":"A-1","amount":0,"currency":"","lines":[{"sku":"S","quantity":1}]}`)))
	f.Add([]byte(feedback(`{"member_id":"\ud83c\udf89","rating":null,"nps":7,"comment":"\u2028"}`)))
	f.Add([]byte(at(`"0000-01-01T00:30:00+01:00"`)))
	f.Add([]byte(`{"specversion":"1.0","id":"x","type":"loyalty.member.enrolled.v1","time":"2026-03-01T10:15:00Z","data":{"member_id":"\ud800"}}`))

	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := DecodeEvent(data)
		if err != nil {
			var rejected *domain.RejectedError
			if !errors.As(err, &rejected) {
				t.Fatalf("DecodeEvent error %v (%T) is not a *domain.RejectedError", err, err)
			}
			if !decodeRejectReasons[rejected.Reason] {
				t.Fatalf("DecodeEvent gave reason %s: %v", rejected.Reason, err)
			}
			return
		}
		if e.Body == nil || e.Body.EventType() != e.Type {
			t.Fatalf("decoded body %#v does not match type %s", e.Body, e.Type)
		}
		if e.OccurredAt.Location() != time.UTC {
			t.Fatalf("decoded time %s is not UTC", e.OccurredAt)
		}
		if !utf8.ValidString(e.MemberID) || !utf8.ValidString(e.ID) {
			t.Fatalf("decoded ids are not UTF-8: %q %q", e.ID, e.MemberID)
		}
		encoded, err := EncodeEvent(e)
		if err != nil {
			t.Fatalf("EncodeEvent(%#v): %v", e, err)
		}
		// Re-encoding may grow an event (it adds datacontenttype, escapes
		// U+2028), so the size limit is not applied to the copy.
		again, err := decodeEvent(encoded)
		if err != nil {
			t.Fatalf("DecodeEvent(EncodeEvent(e)) = %v\ninput:   %q\nencoded: %s", err, data, encoded)
		}
		if !reflect.DeepEqual(again, e) {
			t.Fatalf("round trip changed the event\n got %#v\nwant %#v\nencoded: %s", again, e, encoded)
		}
		if EventDigest(again) != EventDigest(e) {
			t.Fatalf("round trip changed the digest")
		}
	})
}
