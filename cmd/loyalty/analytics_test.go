package main_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pointsledger/loyalty/domain/analytics"
	"github.com/pointsledger/loyalty/projections/pgtest"
	"github.com/pointsledger/loyalty/streams/natstest"
)

var historyEnd = time.Date(2026, 6, 30, 0, 0, 0, 0, time.UTC)

// writeHistoryCSV writes the purchases of members drawn from the models'
// own story as an import file, one purchase on each purchase day at noon
// UTC, ending at historyEnd; it returns the file and how many rows.
func writeHistoryCSV(t *testing.T, members int) (string, int) {
	t.Helper()
	data := analytics.Synthesize(analytics.BGNBD{R: 0.25, Alpha: 4, A: 0.8, B: 2.5},
		analytics.GammaGamma{P: 6, Q: 4, Gamma: 15}, members, 30, 365, 5)
	var b strings.Builder
	b.WriteString("member_id,occurred_at,amount,currency,order_id\n")
	rows := 0
	add := func(member string, day time.Time, amount float64) {
		rows++
		fmt.Fprintf(&b, "%s,%s,%.2f,EUR,order-%d\n", member, day.Add(12*time.Hour).Format(time.RFC3339), amount, rows)
	}
	for i, h := range data.Histories {
		id := fmt.Sprintf("history-%05d", i)
		first := historyEnd.AddDate(0, 0, -int(h.Age))
		add(id, first, 25)
		last := max(1, min(int(math.Round(h.Recency)), int(h.Age)))
		seen := map[int]bool{}
		for j := 1; j <= h.Frequency && j <= last; j++ {
			if day := last * j / min(h.Frequency, last); !seen[day] {
				seen[day] = true
				add(id, first.AddDate(0, 0, day), math.Max(0.01, data.Spends[i].Mean))
			}
		}
	}
	path := filepath.Join(t.TempDir(), "purchases.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, rows
}

// Historical purchases go in through `loyalty import`, the models are
// fitted by `loyalty analytics fit` and by serve's schedule and after a
// rebuild, and the analytics tables agree with the read models under them.
func TestImportThenFitFillsTheAnalyticsTables(t *testing.T) {
	env := natstest.Start(t)
	db := pgtest.New(t)
	natsURL := env.Server.ClientURL()
	srv := startServe(t, "--nats-url", natsURL, "--database-url", db.URL, "--data-dir", t.TempDir(),
		"--refit-every", "1h", "--refit-check-interval", "300ms", "--cost-per-point", "0.5")
	file, rows := writeHistoryCSV(t, 2000)
	mustLoyalty(t, "import", file, "--quiet", "--nats-url", natsURL)
	waitCaughtUp(t, env.JS, db.Pool, uint64(rows))
	assertRFMRecomputes(t, db.Pool)

	// serve fits once purchases exist (it never has), as of today.
	scheduled := waitForFit(t, db.Pool, "schedule")
	ctx := context.Background()

	early := historyEnd.AddDate(0, -3, 0).Format(time.DateOnly)
	out := mustLoyalty(t, "analytics", "fit", "--as-of", early, "--quiet", "--database-url", db.URL)
	var earlyMembers int
	if err := db.Pool.QueryRow(ctx, `select count(*) from loyalty.member_rfm where first_purchase_on <= $1`, early).Scan(&earlyMembers); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, fmt.Sprintf("%d members", earlyMembers)) {
		t.Errorf("fit as of %s: want %d members (first purchase by then), got:\n%s", early, earlyMembers, out)
	}
	out = mustLoyalty(t, "analytics", "fit", "--as-of", historyEnd.Format(time.DateOnly), "--quiet",
		"--database-url", db.URL, "--margin", "0.3", "--cost-per-point", "0.5")
	t.Logf("loyalty analytics fit:\n%s", out)
	fitID := latestFit(t, db.Pool, "command")
	if fitID <= scheduled {
		t.Errorf("the command's fit %d is not after serve's %d", fitID, scheduled)
	}
	checkAnalyticsTables(t, db.Pool, fitID)

	if out, errOut, err := loyalty(t, "analytics", "fit", "--as-of", "30/06/2026", "--database-url", db.URL); err == nil ||
		!strings.Contains(errOut, "YYYY-MM-DD") {
		t.Errorf("a fit with as-of 30/06/2026 did not say how to write the date: %v\n%s%s", err, out, errOut)
	}

	mustLoyalty(t, "projections", "rebuild", "activity", "--quiet", "--nats-url", natsURL, "--database-url", db.URL)
	if rebuilt := waitForFit(t, db.Pool, "rebuild"); rebuilt <= fitID {
		t.Errorf("the refit after the rebuild (%d) is not after the command's fit (%d)", rebuilt, fitID)
	}
	srv.stop(t)
}

// waitForFit waits for a converged fit for reason and returns its id.
func waitForFit(t *testing.T, pool *pgxpool.Pool, reason string) int64 {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for ; time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		var id int64
		err := pool.QueryRow(context.Background(), `select coalesce(max(id), 0) from loyalty.model_fits
			where reason = $1 and status = 'converged'`, reason).Scan(&id)
		if err == nil && id > 0 {
			return id
		}
	}
	t.Fatalf("no converged %s fit within 2 minutes", reason)
	return 0
}

// waitForPublishedScores waits until the scores serve published for a fit
// are in member_scores and no more arrive for a second.
func waitForPublishedScores(t *testing.T, pool *pgxpool.Pool, fitID int64) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	last, steady := -1, 0
	for ; time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		var n int
		if err := pool.QueryRow(context.Background(), `select count(*) from loyalty.member_scores where fit_id = $1`,
			fmt.Sprint(fitID)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 && n == last {
			if steady++; steady == 5 {
				return
			}
		} else {
			steady = 0
		}
		last = n
	}
	t.Fatalf("the scores of fit %d did not reach member_scores within 2 minutes", fitID)
}

func latestFit(t *testing.T, pool *pgxpool.Pool, reason string) int64 {
	t.Helper()
	var id int64
	if err := pool.QueryRow(context.Background(), `select max(id) from loyalty.model_fits where reason = $1 and status = 'converged'`,
		reason).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// checkAnalyticsTables checks the scores and views against the tables
// they come from; every purchase is before the fit's as-of date.
func checkAnalyticsTables(t *testing.T, pool *pgxpool.Pool, fitID int64) {
	t.Helper()
	checks := []struct {
		name, sql string
	}{
		{"every member with a purchase is scored by the fit, with member_rfm's history",
			`select count(*) from loyalty.member_rfm r full join loyalty.member_churn c using (member_id)
			where c.fit_id is distinct from $1 or r.frequency is distinct from c.frequency
				or r.recency_days is distinct from c.recency::int or c.age <> (c.as_of - r.first_purchase_on)`},
		{"probabilities, expectations and bands are in range and in order",
			`select count(*) from loyalty.member_churn where not (probability_alive between 0 and 1)
				or not (0 <= expected_purchases_30d and expected_purchases_30d <= expected_purchases_90d
					and expected_purchases_90d <= expected_purchases_365d)
				or (frequency = 0 and probability_alive <> 1)
				or risk_band <> case when probability_alive >= 0.7 then 'low' when probability_alive < 0.3 then 'high' else 'medium' end`},
		{"last activity is the latest purchase (no visits here)",
			`select count(*) from loyalty.member_churn c join loyalty.member_rfm r using (member_id)
			where c.last_activity_on <> r.last_purchase_on or c.days_since_activity <> c.as_of - r.last_purchase_on`},
		{"lifetime value: revenue as in member_rfm, points cost from the ledger, one value per member",
			`select count(*) from loyalty.member_ltv l join loyalty.member_rfm r using (member_id)
			left join (select member_id, sum(points) as points from loyalty.points_ledger
				where kind in ('earned', 'reversed', 'cancelled', 'expired') group by 1) p using (member_id)
			where l.fit_id <> $1 or l.historical_revenue <> r.revenue or l.predicted_value < 0 or l.expected_spend <= 0
				or l.points_cost <> round(coalesce(p.points, 0) * 0.5) or l.margin <> 0.3`},
		{"members without repeats get the population mean spend",
			`select count(distinct l.expected_spend) - 1 from loyalty.member_ltv l join loyalty.member_churn c using (member_id)
			where c.frequency = 0`},
		{"the liability valuation is the points balances at 0.5 a point",
			`select count(*) from loyalty.points_liability_valuations v, loyalty.points_liability p
			where v.fit_id = $1 and (v.available <> p.available - p.negative or v.pending <> p.pending
				or v.available_value <> round(v.available * 0.5))`},
		{"cohorts hold every member once, all active in their first month",
			`select (select count(*) from loyalty.member_rfm) - sum(cohort_members) filter (where months_since_first = 0)
				+ count(*) filter (where months_since_first = 0 and retention <> 1)
				+ count(*) filter (where active_members > cohort_members)
			from loyalty.cohort_retention`},
		{"each cohort has a row for every month to the latest, zero retention included",
			`select count(*) from (select cohort, count(*) as n from loyalty.cohort_retention group by cohort) x,
				(select max(month) as last from loyalty.cohort_retention) l
			where x.n <> (extract(year from l.last) - extract(year from x.cohort)) * 12 + extract(month from l.last) - extract(month from x.cohort) + 1`},
		{"activity by month has every month from the first purchase to the latest",
			`select count(*) - ((extract(year from max(month)) - extract(year from min(month))) * 12
				+ extract(month from max(month)) - extract(month from min(month)) + 1) from loyalty.activity_by_month`},
		{"activity by month adds up to the purchases",
			`select abs((select count(*) from loyalty.purchases) - sum(orders))
				+ abs((select sum(revenue) from loyalty.member_rfm) - sum(revenue))
				+ count(*) filter (where churn_rate < 0 or churn_rate > 1)
			from loyalty.activity_by_month`},
		{"the latest month's tier distribution is the members' tiers",
			`select count(*) from (select tier, members from loyalty.tier_distribution_by_month
				where month = (select max(month) from loyalty.tier_distribution_by_month)) d
			full join (select tier, count(*) as members from loyalty.members where tier is not null group by 1) m using (tier)
			where d.members is distinct from m.members`},
	}
	for _, c := range checks {
		var bad int64
		args := []any{}
		if strings.Contains(c.sql, "$1") {
			args = append(args, fitID)
		}
		if err := pool.QueryRow(context.Background(), c.sql, args...).Scan(&bad); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if bad != 0 {
			t.Errorf("%s: %d wrong", c.name, bad)
		}
	}
	var scored, highRisk int
	if err := pool.QueryRow(context.Background(), `select count(*), count(*) filter (where risk_band = 'high') from loyalty.member_churn`).
		Scan(&scored, &highRisk); err != nil {
		t.Fatal(err)
	}
	if scored != 2000 || highRisk == 0 {
		t.Errorf("%d members scored, %d at high risk; want 2000 and some (a quarter drop out)", scored, highRisk)
	}
}
