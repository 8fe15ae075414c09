package projections

import (
	"context"
	"fmt"
	"time"
)

// RefitDue says whether serve should fit the analytics models now, and why:
// "rebuild" when the activity projection was rebuilt after the latest fit,
// "schedule" when the latest fit (converged or not) is at least every old or there is
// none; "" when no fit is due or there is no purchase to fit.
func RefitDue(ctx context.Context, q Querier, every time.Duration, now time.Time) (string, error) {
	var last, rebuilt *time.Time
	var purchases bool
	err := q.QueryRow(ctx, `select (select max(fitted_at) from loyalty.model_fits),
	(select rebuilt_at from loyalty.projection_checkpoints where name = $1),
	exists (select 1 from loyalty.member_purchase_days)`, ActivityName).Scan(&last, &rebuilt, &purchases)
	if err != nil {
		return "", fmt.Errorf("look for a due refit: %w", err)
	}
	switch {
	case !purchases:
		return "", nil
	case rebuilt != nil && (last == nil || rebuilt.After(*last)):
		return "rebuild", nil
	case last == nil || now.Sub(*last) >= every:
		return "schedule", nil
	}
	return "", nil
}
