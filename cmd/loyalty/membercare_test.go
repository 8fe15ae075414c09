package main_test

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/handlers"
	"github.com/pointsledger/loyalty/projections/pgtest"
	"github.com/pointsledger/loyalty/streams/natstest"
)

// The back office through the real binary, under the default program:
// `member adjust` credits once however often it is run with one request
// id, refuses what the program's limits refuse with the reason and a
// failing exit status, and `member cancel-redemption` gives a redemption's
// points back. The read models show both, and a rebuild gives the same rows.
func TestMemberAdjustAndCancelThroughTheBinary(t *testing.T) {
	env := natstest.Start(t)
	db := pgtest.New(t)
	url := env.Server.ClientURL()
	srv := startServe(t, "--nats-url", url, "--database-url", db.URL, "--data-dir", t.TempDir())
	const member = "care.member ✓"
	at := time.Now().UTC().Add(-time.Hour)
	event := func(id string, body domain.EventBody) domain.Event {
		return domain.Event{ID: id, Type: body.EventType(), Source: "care-test", MemberID: member, OccurredAt: at, Body: body}
	}
	// 200 base points and the 200 first-purchase bonus.
	publishEvents(t, env, []domain.Event{
		event("care-enrol", domain.Enrolment{Channel: "app"}),
		event("care-buy", domain.Purchase{OrderID: "o-1", Total: domain.Money{Minor: 200_00, Currency: "EUR"}, Channel: "web"}),
	})
	waitCaughtUp(t, env.JS, db.Pool, 2)

	adjust := []string{"member", "adjust", member, "--nats-url", url, "--points", "250", "--reason", "missing_points",
		"--note", "receipt 4411 was not scanned", "--operator", "agent-7", "--request-id", "case-1"}
	if out := mustLoyalty(t, adjust...); !strings.Contains(out, "case-1: accepted") || !strings.Contains(out, "balance 650") {
		t.Errorf("member adjust:\n%s", out)
	}
	if out := mustLoyalty(t, adjust...); !strings.Contains(out, "decided before") || !strings.Contains(out, "balance 650") {
		t.Errorf("member adjust again with the same request id:\n%s", out)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--points", "20000", "--request-id", "case-2"}, "refused: adjustment_too_large"},
		{[]string{"--points", "-5000", "--request-id", "case-3"}, "refused: insufficient_points"},
		{[]string{"--points", "0"}, "--points is required"},
		{[]string{"--points", "5", "--reason", ""}, "--reason is required"},
		{[]string{"--points", "5", "--operator", ""}, "--operator is required"},
		{[]string{"--points", "5", "--note", "bad\x07note"}, "invalid_field: note"},
	} {
		args := append(slices.Clone(adjust[:3]), "--nats-url", url, "--reason", "goodwill", "--operator", "agent-7")
		out, errOut, err := loyalty(t, append(args, c.args...)...)
		if err == nil || !strings.Contains(errOut, c.want) {
			t.Errorf("member adjust %v: err %v, stderr %q, want %q\n%s", c.args, err, errOut, c.want, out)
		}
	}
	if _, errOut, err := loyalty(t, "member", "adjust", "nobody", "--nats-url", url, "--points", "5", "--reason", "goodwill", "--operator", "a"); err == nil ||
		!strings.Contains(errOut, `no member "nobody" is on record`) {
		t.Errorf("member adjust of an unknown member: err %v, stderr %q", err, errOut)
	}

	// A till redeems a coffee (150 points); the back office cancels it.
	var redeemed handlers.RedeemReply
	data, _ := json.Marshal(handlers.RedeemRequestJSON{MemberID: member, RequestID: "till-1", RewardID: "coffee"})
	msg, err := env.Conn.Request(handlers.RedeemSubject, data, 10*time.Second)
	if err != nil || json.Unmarshal(msg.Data, &redeemed) != nil || redeemed.Status != "accepted" || redeemed.Balance != 500 {
		t.Fatalf("redeem a coffee: %v %s", err, msg.Data)
	}
	cancel := []string{"member", "cancel-redemption", member, "till-1", "--nats-url", url, "--reason", "customer_request", "--operator", "agent-7"}
	if out := mustLoyalty(t, cancel...); !strings.Contains(out, "till-1: 150 points back") || !strings.Contains(out, "balance 650") {
		t.Errorf("member cancel-redemption:\n%s", out)
	}
	if _, errOut, err := loyalty(t, cancel...); err == nil || !strings.Contains(errOut, "already_cancelled") {
		t.Errorf("cancel again: err %v, stderr %q", err, errOut)
	}

	rows := waitForCareRows(t, db.Pool)
	for _, want := range []string{
		`points_ledger: 250 adjusted adjustment`,
		`points_ledger: 150 returned redemption_cancelled`,
		`adjustments: case-1 accepted 250 missing_points "receipt 4411 was not scanned" agent-7`,
		`adjustments: case-2 rejected 20000 adjustment_too_large`,
		`redemptions: till-1 cancelled customer_request agent-7`,
		`members: 650`,
	} {
		if !slices.Contains(rows, want) {
			t.Errorf("read models lack %q; they hold:\n%s", want, strings.Join(rows, "\n"))
		}
	}
	mustLoyalty(t, "projections", "rebuild", "members", "--nats-url", url, "--database-url", db.URL, "--quiet")
	if again := careRows(t, db.Pool); !slices.Equal(rows, again) {
		t.Errorf("after a rebuild:\n%s\nbefore:\n%s", strings.Join(again, "\n"), strings.Join(rows, "\n"))
	}
	srv.stop(t)
}

// careRows is what the read models show of the back office's requests.
func careRows(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	for _, q := range []string{
		`select 'points_ledger: ' || points || ' ' || kind || ' ' || rule from loyalty.points_ledger where kind in ('adjusted', 'returned')`,
		`select 'adjustments: ' || request_id || ' ' || status || ' ' || points || ' ' || coalesce(reason_code, refused_reason) ||
			coalesce(' "' || note || '" ' || operator_id, '') from loyalty.adjustments`,
		`select 'redemptions: ' || request_id || ' ' || status || coalesce(' ' || cancel_reason_code || ' ' || cancelled_by, '') from loyalty.redemptions`,
		`select 'members: ' || points_balance from loyalty.members`,
	} {
		r, err := pool.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for r.Next() {
			var s string
			if err := r.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		r.Close()
	}
	slices.Sort(out)
	return out
}

// waitForCareRows waits until the cancellation reached the read models.
func waitForCareRows(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		rows := careRows(t, pool)
		seen := map[string]bool{}
		for _, r := range rows {
			seen[r] = true
		}
		if seen["redemptions: till-1 cancelled customer_request agent-7"] && seen["members: 650"] {
			return rows
		}
		if time.Now().After(deadline) {
			t.Fatalf("the read models never showed the cancellation:\n%s", strings.Join(slices.Sorted(maps.Keys(seen)), "\n"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}
