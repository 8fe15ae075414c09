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

// The back office adjusts points and cancels redemptions through the
// service: each request is decided once, refusals say why and change
// nothing, and a cancelled stocked redemption gives its unit back.
func TestServiceAdjustsAndCancels(t *testing.T) {
	env, _ := startRunningEngine(t)
	now := time.Now().UTC().Add(-time.Hour)
	// 150 points each: 50 base and the first purchase bonus.
	publish(t, env.JS, purchase("p-1", "m-1", "o-1", 5000, now), purchase("p-2", "m-2", "o-2", 5000, now))
	waitForRecords(t, env.JS, 2)

	adjust := func(req handlers.AdjustRequestJSON) (handlers.RedeemReply, string) {
		t.Helper()
		var reply handlers.RedeemReply
		code, desc := call(t, env.Conn, handlers.AdjustSubject, req, &reply)
		return reply, code + desc
	}
	credit := handlers.AdjustRequestJSON{MemberID: "m-1", RequestID: "case-1", Points: 250, ReasonCode: "missing_points",
		Note: "receipt 4411 was not scanned", OperatorID: "agent-7"}
	if got, err := adjust(credit); err != "" || got.Status != "accepted" || got.Points != 250 || got.Balance != 400 {
		t.Fatalf("credit: %+v %s; want 250 accepted, 400 points", got, err)
	}
	if got, err := adjust(credit); err != "" || !got.Repeated || got.Balance != 400 {
		t.Errorf("the same credit again: %+v %s; want the first decision, repeated, still 400 points", got, err)
	}
	changed := credit
	changed.Points = -100
	if got, err := adjust(changed); !strings.HasPrefix(err, handlers.CodeConflict) {
		t.Errorf("the credit's request id for a debit: %+v %q; want %s, nothing moved", got, err, handlers.CodeConflict)
	}
	over := credit
	over.RequestID, over.Points = "case-2", 1001
	if got, err := adjust(over); err != "" || got.Status != "rejected" || got.Reason != string(domain.AdjustTooLarge) || got.Balance != 400 {
		t.Errorf("a credit over the limit: %+v %s; want rejected adjustment_too_large, 400 points", got, err)
	}
	debit := credit
	debit.RequestID, debit.Points = "case-3", -401
	if got, err := adjust(debit); err != "" || got.Status != "rejected" || got.Reason != string(domain.AdjustInsufficientPoints) {
		t.Errorf("a debit beyond the balance: %+v %s; want rejected insufficient_points", got, err)
	}
	for _, bad := range []struct {
		req  any
		code string
	}{
		{map[string]any{"member_id": "m-1", "request_id": "x", "points": 5, "reason_code": "goodwill"}, handlers.CodeBadRequest},                     // no operator
		{map[string]any{"member_id": "m-1", "request_id": "x", "points": 0, "reason_code": "goodwill", "operator_id": "a"}, handlers.CodeBadRequest}, // no points
		{map[string]any{"member_id": "m-1", "request_id": "x", "points": 5, "reason_code": "goodwill", "operator_id": "a", "approved_by": "b"}, handlers.CodeBadRequest},
		{map[string]any{"member_id": "m-1", "request_id": "x", "points": 5.5, "reason_code": "goodwill", "operator_id": "a"}, handlers.CodeBadRequest},
		{map[string]any{"member_id": "m-1", "request_id": "x", "points": 5, "reason_code": "good\nwill", "operator_id": "a"}, handlers.CodeBadRequest},
		{handlers.AdjustRequestJSON{MemberID: "ghost", RequestID: "x", Points: 5, ReasonCode: "goodwill", OperatorID: "a"}, handlers.CodeUnknownMember},
	} {
		var reply handlers.RedeemReply
		if code, desc := call(t, env.Conn, handlers.AdjustSubject, bad.req, &reply); code != bad.code {
			t.Errorf("adjustment %+v: code %q (%s), want %s", bad.req, code, desc, bad.code)
		}
	}

	// The vase has one unit: m-1 takes it, the back office cancels, and
	// m-2 may have it.
	var got handlers.RedeemReply
	if code, desc := call(t, env.Conn, handlers.RedeemSubject, handlers.RedeemRequestJSON{MemberID: "m-1", RequestID: "till-1", RewardID: "vase"}, &got); code != "" || got.Status != "accepted" {
		t.Fatalf("redeem the vase: %+v %s %s", got, code, desc)
	}
	if code, desc := call(t, env.Conn, handlers.RedeemSubject, handlers.RedeemRequestJSON{MemberID: "m-2", RequestID: "till-2", RewardID: "vase"}, &got); code != "" || got.Reason != string(domain.RedeemOutOfStock) {
		t.Fatalf("the vase for a second member: %+v %s %s; want out of stock", got, code, desc)
	}
	cancel := handlers.CancelRequestJSON{MemberID: "m-1", RequestID: "case-4", RedemptionID: "till-1", ReasonCode: "customer_request", OperatorID: "agent-7"}
	var cancelled handlers.RedeemReply
	if code, desc := call(t, env.Conn, handlers.CancelSubject, cancel, &cancelled); code != "" || cancelled.Status != "accepted" ||
		cancelled.Points != 10 || cancelled.RedemptionID != "till-1" || cancelled.Balance != 400 {
		t.Fatalf("cancel: %+v %s %s; want 10 points back, 400 points", cancelled, code, desc)
	}
	cancel.RequestID = "case-5"
	if code, desc := call(t, env.Conn, handlers.CancelSubject, cancel, &cancelled); code != "" || cancelled.Reason != string(domain.CancelAlreadyCancelled) {
		t.Errorf("cancel again: %+v %s %s; want already_cancelled", cancelled, code, desc)
	}
	// One request id for another redemption is another cancellation.
	cancel.RequestID, cancel.RedemptionID = "case-5", "till-8"
	if code, desc := call(t, env.Conn, handlers.CancelSubject, cancel, &cancelled); code != "" || cancelled.Reason != string(domain.CancelUnknownRedemption) {
		t.Errorf("a request id reused for another redemption: %+v %s %s; want a decision of its own", cancelled, code, desc)
	}
	cancel.RequestID, cancel.RedemptionID = "case-6", "till-9"
	if code, desc := call(t, env.Conn, handlers.CancelSubject, cancel, &cancelled); code != "" || cancelled.Reason != string(domain.CancelUnknownRedemption) {
		t.Errorf("cancel an unknown redemption: %+v %s %s; want unknown_redemption", cancelled, code, desc)
	}
	// The stock's unit is back once its member has the follow-up.
	deadline := time.Now().Add(10 * time.Second)
	for n := 3; ; n++ {
		code, desc := call(t, env.Conn, handlers.RedeemSubject, handlers.RedeemRequestJSON{MemberID: "m-2", RequestID: "till-" + string(rune('0'+n)), RewardID: "vase"}, &got)
		if code == "" && got.Status == "accepted" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cancelled vase never came back to its stock: %+v %s %s", got, code, desc)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Concurrent calls with one request id: one decision, and a call whose own
// event was not the one decided is told it is a repeat; one that asked for
// another amount is told of the conflict, never that it was accepted.
func TestConcurrentBackOfficeCallsShareNoFalseDecision(t *testing.T) {
	env, _ := startRunningEngine(t)
	publish(t, env.JS, purchase("p-1", "m-1", "o-1", 5000, time.Now().UTC().Add(-time.Hour)))
	waitForRecords(t, env.JS, 1)
	for round := range 5 {
		id := fmt.Sprintf("case-%d", round)
		var wg sync.WaitGroup
		codes := make([]string, 2)
		replies := make([]handlers.RedeemReply, 2)
		for i, points := range []int64{10, 20} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes[i], _ = call(t, env.Conn, handlers.AdjustSubject, handlers.AdjustRequestJSON{MemberID: "m-1", RequestID: id, Points: points,
					ReasonCode: "goodwill", OperatorID: "a"}, &replies[i])
			}()
		}
		wg.Wait()
		fresh := 0
		for i := range replies {
			switch {
			case codes[i] == handlers.CodeConflict:
			case codes[i] == "" && !replies[i].Repeated && replies[i].Points == []int64{10, 20}[i]:
				fresh++
			default:
				t.Errorf("round %d, call %d: %q %+v; want its own decision or a conflict", round, i, codes[i], replies[i])
			}
		}
		if fresh != 1 {
			t.Errorf("round %d: %d calls told their adjustment was decided, want 1 (codes %v)", round, fresh, codes)
		}
	}
}
