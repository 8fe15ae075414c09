package domain_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
)

// received is when the stream stored the events under test.
var received = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func validPurchase() domain.Purchase {
	return domain.Purchase{
		OrderID: "o-1",
		Total:   eur(4497),
		Lines: []domain.LineItem{
			{SKU: "SKU-1", Category: "beauty", Quantity: 1, UnitPrice: 1299},
			{SKU: "SKU-7", Category: "grocery", Quantity: 4, UnitPrice: 800},
		},
	}
}

// withEvent returns a valid purchase event changed by f.
func withEvent(f func(e *domain.Event)) domain.Event {
	e := event("e-1", received, validPurchase())
	f(&e)
	return e
}

func withPurchase(f func(b *domain.Purchase)) domain.Event {
	b := validPurchase()
	f(&b)
	return event("e-1", received, b)
}

func feedback(rating, nps *int, comment string) domain.Event {
	return event("e-1", received, domain.Feedback{OrderID: "o-1", Rating: rating, NPS: nps, Comment: comment})
}

func TestValidateAccepts(t *testing.T) {
	tests := []struct {
		name string
		e    domain.Event
	}{
		{"purchase with lines", event("e-1", received, validPurchase())},
		{"purchase without lines", withPurchase(func(b *domain.Purchase) { b.Lines = nil })},
		{"zero amount", withPurchase(func(b *domain.Purchase) { b.Total = eur(0) })},
		{"amount of exactly 10^12", withPurchase(func(b *domain.Purchase) { b.Total = eur(1_000_000_000_000) })},
		{"amount in JPY (exponent 0)", withPurchase(func(b *domain.Purchase) { b.Total = money(1500, "JPY") })},
		{"amount in KWD (exponent 3)", withPurchase(func(b *domain.Purchase) { b.Total = money(1250, "KWD") })},
		{"free line", withPurchase(func(b *domain.Purchase) { b.Lines[0].UnitPrice = 0 })},
		{"line of exactly 10^12", withPurchase(func(b *domain.Purchase) {
			b.Lines = []domain.LineItem{{SKU: "x", Quantity: 1000, UnitPrice: 1_000_000_000}}
		})},
		{"event id of 128 bytes", withEvent(func(e *domain.Event) { e.ID = strings.Repeat("a", 128) })},
		{"member id of 128 bytes in 64 runes", withEvent(func(e *domain.Event) { e.MemberID = strings.Repeat("é", 64) })},
		{"member id with dots, spaces and wildcards", withEvent(func(e *domain.Event) { e.MemberID = "m.42 *>" })},
		{"exactly 24h after arrival", withEvent(func(e *domain.Event) { e.OccurredAt = received.Add(24 * time.Hour) })},
		{"in the past", withEvent(func(e *domain.Event) { e.OccurredAt = received.AddDate(-3, 0, 0) })},
		{"exactly 2000-01-01", withEvent(func(e *domain.Event) { e.OccurredAt = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC) })},
		{"2000-01-01T01:00+01:00 is 2000 in UTC", withEvent(func(e *domain.Event) {
			e.OccurredAt = time.Date(2000, 1, 1, 1, 0, 0, 0, time.FixedZone("CET", 3600))
		})},
		{"enrolment", event("e-1", received, domain.Enrolment{})},
		{"visit", event("e-1", received, domain.Visit{Channel: "store-1"})},
		{"refund by amount", event("e-1", received, domain.Refund{OrderID: "o-1", Amount: eur(500)})},
		{"refund of zero", event("e-1", received, domain.Refund{OrderID: "o-1", Amount: eur(0)})},
		{"refund by lines", event("e-1", received, domain.Refund{OrderID: "o-1", Lines: []domain.RefundLine{{SKU: "SKU-7", Quantity: 2}}})},
		{"rating 1", feedback(intp(1), nil, "")},
		{"rating 5", feedback(intp(5), nil, "")},
		{"nps 0", feedback(nil, intp(0), "")},
		{"nps 10", feedback(nil, intp(10), "")},
		{"rating and nps", feedback(intp(4), intp(9), "Fast delivery")},
		{"comment of 4096 bytes", feedback(intp(3), nil, strings.Repeat("x", 4096))},
		{"feedback without order", event("e-1", received, domain.Feedback{Rating: intp(2)})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := domain.Validate(tt.e, received); err != nil {
				t.Errorf("Validate = %v, want nil", err)
			}
		})
	}
}

func TestValidateRejects(t *testing.T) {
	tests := []struct {
		name   string
		e      domain.Event
		reason domain.Reason
		field  string
	}{
		{"no event id", withEvent(func(e *domain.Event) { e.ID = "" }), domain.ReasonMissingField, "id"},
		{"event id of 129 bytes", withEvent(func(e *domain.Event) { e.ID = strings.Repeat("a", 129) }), domain.ReasonInvalidField, "id"},
		{"event id not UTF-8", withEvent(func(e *domain.Event) { e.ID = "e-\xff" }), domain.ReasonInvalidField, "id"},
		{"id checked before member id", withEvent(func(e *domain.Event) { e.ID, e.MemberID = "", "" }), domain.ReasonMissingField, "id"},
		{"no member id", withEvent(func(e *domain.Event) { e.MemberID = "" }), domain.ReasonMissingField, "member_id"},
		{"member id of 129 bytes", withEvent(func(e *domain.Event) { e.MemberID = strings.Repeat("m", 129) }), domain.ReasonInvalidField, "member_id"},
		{"member id of 65 runes but 130 bytes", withEvent(func(e *domain.Event) { e.MemberID = strings.Repeat("é", 65) }), domain.ReasonInvalidField, "member_id"},
		{"member id not UTF-8", withEvent(func(e *domain.Event) { e.MemberID = "\xc3\x28" }), domain.ReasonInvalidField, "member_id"},
		{"no time", withEvent(func(e *domain.Event) { e.OccurredAt = time.Time{} }), domain.ReasonMissingField, "occurred_at"},
		{"just before 1971", withEvent(func(e *domain.Event) { e.OccurredAt = time.Date(1970, 12, 31, 23, 59, 59, 999999999, time.UTC) }), domain.ReasonInvalidTimestamp, "occurred_at"},
		{"1971-01-01T00:30+01:00 is 1970 in UTC", withEvent(func(e *domain.Event) {
			e.OccurredAt = time.Date(1971, 1, 1, 0, 30, 0, 0, time.FixedZone("CET", 3600))
		}), domain.ReasonInvalidTimestamp, "occurred_at"},
		{"seconds read as milliseconds", withEvent(func(e *domain.Event) { e.OccurredAt = time.UnixMilli(1_772_000_000) }), domain.ReasonInvalidTimestamp, "occurred_at"},
		{"24h and 1ns after arrival", withEvent(func(e *domain.Event) { e.OccurredAt = received.Add(24*time.Hour + 1) }), domain.ReasonFutureTimestamp, "occurred_at"},
		{"next week", withEvent(func(e *domain.Event) { e.OccurredAt = received.AddDate(0, 0, 7) }), domain.ReasonFutureTimestamp, "occurred_at"},
		{"no body", withEvent(func(e *domain.Event) { e.Body = nil }), domain.ReasonMissingField, "data"},
		{"body of another type", withEvent(func(e *domain.Event) { e.Body = domain.Visit{} }), domain.ReasonMissingField, "data"},
		{"unknown type", withEvent(func(e *domain.Event) { e.Type = "loyalty.purchase.completed.v2" }), domain.ReasonMissingField, "data"},

		{"purchase without order id", withPurchase(func(b *domain.Purchase) { b.OrderID = "" }), domain.ReasonMissingField, "order_id"},
		{"purchase without currency", withPurchase(func(b *domain.Purchase) { b.Total.Currency = "" }), domain.ReasonMissingField, "currency"},
		{"lower-case currency", withPurchase(func(b *domain.Purchase) { b.Total.Currency = "eur" }), domain.ReasonUnknownCurrency, "currency"},
		{"currency EURO", withPurchase(func(b *domain.Purchase) { b.Total.Currency = "EURO" }), domain.ReasonUnknownCurrency, "currency"},
		{"withdrawn currency DEM", withPurchase(func(b *domain.Purchase) { b.Total.Currency = "DEM" }), domain.ReasonUnknownCurrency, "currency"},
		{"negative amount", withPurchase(func(b *domain.Purchase) { b.Total.Minor = -1 }), domain.ReasonInvalidAmount, "amount"},
		{"amount above 10^12", withPurchase(func(b *domain.Purchase) { b.Total.Minor = 1_000_000_000_001 }), domain.ReasonInvalidAmount, "amount"},
		{"line quantity 0", withPurchase(func(b *domain.Purchase) { b.Lines[0].Quantity = 0 }), domain.ReasonInvalidField, "lines[0].quantity"},
		{"line quantity negative", withPurchase(func(b *domain.Purchase) { b.Lines[1].Quantity = -4 }), domain.ReasonInvalidField, "lines[1].quantity"},
		{"line quantity above 10^12", withPurchase(func(b *domain.Purchase) { b.Lines[0].Quantity = 1_000_000_000_001 }), domain.ReasonInvalidField, "lines[0].quantity"},
		{"negative unit price", withPurchase(func(b *domain.Purchase) { b.Lines[1].UnitPrice = -1 }), domain.ReasonInvalidAmount, "lines[1].unit_price"},
		{"line above 10^12", withPurchase(func(b *domain.Purchase) {
			b.Lines = []domain.LineItem{{SKU: "x", Quantity: 1000, UnitPrice: 1_000_000_001}}
		}), domain.ReasonInvalidAmount, "lines[0].unit_price"},

		{"refund without order id", event("e-1", received, domain.Refund{Amount: eur(5)}), domain.ReasonMissingField, "order_id"},
		{"refund with neither amount nor lines", event("e-1", received, domain.Refund{OrderID: "o-1"}), domain.ReasonMissingField, "amount"},
		{"refund amount without currency", event("e-1", received, domain.Refund{OrderID: "o-1", Amount: domain.Money{Minor: 500}}), domain.ReasonMissingField, "currency"},
		{"refund in unknown currency", event("e-1", received, domain.Refund{OrderID: "o-1", Amount: money(500, "ABC")}), domain.ReasonUnknownCurrency, "currency"},
		{"negative refund", event("e-1", received, domain.Refund{OrderID: "o-1", Amount: eur(-500)}), domain.ReasonInvalidAmount, "amount"},
		{"refund above 10^12", event("e-1", received, domain.Refund{OrderID: "o-1", Amount: eur(1_000_000_000_001)}), domain.ReasonInvalidAmount, "amount"},
		{"refund by lines in an unknown currency", event("e-1", received, domain.Refund{OrderID: "o-1", Amount: money(0, "EURO"),
			Lines: []domain.RefundLine{{SKU: "a", Quantity: 1}}}), domain.ReasonUnknownCurrency, "currency"},
		{"refund line without sku", event("e-1", received, domain.Refund{OrderID: "o-1", Lines: []domain.RefundLine{{Quantity: 1}}}), domain.ReasonMissingField, "lines[0].sku"},
		{"refund line quantity 0", event("e-1", received, domain.Refund{OrderID: "o-1", Lines: []domain.RefundLine{{SKU: "a", Quantity: 1}, {SKU: "b"}}}), domain.ReasonInvalidField, "lines[1].quantity"},

		{"feedback without rating or nps", feedback(nil, nil, "nice"), domain.ReasonMissingField, "rating"},
		{"rating 0", feedback(intp(0), nil, ""), domain.ReasonInvalidField, "rating"},
		{"rating 6", feedback(intp(6), nil, ""), domain.ReasonInvalidField, "rating"},
		{"nps -1", feedback(nil, intp(-1), ""), domain.ReasonInvalidField, "nps"},
		{"nps 11", feedback(nil, intp(11), ""), domain.ReasonInvalidField, "nps"},
		{"good rating, bad nps", feedback(intp(5), intp(11), ""), domain.ReasonInvalidField, "nps"},
		{"comment of 4097 bytes", feedback(intp(3), nil, strings.Repeat("x", 4097)), domain.ReasonInvalidField, "comment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := domain.Validate(tt.e, received)
			if !errors.Is(err, domain.ErrRejected) {
				t.Fatalf("Validate = %v, want an error matching ErrRejected", err)
			}
			rej := rejection(err)
			if rej == nil {
				t.Fatalf("Validate = %v, want a *RejectedError", err)
			}
			if got, want := rej.Reason, tt.reason; got != want {
				t.Errorf("reason = %q, want %q (%v)", got, want, err)
			}
			if got, want := rej.Field, tt.field; got != want {
				t.Errorf("field = %q, want %q (%v)", got, want, err)
			}
		})
	}
}

func TestRejectedError(t *testing.T) {
	withField := &domain.RejectedError{Reason: domain.ReasonInvalidField, Field: "rating", Detail: "must be 1 to 5, got 6"}
	if got, want := withField.Error(), "invalid_field: rating: must be 1 to 5, got 6"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	noField := &domain.RejectedError{Reason: domain.ReasonAlreadyEnrolled, Detail: "enrolled on 2026-01-05"}
	if got, want := noField.Error(), "already_enrolled: enrolled on 2026-01-05"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	wrapped := fmt.Errorf("apply event e-1: %w", withField)
	if !errors.Is(wrapped, domain.ErrRejected) {
		t.Errorf("errors.Is(%v, ErrRejected) = false, want true", wrapped)
	}
	if rej := rejection(wrapped); rej != withField {
		t.Errorf("errors.As found %v, want the wrapped *RejectedError", rej)
	}
	if errors.Is(errors.New("event rejected"), domain.ErrRejected) {
		t.Error("an unrelated error with the same text matches ErrRejected")
	}
}

func TestValidateMessageNamesTheValue(t *testing.T) {
	err := domain.Validate(withEvent(func(e *domain.Event) { e.OccurredAt = time.Date(1970, 1, 21, 4, 13, 20, 0, time.UTC) }), received)
	if got, want := err.Error(), "invalid_timestamp: occurred_at: 1970-01-21T04:13:20Z is before 1971-01-01T00:00:00Z"; got != want {
		t.Errorf("Validate = %q, want %q", got, want)
	}
	err = domain.Validate(withPurchase(func(b *domain.Purchase) { b.Total.Minor = -250 }), received)
	if got, want := err.Error(), "invalid_amount: amount: must not be negative, got -250"; got != want {
		t.Errorf("Validate = %q, want %q", got, want)
	}
}

func TestRuleReasonsListsEveryReasonOnce(t *testing.T) {
	want := []domain.Reason{
		"missing_field", "invalid_field", "invalid_amount", "unknown_currency", "currency_not_accepted",
		"currency_mismatch", "future_timestamp", "invalid_timestamp", "unknown_order", "duplicate_order",
		"refund_exceeds_order", "refund_window_closed", "already_enrolled", "unknown_member", "member_erased", "duplicate_request",
	}
	seen := map[domain.Reason]int{}
	for _, r := range domain.RuleReasons {
		seen[r]++
	}
	for _, r := range want {
		if seen[r] != 1 {
			t.Errorf("RuleReasons lists %q %d times, want once", r, seen[r])
		}
	}
	if got, want := len(domain.RuleReasons), len(want); got != want {
		t.Errorf("len(RuleReasons) = %d, want %d: %v", got, want, domain.RuleReasons)
	}
}

func TestEventTypeNames(t *testing.T) {
	tests := []struct {
		body domain.EventBody
		want domain.EventType
	}{
		{domain.Enrolment{}, "loyalty.member.enrolled.v1"},
		{domain.Purchase{}, "loyalty.purchase.completed.v1"},
		{domain.Refund{}, "loyalty.purchase.refunded.v1"},
		{domain.Feedback{}, "loyalty.feedback.submitted.v1"},
		{domain.Visit{}, "loyalty.visit.recorded.v1"},
		{domain.StatusChange{}, "loyalty.member.status_changed.v1"},
		{domain.Clock{}, "loyalty.member.clock.v1"},
		{domain.RedeemRequest{}, "loyalty.redemption.requested.v1"},
		{domain.Confirmation{}, "loyalty.purchase.confirmed.v1"},
		{domain.TierAssignment{}, "loyalty.member.tier_assigned.v1"},
		{domain.TransferRequest{}, "loyalty.points.transfer_requested.v1"},
		{domain.TransferIn{}, "loyalty.points.transfer_received.v1"},
		{domain.ReferralReward{}, "loyalty.member.referral_rewarded.v1"},
		{domain.StockRequest{}, "loyalty.reward.stock_requested.v1"},
		{domain.StockAnswer{}, "loyalty.reward.stock_answered.v1"},
		{domain.AdjustRequest{}, "loyalty.points.adjustment_requested.v1"},
		{domain.CancelRequest{}, "loyalty.redemption.cancel_requested.v1"},
		{domain.VoucherUse{}, "loyalty.voucher.use_requested.v1"},
		{domain.ErasureRequest{}, "loyalty.member.erasure_requested.v1"},
		{domain.Scored{}, "loyalty.member.scored.v1"},
		{domain.AttributesUpdate{}, "loyalty.member.attributes_updated.v1"},
	}
	if got, want := len(domain.EventTypes), len(tests); got != want {
		t.Errorf("len(EventTypes) = %d, want %d: add the new type's body and name to this test's list", got, want)
	}
	for i, tt := range tests {
		if got := tt.body.EventType(); got != tt.want {
			t.Errorf("%T.EventType() = %q, want %q", tt.body, got, tt.want)
		}
		if i < len(domain.EventTypes) && domain.EventTypes[i] != tt.want {
			t.Errorf("EventTypes[%d] = %q, want %q", i, domain.EventTypes[i], tt.want)
		}
	}
}
