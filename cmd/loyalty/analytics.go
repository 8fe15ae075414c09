package main

import (
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/pointsledger/loyalty/domain/analytics"
	"github.com/pointsledger/loyalty/projections"
)

// analyticsFlags are the model settings `analytics fit` and `serve` share.
type analyticsFlags struct {
	timeUnit           string
	model              string
	validateDays       int
	months             int
	margin             float64
	annualDiscountRate float64
	costPerPoint       string
	lowRisk, highRisk  float64
}

func (a *analyticsFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&a.timeUnit, "time-unit", "day", "time unit of the models: day or week")
	fs.StringVar(&a.model, "model", projections.ModelBest, "purchase model that scores the members: bgnbd, pareto_nbd, or best (the best of the latest validation; bgnbd without one or when that model does not fit)")
	fs.IntVar(&a.months, "horizon-months", 12, "horizon of the predicted value, in 30-day months")
	fs.Float64Var(&a.margin, "margin", 1, "share of spend counted as value (1: predict revenue)")
	fs.Float64Var(&a.annualDiscountRate, "annual-discount-rate", 0.1, "yearly rate future value is discounted at")
	fs.StringVar(&a.costPerPoint, "cost-per-point", "1", "what one point costs, in minor units of the program currency (a decimal, e.g. 0.5)")
	fs.Float64Var(&a.lowRisk, "risk-low", 0.7, "probability alive at or above which a member's churn risk is low")
	fs.Float64Var(&a.highRisk, "risk-high", 0.3, "probability alive below which a member's churn risk is high")
}

func (a *analyticsFlags) config(asOf time.Time, reason string) projections.FitConfig {
	return projections.FitConfig{AsOf: asOf, TimeUnit: a.timeUnit, Model: a.model, Reason: reason, Months: a.months, Margin: a.margin,
		AnnualDiscountRate: a.annualDiscountRate, CostPerPoint: a.costPerPoint, LowRisk: a.lowRisk, HighRisk: a.highRisk}
}

func newAnalyticsCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "analytics", Short: "Churn and lifetime-value models of the members"}
	var flags analyticsFlags
	var asOf string
	var quiet bool
	fit := &cobra.Command{
		Use:   "fit [--as-of DATE]",
		Short: "Fit a purchase model and Gamma-Gamma to the purchases up to DATE and rescore every member",
		Long: `Fits a purchase model (BG/NBD or Pareto/NBD: purchases and dropout; --model)
and the Gamma-Gamma model (spend per purchase) by maximum likelihood to every
member's purchase days up to the end of DATE (UTC), records the fit in loyalty.model_fits, and
replaces loyalty.member_churn and loyalty.member_ltv with its scores. A fit
that does not converge is recorded as failed and changes no scores.
See docs/analytics.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			day, err := time.Parse(time.DateOnly, asOf)
			if err != nil {
				return fmt.Errorf("--as-of %q: give a date as YYYY-MM-DD, such as %s", asOf, time.Now().UTC().Format(time.DateOnly))
			}
			cfg := flags.config(day, "command")
			if err := cfg.Validate(); err != nil {
				return fmt.Errorf("analytics settings: %w", err)
			}
			return g.withDatabase(cmd.Context(), func(pool *pgxpool.Pool) error {
				cfg.Progress = fitProgress(g, quiet)
				res, err := projections.FitModels(cmd.Context(), pool, cfg)
				if err != nil {
					return fmt.Errorf("%w (recorded as model_fits id %d)", err, res.FitID)
				}
				bg, pn, gg := res.BGNBD, res.ParetoNBD, res.GammaGamma
				fmt.Fprintf(g.stdout, "fit %d as of %s (%s): %d members, %d with repeat purchases, in %s\n",
					res.FitID, asOf, cfg.TimeUnit, res.Members, gg.Stats.Members, res.Duration.Round(time.Millisecond))
				fmt.Fprintf(g.stdout, "scored with %s: %s\n", res.Model, res.WhyModel)
				if res.Model == analytics.ModelParetoNBD {
					fmt.Fprintf(g.stdout, "Pareto/NBD  r=%.4g alpha=%.4g s=%.4g beta=%.4g  log-likelihood %.2f, %d iterations (%s)\n",
						pn.Params.R, pn.Params.Alpha, pn.Params.S, pn.Params.Beta, pn.Stats.LogLikelihood, pn.Stats.Iterations, pn.Stats.Status)
				} else {
					fmt.Fprintf(g.stdout, "BG/NBD      r=%.4g alpha=%.4g a=%.4g b=%.4g  log-likelihood %.2f, %d iterations (%s)\n",
						bg.Params.R, bg.Params.Alpha, bg.Params.A, bg.Params.B, bg.Stats.LogLikelihood, bg.Stats.Iterations, bg.Stats.Status)
				}
				fmt.Fprintf(g.stdout, "Gamma-Gamma p=%.4g q=%.4g gamma=%.4g  log-likelihood %.2f, %d iterations (%s)\n",
					gg.Params.P, gg.Params.Q, gg.Params.Gamma, gg.Stats.LogLikelihood, gg.Stats.Iterations, gg.Stats.Status)
				return nil
			})
		},
	}
	fit.Flags().StringVar(&asOf, "as-of", time.Now().UTC().Format(time.DateOnly), "last UTC date whose purchases count (YYYY-MM-DD)")
	fit.Flags().BoolVar(&quiet, "quiet", false, "no progress")
	flags.register(fit.Flags())
	cmd.AddCommand(fit, newValidateCommand(g))
	return cmd
}

// fitProgress prints each stage and a bar for scoring.
func fitProgress(g *globals, quiet bool) func(string, int, int) {
	if quiet {
		return nil
	}
	var bar *progressbar.ProgressBar
	return func(stage string, done, total int) {
		if total == 0 {
			fmt.Fprintln(g.stderr, stage)
			return
		}
		if bar == nil {
			bar = newProgressOf(g, false, int64(total), stage, "members")
		}
		_ = bar.Set(done)
	}
}
