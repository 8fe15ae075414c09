package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pointsledger/loyalty/domain/analytics"
	"github.com/pointsledger/loyalty/domain/analytics/cdnow"
)

// seedCDNOW writes the CDNOW sample's purchase days into
// member_purchase_days.
func seedCDNOW(t testing.TB, pool *pgxpool.Pool) {
	t.Helper()
	f, err := os.Open("../domain/analytics/cdnow/" + cdnow.File)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	purchases, err := cdnow.Read(f)
	if err != nil {
		t.Fatal(err)
	}
	rows := make([][]any, len(purchases))
	for i, p := range purchases {
		rows[i] = []any{fmt.Sprintf("cdnow-%d", p.Customer), p.Day, int32(1), p.Cents}
	}
	if _, err := pool.CopyFrom(context.Background(), pgx.Identifier{Schema, "member_purchase_days"},
		[]string{"member_id", "day", "orders", "spend"}, pgx.CopyFromRows(rows)); err != nil {
		t.Fatal(err)
	}
}

var (
	cdnowCalibrationEnd = cdnow.CalibrationEnd
	cdnowHoldoutEnd     = cdnow.HoldoutEnd
)

// TestValidateModelsOnCDNOW validates over the tables what the domain test
// validates from the file: the published holdout figures of the CDNOW
// sample, and the tables dashboards draw.
func TestValidateModelsOnCDNOW(t *testing.T) {
	pool := migrated(t)
	ctx := context.Background()
	seedCDNOW(t, pool)
	// A member who first bought in the holdout is not validated.
	if _, err := pool.Exec(ctx, `insert into loyalty.member_purchase_days values ('newcomer', '1998-01-05', 1, 1000), ('newcomer', '1998-02-05', 1, 1000)`); err != nil {
		t.Fatal(err)
	}
	res, err := ValidateModels(ctx, pool, ValidateConfig{CalibrationEnd: cdnowCalibrationEnd, HoldoutEnd: cdnowHoldoutEnd,
		TimeUnit: "week", Reason: "command"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Members != 2357 || res.ActualRepeatPurchases != 1882 || res.Best != analytics.ModelParetoNBD {
		t.Errorf("%d members, %d repeat purchases, best %q; the sample has 2,357 and 1,882, and Pareto/NBD predicts it best",
			res.Members, res.ActualRepeatPurchases, res.Best)
	}
	published := map[string][]float64{
		"actual":                 {0.237, 0.697, 1.393, 1.560, 2.532, 2.947, 3.862, 6.359},
		analytics.ModelBGNBD:     {0.225, 0.523, 1.044, 1.520, 2.164, 2.654, 3.504, 6.157},
		analytics.ModelParetoNBD: {0.138, 0.600, 1.196, 1.714, 2.399, 2.907, 3.819, 6.403},
	}
	rows, err := pool.Query(ctx, `select frequency, series, members, mean_purchases from loyalty.model_validation_frequencies
where validation_id = $1 order by series, frequency`, res.ID)
	if err != nil {
		t.Fatal(err)
	}
	var frequency, members, n int
	var series string
	var mean float64
	if _, err := pgx.ForEachRow(rows, []any{&frequency, &series, &members, &mean}, func() error {
		n++
		want := published[series][frequency]
		tolerance := 0.01 * want
		if series == "actual" {
			tolerance = 0.0005 // three decimals
		}
		if math.Abs(mean-want) > tolerance {
			t.Errorf("%s, frequency %d: %.4f, published %.3f", series, frequency, mean, want)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != 24 {
		t.Errorf("%d conditional-expectation rows, want 8 frequencies of actual and two models", n)
	}
	var weeks, holdoutWeeks int
	var lastActual, lastPNBD float64
	if err := pool.QueryRow(ctx, `select count(*) filter (where series = 'actual'), count(*) filter (where series = 'actual' and holdout),
	max(cumulative) filter (where series = 'actual'), max(cumulative) filter (where series = 'pareto_nbd' and period_end = '1997-05-20')
from loyalty.model_validation_tracking where validation_id = $1`, res.ID).Scan(&weeks, &holdoutWeeks, &lastActual, &lastPNBD); err != nil {
		t.Fatal(err)
	}
	// Week 20 of BTYD's tracking ends on 1997-05-20: Pareto/NBD 1308.856.
	if weeks != 78 || holdoutWeeks != 39 || math.Abs(lastPNBD/1308.856-1) > 0.01 {
		t.Errorf("tracking: %d weeks, %d in the holdout, Pareto/NBD %.3f at week 20; want 78, 39 and 1308.856", weeks, holdoutWeeks, lastPNBD)
	}
	var best string
	var params []byte
	var predicted float64
	if err := pool.QueryRow(ctx, `select v.best_model, m.parameters, m.predicted_repeat_purchases from loyalty.model_validations v
join loyalty.model_validation_models m on m.validation_id = v.id and m.model = 'pareto_nbd' where v.id = $1`, res.ID).Scan(&best, &params, &predicted); err != nil {
		t.Fatal(err)
	}
	var p map[string]float64
	if err := json.Unmarshal(params, &p); err != nil || math.Abs(p["r"]/0.55315-1) > 0.01 || math.Abs(p["beta"]/11.6715-1) > 0.01 {
		t.Errorf("stored Pareto/NBD parameters %s (%v)", params, err)
	}

	// A fit with --model best now scores with Pareto/NBD, and says so.
	cfg := FitConfig{AsOf: cdnowCalibrationEnd, TimeUnit: "week", Model: ModelBest, Reason: "command", Months: 12, Margin: 1,
		AnnualDiscountRate: 0.1, CostPerPoint: "1", LowRisk: 0.7, HighRisk: 0.3}
	fit, err := FitModels(ctx, pool, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var fitModel, pnbdR, scored string
	var alive float64
	if err := pool.QueryRow(ctx, `select f.model, f.pnbd_r::text, c.model, c.probability_alive from loyalty.model_fits f
join loyalty.member_churn c on c.fit_id = f.id where f.id = $1 and c.member_id = 'cdnow-1516'`, fit.FitID).Scan(&fitModel, &pnbdR, &scored, &alive); err != nil {
		t.Fatal(err)
	}
	if fitModel != analytics.ModelParetoNBD || scored != analytics.ModelParetoNBD || fit.BGNBD.Stats.Status != "" {
		t.Errorf("fit model %q, member_churn model %q, BG/NBD status %q: want Pareto/NBD alone", fitModel, scored, fit.BGNBD.Stats.Status)
	}
	// BTYD: customer 1516 (x=26, t_x=30.86, T=31) is alive with probability 0.997874.
	if math.Abs(alive-0.997874) > 0.001 {
		t.Errorf("P(alive) of customer 1516: %.6f, BTYD 0.997874", alive)
	}
}

// Days are counted by the calendar however far apart the dates are (a
// time.Duration saturates at 292 years).
func TestDaysAcrossCenturies(t *testing.T) {
	from, to := time.Date(1700, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	want := float64(to.Unix()-from.Unix()) / 86400
	if got := days(from, to); got != want || got != 118704 {
		t.Errorf("days from 1700 to 2025: %v, want %v (118,704)", got, want)
	}
}

func TestValidateConfigRefusesNonsense(t *testing.T) {
	day := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []ValidateConfig{
		{CalibrationEnd: day, HoldoutEnd: day, TimeUnit: "week"},
		{CalibrationEnd: day, HoldoutEnd: day.AddDate(0, 0, -1), TimeUnit: "week"},
		{CalibrationEnd: day, HoldoutEnd: day.AddDate(0, 1, 0), TimeUnit: "month"},
		{CalibrationEnd: day, HoldoutEnd: day.AddDate(0, 1, 0), TimeUnit: "day", Models: []string{"mbgnbd"}},
		{HoldoutEnd: day, TimeUnit: "day"},
		{CalibrationEnd: time.Date(1700, 1, 1, 0, 0, 0, 0, time.UTC), HoldoutEnd: day, TimeUnit: "day"},
		{CalibrationEnd: day, HoldoutEnd: time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), TimeUnit: "day"},
		{CalibrationEnd: day, HoldoutEnd: day.AddDate(10, 0, 1), TimeUnit: "week"},
		{CalibrationEnd: day, HoldoutEnd: day.AddDate(0, 1, 0), TimeUnit: "day", Models: []string{"bgnbd", "bgnbd"}},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: accepted", c)
		}
	}
}

// A fit with --model best whose chosen model does not fit today's data
// (Pareto/NBD running off on members whose dropout rates are alike) scores
// with BG/NBD rather than failing every refit.
func TestBestFallsBackToBGNBD(t *testing.T) {
	pool := migrated(t)
	ctx := context.Background()
	day0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	data := analytics.SynthesizeHoldout(analytics.BGNBD{R: 0.8, Alpha: 6, A: 1.2, B: 1.5}, 8_000, 91, 273, 1, 7, 1)
	var rows [][]any
	for i, ds := range data.PurchaseDays {
		for _, d := range ds {
			rows = append(rows, []any{fmt.Sprintf("m-%05d", i), day0.AddDate(0, 0, int(d)), int32(1), int64(1000 + (i*37+int(d)*11)%3000)})
		}
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{Schema, "member_purchase_days"},
		[]string{"member_id", "day", "orders", "spend"}, pgx.CopyFromRows(rows)); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `insert into loyalty.model_validations (validated_at, calibration_end, holdout_end, time_unit, reason,
	members, actual_repeat_purchases, best_model, duration) values (now(), '2025-06-30', '2025-12-31', 'day', 'command', 100, 50, 'pareto_nbd', '1s')`); err != nil {
		t.Fatal(err)
	}
	var stages []string
	cfg := FitConfig{AsOf: day0.AddDate(0, 0, 272), TimeUnit: "week", Model: ModelBest, Reason: "command", Months: 12, Margin: 1,
		AnnualDiscountRate: 0.1, CostPerPoint: "1", LowRisk: 0.7, HighRisk: 0.3,
		Progress: func(stage string, _, _ int) { stages = append(stages, stage) }}
	res, err := FitModels(ctx, pool, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var model string
	if err := pool.QueryRow(ctx, `select model from loyalty.model_fits where id = $1`, res.FitID).Scan(&model); err != nil {
		t.Fatal(err)
	}
	if res.Model != analytics.ModelBGNBD || model != analytics.ModelBGNBD || res.ParetoNBD.Stats.Status != "" {
		t.Errorf("scored with %q (recorded %q), stages %q: want BG/NBD after Pareto/NBD ran off", res.Model, model, stages)
	}
	if !slices.ContainsFunc(stages, func(s string) bool { return strings.Contains(s, "Pareto/NBD did not fit") }) {
		t.Errorf("the fit did not say Pareto/NBD failed: %q", stages)
	}
}

// A validation the data cannot support is refused, saying what the data
// cover.
func TestValidateModelsRefusesWhatTheDataDoNotCover(t *testing.T) {
	pool := migrated(t)
	ctx := context.Background()
	validate := func(calibrationEnd, holdoutEnd string) error {
		c, _ := time.Parse(time.DateOnly, calibrationEnd)
		h, _ := time.Parse(time.DateOnly, holdoutEnd)
		_, err := ValidateModels(ctx, pool, ValidateConfig{CalibrationEnd: c, HoldoutEnd: h, TimeUnit: "week", Reason: "command"})
		return err
	}
	if err := validate("1997-09-30", "1998-06-30"); err == nil || !strings.Contains(err.Error(), "no purchases yet") {
		t.Errorf("an empty database: %v", err)
	}
	seedCDNOW(t, pool)
	for _, c := range []struct{ calibration, holdout, want string }{
		{"1996-12-31", "1998-06-30", "no member bought by the calibration end 1996-12-31 (the purchases run from 1997-01-01 to 1998-06-30)"},
		{"1998-06-30", "1998-09-30", "no purchase after the calibration end 1998-06-30"},
		{"1997-09-30", "1998-07-08", "more than a week after the last purchase"},
	} {
		if err := validate(c.calibration, c.holdout); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s to %s: %v, want %q", c.calibration, c.holdout, err, c.want)
		}
	}
	if err := validate("1997-09-30", "1998-07-07"); err != nil {
		t.Errorf("a holdout a week past the last purchase: %v", err)
	}
	var n int
	if err := pool.QueryRow(ctx, `select count(*) from loyalty.model_validations`).Scan(&n); err != nil || n != 1 {
		t.Errorf("%d validations recorded (%v), want the one accepted", n, err)
	}
}
