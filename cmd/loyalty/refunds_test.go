package main_test

import (
	"context"
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/projections/pgtest"
	"github.com/pointsledger/loyalty/streams"
	"github.com/pointsledger/loyalty/streams/natstest"
)

// publishEvents publishes events to the input stream as upstream would, each
// with its id as the message id.
func publishEvents(t *testing.T, env *natstest.Env, events []domain.Event) {
	t.Helper()
	ctx := context.Background()
	pub := streams.NewPublisher(env.JS, nil)
	for _, e := range events {
		if err := pub.Publish(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if got := pub.Acked(); got != len(events) {
		t.Fatalf("%d of %d events were stored", got, len(events))
	}
}

// Under the default program, through the engine, the embedded NATS server
// and PostgreSQL: a first order refunded in full leaves the member none of
// its points, the first-purchase bonus included; a refund dated the day
// before its purchase leaves the purchase net of the refund in the member's
// qualifying spend and tier progress.
func TestRefundsInTheMembersTable(t *testing.T) {
	env := natstest.Start(t)
	db := pgtest.New(t)
	srv := startServe(t, "--nats-url", env.Server.ClientURL(), "--database-url", db.URL, "--data-dir", t.TempDir())

	at := func(day, hour int) time.Time { return time.Date(2026, 11, day, hour, 0, 0, 0, time.UTC) }
	eur := func(minor int64) domain.Money { return domain.Money{Minor: minor, Currency: "EUR"} }
	event := func(id, member string, occurred time.Time, body domain.EventBody) domain.Event {
		return domain.Event{ID: id, Type: body.EventType(), Source: "refunds-test", MemberID: member, OccurredAt: occurred, Body: body}
	}
	const returned, behind = "returned-first-order", "refund-clock-behind"
	events := []domain.Event{
		event("r-enrol", returned, at(2, 9), domain.Enrolment{Channel: "app"}),
		event("r-buy", returned, at(2, 10), domain.Purchase{OrderID: "r-1", Total: eur(25_00), Channel: "web"}),
		event("r-refund", returned, at(4, 10), domain.Refund{OrderID: "r-1", Amount: eur(25_00)}),
		event("b-enrol", behind, at(2, 9), domain.Enrolment{Channel: "app"}),
		event("b-buy", behind, at(3, 10), domain.Purchase{OrderID: "b-1", Total: eur(100_00), Channel: "store"}),
		// The returns desk's clock is a day behind the till's.
		event("b-refund", behind, at(2, 15), domain.Refund{OrderID: "b-1", Amount: eur(40_00)}),
	}
	publishEvents(t, env, events)
	waitCaughtUp(t, env.JS, db.Pool, uint64(len(events)))

	type row struct {
		balance, lifetime, spend, value, missing int64
		next                                     string
	}
	want := map[string]row{
		// 25 base and 200 first-purchase points earned, all taken back.
		returned: {balance: 0, lifetime: 225, spend: 0, value: 0, missing: 500_00, next: "silver"},
		// 100 base and 200 first-purchase points, 40 taken back by a
		// partial refund; 60.00 of qualifying spend left.
		behind: {balance: 260, lifetime: 300, spend: 60_00, value: 60_00, missing: 440_00, next: "silver"},
	}
	ctx := context.Background()
	for member, w := range want {
		var got row
		if err := db.Pool.QueryRow(ctx, `select points_balance, lifetime_points, qualifying_spend, tier_value,
			next_tier_missing, next_tier from loyalty.members where member_id = $1`, member).
			Scan(&got.balance, &got.lifetime, &got.spend, &got.value, &got.missing, &got.next); err != nil {
			t.Fatalf("member %s: %v", member, err)
		}
		if got != w {
			t.Errorf("member %s: balance %d, lifetime %d, qualifying_spend %d, tier_value %d, next_tier %s missing %d; want %d, %d, %d, %d, %s missing %d",
				member, got.balance, got.lifetime, got.spend, got.value, got.next, got.missing,
				w.balance, w.lifetime, w.spend, w.value, w.next, w.missing)
		}
	}
	var reversed int64
	if err := db.Pool.QueryRow(ctx, `select coalesce(sum(points), 0) from loyalty.points_ledger
		where member_id = $1 and kind = 'reversed' and rule = 'refund' and order_id = 'r-1'`, returned).Scan(&reversed); err != nil {
		t.Fatal(err)
	}
	if reversed != -225 {
		t.Errorf("the full refund's points_ledger reversal is %d points, want -225", reversed)
	}

	reference, rejected := referenceFold(t, events)
	if rejected != 0 {
		t.Errorf("the reference fold rejects %d events", rejected)
	}
	assertMembersEqual(t, db.Pool, reference)
	assertLedgerInvariants(t, db.Pool)
	srv.stop(t)
}
