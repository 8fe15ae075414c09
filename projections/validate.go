package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pointsledger/loyalty/domain/analytics"
)

// ValidateConfig says what a holdout validation compares.
type ValidateConfig struct {
	// CalibrationEnd is the last UTC date whose purchases the models are
	// fitted to; HoldoutEnd the last of the holdout.
	CalibrationEnd, HoldoutEnd time.Time
	// TimeUnit is "day" or "week".
	TimeUnit string
	// Reason is recorded: command or schedule.
	Reason string
	// Models are the models to fit (analytics.Models if empty).
	Models []string
}

// Validate lists every problem of the configuration.
func (c ValidateConfig) Validate() error {
	var errs []error
	if c.TimeUnit != "day" && c.TimeUnit != "week" {
		errs = append(errs, fmt.Errorf("time unit %q: use day or week", c.TimeUnit))
	}
	switch {
	case c.CalibrationEnd.IsZero() || c.HoldoutEnd.IsZero():
		errs = append(errs, errors.New("give both the calibration end and the holdout end"))
	case c.CalibrationEnd.Year() < 1900 || c.HoldoutEnd.Year() > 2999:
		errs = append(errs, fmt.Errorf("calibration end %s, holdout end %s: give dates from 1900 to 2999",
			c.CalibrationEnd.Format(time.DateOnly), c.HoldoutEnd.Format(time.DateOnly)))
	case !c.HoldoutEnd.After(c.CalibrationEnd):
		errs = append(errs, fmt.Errorf("the holdout ends %s, not after the calibration end %s: the holdout is the days after calibration",
			c.HoldoutEnd.Format(time.DateOnly), c.CalibrationEnd.Format(time.DateOnly)))
	case c.HoldoutEnd.After(c.CalibrationEnd.AddDate(10, 0, 0)):
		errs = append(errs, fmt.Errorf("a holdout of more than ten years (%s to %s): end it sooner",
			c.CalibrationEnd.Format(time.DateOnly), c.HoldoutEnd.Format(time.DateOnly)))
	}
	for i, m := range c.Models {
		if !slices.Contains(analytics.Models, m) {
			errs = append(errs, fmt.Errorf("model %q: the models are %s", m, strings.Join(analytics.Models, ", ")))
		} else if slices.Contains(c.Models[:i], m) {
			errs = append(errs, fmt.Errorf("model %q is named twice", m))
		}
	}
	return errors.Join(errs...)
}

func (c ValidateConfig) daysPerUnit() int {
	if c.TimeUnit == "week" {
		return 7
	}
	return 1
}

// ValidationResult is a validation and where it was recorded.
type ValidationResult struct {
	ID       int64
	FirstDay time.Time
	analytics.Validation
	Duration time.Duration
}

// PeriodEnd is the last day of a tracking row.
func (r ValidationResult) PeriodEnd(row analytics.TrackingRow) time.Time {
	return r.FirstDay.AddDate(0, 0, row.LastDay)
}

// ValidateModels fits each model to the purchases up to the calibration
// end, compares its predictions with the holdout, and records the result in
// model_validations and its detail tables.
func ValidateModels(ctx context.Context, pool *pgxpool.Pool, cfg ValidateConfig) (ValidationResult, error) {
	if err := cfg.Validate(); err != nil {
		return ValidationResult{}, err
	}
	started := time.Now()
	if err := checkPurchasesCover(ctx, pool, cfg); err != nil {
		return ValidationResult{}, err
	}
	holdout, firstDay, err := readHoldout(ctx, pool, cfg)
	if err != nil {
		return ValidationResult{}, err
	}
	res := ValidationResult{FirstDay: firstDay}
	res.Validation, err = analytics.Validate(ctx, holdout, cfg.Models...)
	if err != nil {
		return res, err
	}
	res.Duration = time.Since(started)
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var err error
		res.ID, err = insertValidation(ctx, tx, cfg, res)
		return err
	})
	return res, err
}

// checkPurchasesCover refuses a validation whose calibration has no
// purchase, whose holdout has none, or whose holdout runs more than a week
// past the last purchase: members would count as silent on days that were
// only not recorded (yet, or in a demo's past).
func checkPurchasesCover(ctx context.Context, q Querier, cfg ValidateConfig) error {
	var first, last *time.Time
	if err := q.QueryRow(ctx, `select min(day), max(day) from loyalty.member_purchase_days`).Scan(&first, &last); err != nil {
		return fmt.Errorf("read the purchases' dates: %w", err)
	}
	if first == nil {
		return errors.New("no purchases yet: nothing to validate (import or publish purchases first)")
	}
	span := fmt.Sprintf("the purchases run from %s to %s", first.Format(time.DateOnly), last.Format(time.DateOnly))
	if first.After(cfg.CalibrationEnd) {
		return fmt.Errorf("no member bought by the calibration end %s (%s): end calibration later",
			cfg.CalibrationEnd.Format(time.DateOnly), span)
	}
	if !last.After(cfg.CalibrationEnd) {
		return fmt.Errorf("no purchase after the calibration end %s (%s): the holdout would be empty; "+
			"end calibration some weeks before %s", cfg.CalibrationEnd.Format(time.DateOnly), span, last.Format(time.DateOnly))
	}
	if last.AddDate(0, 0, 7).Before(cfg.HoldoutEnd) {
		return fmt.Errorf("the holdout ends %s, more than a week after the last purchase (%s): members would look silent "+
			"on days nothing was recorded; end the holdout by %s", cfg.HoldoutEnd.Format(time.DateOnly), span, last.Format(time.DateOnly))
	}
	return nil
}

// readHoldout reads the members who bought by the calibration end: their
// calibration histories and holdout purchase days, and the first and repeat
// purchases of each day from the first member's first purchase day.
func readHoldout(ctx context.Context, q Querier, cfg ValidateConfig) (analytics.Holdout, time.Time, error) {
	unit := float64(cfg.daysPerUnit())
	h := analytics.Holdout{DaysPerUnit: cfg.daysPerUnit(), HoldoutDays: int(days(cfg.CalibrationEnd, cfg.HoldoutEnd))}
	h.Length = float64(h.HoldoutDays) / unit
	var firstDay time.Time
	type member struct {
		first, last        time.Time
		frequency, holdout int
	}
	var members []member
	rows, err := q.Query(ctx, `
with d as (
	select member_id, day, min(day) over (partition by member_id) as first_day
	from loyalty.member_purchase_days where day <= $2
)
select first_day, max(day) filter (where day <= $1), (count(*) filter (where day <= $1) - 1)::int,
	(count(*) filter (where day > $1))::int
from d where first_day <= $1
group by member_id, first_day`, cfg.CalibrationEnd, cfg.HoldoutEnd)
	if err != nil {
		return h, firstDay, fmt.Errorf("read the holdout: %w", err)
	}
	var m member
	if _, err := pgx.ForEachRow(rows, []any{&m.first, &m.last, &m.frequency, &m.holdout}, func() error {
		members = append(members, m)
		if firstDay.IsZero() || m.first.Before(firstDay) {
			firstDay = m.first
		}
		return nil
	}); err != nil {
		return h, firstDay, fmt.Errorf("read the holdout: %w", err)
	}
	if len(members) == 0 {
		return h, firstDay, nil
	}
	h.CalibrationDays = int(days(firstDay, cfg.CalibrationEnd)) + 1
	total := h.CalibrationDays + h.HoldoutDays
	h.FirstPurchases, h.RepeatPurchases = make([]int, total), make([]int, total)
	h.Members = make([]analytics.HoldoutMember, len(members))
	for i, m := range members {
		h.Members[i] = analytics.HoldoutMember{Holdout: m.holdout, Calibration: analytics.History{
			Frequency: m.frequency, Recency: days(m.first, m.last) / unit, Age: days(m.first, cfg.CalibrationEnd) / unit}}
		h.FirstPurchases[int(days(firstDay, m.first))]++
	}
	rows, err = q.Query(ctx, `
with d as (
	select day, min(day) over (partition by member_id) as first_day
	from loyalty.member_purchase_days where day <= $2
)
select day, count(*)::int from d where first_day <= $1 and day > first_day group by day`, cfg.CalibrationEnd, cfg.HoldoutEnd)
	if err != nil {
		return h, firstDay, fmt.Errorf("read the repeat purchases: %w", err)
	}
	var day time.Time
	var n int
	if _, err := pgx.ForEachRow(rows, []any{&day, &n}, func() error {
		h.RepeatPurchases[int(days(firstDay, day))] = n
		return nil
	}); err != nil {
		return h, firstDay, fmt.Errorf("read the repeat purchases: %w", err)
	}
	return h, firstDay, nil
}

// insertValidation writes the validation and its detail.
func insertValidation(ctx context.Context, tx pgx.Tx, cfg ValidateConfig, res ValidationResult) (int64, error) {
	v := res.Validation
	var id int64
	if err := tx.QueryRow(ctx, `
insert into loyalty.model_validations (validated_at, calibration_end, holdout_end, time_unit, reason, first_day,
	members, actual_repeat_purchases, best_model, duration)
values (now(), $1, $2, $3, $4, $5, $6, $7, $8, $9) returning id`,
		cfg.CalibrationEnd, cfg.HoldoutEnd, cfg.TimeUnit, cfg.Reason, res.FirstDay, v.Members, v.ActualRepeatPurchases,
		nullIfEmpty(v.Best), res.Duration).Scan(&id); err != nil {
		return 0, fmt.Errorf("record the validation: %w", err)
	}
	var modelRows, freqRows, trackRows [][]any
	for i, c := range v.Models {
		if c.Err != nil {
			s := c.Err.Error()
			modelRows = append(modelRows, []any{id, c.Model, &s, nil, nil, nil, nil, nil, nil})
			continue
		}
		params := map[string]float64{}
		for j, name := range c.Names {
			params[name] = c.Params[j]
		}
		js, _ := json.Marshal(params)
		raw := json.RawMessage(js)
		modelRows = append(modelRows, []any{id, c.Model, nil, raw, finiteOrNil(c.Fit.LogLikelihood), finiteOrNil(c.PredictedRepeatPurchases),
			finiteOrNil(c.MeanAbsoluteError), finiteOrNil(c.RootMeanSquaredError), finiteOrNil(c.Correlation)})
		for _, r := range v.ByFrequency {
			freqRows = append(freqRows, []any{id, r.Frequency, c.Model, r.Members, finiteOrNil(r.Predicted[i])})
		}
		for _, r := range v.Tracking {
			trackRows = append(trackRows, []any{id, res.PeriodEnd(r), c.Model, r.Holdout, finiteOrNil(r.Expected[i]), finiteOrNil(r.ExpectCum[i])})
		}
	}
	for _, r := range v.ByFrequency {
		freqRows = append(freqRows, []any{id, r.Frequency, "actual", r.Members, finiteOrNil(r.ActualMean)})
	}
	for _, r := range v.Tracking {
		trackRows = append(trackRows, []any{id, res.PeriodEnd(r), "actual", r.Holdout, float64(r.Actual), float64(r.ActualCum)})
	}
	for _, t := range []struct {
		table   string
		columns []string
		rows    [][]any
	}{
		{"model_validation_models", []string{"validation_id", "model", "error", "parameters", "log_likelihood",
			"predicted_repeat_purchases", "mean_absolute_error", "root_mean_squared_error", "correlation"}, modelRows},
		{"model_validation_frequencies", []string{"validation_id", "frequency", "series", "members", "mean_purchases"}, freqRows},
		{"model_validation_tracking", []string{"validation_id", "period_end", "series", "holdout", "purchases", "cumulative"}, trackRows},
	} {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{Schema, t.table}, t.columns, pgx.CopyFromRows(t.rows)); err != nil {
			return 0, fmt.Errorf("write %s: %w", t.table, err)
		}
	}
	return id, nil
}
