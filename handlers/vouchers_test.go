package handlers_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/handlers"
)

// A member redeems a gift card and gets its code; a till checks it, and
// fifty tills use it at once: one is accepted. A code that is no one's, or
// not a code, gets an answer that names no member.
func TestVoucherCodesAtTheTill(t *testing.T) {
	env, _ := startRunningEngine(t)
	publish(t, env.JS, purchase("p-1", "m-1", "o-1", 5000, time.Now().UTC().Add(-time.Hour)))
	waitForRecords(t, env.JS, 1)

	var got handlers.RedeemReply
	if code, desc := call(t, env.Conn, handlers.RedeemSubject, handlers.RedeemRequestJSON{MemberID: "m-1", RequestID: "app-1", RewardID: "card", Quantity: 2}, &got); code != "" {
		t.Fatalf("redeem: %s %s", code, desc)
	}
	if got.Status != "accepted" || len(got.Vouchers) != 2 || got.Vouchers[0].Code == got.Vouchers[1].Code {
		t.Fatalf("redeem two gift cards: %+v; want two codes", got)
	}
	code := got.Vouchers[0].Code
	var again handlers.RedeemReply
	// A repeat shows no codes: whoever knows a member id and a request id
	// would read them (the member gets them in the first reply and the
	// outbound voucher_issued events).
	if c, desc := call(t, env.Conn, handlers.RedeemSubject, handlers.RedeemRequestJSON{MemberID: "m-1", RequestID: "app-1", RewardID: "card", Quantity: 2}, &again); c != "" ||
		!again.Repeated || len(again.Vouchers) != 0 {
		t.Errorf("the redemption again: %+v %s %s; want the decision, repeated, without the codes", again, c, desc)
	}

	check := func(code string) handlers.VoucherReply {
		t.Helper()
		var r handlers.VoucherReply
		if c, desc := call(t, env.Conn, handlers.VoucherCheckSubject, handlers.VoucherRequestJSON{Code: code}, &r); c != "" {
			t.Fatalf("check %s: %s %s", code, c, desc)
		}
		return r
	}
	if r := check(strings.ToLower(code)); r.Status != "valid" || r.RewardID != "card" || r.ExpiresAt == nil {
		t.Errorf("check a new code: %+v", r)
	}

	var wg sync.WaitGroup
	replies := make([]handlers.VoucherReply, 50)
	for i := range replies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := handlers.VoucherRequestJSON{Code: code, RequestID: fmt.Sprintf("till-%d", i), Channel: "pos-1"}
			if c, desc := call(t, env.Conn, handlers.VoucherUseSubject, req, &replies[i]); c != "" {
				t.Errorf("use %d: %s %s", i, c, desc)
			}
		}()
	}
	wg.Wait()
	accepted := 0
	for _, r := range replies {
		switch {
		case r.Status == "accepted":
			accepted++
		case r.Reason != string(domain.VoucherAlreadyUsed):
			t.Errorf("a refused use: %+v; want voucher_used", r)
		}
	}
	if accepted != 1 {
		t.Errorf("%d of 50 concurrent uses accepted, want 1", accepted)
	}
	if r := check(code); r.Status != "used" {
		t.Errorf("check a used code: %+v", r)
	}
	if r := check(got.Vouchers[1].Code); r.Status != "valid" {
		t.Errorf("the other code: %+v", r)
	}
	// A till's retry gets its first answer.
	var first handlers.VoucherReply
	for i, r := range replies {
		if r.Status == "accepted" {
			if c, _ := call(t, env.Conn, handlers.VoucherUseSubject, handlers.VoucherRequestJSON{Code: code, RequestID: fmt.Sprintf("till-%d", i), Channel: "pos-1"}, &first); c != "" ||
				first.Status != "accepted" || !first.Repeated || first.RewardID != "card" {
				t.Errorf("the accepted till's retry: %+v", first)
			}
		}
	}

	// The accepted till's request id from another till: a use of its own,
	// refused, not the first till's answer.
	for i, r := range replies {
		if r.Status == "accepted" {
			var other handlers.VoucherReply
			if c, _ := call(t, env.Conn, handlers.VoucherUseSubject, handlers.VoucherRequestJSON{Code: code, RequestID: fmt.Sprintf("till-%d", i), Channel: "pos-2"}, &other); c != "" ||
				other.Status != "rejected" || other.Reason != string(domain.VoucherAlreadyUsed) {
				t.Errorf("another till with the accepted till's request id: %+v; want voucher_used", other)
			}
		}
	}
	// One request id for the other code: a decision of its own, not the
	// first code's answer.
	var second handlers.VoucherReply
	for i, r := range replies {
		if r.Status == "accepted" {
			if c, desc := call(t, env.Conn, handlers.VoucherUseSubject, handlers.VoucherRequestJSON{Code: got.Vouchers[1].Code, RequestID: fmt.Sprintf("till-%d", i)}, &second); c != "" ||
				second.Status != "accepted" || second.Repeated || second.RewardID != "card" {
				t.Errorf("the other code under the accepted request id: %+v %s %s; want a decision of its own", second, c, desc)
			}
		}
	}
	if r := check(got.Vouchers[1].Code); r.Status != "used" {
		t.Errorf("the other code once used: %+v", r)
	}

	// No one's code: checked unknown, used rejected, nothing names a member.
	nobody := "2345-6789-ABCD-EFGH"
	if r := check(nobody); r.Status != "unknown" {
		t.Errorf("check of no one's code: %+v", r)
	}
	var unknown handlers.VoucherReply
	if c, _ := call(t, env.Conn, handlers.VoucherUseSubject, handlers.VoucherRequestJSON{Code: nobody, RequestID: "till-x"}, &unknown); c != "" ||
		unknown.Status != "rejected" || unknown.Reason != string(domain.VoucherUnknown) {
		t.Errorf("use of no one's code: %+v", unknown)
	}
	for _, bad := range []any{
		handlers.VoucherRequestJSON{Code: "not-a-code"},
		handlers.VoucherRequestJSON{Code: code + "2"},
		handlers.VoucherRequestJSON{Code: ""},
		map[string]any{"code": code, "member_id": "m-1"},
		map[string]any{"code": 12345},
	} {
		var r handlers.VoucherReply
		if c, desc := call(t, env.Conn, handlers.VoucherCheckSubject, bad, &r); c != handlers.CodeBadRequest {
			t.Errorf("check %+v: %q %s %+v; want %s", bad, c, desc, r, handlers.CodeBadRequest)
		} else if strings.Contains(desc, "m-1") {
			t.Errorf("check %+v named the member: %s", bad, desc)
		}
	}
	if c, desc := call(t, env.Conn, handlers.VoucherUseSubject, handlers.VoucherRequestJSON{Code: code}, &unknown); c != handlers.CodeBadRequest {
		t.Errorf("a use without request_id: %q %s", c, desc)
	}
}
