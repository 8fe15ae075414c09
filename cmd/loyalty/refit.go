package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pointsledger/loyalty/handlers"
	"github.com/pointsledger/loyalty/projections"
)

// runRefits fits the analytics models as of today whenever
// projections.RefitDue says so: every interval, soon after a rebuild of the
// activity projection, and after a failed fit once its retry wait (at least
// check, doubling) has passed; it looks every check. Only the engine holding
// the lease refits, so that two serve processes do not fit twice.
//
// asOf picks the fit's date from now; nil: today (UTC).
func runRefits(ctx context.Context, pool *pgxpool.Pool, engine *handlers.Engine, flags analyticsFlags, every, check time.Duration,
	asOf func(now time.Time) time.Time, log *slog.Logger) {
	if asOf == nil {
		asOf = func(now time.Time) time.Time { return now }
	}
	if every <= 0 {
		return
	}
	engine.WhileLeading(ctx, min(every, check), func(now time.Time) {
		reason, err := projections.RefitDue(ctx, pool, projections.RefitSchedule{Every: every, RetryAfter: check}, now)
		if err != nil || reason == "" {
			if err != nil && ctx.Err() == nil {
				log.Warn("analytics: could not tell whether a refit is due", "err", err)
			}
			return
		}
		cfg := flags.config(asOf(now).Truncate(24*time.Hour), reason)
		if flags.validateDays > 0 {
			validateBeforeRefit(ctx, pool, cfg, flags.validateDays, log)
		}
		res, err := projections.FitModels(ctx, pool, cfg)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("analytics: refit failed; trying again later (the wait doubles while fits fail)", "reason", reason, "fit", res.FitID, "err", err)
			}
			return
		}
		log.Info("analytics: models refitted", "reason", reason, "fit", res.FitID, "members", res.Members, "model", res.Model, "why", res.WhyModel,
			"took", res.Duration.Round(time.Millisecond))
		n, err := publishScores(ctx, pool, engine, res)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("analytics: could not publish the fit's scores; the next fit publishes what changed", "fit", res.FitID, "published", n, "err", err)
			}
			return
		}
		log.Info("analytics: scores published for the members whose bands or segment changed", "fit", res.FitID, "members", n)
		// As of today, not the fit's date: a demo's fits are as of its last
		// day, but its members meet experiments when their scores arrive.
		experiments, err := projections.RefreshExperimentResults(ctx, pool, projections.ReportConfig{AsOf: now.UTC().Truncate(24 * time.Hour),
			Margin: flags.margin, CostPerPoint: flags.costPerPoint, MinEffect: 0.1})
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("analytics: could not refresh experiment_results; the next refit tries again", "err", err)
			}
			return
		}
		if experiments > 0 {
			log.Info("analytics: experiment results refreshed", "experiments", experiments, "as_of", cfg.AsOf.Format(time.DateOnly))
		}
	})
}

// publishScores publishes, as loyalty.member.scored.v1 input, the fit's
// scores of the members whose risk band, value band or segment differs
// from what the ledger holds for them (decision 033).
func publishScores(ctx context.Context, pool *pgxpool.Pool, engine *handlers.Engine, res projections.FitResult) (int, error) {
	changed, err := projections.ScoresToPublish(ctx, pool, res.FitID)
	if err != nil {
		return 0, err
	}
	currency := engine.Programs().Latest().Currency
	members := make([]handlers.ScoredMember, len(changed))
	for i, c := range changed {
		c.Scores.PredictedValue.Currency = currency
		members[i] = handlers.ScoredMember{MemberID: c.MemberID, Scores: c.Scores}
	}
	return engine.PublishScores(ctx, res.FittedAt, members)
}

// validateBeforeRefit validates the models on the last days before the
// fit's date as holdout, so that the fit's --model best uses the result.
// A validation that fails is logged; the refit goes on.
func validateBeforeRefit(ctx context.Context, pool *pgxpool.Pool, fit projections.FitConfig, holdoutDays int, log *slog.Logger) {
	cfg := projections.ValidateConfig{CalibrationEnd: fit.AsOf.AddDate(0, 0, -holdoutDays), HoldoutEnd: fit.AsOf,
		TimeUnit: fit.TimeUnit, Reason: "schedule"}
	res, err := projections.ValidateModels(ctx, pool, cfg)
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("analytics: validation before the refit failed; the refit uses the latest validation there is", "err", err)
		}
		return
	}
	log.Info("analytics: models validated on a rolling holdout", "validation", res.ID, "best", res.Best,
		"calibration_end", cfg.CalibrationEnd.Format(time.DateOnly), "members", res.Members, "took", res.Duration.Round(time.Millisecond))
}
