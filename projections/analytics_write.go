package projections

import (
	"context"
	"fmt"
	"math"
	"math/big"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pointsledger/loyalty/domain/analytics"
)

// insertFit records a fit in model_fits: a converged one in the transaction
// of its scores, a failed one on its own (fitErr set), so that every fit is
// there even when no scores come of it.
func insertFit(ctx context.Context, q Querier, cfg FitConfig, res FitResult, fitErr error) (int64, time.Time, error) {
	status, errText := "converged", (*string)(nil)
	if fitErr != nil {
		status = "failed"
		s := fitErr.Error()
		errText = &s
	}
	bg, pn, gg := res.BGNBD, res.ParetoNBD, res.GammaGamma
	model := res.Model
	if model == "" {
		model = analytics.ModelBGNBD
	}
	var id int64
	var at time.Time
	err := q.QueryRow(ctx, `
insert into loyalty.model_fits (fitted_at, as_of, time_unit, reason, status, error, duration, members, model,
	bgnbd_r, bgnbd_alpha, bgnbd_a, bgnbd_b, bgnbd_std_errors, bgnbd_log_likelihood, bgnbd_optimiser, bgnbd_iterations,
	pnbd_r, pnbd_alpha, pnbd_s, pnbd_beta, pnbd_std_errors, pnbd_log_likelihood, pnbd_optimiser, pnbd_iterations,
	repeat_members, gg_p, gg_q, gg_gamma, gg_std_errors, gg_log_likelihood, gg_optimiser, gg_iterations)
values (now(), $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
	$17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32)
returning id, fitted_at`,
		cfg.AsOf, cfg.TimeUnit, cfg.Reason, status, errText, res.Duration, res.Members, model,
		positive(bg.Params.R), positive(bg.Params.Alpha), positive(bg.Params.A), positive(bg.Params.B),
		bg.StdErr, finite(bg.Stats.LogLikelihood, bg.Stats.Status), nullIfEmpty(bg.Stats.Status), iterations(bg.Stats.Iterations, bg.Stats.Status),
		positive(pn.Params.R), positive(pn.Params.Alpha), positive(pn.Params.S), positive(pn.Params.Beta),
		pn.StdErr, finite(pn.Stats.LogLikelihood, pn.Stats.Status), nullIfEmpty(pn.Stats.Status), iterations(pn.Stats.Iterations, pn.Stats.Status),
		gg.Stats.Members, positive(gg.Params.P), positive(gg.Params.Q), positive(gg.Params.Gamma),
		gg.StdErr, finite(gg.Stats.LogLikelihood, gg.Stats.Status), nullIfEmpty(gg.Stats.Status), iterations(gg.Stats.Iterations, gg.Stats.Status),
	).Scan(&id, &at)
	if err != nil {
		return 0, at, fmt.Errorf("record the fit: %w", err)
	}
	return id, at.UTC(), nil
}

// positive, finite and iterations, with nullIfEmpty for the status, map
// what a fit that never ran leaves behind (zeros) to SQL NULL.
func positive(v float64) *float64 {
	if !(v > 0) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func finite(v float64, status string) *float64 {
	if status == "" || math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func iterations(n int, status string) *int {
	if status == "" {
		return nil
	}
	return &n
}

// writeScores replaces the scores with the fit's and values the points
// liability at the as-of date.
func writeScores(ctx context.Context, tx pgx.Tx, cfg FitConfig, cost *big.Rat, members []memberHistory, hs []analytics.History,
	churn []churnScore, ltv []ltvScore, started time.Time, res *FitResult) error {
	fitID := res.FitID
	// delete rather than truncate: analysts reading the old scores keep
	// their snapshot instead of waiting for the lock.
	for _, t := range []string{"member_churn", "member_ltv"} {
		if _, err := tx.Exec(ctx, "delete from loyalty."+t); err != nil {
			return fmt.Errorf("clear %s: %w", t, err)
		}
	}
	churnRows := make([][]any, len(members))
	ltvRows := make([][]any, len(members))
	for i, m := range members {
		c, l := churn[i], ltv[i]
		churnRows[i] = []any{m.id, fitID, cfg.AsOf, m.frequency, hs[i].Recency, hs[i].Age,
			c.alive, c.e30, c.e90, c.e365, m.activity, int(days(m.activity, cfg.AsOf)), c.band, c.segment, res.Model}
		ltvRows[i] = []any{m.id, fitID, cfg.AsOf, m.revenue, pointsValue(m.netPoints, cost), int64(math.Round(l.spend)),
			l.purchases, int64(math.Round(l.value)), cfg.Months, cfg.Margin, cfg.AnnualDiscountRate, l.band}
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{Schema, "member_churn"}, []string{"member_id", "fit_id", "as_of", "frequency",
		"recency", "age", "probability_alive", "expected_purchases_30d", "expected_purchases_90d", "expected_purchases_365d",
		"last_activity_on", "days_since_activity", "risk_band", "segment", "model"}, pgx.CopyFromRows(churnRows)); err != nil {
		return fmt.Errorf("write member_churn: %w", err)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{Schema, "member_ltv"}, []string{"member_id", "fit_id", "as_of",
		"historical_revenue", "points_cost", "expected_spend", "predicted_purchases", "predicted_value", "horizon_months",
		"margin", "annual_discount_rate", "value_band"}, pgx.CopyFromRows(ltvRows)); err != nil {
		return fmt.Errorf("write member_ltv: %w", err)
	}
	var available, pending int64
	if err := tx.QueryRow(ctx, `select coalesce(sum(points) filter (where account = 'available'), 0)::bigint,
	coalesce(sum(points) filter (where account = 'pending'), 0)::bigint
from loyalty.points_ledger where occurred_at < $1`, cfg.AsOf.AddDate(0, 0, 1)).Scan(&available, &pending); err != nil {
		return fmt.Errorf("sum the points liability: %w", err)
	}
	if _, err := tx.Exec(ctx, `insert into loyalty.points_liability_valuations
	(fit_id, as_of, available, pending, cost_per_point, available_value, pending_value) values ($1, $2, $3, $4, $5, $6, $7)`,
		fitID, cfg.AsOf, available, pending, cost.FloatString(6), pointsValue(available, cost), pointsValue(pending, cost)); err != nil {
		return fmt.Errorf("record the points liability: %w", err)
	}
	res.Duration = time.Since(started)
	if _, err := tx.Exec(ctx, `update loyalty.model_fits set duration = $2 where id = $1`, fitID, res.Duration); err != nil {
		return fmt.Errorf("record the fit's duration: %w", err)
	}
	return nil
}

// pointsValue is points × cost in minor units, rounded half away from zero.
func pointsValue(points int64, cost *big.Rat) int64 {
	v := new(big.Rat).Mul(new(big.Rat).SetInt64(points), cost)
	num, den := v.Num(), v.Denom()
	q, r := new(big.Int).QuoRem(num, den, new(big.Int))
	if new(big.Int).Mul(new(big.Int).Abs(r), big.NewInt(2)).Cmp(den) >= 0 {
		q.Add(q, big.NewInt(int64(num.Sign())))
	}
	return q.Int64()
}

// notFinite names the first member the models give no finite score, which
// must fail the fit rather than be stored.
func notFinite(members []memberHistory, churn []churnScore, ltv []ltvScore) error {
	for i, m := range members {
		c, l := churn[i], ltv[i]
		if !analytics.AllFinite(c.alive, c.e30, c.e90, c.e365, l.spend, l.purchases, l.value) {
			return fmt.Errorf("member %q (%d repeat days over %s..%s): the models give no finite score; "+
				"the fit's parameters are in model_fits, and such a history needs looking at", m.id, m.frequency,
				m.first.Format(time.DateOnly), m.last.Format(time.DateOnly))
		}
	}
	return nil
}
