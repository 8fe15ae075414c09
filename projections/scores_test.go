package projections

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/domain/analytics"
	"github.com/pointsledger/loyalty/streams"
)

// A fit gives every member a value band by rank and a segment from the
// bands; the scores to publish are those that differ from what the ledger
// recorded of the member (member_scores), and none of an erased member.
func TestFitBandsAndTheScoresToPublish(t *testing.T) {
	pool := migrated(t)
	ctx := context.Background()
	seedPurchaseDays(t, pool, 2000)
	res, err := FitModels(ctx, pool, testFitConfig("command"))
	if err != nil {
		t.Fatal(err)
	}
	type scored struct {
		id, risk, value, segment string
		predicted                int64
		alive                    float64
		freq                     int
		age                      float64
	}
	rows, err := pool.Query(ctx, `select c.member_id, c.risk_band, l.value_band, c.segment, l.predicted_value, c.probability_alive,
	c.frequency, c.age from loyalty.member_churn c join loyalty.member_ltv l using (member_id) order by c.member_id`)
	if err != nil {
		t.Fatal(err)
	}
	var all []scored
	var values []float64
	for rows.Next() {
		var s scored
		if err := rows.Scan(&s.id, &s.risk, &s.value, &s.segment, &s.predicted, &s.alive, &s.freq, &s.age); err != nil {
			t.Fatal(err)
		}
		all = append(all, s)
		values = append(values, float64(s.predicted))
	}
	if rows.Err() != nil || len(all) != 2000 {
		t.Fatalf("%d scored members (%v), want 2000", len(all), rows.Err())
	}
	bands := analytics.ValueBands(values)
	count := map[string]int{}
	for i, s := range all {
		if s.value != bands[i] {
			t.Errorf("%s: value band %s, want %s", s.id, s.value, bands[i])
		}
		if want := analytics.Segment(s.risk, s.value, s.freq, s.age); s.segment != want {
			t.Errorf("%s: segment %s, want %s", s.id, s.segment, want)
		}
		count[s.value]++
		count[s.segment]++
	}
	if count["high"] < 400 || count["high"]+count["medium"] < 1000 {
		t.Errorf("value bands %v: want at least 20%% high and 50%% medium or high", count)
	}
	t.Logf("bands and segments: %v", count)

	// Nothing recorded yet: every member's scores are to publish.
	pending, err := ScoresToPublish(ctx, pool, res.FitID)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != len(all) {
		t.Fatalf("%d scores to publish, want every member's %d", len(pending), len(all))
	}
	for i, p := range pending {
		s := all[i]
		want := domain.Scores{FitID: strconv.FormatInt(res.FitID, 10), PAlivePPM: int64(math.Round(s.alive * 1e6)), RiskBand: s.risk,
			PredictedValue: domain.Money{Minor: s.predicted}, ValueBand: s.value, Segment: s.segment}
		if p.MemberID != s.id || p.Scores != want {
			t.Fatalf("to publish %+v, want %s %+v", p, s.id, want)
		}
	}
	// The ledger records the scores of the first 1500; of those, 100 with
	// another segment (an earlier fit's), and member 0 is erased.
	var recs []streams.LedgerRecord
	for i, p := range pending[:1500] {
		s := p.Scores
		if i%15 == 0 {
			s.Segment = "new"
			if p.Scores.Segment == "new" {
				s.Segment = "loyal"
			}
		}
		s.PredictedValue.Currency = "EUR"
		recs = append(recs, record(p.MemberID, fmt.Sprint("s-", i), domain.MemberScored{FactMeta: meta(p.MemberID, fmt.Sprint("s-", i), base), Scores: s}))
	}
	recs = append(recs, record(pending[1600].MemberID, "x-1", domain.MemberErased{FactMeta: meta(pending[1600].MemberID, "x-1", base)}))
	projectAll(t, pool, recs, 400, Members{})

	again, err := ScoresToPublish(ctx, pool, res.FitID)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i, p := range pending {
		if i < 1500 && i%15 != 0 || i == 1600 {
			continue
		}
		want = append(want, p.MemberID)
	}
	var got []string
	for _, p := range again {
		got = append(got, p.MemberID)
	}
	if !slices.Equal(got, want) {
		t.Errorf("after the ledger recorded scores: %d to publish, want %d (the 100 changed, the 499 never recorded)", len(got), len(want))
	}
	var n int
	if err := pool.QueryRow(ctx, `select count(*) from loyalty.member_scores where currency = 'EUR' and fit_id = $1`,
		strconv.FormatInt(res.FitID, 10)).Scan(&n); err != nil || n != 1500 {
		t.Errorf("member_scores holds %d rows of the fit (%v), want 1500", n, err)
	}
}

func TestExperimentAssignmentsAreProjected(t *testing.T) {
	pool := migrated(t)
	ctx := context.Background()
	var recs []streams.LedgerRecord
	for i, arm := range []string{"control", "treatment", "treatment"} {
		m, id := fmt.Sprint("m-", i), fmt.Sprint("e-", i)
		at := base.Add(time.Duration(i) * time.Hour)
		recs = append(recs, record(m, id, domain.PointsEarned{FactMeta: meta(m, id, at), Points: 5, Rule: domain.RuleBase},
			domain.ExperimentAssigned{FactMeta: meta(m, id, at), Experiment: "winback", Arm: arm}))
	}
	projectAll(t, pool, recs, 2, Members{})
	rows, err := pool.Query(ctx, `select member_id, arm, assigned_at, source_event_id, ledger_seq, fact_index
from loyalty.experiment_assignments where experiment = 'winback' order by member_id`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var m, arm, ev string
		var at time.Time
		var seq int64
		var idx int32
		if err := rows.Scan(&m, &arm, &at, &ev, &seq, &idx); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s %s %s %s %d/%d", m, arm, at.UTC().Format(time.TimeOnly), ev, seq, idx))
	}
	want := []string{"m-0 control 09:00:00 e-0 1/1", "m-1 treatment 10:00:00 e-1 2/1", "m-2 treatment 11:00:00 e-2 3/1"}
	if !slices.Equal(got, want) {
		t.Errorf("experiment_assignments:\n%q\nwant\n%q", got, want)
	}
}
