package projections

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pointsledger/loyalty/domain/analytics"
)

var fitAsOf = time.Date(2026, 6, 30, 0, 0, 0, 0, time.UTC)

func testFitConfig(reason string) FitConfig {
	return FitConfig{AsOf: fitAsOf, TimeUnit: "day", Reason: reason, Months: 12, Margin: 0.4,
		AnnualDiscountRate: 0.1, CostPerPoint: "0.5", LowRisk: 0.7, HighRisk: 0.3}
}

// seedPurchaseDays writes members drawn from known parameters into
// member_purchase_days as whole UTC days ending at fitAsOf, spend in minor
// units (the model's 30 a purchase becomes 3,000).
func seedPurchaseDays(t testing.TB, pool *pgxpool.Pool, members int) analytics.Synthetic {
	t.Helper()
	data := seedPurchaseDaysOnly(t, pool, members)
	recomputeAllRFM(t, pool)
	return data
}

// seedPurchaseDaysOnly is seedPurchaseDays without member_rfm.
func seedPurchaseDaysOnly(t testing.TB, pool *pgxpool.Pool, members int) analytics.Synthetic {
	t.Helper()
	data := analytics.Synthesize(analytics.BGNBD{R: 0.25, Alpha: 4, A: 0.8, B: 2.5},
		analytics.GammaGamma{P: 6, Q: 4, Gamma: 15}, members, 30, 365, 11)
	var rows [][]any
	for i, h := range data.Histories {
		id := fmt.Sprintf("member-%05d", i)
		first := fitAsOf.AddDate(0, 0, -int(h.Age))
		rows = append(rows, []any{id, first, int32(1), int64(2500)})
		if h.Frequency > 0 {
			// The repeats on distinct days between the first and the
			// recency, the last on the recency.
			last := max(1, min(int(math.Round(h.Recency)), int(h.Age)))
			days := map[int]bool{}
			for j := 1; j <= h.Frequency && j <= last; j++ {
				day := last * j / min(h.Frequency, last)
				if !days[day] {
					days[day] = true
					rows = append(rows, []any{id, first.AddDate(0, 0, day), int32(1), int64(math.Round(data.Spends[i].Mean * 100))})
				}
			}
		}
	}
	if _, err := pool.CopyFrom(context.Background(), pgx.Identifier{Schema, "member_purchase_days"},
		[]string{"member_id", "day", "orders", "spend"}, pgx.CopyFromRows(rows)); err != nil {
		t.Fatal(err)
	}
	return data
}

// recomputeAllRFM keeps member_rfm as the activity projection would.
func recomputeAllRFM(t testing.TB, pool *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "set local search_path = loyalty"); err != nil {
			return err
		}
		var ids []string
		if err := tx.QueryRow(ctx, "select array_agg(distinct member_id) from member_purchase_days").Scan(&ids); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, recomputeRFM, ids)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestFitModelsScoresEveryMember(t *testing.T) {
	pool := migrated(t)
	ctx := context.Background()
	seedPurchaseDays(t, pool, 5000)
	// A later visit, feedback and points for one member; a purchase after
	// the as-of date, which the fit must not see.
	later, after := fitAsOf.Add(20*time.Hour), fitAsOf.AddDate(0, 0, 3)
	for _, stmt := range []string{
		`insert into loyalty.visits (event_id, ledger_seq, member_id, occurred_at) values ('v1', 1, 'member-00001', $1), ('v2', 1, 'late-member', $2)`,
		`insert into loyalty.points_ledger (ledger_seq, fact_index, member_id, points, kind, rule, source_event_id, program_version, occurred_at, account)
values (2, 0, 'member-00001', 301, 'earned', 'base', 'e1', 'v1', $1, 'available'),
	(3, 0, 'member-00001', -100, 'expired', 'expiry', 'e2', 'v1', $1, 'available'),
	(4, 0, 'member-00001', 40, 'earned', 'base', 'e3', 'v1', $1, 'pending'),
	(5, 0, 'member-00001', 999, 'earned', 'base', 'e4', 'v1', $2, 'available')`,
		`insert into loyalty.member_purchase_days values ('member-00002', $2::date, 1, 100000), ('late-member', $2::date, 1, $1::date - $1::date + 5000)`,
	} {
		if _, err := pool.Exec(ctx, stmt, later, after); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	recomputeAllRFM(t, pool)

	res, err := FitModels(ctx, pool, testFitConfig("command"))
	if err != nil {
		t.Fatalf("fit: %v", err)
	}
	if res.Members != 5000 {
		t.Errorf("fitted %d members, want 5000 (the late member is after the as-of date)", res.Members)
	}
	checkFitRow(t, pool, res)
	checkScores(t, pool, res)

	var cost, activity int64
	var lastActivity time.Time
	if err := pool.QueryRow(ctx, `select l.points_cost, c.days_since_activity, c.last_activity_on from loyalty.member_ltv l
	join loyalty.member_churn c using (member_id) where member_id = 'member-00001'`).Scan(&cost, &activity, &lastActivity); err != nil {
		t.Fatal(err)
	}
	// (301 − 100 + 40) × 0.5 = 120.5, rounded half away from zero.
	if cost != 121 {
		t.Errorf("points cost %d, want 121", cost)
	}
	if !lastActivity.Equal(fitAsOf) || activity != 0 {
		t.Errorf("last activity %s (%d days), want the visit on the as-of date", lastActivity, activity)
	}
	var available, pending, availableValue int64
	if err := pool.QueryRow(ctx, `select available, pending, available_value from loyalty.points_liability_valuations where fit_id = $1`,
		res.FitID).Scan(&available, &pending, &availableValue); err != nil {
		t.Fatal(err)
	}
	if available != 201 || pending != 40 || availableValue != 101 {
		t.Errorf("liability %d available (value %d), %d pending; want 201 (101), 40", available, availableValue, pending)
	}

	// A second fit replaces the scores.
	again, err := FitModels(ctx, pool, testFitConfig("schedule"))
	if err != nil {
		t.Fatal(err)
	}
	var n, stale int
	if err := pool.QueryRow(ctx, `select count(*), count(*) filter (where fit_id <> $1) from loyalty.member_churn`, again.FitID).Scan(&n, &stale); err != nil {
		t.Fatal(err)
	}
	if n != 5000 || stale != 0 {
		t.Errorf("after a refit: %d churn rows, %d of an older fit; want 5000 and 0", n, stale)
	}

	// In weeks the same data give the same r, a, b and P(alive), and alpha
	// a seventh: the models do not depend on the unit of time.
	weekly := testFitConfig("command")
	weekly.TimeUnit = "week"
	week, err := FitModels(ctx, pool, weekly)
	if err != nil {
		t.Fatal(err)
	}
	d, w := res.BGNBD.Params, week.BGNBD.Params
	for _, c := range []struct {
		name      string
		day, week float64
	}{{"r", d.R, w.R}, {"alpha/7", d.Alpha / 7, w.Alpha}, {"a", d.A, w.A}, {"b", d.B, w.B}} {
		if math.Abs(c.week-c.day) > 1e-3*c.day {
			t.Errorf("%s: %.6f in days, %.6f in weeks", c.name, c.day, c.week)
		}
	}
	rows, err := pool.Query(ctx, `select c.frequency, c.recency, c.age, c.probability_alive, r.recency_days, c.as_of - r.first_purchase_on
	from loyalty.member_churn c join loyalty.member_rfm r using (member_id) where c.member_id <> 'member-00002'`)
	if err != nil {
		t.Fatal(err)
	}
	var freq, recDays, ageDays int
	var rec, age, alive float64
	checked := 0
	_, err = pgx.ForEachRow(rows, []any{&freq, &rec, &age, &alive, &recDays, &ageDays}, func() error {
		checked++
		inDays := analytics.History{Frequency: freq, Recency: float64(recDays), Age: float64(ageDays)}
		if math.Abs(rec*7-float64(recDays)) > 1e-9 || math.Abs(age*7-float64(ageDays)) > 1e-9 ||
			math.Abs(alive-d.ProbabilityAlive(inDays)) > 1e-3 {
			t.Errorf("weekly %d repeats over %.3f of %.3f weeks, P(alive) %.5f; in days %+v gives %.5f",
				freq, rec, age, alive, inDays, d.ProbabilityAlive(inDays))
		}
		return nil
	})
	if err != nil || checked != 4999 {
		t.Fatalf("checked %d weekly scores: %v", checked, err)
	}
}

func checkFitRow(t *testing.T, pool *pgxpool.Pool, res FitResult) {
	t.Helper()
	var status, unit string
	var members, repeat int
	var r, alpha, a, b, p, q, gamma, ll float64
	var se []float64
	err := pool.QueryRow(context.Background(), `select status, time_unit, members, repeat_members, bgnbd_r, bgnbd_alpha, bgnbd_a, bgnbd_b,
	gg_p, gg_q, gg_gamma, bgnbd_log_likelihood, bgnbd_std_errors from loyalty.model_fits where id = $1`, res.FitID).
		Scan(&status, &unit, &members, &repeat, &r, &alpha, &a, &b, &p, &q, &gamma, &ll, &se)
	if err != nil {
		t.Fatal(err)
	}
	if status != "converged" || unit != "day" || members != res.Members || repeat != res.GammaGamma.Stats.Members || len(se) != 4 {
		t.Errorf("fit row: %s %s %d members %d repeat, %d std errors", status, unit, members, repeat, len(se))
	}
	if got := (analytics.BGNBD{R: r, Alpha: alpha, A: a, B: b}); got != res.BGNBD.Params {
		t.Errorf("stored BG/NBD %+v, fitted %+v", got, res.BGNBD.Params)
	}
	// Whole days and one purchase a day blur the simulated data a little,
	// but the mean spend is kept: p·γ/(q−1) near the 3,000 minor units
	// simulated.
	if mean := p * gamma / (q - 1); math.Abs(mean-3000) > 150 {
		t.Errorf("population mean spend %.0f, simulated 3000", mean)
	}
}

// checkScores compares every stored score with the model's closed forms at
// the stored parameters and the member's stored history.
func checkScores(t *testing.T, pool *pgxpool.Pool, res FitResult) {
	t.Helper()
	rows, err := pool.Query(context.Background(), `select c.member_id, c.frequency, c.recency, c.age, c.probability_alive,
	c.expected_purchases_30d, c.expected_purchases_90d, c.expected_purchases_365d, c.risk_band, l.expected_spend, l.predicted_value,
	l.predicted_purchases, r.frequency, r.recency_days, r.first_purchase_on, coalesce(r.monetary_value, 0)::float8
from loyalty.member_churn c join loyalty.member_ltv l using (member_id) join loyalty.member_rfm r using (member_id)
where c.fit_id = $1`, res.FitID)
	if err != nil {
		t.Fatal(err)
	}
	bg, gg := res.BGNBD.Params, res.GammaGamma.Params
	cfg := testFitConfig("")
	n := 0
	var id, band string
	var freq, rfmFreq, rfmRecency int
	var rec, age, alive, e30, e90, e365, purchases, monetary float64
	var spend, value int64
	var first time.Time
	_, err = pgx.ForEachRow(rows, []any{&id, &freq, &rec, &age, &alive, &e30, &e90, &e365, &band, &spend, &value, &purchases,
		&rfmFreq, &rfmRecency, &first, &monetary}, func() error {
		n++
		if id == "member-00002" {
			return nil // its purchase after the as-of date is in member_rfm
		}
		h := analytics.History{Frequency: freq, Recency: rec, Age: age}
		if freq != rfmFreq || rec != float64(rfmRecency) || age != fitAsOf.Sub(first).Hours()/24 {
			t.Errorf("%s: history %+v, member_rfm says %d repeats over %d days since %s", id, h, rfmFreq, rfmRecency, first)
		}
		if want := bg.ProbabilityAlive(h); math.Abs(alive-want) > 1e-12 || riskBand(alive, cfg) != band {
			t.Errorf("%s: P(alive) %.6f band %s, want %.6f", id, alive, band, want)
		}
		for _, e := range []struct{ days, got float64 }{{30, e30}, {90, e90}, {365, e365}} {
			if want := bg.ExpectedPurchases(h, e.days); math.Abs(e.got-want) > 1e-9*math.Max(1, want) {
				t.Errorf("%s: expected purchases in %g days %.6f, want %.6f", id, e.days, e.got, want)
			}
		}
		if !(e30 <= e90 && e90 <= e365) {
			t.Errorf("%s: expected purchases 30/90/365 %.4f %.4f %.4f are not in order", id, e30, e90, e365)
		}
		wantSpend := gg.ExpectedSpend(analytics.Spend{Frequency: freq, Mean: monetary})
		if spend != int64(math.Round(wantSpend)) {
			t.Errorf("%s: expected spend %d, want %.2f", id, spend, wantSpend)
		}
		if v := analytics.PredictValue(bg, h, wantSpend, cfg.valueSettings()); value != int64(math.Round(v.Discounted)) || value < 0 ||
			math.Abs(purchases-v.Purchases) > 1e-9*math.Max(1, v.Purchases) {
			t.Errorf("%s: predicted value %d over %.6f purchases, want %.2f over %.6f", id, value, purchases, v.Discounted, v.Purchases)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != res.Members {
		t.Errorf("%d scored members, want %d", n, res.Members)
	}
}

func TestFailedFitIsRecordedAndKeepsTheScores(t *testing.T) {
	pool := migrated(t)
	ctx := context.Background()
	seedPurchaseDays(t, pool, 500)
	good, err := FitModels(ctx, pool, testFitConfig("command"))
	if err != nil {
		t.Fatal(err)
	}
	early := testFitConfig("command")
	early.AsOf = fitAsOf.AddDate(-5, 0, 0) // before every purchase
	res, err := FitModels(ctx, pool, early)
	if !errors.Is(err, analytics.ErrNoData) {
		t.Fatalf("fit before any purchase: %v, want ErrNoData", err)
	}
	var status, reason string
	if err := pool.QueryRow(ctx, `select status, error from loyalty.model_fits where id = $1`, res.FitID).Scan(&status, &reason); err != nil {
		t.Fatal(err)
	}
	if status != "failed" || reason == "" {
		t.Errorf("failed fit recorded as %q (%q)", status, reason)
	}
	var kept int
	if err := pool.QueryRow(ctx, `select count(*) from loyalty.member_churn where fit_id = $1`, good.FitID).Scan(&kept); err != nil {
		t.Fatal(err)
	}
	if kept != 500 {
		t.Errorf("%d scores of the good fit kept, want 500", kept)
	}
	bad := testFitConfig("command")
	bad.TimeUnit, bad.CostPerPoint, bad.Margin = "month", "lots", 2
	_, err = FitModels(ctx, pool, bad)
	for _, want := range []string{`time unit "month"`, `cost per point "lots"`, "margin"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("a fit with a month time unit, cost 'lots' and margin 2: %v, want it to name the %s", err, want)
		}
	}
	if _, err := parseCost("1e-7"); err == nil {
		t.Error("a cost per point of 1e-7 (stored as 0.000000) was accepted")
	}

	// Scores that cannot be written fail the fit, which is recorded, and
	// keep the good fit's scores; serve then waits before it tries again.
	if _, err := pool.Exec(ctx, `alter table loyalty.member_ltv add constraint refuse_all check (predicted_value < 0) not valid`); err != nil {
		t.Fatal(err)
	}
	res, err = FitModels(ctx, pool, testFitConfig("schedule"))
	if err == nil {
		t.Fatal("a fit whose scores were refused succeeded")
	}
	if err := pool.QueryRow(ctx, `select status from loyalty.model_fits where id = $1`, res.FitID).Scan(&status); err != nil || status != "failed" {
		t.Errorf("the fit whose scores were refused: %q, %v; want it recorded as failed", status, err)
	}
	if err := pool.QueryRow(ctx, `select count(*) from loyalty.member_churn where fit_id = $1`, good.FitID).Scan(&kept); err != nil || kept != 500 {
		t.Errorf("%d scores of the good fit kept (%v), want 500", kept, err)
	}
	if due, err := RefitDue(ctx, pool, RefitSchedule{Every: time.Hour, RetryAfter: time.Minute}, time.Now().UTC()); err != nil || due != "" {
		t.Errorf("after a failed fit RefitDue = %q, %v; want none due within the retry wait", due, err)
	}
}

func TestRefitDue(t *testing.T) {
	pool := migrated(t)
	ctx := context.Background()
	now := time.Now().UTC()
	due := func(want string) {
		t.Helper()
		if got, err := RefitDue(ctx, pool, RefitSchedule{Every: time.Hour, RetryAfter: time.Minute}, now); err != nil || got != want {
			t.Errorf("RefitDue = %q, %v; want %q", got, err, want)
		}
	}
	due("") // no purchases
	if err := ensureCheckpoint(ctx, pool, ActivityName); err != nil {
		t.Fatal(err)
	}
	seedPurchaseDays(t, pool, 300)
	due("schedule") // never fitted
	if _, err := FitModels(ctx, pool, testFitConfig("schedule")); err != nil {
		t.Fatal(err)
	}
	due("")
	now = now.Add(2 * time.Hour)
	due("schedule")
	now = now.Add(-2 * time.Hour)
	if _, err := pool.Exec(ctx, `update loyalty.projection_checkpoints set rebuilt_at = now() + interval '1 minute' where name = $1`, ActivityName); err != nil {
		t.Fatal(err)
	}
	due("rebuild")
}

// A failed fit is tried again after a wait that is at least RetryAfter, ten
// times what the failed fit took if longer, doubles with each failure in a
// row and is capped at Every; a fit during an import, on a handful of
// members, must not hold the next one off for a whole interval.
func TestRefitRetriesFailedFits(t *testing.T) {
	pool := migrated(t)
	ctx := context.Background()
	if err := ensureCheckpoint(ctx, pool, ActivityName); err != nil {
		t.Fatal(err)
	}
	seedPurchaseDays(t, pool, 20)
	schedule := RefitSchedule{Every: time.Hour, RetryAfter: time.Minute}
	start := time.Now().UTC().Truncate(time.Second)
	fail := func(at time.Time, reason string, took time.Duration) {
		t.Helper()
		if _, err := pool.Exec(ctx, `insert into loyalty.model_fits (fitted_at, as_of, time_unit, reason, status, error, duration, members)
			values ($1, $2, 'day', $3, 'failed', 'did not converge', $4, 20)`, at, at, reason, took); err != nil {
			t.Fatal(err)
		}
	}
	due := func(at time.Time, want string) {
		t.Helper()
		if got, err := RefitDue(ctx, pool, schedule, at); err != nil || got != want {
			t.Errorf("%s after the start: RefitDue = %q, %v; want %q", at.Sub(start), got, err, want)
		}
	}
	fail(start, "schedule", time.Second)
	due(start.Add(59*time.Second), "")
	due(start.Add(61*time.Second), "schedule")

	second := start.Add(61 * time.Second)
	fail(second, "schedule", time.Second)
	due(second.Add(119*time.Second), "")
	due(second.Add(121*time.Second), "schedule")

	third := second.Add(121 * time.Second)
	fail(third, "rebuild", 10*time.Minute)
	due(third.Add(59*time.Minute), "")
	due(third.Add(61*time.Minute), "rebuild")

	if _, err := pool.Exec(ctx, `update loyalty.model_fits set status = 'converged', error = null where fitted_at = $1`, third); err != nil {
		t.Fatal(err)
	}
	due(third.Add(59*time.Minute), "")
	due(third.Add(61*time.Minute), "schedule")
}

// TestAnalyticsDocQueriesRun runs every ```sql block of docs/analytics.md
// against scores of a real fit.
func TestAnalyticsDocQueriesRun(t *testing.T) {
	const path = "../docs/analytics.md"
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blocks := docSQLBlocks(string(doc))
	if len(blocks) < 5 {
		t.Fatalf("%s has %d ```sql blocks; the example queries are gone", path, len(blocks))
	}
	pool := migrated(t)
	ctx := context.Background()
	seedPurchaseDays(t, pool, 2000)
	if _, err := FitModels(ctx, pool, testFitConfig("command")); err != nil {
		t.Fatal(err)
	}
	for _, b := range blocks {
		err := pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, b.SQL)
			if err != nil {
				return err
			}
			rows.Close()
			return rows.Err()
		})
		if err != nil {
			t.Errorf("%s:%d: the query under %q fails: %v\n%s", path, b.Line, b.Heading, err, b.SQL)
		}
	}
}
