package projections

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/domain/analytics"
)

// The report over the tables equals the statistics computed by hand from
// what each member did: a 30-day measure counts members assigned 30 days
// before the as-of date, a 90-day one 90 days; purchases before the
// assignment or after the window do not count.
func TestExperimentReportOverTheTables(t *testing.T) {
	pool := migrated(t)
	ctx := context.Background()
	asOf := time.Date(2026, 9, 30, 0, 0, 0, 0, time.UTC)
	met := asOf.AddDate(0, 0, -120)
	type member struct {
		arm      string
		assigned time.Time
		buys     []int // days after the assignment; negative: before
		spend    int64 // per purchase
		points   int64 // earned the day after the assignment
	}
	var members []member
	for i := range 60 {
		m := member{arm: domain.ControlArm, assigned: met, spend: 2000, points: 10}
		if i%2 == 1 {
			m.arm, m.points = "treatment", 310
		}
		switch {
		case i%5 == 0:
			m.buys = []int{3, 40}
		case i%5 == 1 && m.arm == "treatment":
			m.buys = []int{10}
		case i%5 == 2:
			m.buys = []int{-5, 95} // before it, and after the 90 days
		case i%5 == 3:
			m.buys = []int{60}
		}
		members = append(members, m)
	}
	// Met 50 days before the as-of date: in the 30-day measures only.
	members = append(members, member{arm: "treatment", assigned: asOf.AddDate(0, 0, -50), buys: []int{5}, spend: 1000, points: 300},
		member{arm: "control", assigned: asOf.AddDate(0, 0, -50), spend: 1000})
	for i, m := range members {
		id := fmt.Sprint("m-", i)
		if _, err := pool.Exec(ctx, `insert into loyalty.experiment_assignments values ('winback', $1, $2, $3, 'e', $4, 0)`, id, m.arm, m.assigned, i+1); err != nil {
			t.Fatal(err)
		}
		for j, d := range m.buys {
			if _, err := pool.Exec(ctx, `insert into loyalty.purchases (member_id, order_id, event_id, ledger_seq, occurred_at, amount, currency, qualifying_spend)
				values ($1, $2, 'e', 1, $3, $4, 'EUR', $4)`, id, fmt.Sprint("o-", j), m.assigned.AddDate(0, 0, d), m.spend); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := pool.Exec(ctx, `insert into loyalty.points_ledger (ledger_seq, fact_index, member_id, points, kind, rule, source_event_id, program_version, occurred_at, account)
			values ($1, 0, $2, $3, 'earned', 'base', 'e', 'v1', $4, 'available')`, 1000+i, id, m.points, m.assigned.AddDate(0, 0, 1)); err != nil {
			t.Fatal(err)
		}
	}
	cfg := ReportConfig{Experiment: "winback", AsOf: asOf, Margin: 0.25, CostPerPoint: "0.5", MinEffect: 0.1}
	r, err := ExperimentReport(ctx, pool, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Arms) != 2 || r.Arms[0].Arm != "control" || r.Arms[0].Members != 31 || r.Arms[1].Members != 31 {
		t.Fatalf("arms %+v", r.Arms)
	}
	// By hand, per arm over the 60 members met 120 days before.
	sums := map[string]map[string]*analytics.Summary{}
	yes := map[string]map[string]int{}
	for _, m := range members {
		long := asOf.AddDate(0, 0, 1).Sub(m.assigned) >= 90*24*time.Hour
		var n30, n90 int
		var spend int64
		for _, d := range m.buys {
			if d > 0 && d <= 30 {
				n30++
			}
			if d > 0 && d <= 90 {
				n90++
				spend += m.spend
			}
		}
		cost := math.Round(float64(m.points) * 0.5)
		values := map[string]float64{MeasurePurchase30d: b2f(n30 > 0), MeasurePurchase90d: b2f(n90 > 0), MeasureSpend90d: float64(spend),
			MeasureCost90d: cost, MeasureValue90d: float64(spend)*0.25 - cost}
		for measure, v := range values {
			if measure != MeasurePurchase30d && !long {
				continue
			}
			if sums[measure] == nil {
				sums[measure], yes[measure] = map[string]*analytics.Summary{"control": {}, "treatment": {}}, map[string]int{}
			}
			sums[measure][m.arm].Add(v)
			if v > 0 {
				yes[measure][m.arm]++
			}
		}
	}
	for _, m := range r.Measures {
		c, tr := sums[m.Measure]["control"], sums[m.Measure]["treatment"]
		var want analytics.Interval
		if m.Measure == MeasurePurchase30d || m.Measure == MeasurePurchase90d {
			want = analytics.ProportionDifference(yes[m.Measure]["treatment"], tr.N, yes[m.Measure]["control"], c.N)
		} else {
			want = analytics.MeanDifference(*tr, *c)
		}
		got := m.Arms[1]
		if m.Arms[0].Members != c.N || got.Members != tr.N || math.Abs(got.Value-tr.Mean) > 1e-9 || math.Abs(m.Arms[0].Value-c.Mean) > 1e-9 {
			t.Errorf("%s: members %d/%d values %.4f/%.4f, want %d/%d %.4f/%.4f", m.Measure, m.Arms[0].Members, got.Members,
				m.Arms[0].Value, got.Value, c.N, tr.N, c.Mean, tr.Mean)
		}
		if d := got.Difference; d == nil || math.Abs(d.Value-want.Estimate) > 1e-9 || math.Abs(d.Low-want.Low) > 1e-9 || math.Abs(d.High-want.High) > 1e-9 {
			t.Errorf("%s: difference %+v, want %+v", m.Measure, d, want)
		}
		if m.Arms[0].Difference != nil {
			t.Errorf("%s: control has a difference to itself", m.Measure)
		}
	}
	if r.Measures[0].Arms[0].Members != 31 || r.Measures[1].Arms[0].Members != 30 {
		t.Errorf("30-day measure over %d control members, 90-day over %d: want 31 and 30", r.Measures[0].Arms[0].Members, r.Measures[1].Arms[0].Members)
	}
	if err := WriteExperimentResults(ctx, pool, r); err != nil {
		t.Fatal(err)
	}
	var rows int
	if err := pool.QueryRow(ctx, `select count(*) from loyalty.experiment_results where experiment = 'winback' and
		(arm = 'control') = (difference is null)`).Scan(&rows); err != nil || rows != 10 {
		t.Errorf("experiment_results holds %d rows of 10 with a difference for treatment only (%v)", rows, err)
	}
	if _, err := ExperimentReport(ctx, pool, ReportConfig{Experiment: "nobody-met-it", AsOf: asOf, Margin: 1, CostPerPoint: "1", MinEffect: 0.1}); !errors.Is(err, ErrNoMembers) ||
		!strings.Contains(err.Error(), "check the id") {
		t.Errorf("a report of an experiment no one met: %v", err)
	}
	early := ReportConfig{Experiment: "winback", AsOf: met.AddDate(0, 0, -1), Margin: 1, CostPerPoint: "1", MinEffect: 0.1}
	if _, err := ExperimentReport(ctx, pool, early); !errors.Is(err, ErrNoMembers) || !strings.Contains(err.Error(), "the first met it on "+met.Format(time.DateOnly)) {
		t.Errorf("a report as of a day before anyone met it: %v", err)
	}
}
