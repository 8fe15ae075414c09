package projections

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/domain/analytics"
)

// ReportConfig says what `loyalty experiment report` and the refits
// measure.
type ReportConfig struct {
	Experiment string
	// AsOf is the last UTC date whose purchases count; a member counts in a
	// 30- or 90-day measure once that many days have passed since they met
	// the experiment.
	AsOf time.Time
	// Margin is the share of spend counted as value; CostPerPoint what a
	// point costs in minor units of the program currency (a decimal).
	Margin       float64
	CostPerPoint string
	// MinEffect is the change, relative to control, the sample sizes are
	// for: 0.1 for 10%.
	MinEffect float64
}

// Validate lists the configuration's problems.
func (c ReportConfig) Validate() error {
	var errs []error
	if c.Experiment == "" {
		errs = append(errs, errors.New("no experiment"))
	}
	if c.AsOf.IsZero() {
		errs = append(errs, errors.New("no as-of date"))
	}
	if !(c.Margin > 0 && c.Margin <= 1) {
		errs = append(errs, fmt.Errorf("margin %g: must be above 0 and at most 1", c.Margin))
	}
	if _, err := parseCost(c.CostPerPoint); err != nil {
		errs = append(errs, err)
	}
	if !(c.MinEffect > 0 && c.MinEffect <= 10) {
		errs = append(errs, fmt.Errorf("minimum effect %g: must be above 0 (0.1 for 10%%) and at most 10", c.MinEffect))
	}
	return errors.Join(errs...)
}

// Measures of a report, in its order.
const (
	MeasurePurchase30d = "purchase_30d"    // share of members who bought within 30 days
	MeasurePurchase90d = "purchase_90d"    // within 90 days
	MeasureSpend90d    = "spend_90d"       // qualifying spend in 90 days, minor units per member
	MeasureCost90d     = "points_cost_90d" // points earned in 90 days times the cost per point, per member
	MeasureValue90d    = "net_value_90d"   // spend times margin less points cost, per member
)

// Report compares an experiment's arms with control.
type Report struct {
	Experiment string          `json:"experiment"`
	AsOf       string          `json:"as_of"`
	MinEffect  float64         `json:"min_effect"`
	Arms       []ArmMembers    `json:"arms"`
	Measures   []MeasureReport `json:"measures"`
}

// ArmMembers is an arm and how many members are in it.
type ArmMembers struct {
	Arm     string    `json:"arm"`
	Members int       `json:"members"`
	First   time.Time `json:"first_assigned"`
	Last    time.Time `json:"last_assigned"`
}

// MeasureReport is one measure in every arm.
type MeasureReport struct {
	Measure string       `json:"measure"`
	Days    int          `json:"days"`
	Arms    []ArmMeasure `json:"arms"`
}

// ArmMeasure is one measure in one arm: over the members assigned at least
// the measure's days before the as-of date. Difference is the arm less
// control with its 95% interval (nil for control); MembersNeeded is how
// many members each arm would need to see MinEffect at 80% power.
type ArmMeasure struct {
	Arm           string    `json:"arm"`
	Members       int       `json:"members"`
	Value         float64   `json:"value"`
	Difference    *Estimate `json:"difference,omitempty"`
	MembersNeeded int       `json:"members_needed,omitempty"`
	sample        measureSum
}

// Estimate is a difference with its 95% confidence interval.
type Estimate struct {
	Value float64 `json:"value"`
	Low   float64 `json:"low"`
	High  float64 `json:"high"`
}

// measureSum is what an arm's members add up to for one measure: a count
// of yes for a share, a summary for a mean.
type measureSum struct {
	yes     int
	summary analytics.Summary
}

type measureDef struct {
	name       string
	days       int
	proportion bool
	value      func(o memberOutcome, margin float64, cost *big.Rat) float64
}

var measureDefs = []measureDef{
	{MeasurePurchase30d, 30, true, func(o memberOutcome, _ float64, _ *big.Rat) float64 { return b2f(o.orders30 > 0) }},
	{MeasurePurchase90d, 90, true, func(o memberOutcome, _ float64, _ *big.Rat) float64 { return b2f(o.orders90 > 0) }},
	{MeasureSpend90d, 90, false, func(o memberOutcome, _ float64, _ *big.Rat) float64 { return float64(o.spend90) }},
	{MeasureCost90d, 90, false, func(o memberOutcome, _ float64, c *big.Rat) float64 { return float64(pointsValue(o.points90, c)) }},
	{MeasureValue90d, 90, false, func(o memberOutcome, m float64, c *big.Rat) float64 {
		return float64(o.spend90)*m - float64(pointsValue(o.points90, c))
	}},
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// memberOutcome is what one member did after meeting the experiment.
type memberOutcome struct {
	arm                string
	assigned           time.Time
	orders30, orders90 int
	spend90, points90  int64
}

// ExperimentReport compares the arms of an experiment on what its members
// did after they met it: purchases (as recorded, before refunds) and the
// points they earned. Its days are 24 hours, whatever the session's time
// zone (an interval of days would follow its daylight saving).
func ExperimentReport(ctx context.Context, q Querier, cfg ReportConfig) (Report, error) {
	if err := cfg.Validate(); err != nil {
		return Report{}, err
	}
	cost, _ := parseCost(cfg.CostPerPoint)
	end := cfg.AsOf.AddDate(0, 0, 1) // the end of the as-of date
	rows, err := q.Query(ctx, `
select a.arm, a.assigned_at,
	count(p.order_id) filter (where p.occurred_at <= a.assigned_at + interval '720 hours'),
	count(p.order_id),
	coalesce(sum(p.qualifying_spend), 0)::bigint,
	coalesce((select sum(l.points) from loyalty.points_ledger l where l.member_id = a.member_id and l.kind = 'earned'
		and l.occurred_at >= a.assigned_at and l.occurred_at <= a.assigned_at + interval '2160 hours' and l.occurred_at < $2), 0)::bigint
from loyalty.experiment_assignments a
left join loyalty.purchases p on p.member_id = a.member_id and p.occurred_at > a.assigned_at
	and p.occurred_at <= a.assigned_at + interval '2160 hours' and p.occurred_at < $2
where a.experiment = $1 and a.assigned_at < $2
group by a.member_id, a.arm, a.assigned_at`, cfg.Experiment, end)
	if err != nil {
		return Report{}, fmt.Errorf("experiment %s: %w", cfg.Experiment, err)
	}
	var outcomes []memberOutcome
	var o memberOutcome
	if _, err := pgx.ForEachRow(rows, []any{&o.arm, &o.assigned, &o.orders30, &o.orders90, &o.spend90, &o.points90}, func() error {
		outcomes = append(outcomes, o)
		return nil
	}); err != nil {
		return Report{}, fmt.Errorf("experiment %s: %w", cfg.Experiment, err)
	}
	if len(outcomes) == 0 {
		return Report{}, noMembers(ctx, q, cfg)
	}
	return compareArms(cfg, cost, end, outcomes), nil
}

// ErrNoMembers is the error of a report of an experiment no member met by
// its as-of date.
var ErrNoMembers = errors.New("no member met the experiment")

// noMembers says why a report has no member: an id no member met (a typo,
// an experiment not started), or members who met it after the as-of date.
func noMembers(ctx context.Context, q Querier, cfg ReportConfig) error {
	var first *time.Time
	if err := q.QueryRow(ctx, `select min(assigned_at) from loyalty.experiment_assignments where experiment = $1`, cfg.Experiment).Scan(&first); err != nil {
		return fmt.Errorf("experiment %s: %w", cfg.Experiment, err)
	}
	if first == nil {
		return fmt.Errorf("%w %q: check the id against the program file (loyalty program check lists the experiments); a member meets it when a rule under test would give them something", ErrNoMembers, cfg.Experiment)
	}
	return fmt.Errorf("%w %q by the end of %s: the first met it on %s; give a later --as-of", ErrNoMembers, cfg.Experiment,
		cfg.AsOf.Format(time.DateOnly), first.UTC().Format(time.DateOnly))
}

// compareArms builds the report from the members' outcomes.
func compareArms(cfg ReportConfig, cost *big.Rat, end time.Time, outcomes []memberOutcome) Report {
	r := Report{Experiment: cfg.Experiment, AsOf: cfg.AsOf.Format(time.DateOnly), MinEffect: cfg.MinEffect}
	arms := map[string]int{}
	for _, o := range outcomes {
		i, ok := arms[o.arm]
		if !ok {
			i = len(r.Arms)
			arms[o.arm] = i
			r.Arms = append(r.Arms, ArmMembers{Arm: o.arm, First: o.assigned, Last: o.assigned})
		}
		a := &r.Arms[i]
		a.Members++
		a.First, a.Last = minTime(a.First, o.assigned), maxTime(a.Last, o.assigned)
	}
	sortArms(r.Arms)
	for _, def := range measureDefs {
		m := MeasureReport{Measure: def.name, Days: def.days}
		sums := map[string]*measureSum{}
		for _, a := range r.Arms {
			sums[a.Arm] = &measureSum{}
		}
		for _, o := range outcomes {
			if end.Sub(o.assigned) < time.Duration(def.days)*24*time.Hour {
				continue // not observed long enough
			}
			v := def.value(o, cfg.Margin, cost)
			s := sums[o.arm]
			s.summary.Add(v)
			if v > 0 {
				s.yes++
			}
		}
		for _, a := range r.Arms {
			s := sums[a.Arm]
			am := ArmMeasure{Arm: a.Arm, Members: s.summary.N, Value: s.summary.Mean, sample: *s}
			if s.summary.N == 0 {
				am.Value = math.NaN()
			}
			m.Arms = append(m.Arms, am)
		}
		compareWithControl(&m, def.proportion, cfg.MinEffect)
		r.Measures = append(r.Measures, m)
	}
	return r
}

// compareWithControl fills each arm's difference to control and the
// members each arm would need.
func compareWithControl(m *MeasureReport, proportion bool, minEffect float64) {
	var control *ArmMeasure
	for i := range m.Arms {
		if m.Arms[i].Arm == domain.ControlArm {
			control = &m.Arms[i]
		}
	}
	if control == nil || control.Members == 0 {
		return
	}
	c := control.sample
	if proportion {
		p0 := c.summary.Mean
		control.MembersNeeded = analytics.MembersForProportions(p0, math.Min(1, p0*(1+minEffect)))
	} else {
		control.MembersNeeded = analytics.MembersForMeans(math.Sqrt(c.summary.Variance), math.Abs(c.summary.Mean)*minEffect)
	}
	for i := range m.Arms {
		a := &m.Arms[i]
		if a == control || a.Members == 0 {
			continue
		}
		var d analytics.Interval
		if proportion {
			d = analytics.ProportionDifference(a.sample.yes, a.sample.summary.N, c.yes, c.summary.N)
		} else {
			d = analytics.MeanDifference(a.sample.summary, c.summary)
		}
		a.Difference = &Estimate{Value: d.Estimate, Low: d.Low, High: d.High}
		a.MembersNeeded = control.MembersNeeded
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// sortArms puts control first, the others by name.
func sortArms(arms []ArmMembers) {
	slices.SortFunc(arms, func(a, b ArmMembers) int {
		return cmp.Or(-cmp.Compare(b2f(a.Arm == domain.ControlArm), b2f(b.Arm == domain.ControlArm)), cmp.Compare(a.Arm, b.Arm))
	})
}

// WriteExperimentResults replaces the experiment's rows of
// experiment_results with the report's.
func WriteExperimentResults(ctx context.Context, pool *pgxpool.Pool, r Report) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `delete from loyalty.experiment_results where experiment = $1`, r.Experiment); err != nil {
			return fmt.Errorf("clear the results of %s: %w", r.Experiment, err)
		}
		var rows [][]any
		for _, m := range r.Measures {
			for _, a := range m.Arms {
				row := []any{r.Experiment, r.AsOf, m.Measure, a.Arm, a.Members, finiteOrNil(a.Value), nil, nil, nil, nilIfZero(a.MembersNeeded), r.MinEffect}
				if d := a.Difference; d != nil {
					row[6], row[7], row[8] = finiteOrNil(d.Value), finiteOrNil(d.Low), finiteOrNil(d.High)
				}
				rows = append(rows, row)
			}
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{Schema, "experiment_results"}, []string{"experiment", "as_of", "measure", "arm", "members",
			"value", "difference", "difference_low", "difference_high", "members_needed", "min_effect"}, pgx.CopyFromRows(rows))
		if err != nil {
			return fmt.Errorf("write the results of %s: %w", r.Experiment, err)
		}
		return nil
	})
}

func finiteOrNil(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func nilIfZero(n int) *int {
	if n == 0 {
		return nil
	}
	return &n
}

// RefreshExperimentResults reports every experiment that has members, as
// of asOf, into experiment_results; the refits call it.
func RefreshExperimentResults(ctx context.Context, pool *pgxpool.Pool, cfg ReportConfig) (int, error) {
	rows, err := pool.Query(ctx, `select distinct experiment from loyalty.experiment_assignments order by 1`)
	if err != nil {
		return 0, fmt.Errorf("experiments: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, fmt.Errorf("experiments: %w", err)
	}
	var errs []error
	written := 0
	for _, id := range ids {
		cfg.Experiment = id
		r, err := ExperimentReport(ctx, pool, cfg)
		if errors.Is(err, ErrNoMembers) {
			continue // met after the as-of date: the next refit reports it
		}
		if err == nil {
			err = WriteExperimentResults(ctx, pool, r)
		}
		if err != nil {
			errs = append(errs, err) // and the other experiments are still reported
			continue
		}
		written++
	}
	return written, errors.Join(errs...)
}
