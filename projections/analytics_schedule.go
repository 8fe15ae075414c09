package projections

import (
	"context"
	"fmt"
	"time"
)

// RefitSchedule is when serve refits the analytics models.
type RefitSchedule struct {
	// Every is the time between fits that converged.
	Every time.Duration
	// RetryAfter is the least wait after a failed fit. The wait is ten times
	// what the failed fit took if that is longer (so that fits that keep
	// failing take at most a tenth of the time), doubles with each failure
	// in a row and never exceeds Every.
	RetryAfter time.Duration
}

// retryFactor is how many times a failed fit's own duration serve waits
// before trying again.
const retryFactor = 10

// retryWait is how long to wait after the latest of failures failed fits in
// a row, the latest having taken took.
func (s RefitSchedule) retryWait(failures int, took time.Duration) time.Duration {
	wait := max(s.RetryAfter, retryFactor*took)
	for i := 1; i < failures && wait < s.Every; i++ {
		wait *= 2
	}
	return min(wait, s.Every)
}

// RefitDue says whether serve should fit the analytics models now, and why:
// "rebuild" when the activity projection was rebuilt after the latest fit;
// after a failed fit, that fit's reason (rebuild, else schedule) once the
// schedule's retry wait has passed, since the data that failed (a fit during
// an import sees a handful of members) is seldom the data a retry sees;
// "schedule" when the latest fit is at least Every old or there is none; ""
// when no fit is due or there is no purchase to fit.
func RefitDue(ctx context.Context, q Querier, s RefitSchedule, now time.Time) (string, error) {
	var rebuilt, latest *time.Time
	var latestReason *string
	var failures int
	var tookSeconds float64
	var purchases bool
	err := q.QueryRow(ctx, `
with converged as (select coalesce(max(id), 0) as id from loyalty.model_fits where status = 'converged'),
latest as (select fitted_at, reason, status, extract(epoch from duration)::float8 as took
	from loyalty.model_fits order by id desc limit 1)
select (select fitted_at from latest), (select reason from latest),
	(select count(*) from loyalty.model_fits where id > (select id from converged)),
	coalesce((select took from latest), 0),
	(select rebuilt_at from loyalty.projection_checkpoints where name = $1),
	exists (select 1 from loyalty.member_purchase_days)`, ActivityName).
		Scan(&latest, &latestReason, &failures, &tookSeconds, &rebuilt, &purchases)
	if err != nil {
		return "", fmt.Errorf("look for a due refit: %w", err)
	}
	switch {
	case !purchases:
		return "", nil
	case latest == nil:
		return "schedule", nil
	case rebuilt != nil && rebuilt.After(*latest):
		return "rebuild", nil
	case failures > 0:
		if now.Sub(*latest) < s.retryWait(failures, time.Duration(tookSeconds*float64(time.Second))) {
			return "", nil
		}
		if *latestReason == "rebuild" {
			return "rebuild", nil
		}
		return "schedule", nil
	case now.Sub(*latest) >= s.Every:
		return "schedule", nil
	}
	return "", nil
}
