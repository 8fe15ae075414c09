package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// A control arm whose net value per member is near zero (break-even) asks
// for more members than any programme has: the report says 0 (not
// measurable) rather than a number the table cannot hold, and one
// experiment's failure would not stop the others'.
func TestBreakEvenControlDoesNotStopTheResults(t *testing.T) {
	pool := migrated(t)
	ctx := context.Background()
	asOf := time.Date(2026, 9, 30, 0, 0, 0, 0, time.UTC)
	met := asOf.AddDate(0, 0, -120)
	seq := 0
	add := func(exp, id, arm string, spend, points int64) {
		seq++
		if _, err := pool.Exec(ctx, `insert into loyalty.experiment_assignments values ($1, $2, $3, $4, 'e', $5, 0)`, exp, id, arm, met, seq); err != nil {
			t.Fatal(err)
		}
		if spend > 0 {
			if _, err := pool.Exec(ctx, `insert into loyalty.purchases (member_id, order_id, event_id, ledger_seq, occurred_at, amount, currency, qualifying_spend)
				values ($1, 'o', 'e', 1, $2, $3, 'EUR', $3)`, id, met.AddDate(0, 0, 5), spend); err != nil {
				t.Fatal(err)
			}
		}
		if points > 0 {
			if _, err := pool.Exec(ctx, `insert into loyalty.points_ledger (ledger_seq, fact_index, member_id, points, kind, rule, source_event_id, program_version, occurred_at, account)
				values ($1, 0, $2, $3, 'earned', 'base', 'e', 'v1', $4, 'available')`, 1000+seq, id, points, met.AddDate(0, 0, 1)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// "a-breakeven": control buyers net +500.25, non-buyers -500 (1000 points at 0.5).
	for i := range 10 {
		if i%2 == 0 {
			add("a-breakeven", fmt.Sprint("a", i), "control", 2001, 0)
		} else {
			add("a-breakeven", fmt.Sprint("a", i), "control", 0, 1000)
		}
		add("a-breakeven", fmt.Sprint("at", i), "treatment", 3000, 10)
	}
	// "b-normal": an ordinary experiment.
	for i := range 10 {
		add("b-normal", fmt.Sprint("b", i), "control", int64(1000+100*i), 10)
		add("b-normal", fmt.Sprint("bt", i), "treatment", int64(1500+100*i), 10)
	}
	cfg := ReportConfig{AsOf: asOf, Margin: 0.25, CostPerPoint: "0.5", MinEffect: 0.1}
	cfg.Experiment = "a-breakeven"
	r, err := ExperimentReport(ctx, pool, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if n := r.Measures[4].Arms[0].MembersNeeded; n != 0 {
		t.Errorf("net value per member %.3f in control: %d members needed, want 0 (not measurable)", r.Measures[4].Arms[0].Value, n)
	}
	if _, err := json.Marshal(r); err != nil {
		t.Error(err)
	}
	_, err = RefreshExperimentResults(ctx, pool, cfg)
	var n int
	pool.QueryRow(ctx, `select count(*) from loyalty.experiment_results where experiment = 'b-normal'`).Scan(&n)
	if err != nil || n == 0 {
		t.Errorf("refresh: err %v; rows of b-normal written: %d (want no error, 10 rows)", err, n)
	}
}

// A purchase that reaches the ledger late (an upstream batch), dated so
// that its lapse ended before the clock's mark, is woken at the next tick,
// as late expiring points are.
func TestALateLapseIsWoken(t *testing.T) {
	pool := migrated(t)
	ctx := context.Background()
	day := func(d int) time.Time { return time.Date(2026, 3, d, 0, 0, 0, 0, time.UTC) }
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	// The clock has looked up to day 10, ledger seq 5.
	mark := ClockMark{At: day(10), Seq: 5}
	// Then a late batch (ledger seq 9) brings the member's purchase of day 2:
	// with a 3-day rule on inactivity they lapsed at the end of day 5.
	exec(`insert into loyalty.members (member_id, points_balance, points_pending, lifetime_points, first_activity_at,
		last_activity_at, last_ledger_seq) values ('late', 0, 0, 0, $1, $1, 9)`, day(2))
	exec(`insert into loyalty.points_ledger (ledger_seq, fact_index, member_id, points, kind, rule, source_event_id,
		program_version, occurred_at, account) values (9, 0, 'late', 0, 'earned', 'base', 'e', 'v', $1, 'available')`, day(2))
	exec(`insert into loyalty.member_rfm (member_id, first_purchase_on, last_purchase_on, frequency, recency_days, orders, revenue, average_order_value)
		values ('late', $1, $1, 0, 0, 1, 100, 100)`, day(2))
	var woken []string
	for d := 11; d <= 28; d++ {
		ids, next, err := DueForClock(ctx, pool, day(d), mark, 0, -1, false, 0, 3)
		if err != nil {
			t.Fatal(err)
		}
		woken = append(woken, ids...)
		mark = next
	}
	if len(woken) != 1 || woken[0] != "late" {
		t.Errorf("woken %v in 18 daily ticks, want 'late' (last purchase day 2, 3-day lapse, reached the ledger after the mark) once", woken)
	}
}

// The report's 30- and 90-day windows are days of 24 hours, whatever the
// database session's time zone: across a daylight saving change the same
// ledger gives the same report.
func TestReportWindowsAreDaysOf24Hours(t *testing.T) {
	pool := migrated(t)
	ctx := context.Background()
	met := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	bought := met.Add(30*24*time.Hour - 30*time.Minute) // inside 30 days
	for i, arm := range []string{"control", "control", "treatment", "treatment"} {
		id := fmt.Sprint("m", i)
		if _, err := pool.Exec(ctx, `insert into loyalty.experiment_assignments values ('x', $1, $2, $3, 'e', $4, 0)`, id, arm, met, i+1); err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, `insert into loyalty.purchases (member_id, order_id, event_id, ledger_seq, occurred_at, amount, currency, qualifying_spend)
			values ($1, 'o', 'e', 1, $2, 100, 'EUR', 100)`, id, bought); err != nil {
			t.Fatal(err)
		}
	}
	cfg := ReportConfig{Experiment: "x", AsOf: time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC), Margin: 1, CostPerPoint: "1", MinEffect: 0.1}
	share := func(tz string) float64 {
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		if _, err := tx.Exec(ctx, "set local timezone = '"+tz+"'"); err != nil {
			t.Fatal(err)
		}
		r, err := ExperimentReport(ctx, tx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return r.Measures[0].Arms[0].Value
	}
	utc, berlin := share("UTC"), share("Europe/Berlin")
	if utc != 1 || utc != berlin {
		t.Errorf("control purchase_30d: %.2f with the session in UTC, %.2f in Europe/Berlin (purchase 29d23h30m after assignment)", utc, berlin)
	}
}
