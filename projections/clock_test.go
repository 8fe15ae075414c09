package projections

import (
	"context"
	"slices"
	"testing"
	"time"
)

// DueForClock picks, of members with points or a tier review, those whose
// date came since the mark: expiring and pending points, inactivity, and
// tier reviews (after their grace days), each only once.
func TestDueForClockPicksEveryReasonToWake(t *testing.T) {
	pool := migrated(t)
	ctx := context.Background()
	day := func(d int) time.Time { return time.Date(2026, 3, d, 0, 0, 0, 0, time.UTC) }
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	member := func(id string, balance, pending int64, last time.Time, review *time.Time) {
		exec(`insert into loyalty.members (member_id, points_balance, points_pending, lifetime_points, first_activity_at,
			last_activity_at, last_ledger_seq, tier_expires_at) values ($1, $2, $3, 0, $4, $4, 1, $5)`, id, balance, pending, last, review)
	}
	row := func(seq int, id, kind, account string, points int64, expires, available *time.Time) {
		exec(`insert into loyalty.points_ledger (ledger_seq, fact_index, member_id, points, kind, rule, source_event_id,
			program_version, occurred_at, expires_at, account, available_at) values ($1, 0, $2, $3, $4, 'r', 'e', 'v', $5, $6, $7, $8)`,
			seq, id, points, kind, day(1), expires, account, available)
	}
	at := func(d int) *time.Time { t := day(d); return &t }
	member("expiring", 10, 0, day(1), nil)
	row(1, "expiring", "earned", "available", 10, at(5), nil)
	member("pending", 0, 20, day(1), nil)
	row(2, "pending", "earned", "pending", 20, nil, at(6))
	member("spent", 0, 0, day(1), nil) // its points expire, but none are left
	row(3, "spent", "earned", "available", 5, at(5), nil)
	member("inactive", 7, 0, day(1), nil)
	member("review", 0, 0, day(1), at(4))  // no points, but a tier to review
	member("later", 30, 0, day(9), at(20)) // nothing due yet
	member("graced", 0, 0, day(1), at(6))  // review on day 6, plus 2 grace days
	row(4, "later", "earned", "available", 30, at(25), nil)
	member("credited", 10, 0, day(1), nil) // dated points from the back office
	row(5, "credited", "adjusted", "available", 10, at(5), nil)
	member("gifted", 10, 0, day(1), nil) // dated points another member gave
	row(6, "gifted", "received", "available", 10, at(5), nil)

	mark := ClockMark{At: day(2), Seq: 6}
	ids, next, err := DueForClock(ctx, pool, day(7), mark, 5, 2, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"credited", "expiring", "gifted", "inactive", "pending", "review"}; !slices.Equal(ids, want) {
		t.Errorf("due on day 7: %v, want %v", ids, want)
	}
	ids, _, err = DueForClock(ctx, pool, day(8), next, 5, 2, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"graced"}; !slices.Equal(ids, want) {
		t.Errorf("due on day 8, after day 7: %v, want %v", ids, want)
	}
	ids, _, err = DueForClock(ctx, pool, day(7), mark, 0, -1, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"credited", "expiring", "gifted", "pending"}; !slices.Equal(ids, want) {
		t.Errorf("without inactivity or reviews: %v, want %v", ids, want)
	}
	// Birthdays and anniversaries, under a program with yearly bonuses.
	exec(`insert into loyalty.members (member_id, lifetime_points, first_activity_at, last_activity_at, last_ledger_seq, enrolled_at, birthday)
		values ('born', 0, $1, $1, 1, $1, '03-06'), ('joined', 0, $2, $2, 1, $2, null), ('born-later', 0, $1, $1, 1, $1, '03-09')`,
		time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC), time.Date(2025, 3, 5, 9, 0, 0, 0, time.UTC))
	ids, _, err = DueForClock(ctx, pool, day(7), mark, 0, -1, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"born", "credited", "expiring", "gifted", "joined", "pending"}; !slices.Equal(ids, want) {
		t.Errorf("with yearly bonuses: %v, want %v", ids, want)
	}
	// Notices 20 days ahead: "later"'s points expire on day 25.
	ids, _, err = DueForClock(ctx, pool, day(7), mark, 0, -1, false, 20)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"credited", "expiring", "gifted", "later", "pending"}; !slices.Equal(ids, want) {
		t.Errorf("with notices 20 days ahead: %v, want %v", ids, want)
	}
	// Rules on inactivity after 3 and 30 days: woken at the end of the
	// day of the last purchase plus the days, whatever the points.
	exec(`insert into loyalty.member_rfm (member_id, first_purchase_on, last_purchase_on, frequency, recency_days, orders, revenue, average_order_value)
		values ('bought-day-3', $1, $1, 0, 0, 1, 100, 100), ('bought-day-4', $2, $2, 0, 0, 1, 100, 100), ('bought-feb', $3, $3, 0, 0, 1, 100, 100)`,
		day(3), day(4), time.Date(2026, 2, 5, 0, 0, 0, 0, time.UTC))
	for _, id := range []string{"bought-day-3", "bought-day-4", "bought-feb"} {
		member(id, 0, 0, day(1), nil)
	}
	ids, _, err = DueForClock(ctx, pool, day(7), mark, 0, -1, false, 0, 3, 30)
	if err != nil {
		t.Fatal(err)
	}
	// day 3 + 3 days ends on day 7 at 00:00; day 4's on day 8; 5 February
	// + 30 ends on 8 March.
	if want := []string{"bought-day-3", "credited", "expiring", "gifted", "pending"}; !slices.Equal(ids, want) {
		t.Errorf("with rules on inactivity after 3 and 30 days, on day 7: %v, want %v", ids, want)
	}
	ids, _, err = DueForClock(ctx, pool, day(8), ClockMark{At: day(7), Seq: 6}, 0, -1, false, 0, 3, 30)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"bought-day-4", "bought-feb"}; !slices.Equal(ids, want) {
		t.Errorf("on day 8, after day 7: %v, want %v", ids, want)
	}
}
