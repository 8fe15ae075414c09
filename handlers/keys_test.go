package handlers_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/handlers"
	"github.com/pointsledger/loyalty/streams"
	"github.com/pointsledger/loyalty/streams/natstest"
)

// A till retries a redemption decided over two years ago, which the
// member's state has forgotten: the service answers the first decision from
// the key index, marked repeated, and nothing is spent or dead-lettered.
func TestServiceAnswersARequestDecidedYearsAgo(t *testing.T) {
	env, _ := startRunningEngine(t)
	old := time.Date(2022, 5, 1, 10, 0, 0, 0, time.UTC)
	events := []domain.Event{
		purchase("p-old", "m-1", "o-old", 50_00, old),
		{ID: "r-old", Type: domain.TypeRedemption, Source: "test", MemberID: "m-1", OccurredAt: old.Add(time.Hour),
			Body: domain.RedeemRequest{RequestID: "till-old", RewardID: "mug", Quantity: 1}},
	}
	for i := range 36 {
		events = append(events, purchase(fmt.Sprintf("p-%d", i), "m-1", fmt.Sprintf("o-%d", i), 10_00, old.AddDate(0, i+1, 0)))
	}
	publish(t, env.JS, events...)
	waitForRecords(t, env.JS, len(events))

	var before handlers.BalanceReply
	if code, desc := call(t, env.Conn, handlers.BalanceSubject, handlers.BalanceRequest{MemberID: "m-1"}, &before); code != "" {
		t.Fatalf("balance: %s %s", code, desc)
	}
	var got handlers.RedeemReply
	retry := handlers.RedeemRequestJSON{MemberID: "m-1", RequestID: "till-old", RewardID: "mug", Channel: "pos-1"}
	if code, desc := call(t, env.Conn, handlers.RedeemSubject, retry, &got); code != "" {
		t.Fatalf("the retry was answered %s: %s", code, desc)
	}
	if got.Status != "accepted" || got.Points != 60 || !got.Repeated || got.Balance != before.Balance {
		t.Errorf("retry answered %+v, want the first decision (60 points accepted), repeated, balance %d", got, before.Balance)
	}
	stream, err := env.JS.Stream(context.Background(), streams.DeadLetterStream)
	if err != nil {
		t.Fatal(err)
	}
	if n := stream.CachedInfo().State.Msgs; n != 0 {
		t.Errorf("%d dead letters, want none", n)
	}
}

// Pairs of partitions each stage an event id the other then needs: A
// stages X and meets Y, which B staged before it met X. Each must let go of
// what it holds and decide again, not wait for the other until its retries
// run out: every input is decided, once, within the usual wait.
func TestPartitionsWaitingOnEachOthersKeysLetGo(t *testing.T) {
	env := natstest.Start(t)
	var events []domain.Event
	for pair := range 16 {
		a1, a2 := membersOfPartition(2*pair, 2)
		b1, b2 := membersOfPartition(2*pair+1, 2)
		x, y := fmt.Sprintf("x-%d", pair), fmt.Sprintf("y-%d", pair)
		events = append(events, visit(x, a1, day0), visit(y, b1, day0))
		// Time for the other side to stage its first before either
		// meets its second.
		for i := range 100 {
			events = append(events, visit(fmt.Sprintf("fill-%d-a-%d", pair, i), a1, day0), visit(fmt.Sprintf("fill-%d-b-%d", pair, i), b1, day0))
		}
		events = append(events, visit(y, a2, day0), visit(x, b2, day0))
	}
	publish(t, env.JS, events...) // all stored before the engine starts: both sides stage first
	runEngine(t, env.JS)
	conflicts := 2 * 16
	waitForRecords(t, env.JS, len(events)-conflicts)
	waitForMsgs(t, env.JS, streams.DeadLetterStream, uint64(conflicts))
	for _, m := range readAll(t, env.JS, streams.DeadLetterStream) {
		if r := m.Header.Get(handlers.HeaderReason); r != string(handlers.ReasonEventIDConflict) {
			t.Errorf("dead letter %d: %s, want %s", m.Sequence, r, handlers.ReasonEventIDConflict)
		}
	}
}

// membersOfPartition returns n member ids of partition p.
func membersOfPartition(p, n int) (string, string) {
	var ids []string
	for i := 0; len(ids) < n; i++ {
		if id := fmt.Sprintf("member-%d", i); streams.PartitionOf(id) == p {
			ids = append(ids, id)
		}
	}
	return ids[0], ids[1]
}
