package domain_test

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pointsledger/loyalty/domain"
)

// A string the ledger admits stays there for good, and every read model
// must be able to store it: these are refused at the door.
func TestValidateRefusesUnfitStrings(t *testing.T) {
	emoji := func(n int) string { return strings.Repeat("😀", n) } // 4 bytes each
	feedbackSaying := func(comment string) domain.Event { return feedback(intp(4), nil, comment) }
	tests := []struct {
		name  string
		e     domain.Event
		field string
	}{
		{"NUL in a member id", withEvent(func(e *domain.Event) { e.MemberID = "m-\x0042" }), "member_id"},
		{"NUL in a comment", feedbackSaying("fine\x00"), "comment"},
		{"C1 control in a sku", withPurchase(func(b *domain.Purchase) { b.Lines[1].SKU = "SKU\u00857" }), "lines[1].sku"},
		{"NUL in the sku of a 21st line", withPurchase(func(b *domain.Purchase) {
			for len(b.Lines) < 21 {
				b.Lines = append(b.Lines, domain.LineItem{SKU: "s", Quantity: 1})
			}
			b.Lines[20].SKU = "s\x00"
		}), "lines[20].sku"},
		{"an order id of 3,200 bytes", withPurchase(func(b *domain.Purchase) { b.OrderID = strings.Repeat("o", 3200) }), "order_id"},
		{"an order id of 129 bytes", withPurchase(func(b *domain.Purchase) { b.OrderID = strings.Repeat("o", domain.MaxOrderIDBytes+1) }), "order_id"},
		{"invalid UTF-8 in a category", withPurchase(func(b *domain.Purchase) { b.Lines[0].Category = "be\xffauty" }), "lines[0].category"},
		{"invalid UTF-8 in a comment", feedbackSaying("\xed\xa0\x80"), "comment"},
		{"DEL in a channel", withPurchase(func(b *domain.Purchase) { b.Channel = "web\x7f" }), "channel"},
		{"a line feed in an order id", withPurchase(func(b *domain.Purchase) { b.OrderID = "o-1\no-2" }), "order_id"},
		{"a tab in a member id", withEvent(func(e *domain.Event) { e.MemberID = "m\t42" }), "member_id"},
		{"ESC in a comment", feedbackSaying("\x1b[31mred"), "comment"},
		{"C1 control in a comment", feedbackSaying("next\u0085line"), "comment"},
		{"a comment of 4,100 bytes in 4-byte characters", feedbackSaying(emoji(1025)), "comment"},
		{"a member id of 132 bytes in 4-byte characters", withEvent(func(e *domain.Event) { e.MemberID = emoji(33) }), "member_id"},
		{"NUL in a source", withEvent(func(e *domain.Event) { e.Source = "shop\x00" }), "source"},
		{"a source of 257 bytes", withEvent(func(e *domain.Event) { e.Source = strings.Repeat("s", domain.MaxSourceBytes+1) }), "source"},
		{"NUL in an event id", withEvent(func(e *domain.Event) { e.ID = "e\x00" }), "id"},
		{"NUL in a refund line's sku", event("e-1", received, domain.Refund{OrderID: "o-1", Lines: []domain.RefundLine{{SKU: "\x00", Quantity: 1}}}), "lines[0].sku"},
		{"NUL in a status reason", event("e-1", received, domain.StatusChange{Status: domain.StatusBlocked, Reason: "fraud\x00"}), "reason"},
		{"a status reason of 1,025 bytes", event("e-1", received, domain.StatusChange{Status: domain.StatusBlocked, Reason: strings.Repeat("r", 1025)}), "reason"},
		{"C1 control in a tier", event("e-1", received, domain.TierAssignment{Tier: "gold\u009b"}), "tier"},
		{"NUL in a tier assignment's reason", event("e-1", received, domain.TierAssignment{Tier: "gold", Reason: "match\x00"}), "reason"},
		{"NUL in a request id", event("e-1", received, domain.RedeemRequest{RequestID: "r\x00", Points: 100}), "request_id"},
		{"NUL in a reward id", event("e-1", received, domain.RedeemRequest{RequestID: "r-1", RewardID: "mug\x00"}), "reward_id"},
		{"a redemption channel of 129 bytes", event("e-1", received, domain.RedeemRequest{RequestID: "r-1", Points: 100, Channel: strings.Repeat("c", 129)}), "channel"},
		{"NUL in a confirmed order", event("e-1", received, domain.Confirmation{OrderID: "o\x00"}), "order_id"},
		{"NUL in a feedback's order id", event("e-1", received, domain.Feedback{OrderID: "o\x00", Rating: intp(3)}), "order_id"},
		{"NUL in a visit's channel", event("e-1", received, domain.Visit{Channel: "store\x00"}), "channel"},
		{"NUL in an enrolment's channel", event("e-1", received, domain.Enrolment{Channel: "app\x00"}), "channel"},
		{"NUL in a transfer's target", event("e-1", received, domain.TransferRequest{RequestID: "t-1", ToMemberID: "m\x00", Points: 10}), "to_member_id"},
		{"a transfer to a reward's stock", event("e-1", received, domain.TransferRequest{RequestID: "t-1", ToMemberID: "stock:gift-box", Points: 10}), "to_member_id"},
		{"a referral by a reward's stock", event("e-1", received, domain.Enrolment{ReferredBy: "stock:gift-box"}), "referred_by"},
		{"NUL in a referrer", event("e-1", received, domain.Enrolment{ReferredBy: "m\x00"}), "referred_by"},
		{"points received from a reward's stock", event("e-1", received, domain.TransferIn{FromMemberID: "stock:mug", RequestID: "t-1", Points: 5}), "from_member_id"},
		{"a referral bonus for a reward's stock", event("e-1", received, domain.ReferralReward{ReferredMemberID: "stock:mug"}), "referred_member_id"},
		{"a stock request for another stock", stockRequest("vase", domain.StockRequest{RewardID: "vase", MemberID: "stock:mug", RequestID: "r-1", Quantity: 1}), "for_member_id"},
		{"a stock request to another reward's stock", stockRequest("mug", domain.StockRequest{RewardID: "vase", MemberID: "m-1", RequestID: "r-1", Quantity: 1}), "reward_id"},
		{"NUL in a stock answer's request", event("e-1", received, domain.StockAnswer{RequestID: "r\x00", RewardID: "vase"}), "request_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rej := rejection(domain.Validate(tt.e, received))
			if rej == nil {
				t.Fatalf("Validate accepts it, want %s %s", domain.ReasonInvalidField, tt.field)
			}
			if rej.Reason != domain.ReasonInvalidField || rej.Field != tt.field {
				t.Errorf("Validate = %v, want %s on %s", rej, domain.ReasonInvalidField, tt.field)
			}
		})
	}
}

func stockRequest(reward string, b domain.StockRequest) domain.Event {
	e := event("e-1", received, b)
	e.MemberID = domain.StockMemberPrefix + reward
	return e
}

func TestValidateAcceptsFitStrings(t *testing.T) {
	tests := []struct {
		name string
		e    domain.Event
	}{
		{"a comment with line breaks and tabs", feedback(intp(5), nil, "Great shop.\r\nWould buy again:\n\t- shoes\n\t- socks")},
		{"a status reason over two lines", event("e-1", received, domain.StatusChange{Status: domain.StatusBlocked, Reason: "chargeback\nticket 123"})},
		{"a member id of 128 bytes in 4-byte characters", withEvent(func(e *domain.Event) { e.MemberID = strings.Repeat("😀", 32) })},
		{"a sku of 128 bytes in 4-byte characters", withPurchase(func(b *domain.Purchase) { b.Lines[0].SKU = strings.Repeat("😀", 32) })},
		{"a comment of 4,096 bytes in 4-byte characters", feedback(intp(3), nil, strings.Repeat("😀", 1024))},
		{"an order id of 128 bytes", withPurchase(func(b *domain.Purchase) { b.OrderID = strings.Repeat("o", domain.MaxOrderIDBytes) })},
		{"a source of 256 bytes", withEvent(func(e *domain.Event) { e.Source = strings.Repeat("s", domain.MaxSourceBytes) })},
		{"unusual but printable characters", feedback(intp(4), nil, "\ufffd \u2028 \u202e \ufeff e\u0301 \U0010FFFF")},
		{"a member id a stock's id contains", withEvent(func(e *domain.Event) { e.MemberID = "my-stock:1" })},
		{"a transfer to an ordinary member", event("e-1", received, domain.TransferRequest{RequestID: "t-1", ToMemberID: "m-2", Points: 10})},
		{"a stock request of the engine's", stockRequest("vase", domain.StockRequest{RewardID: "vase", MemberID: "m-1", RequestID: "r-1", Quantity: 1})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := domain.Validate(tt.e, received); err != nil {
				t.Errorf("Validate = %v, want nil", err)
			}
		})
	}
}

// A string field added to a body without a limit would reach the ledger
// unchecked: StringFields must yield every string of every body, save those
// checked as values of a fixed set (currency, status).
func TestStringFieldsYieldEveryStringOfEveryBody(t *testing.T) {
	bodies := []domain.EventBody{
		domain.Enrolment{}, domain.Purchase{}, domain.Refund{}, domain.Feedback{}, domain.Visit{}, domain.StatusChange{},
		domain.Clock{}, domain.RedeemRequest{}, domain.Confirmation{}, domain.TierAssignment{}, domain.TransferRequest{},
		domain.TransferIn{}, domain.ReferralReward{}, domain.StockRequest{}, domain.StockAnswer{},
		domain.AdjustRequest{}, domain.CancelRequest{}, domain.VoucherUse{}, domain.ErasureRequest{},
		domain.Scored{}, domain.AttributesUpdate{},
	}
	if len(bodies) != len(domain.EventTypes) {
		t.Fatalf("%d bodies for %d event types: add a zero body of the new type to this test's list", len(bodies), len(domain.EventTypes))
	}
	checkedElsewhere := []string{"Currency", "Status", "RiskBand", "ValueBand", "Segment", "Kind",
		"Name"} // an attribute's: a-z, 0-9 and _ (AttributesUpdate.validate)
	for _, body := range bodies {
		v := reflect.New(reflect.TypeOf(body)).Elem()
		var want []string
		fillStrings(v, "", checkedElsewhere, &want)
		e := domain.Event{ID: "id", Source: "source", MemberID: "member", Type: body.EventType(), Body: v.Interface().(domain.EventBody)}
		var got []string
		for f := range domain.StringFields(e) {
			got = append(got, f.Value)
		}
		for _, w := range want {
			if !slices.Contains(got, w) {
				t.Errorf("%T: StringFields leaves out %s", body, w)
			}
		}
		for _, envelope := range []string{"id", "source", "member"} {
			if !slices.Contains(got, envelope) {
				t.Errorf("%T: StringFields leaves out the envelope's %s", body, envelope)
			}
		}
	}
}

// fillStrings sets every string in v, in nested structs and in two
// elements of each slice, to its own path, and appends the paths.
func fillStrings(v reflect.Value, path string, skip []string, paths *[]string) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(path)
		*paths = append(*paths, path)
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if f.IsExported() && !slices.Contains(skip, f.Name) {
				fillStrings(v.Field(i), path+"."+f.Name, skip, paths)
			}
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			fillStrings(v.Index(i), fmt.Sprintf("%s[%d]", path, i), skip, paths)
		}
	}
}

func TestStringFieldCheckNamesTheProblemNotTheValue(t *testing.T) {
	tests := []struct {
		f    domain.StringField
		want string
	}{
		{domain.StringField{Name: "member_id", Value: "m-\x00", MaxBytes: 128},
			"invalid_field: member_id: holds the control character U+0000 at byte 2"},
		{domain.StringField{Name: "comment", Value: "ok\n\xff", MaxBytes: 4096, Rule: domain.FreeText},
			"invalid_field: comment: is not valid UTF-8 (byte 3)"},
		{domain.StringField{Name: "order_id", Value: strings.Repeat("o", 3200), MaxBytes: 128},
			"invalid_field: order_id: is 3200 bytes, at most 128 are allowed"},
		{domain.StringField{Name: "to_member_id", Value: "stock:gift-box", MaxBytes: 128, NamesMember: true},
			`invalid_field: to_member_id: ids starting with "stock:" are the engine's own (a reward's stock)`},
	}
	for _, tt := range tests {
		err := tt.f.Check()
		if err == nil {
			t.Errorf("%s: Check = nil, want %q", tt.f.Name, tt.want)
			continue
		}
		if got := err.Error(); got != tt.want {
			t.Errorf("%s: Check = %q, want %q", tt.f.Name, got, tt.want)
		}
	}
}
