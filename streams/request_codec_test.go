package streams_test

import (
	"errors"
	"testing"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/streams"
)

func TestDecodeRequest(t *testing.T) {
	redeemFields := []string{"request_id", "reward_id", "quantity", "points", "channel"}
	for _, c := range []struct {
		name   string
		typ    domain.EventType
		data   string
		member string
		reason domain.Reason // "" when accepted
	}{
		{"balance", "", `{"member_id":"m-1"}`, "m-1", ""},
		{"escaped id", "", `{"member_id":"m\u002d1"}`, "m-1", ""},
		{"key in another case", "", `{"Member_ID":"m-1"}`, "", domain.ReasonInvalidField},
		{"key twice", "", `{"member_id":"a","member_id":"m-1"}`, "", streams.ReasonMalformedJSON},
		{"invalid UTF-8", "", "{\"member_id\":\"u\xfe\"}", "", streams.ReasonMalformedJSON},
		{"lone surrogate", "", `{"member_id":"u\ud800"}`, "", streams.ReasonMalformedJSON},
		{"no member", "", `{}`, "", domain.ReasonMissingField},
		{"not an object", "", `["m-1"]`, "", streams.ReasonMalformedJSON},
		{"trailing text", "", `{"member_id":"m-1"} x`, "", streams.ReasonMalformedJSON},
		{"redemption", domain.TypeRedemption, `{"member_id":"m-1","request_id":"r","points":5}`, "m-1", ""},
		{"balance field in a redemption", domain.TypeRedemption, `{"member_id":"m-1","request_id":"r","balance":5}`, "", domain.ReasonInvalidField},
		{"points as text", domain.TypeRedemption, `{"member_id":"m-1","request_id":"r","points":"5"}`, "", streams.ReasonMalformedJSON},
		{"points not an integer", domain.TypeRedemption, `{"member_id":"m-1","request_id":"r","points":5.5}`, "", domain.ReasonInvalidAmount},
	} {
		t.Run(c.name, func(t *testing.T) {
			var fields []string
			if c.typ != "" {
				fields = redeemFields
			}
			member, _, err := streams.DecodeRequest(c.typ, []byte(c.data), fields...)
			var rej *domain.RejectedError
			switch {
			case c.reason == "" && err != nil:
				t.Fatalf("DecodeRequest(%s): %v, want it read", c.data, err)
			case c.reason == "" && member != c.member:
				t.Errorf("DecodeRequest(%s): member %q, want %q", c.data, member, c.member)
			case c.reason != "" && !errors.As(err, &rej):
				t.Fatalf("DecodeRequest(%s): %v, want a refusal for %s", c.data, err, c.reason)
			case c.reason != "" && rej.Reason != c.reason:
				t.Errorf("DecodeRequest(%s): %v, want reason %s", c.data, err, c.reason)
			}
		})
	}
}
