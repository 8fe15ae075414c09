package projections

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/domain/analytics"
)

// FitConfig says what `loyalty analytics fit` and serve's refits compute.
type FitConfig struct {
	// AsOf is the last UTC date whose purchases count.
	AsOf time.Time
	// TimeUnit is "day" or "week".
	TimeUnit string
	// Model is the purchase model that scores the members: bgnbd (also
	// when empty), pareto_nbd, or best: the best model of the latest
	// validation (BG/NBD without one, or when that model does not fit).
	Model string
	// Reason is recorded with the fit: command, schedule or rebuild.
	Reason string
	// Months, Margin and AnnualDiscountRate value the predicted purchases.
	Months             int
	Margin             float64
	AnnualDiscountRate float64
	// CostPerPoint is what a point costs, in minor units of the program
	// currency, as a decimal ("0.5").
	CostPerPoint string
	// LowRisk and HighRisk are the probability-alive thresholds of the risk
	// bands: at least LowRisk is low, below HighRisk is high.
	LowRisk, HighRisk float64
	// Progress, if set, hears of each stage and of scoring progress.
	Progress func(stage string, done, total int)
}

// Validate lists every problem of the configuration.
func (c FitConfig) Validate() error {
	var errs []error
	if c.TimeUnit != "day" && c.TimeUnit != "week" {
		errs = append(errs, fmt.Errorf("time unit %q: use day or week", c.TimeUnit))
	}
	if err := c.valueSettings().Validate(); err != nil {
		errs = append(errs, err)
	}
	if _, err := parseCost(c.CostPerPoint); err != nil {
		errs = append(errs, err)
	}
	if !(c.HighRisk > 0 && c.HighRisk < c.LowRisk && c.LowRisk < 1) {
		errs = append(errs, fmt.Errorf("risk thresholds high %.3g and low %.3g: need 0 < high < low < 1", c.HighRisk, c.LowRisk))
	}
	if c.Model != "" && c.Model != ModelBest && !slices.Contains(analytics.Models, c.Model) {
		errs = append(errs, fmt.Errorf("model %q: use %s, %s or %s", c.Model, analytics.ModelBGNBD, analytics.ModelParetoNBD, ModelBest))
	}
	if c.AsOf.IsZero() {
		errs = append(errs, errors.New("no as-of date"))
	}
	return errors.Join(errs...)
}

func (c FitConfig) unit() float64 {
	if c.TimeUnit == "week" {
		return 7
	}
	return 1
}

func (c FitConfig) valueSettings() analytics.ValueSettings {
	return analytics.ValueSettings{Months: c.Months, MonthLength: 30 / c.unit(),
		AnnualDiscountRate: c.AnnualDiscountRate, Margin: c.Margin}
}

// parseCost reads a cost per point as an exact decimal of minor units, as
// the program's rates are read (at most 6 decimals, so that the stored
// cost is the one the values were computed with).
func parseCost(s string) (*big.Rat, error) {
	r, err := domain.ParseRatio(s)
	if err != nil || r.Negative() {
		return nil, fmt.Errorf("cost per point %q: give a decimal number of minor units at least 0 with at most 6 decimals, such as 0.5", s)
	}
	return new(big.Rat).SetFrac64(r.Num, r.Den), nil
}

// ModelBest asks a fit for the model that predicted best in the latest
// validation.
const ModelBest = "best"

// FitResult is what a fit found and wrote.
type FitResult struct {
	FitID int64
	// FittedAt is when the fit was recorded (model_fits.fitted_at).
	FittedAt time.Time
	Members  int
	// Model is the purchase model that scored the members; its fit is in
	// BGNBD or ParetoNBD. WhyModel says why it was that one.
	Model      string
	WhyModel   string
	BGNBD      analytics.BGNBDFit
	ParetoNBD  analytics.ParetoNBDFit
	GammaGamma analytics.GammaGammaFit
	Duration   time.Duration
}

// purchaseModel is the fitted purchase model that scores.
func (r FitResult) purchaseModel() analytics.Model {
	if r.Model == analytics.ModelParetoNBD {
		return r.ParetoNBD.Params
	}
	return r.BGNBD.Params
}

// memberHistory is one member's purchases up to the as-of date as the
// scores need them.
type memberHistory struct {
	id                    string
	first, last, activity time.Time
	frequency             int
	repeatSpend, revenue  int64
	netPoints             int64
}

// FitModels fits BG/NBD and Gamma-Gamma to the purchases up to cfg.AsOf,
// records the fit in model_fits, and replaces member_churn and member_ltv
// with its scores and adds a points liability valuation, in one
// transaction. A fit that does not converge is recorded as failed, leaves
// the scores as they were and returns the error (wrapping
// analytics.ErrNotConverged, ErrNoData or ErrUnboundedSpend).
func FitModels(ctx context.Context, pool *pgxpool.Pool, cfg FitConfig) (FitResult, error) {
	if err := cfg.Validate(); err != nil {
		return FitResult{}, err
	}
	cost, _ := parseCost(cfg.CostPerPoint) // Validate has parsed it
	started := time.Now()
	progress := cfg.Progress
	if progress == nil {
		progress = func(string, int, int) {}
	}
	progress("reading purchase histories", 0, 0)
	members, err := readHistories(ctx, pool, cfg.AsOf)
	if err != nil {
		return FitResult{}, err
	}
	res := FitResult{Members: len(members)}
	if res.Model, res.WhyModel, err = chooseModel(ctx, pool, cfg); err != nil {
		return res, err
	}
	histories, spends := modelInputs(members, cfg.AsOf, cfg.unit())
	if res.Model == analytics.ModelParetoNBD {
		progress(fmt.Sprintf("fitting Pareto/NBD to %d members", len(members)), 0, 0)
		res.ParetoNBD, err = analytics.FitParetoNBDContext(ctx, histories)
		// best chose it from an earlier validation; today's data may not
		// fit it (a runaway), and BG/NBD scores rather than nobody.
		if err != nil && cfg.Model == ModelBest {
			progress(fmt.Sprintf("Pareto/NBD did not fit (%v); fitting BG/NBD", err), 0, 0)
			res.Model, res.ParetoNBD = analytics.ModelBGNBD, analytics.ParetoNBDFit{}
			res.WhyModel = fmt.Sprintf("%s, but it did not fit these data (%v)", res.WhyModel, err)
		}
	}
	if res.Model == analytics.ModelBGNBD {
		progress(fmt.Sprintf("fitting BG/NBD to %d members", len(members)), 0, 0)
		res.BGNBD, err = analytics.FitBGNBD(histories)
	}
	if err == nil {
		progress("fitting Gamma-Gamma", 0, 0)
		res.GammaGamma, err = analytics.FitGammaGamma(spends)
	}
	if err != nil {
		return failed(ctx, pool, cfg, res, started, err)
	}
	progress("scoring", 0, len(members))
	churn, ltv := score(histories, spends, res, cfg, progress)
	err = notFinite(members, churn, ltv)
	segment(members, churn, ltv, cfg.AsOf)
	if err == nil {
		err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			// Two fits at once (a command during a scheduled refit) would each
			// delete the old scores and insert the same members: the second
			// waits here, then replaces the first's.
			if _, err := tx.Exec(ctx, `select pg_advisory_xact_lock(hashtext('loyalty.member_scores'))`); err != nil {
				return fmt.Errorf("wait for another fit's scores: %w", err)
			}
			var err error
			if res.FitID, res.FittedAt, err = insertFit(ctx, tx, cfg, res, nil); err != nil {
				return err
			}
			return writeScores(ctx, tx, cfg, cost, members, histories, churn, ltv, started, &res)
		})
	}
	if err != nil {
		return failed(ctx, pool, cfg, res, started, err)
	}
	return res, nil
}

// chooseModel resolves the configured model: best reads the latest
// validation, in either time unit (rescaling time rescales each model's
// parameters and likelihood alike, so the ranking does not depend on it).
func chooseModel(ctx context.Context, q Querier, cfg FitConfig) (model, why string, err error) {
	switch cfg.Model {
	case "":
		return analytics.ModelBGNBD, "the default", nil
	case ModelBest:
		var id int64
		var best string
		var calibrationEnd, holdoutEnd time.Time
		err := q.QueryRow(ctx, `select id, best_model, calibration_end, holdout_end from loyalty.model_validations
where best_model is not null order by validated_at desc, id desc limit 1`).Scan(&id, &best, &calibrationEnd, &holdoutEnd)
		if errors.Is(err, pgx.ErrNoRows) {
			return analytics.ModelBGNBD, "--model best without a validation yet (loyalty analytics validate)", nil
		}
		if err != nil {
			return "", "", fmt.Errorf("read the latest validation's best model: %w", err)
		}
		return best, fmt.Sprintf("--model best: it predicted best in validation %d (holdout %s to %s)", id,
			calibrationEnd.AddDate(0, 0, 1).Format(time.DateOnly), holdoutEnd.Format(time.DateOnly)), nil
	}
	return cfg.Model, "--model " + cfg.Model, nil
}

// failed records a fit that came to nothing, on its own: a rolled-back
// scores transaction takes its model_fits row with it, and serve would then
// refit at every check instead of every interval.
func failed(ctx context.Context, pool *pgxpool.Pool, cfg FitConfig, res FitResult, started time.Time, err error) (FitResult, error) {
	res.Duration = time.Since(started)
	var recErr error
	res.FitID, res.FittedAt, recErr = insertFit(ctx, pool, cfg, res, err)
	return res, errors.Join(fmt.Errorf("fit as of %s: %w", cfg.AsOf.Format(time.DateOnly), err), recErr)
}

// readHistories returns each member's purchase days, spend, last activity
// and net points up to the end of asOf.
func readHistories(ctx context.Context, q Querier, asOf time.Time) ([]memberHistory, error) {
	end := asOf.AddDate(0, 0, 1)
	rows, err := q.Query(ctx, `
with d as (
	select member_id, day, spend, min(day) over (partition by member_id) as first_day
	from loyalty.member_purchase_days where day <= $1
), p as (
	select member_id, first_day, max(day) as last_day, count(*) - 1 as frequency,
		coalesce(sum(spend) filter (where day > first_day), 0) as repeat_spend, sum(spend) as revenue
	from d group by member_id, first_day
)
select p.member_id, p.first_day, p.last_day, greatest(p.last_day, v.last, f.last),
	p.frequency, p.repeat_spend, p.revenue, coalesce(pts.points, 0)
from p
left join (select member_id, max((occurred_at at time zone 'UTC')::date) as last from loyalty.visits
	where occurred_at < $2 group by member_id) v using (member_id)
left join (select member_id, max((occurred_at at time zone 'UTC')::date) as last from loyalty.feedback
	where occurred_at < $2 group by member_id) f using (member_id)
left join (select member_id, sum(points) as points from loyalty.points_ledger
	where occurred_at < $2 and kind in ('earned', 'reversed', 'cancelled', 'expired') group by member_id) pts using (member_id)
order by p.member_id`, asOf, end)
	if err != nil {
		return nil, fmt.Errorf("read purchase histories: %w", err)
	}
	var out []memberHistory
	var m memberHistory
	_, err = pgx.ForEachRow(rows, []any{&m.id, &m.first, &m.last, &m.activity, &m.frequency, &m.repeatSpend, &m.revenue, &m.netPoints},
		func() error { out = append(out, m); return nil })
	if err != nil {
		return nil, fmt.Errorf("read purchase histories: %w", err)
	}
	return out, nil
}

func modelInputs(members []memberHistory, asOf time.Time, unit float64) ([]analytics.History, []analytics.Spend) {
	histories := make([]analytics.History, len(members))
	spends := make([]analytics.Spend, len(members))
	for i, m := range members {
		histories[i] = analytics.History{
			Frequency: m.frequency,
			Recency:   days(m.first, m.last) / unit,
			Age:       days(m.first, asOf) / unit,
		}
		spends[i] = analytics.Spend{Frequency: m.frequency}
		if m.frequency > 0 {
			spends[i].Mean = float64(m.repeatSpend) / float64(m.frequency)
		}
	}
	return histories, spends
}

// days counts whole days between two dates by their Unix seconds: a
// time.Duration would saturate beyond 292 years.
func days(from, to time.Time) float64 { return math.Round(float64(to.Unix()-from.Unix()) / 86400) }

type churnScore struct {
	alive, e30, e90, e365 float64
	band, segment         string
}

type ltvScore struct {
	spend, purchases, value float64
	band                    string
}

// segment gives the scores their value bands, by rank among the fit's
// members, and the members their segments.
func segment(members []memberHistory, churn []churnScore, ltv []ltvScore, asOf time.Time) {
	values := make([]float64, len(ltv))
	for i, l := range ltv {
		values[i] = math.Round(l.value) // as stored: equal stored values share a band
	}
	for i, band := range analytics.ValueBands(values) {
		ltv[i].band = band
		churn[i].segment = analytics.Segment(churn[i].band, band, members[i].frequency, days(members[i].first, asOf))
	}
}

// score computes every member's churn and value scores, split over the
// CPUs: each member costs some fifteen hypergeometric functions.
func score(hs []analytics.History, spends []analytics.Spend, res FitResult, cfg FitConfig,
	progress func(string, int, int)) ([]churnScore, []ltvScore) {
	n := len(hs)
	churn, ltv := make([]churnScore, n), make([]ltvScore, n)
	bg, gg, value, unit := res.purchaseModel(), res.GammaGamma.Params, cfg.valueSettings(), cfg.unit()
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	const chunk = 10_000
	next := make(chan int)
	for range workers {
		wg.Go(func() {
			for start := range next {
				end := min(start+chunk, n)
				for i := start; i < end; i++ {
					h := hs[i]
					c := churnScore{alive: bg.ProbabilityAlive(h), e30: bg.ExpectedPurchases(h, 30/unit),
						e90: bg.ExpectedPurchases(h, 90/unit), e365: bg.ExpectedPurchases(h, 365/unit)}
					c.band = riskBand(c.alive, cfg)
					churn[i] = c
					s := gg.ExpectedSpend(spends[i])
					v := analytics.PredictValue(bg, h, s, value)
					ltv[i] = ltvScore{spend: s, purchases: v.Purchases, value: v.Discounted}
				}
				mu.Lock()
				done += end - start
				progress("scoring", done, n)
				mu.Unlock()
			}
		})
	}
	for start := 0; start < n; start += chunk {
		next <- start
	}
	close(next)
	wg.Wait()
	return churn, ltv
}

func riskBand(alive float64, cfg FitConfig) string {
	switch {
	case alive >= cfg.LowRisk:
		return "low"
	case alive < cfg.HighRisk:
		return "high"
	default:
		return "medium"
	}
}
