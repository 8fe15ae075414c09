package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain/analytics/cdnow"
	"github.com/pointsledger/loyalty/projections/pgtest"
	"github.com/pointsledger/loyalty/streams/natstest"
)

// in28Years moves the CDNOW sample (1997-1998) into the years the
// programme accepts: 1997 and 1998 map to 2025 and 2026, neither a leap
// year, so every span of days and the published weeks are kept.
func in28Years(day time.Time) time.Time { return day.AddDate(28, 0, 0) }

// writeCDNOWCSV writes the CDNOW sample (domain/analytics/cdnow), its days
// moved by shift, as an import file: one purchase per purchase day, at noon
// UTC; it returns the file and its rows.
func writeCDNOWCSV(t *testing.T, shift func(time.Time) time.Time) (string, int) {
	t.Helper()
	f, err := os.Open("../../domain/analytics/cdnow/" + cdnow.File)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	purchases, err := cdnow.Read(f)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("member_id,occurred_at,amount,currency,order_id\n")
	for i, p := range purchases {
		fmt.Fprintf(&b, "cdnow-%d,%s,%d.%02d,EUR,cdnow-order-%d\n", p.Customer,
			shift(p.Day).Add(12*time.Hour).Format(time.RFC3339), p.Cents/100, p.Cents%100, i+1)
	}
	path := filepath.Join(t.TempDir(), "cdnow.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, len(purchases)
}

// The CDNOW sample's purchases go in through `loyalty import`, and
// `loyalty analytics validate` reproduces the published holdout figures
// from the ledger's projections, as JSON and as plots.
func TestValidateThroughTheBinary(t *testing.T) {
	env := natstest.Start(t)
	db := pgtest.New(t)
	natsURL := env.Server.ClientURL()
	startServe(t, "--nats-url", natsURL, "--database-url", db.URL, "--data-dir", t.TempDir(), "--refit-every", "0")
	file, rows := writeCDNOWCSV(t, in28Years)
	mustLoyalty(t, "import", file, "--quiet", "--nats-url", natsURL)
	waitCaughtUp(t, env.JS, db.Pool, uint64(rows))

	plots := filepath.Join(t.TempDir(), "plots")
	out := mustLoyalty(t, "analytics", "validate", "--calibration-end", "2025-09-30", "--holdout-end", "2026-06-30",
		"--json", "--plot", plots, "--database-url", db.URL)
	var v struct {
		Members               int    `json:"members"`
		ActualRepeatPurchases int    `json:"actual_repeat_purchases"`
		BestModel             string `json:"best_model"`
		Models                []struct {
			Model                    string             `json:"model"`
			Parameters               map[string]float64 `json:"parameters"`
			PredictedRepeatPurchases float64            `json:"predicted_repeat_purchases"`
		} `json:"models"`
		ByFrequency []struct {
			Frequency  int                `json:"frequency"`
			Label      string             `json:"label"`
			Members    int                `json:"members"`
			ActualMean float64            `json:"actual_mean"`
			Predicted  map[string]float64 `json:"predicted_mean"`
		} `json:"conditional_expectations"`
		Tracking []struct {
			PeriodEnd          string             `json:"period_end"`
			ActualCumulative   int                `json:"actual_cumulative"`
			ExpectedCumulative map[string]float64 `json:"expected_cumulative"`
		} `json:"tracking"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if v.Members != 2357 || v.ActualRepeatPurchases != 1882 || v.BestModel != "pareto_nbd" {
		t.Errorf("%d members, %d holdout purchases, best %q: the sample has 2,357 and 1,882, and Pareto/NBD predicts it best",
			v.Members, v.ActualRepeatPurchases, v.BestModel)
	}
	// BTYD's walkthrough: the conditional expectations by frequency 0..7+.
	members := []int{1411, 439, 214, 100, 62, 38, 29, 64}
	pnbd := []float64{0.138, 0.600, 1.196, 1.714, 2.399, 2.907, 3.819, 6.403}
	bgnbd := []float64{0.225, 0.523, 1.044, 1.520, 2.164, 2.654, 3.504, 6.157}
	if len(v.ByFrequency) != 8 {
		t.Fatalf("%d frequencies", len(v.ByFrequency))
	}
	for i, r := range v.ByFrequency {
		if r.Frequency != i || r.Label != map[bool]string{true: "7+", false: fmt.Sprint(i)}[i == 7] || r.Members != members[i] || math.Abs(r.Predicted["pareto_nbd"]/pnbd[i]-1) > 0.01 || math.Abs(r.Predicted["bgnbd"]/bgnbd[i]-1) > 0.01 {
			t.Errorf("frequency %d (%s): %d members, Pareto/NBD %.4f, BG/NBD %.4f; published %d, %.3f, %.3f",
				r.Frequency, r.Label, r.Members, r.Predicted["pareto_nbd"], r.Predicted["bgnbd"], members[i], pnbd[i], bgnbd[i])
		}
	}
	for _, m := range v.Models {
		if m.Model == "pareto_nbd" && math.Abs(m.Parameters["r"]/0.55315-1) > 0.01 {
			t.Errorf("Pareto/NBD r = %.5f, CLVTools 0.55315", m.Parameters["r"])
		}
	}
	if len(v.Tracking) != 78 || v.Tracking[19].PeriodEnd != "2025-05-20" || v.Tracking[19].ActualCumulative != 1359 ||
		math.Abs(v.Tracking[19].ExpectedCumulative["pareto_nbd"]/1308.856-1) > 0.01 {
		t.Errorf("tracking: %d weeks; week 20 %+v, published 1997-05-20 (2025-05-20 here), 1359 actual, Pareto/NBD 1308.856", len(v.Tracking), v.Tracking[min(19, len(v.Tracking)-1)])
	}
	checkPlots(t, plots)

	text := mustLoyalty(t, "analytics", "validate", "--calibration-end", "2025-09-30", "--holdout-end", "2026-06-30",
		"--database-url", db.URL)
	for _, want := range []string{"2357 members", "1882 repeat purchases", "best: pareto_nbd", "7+"} {
		if !strings.Contains(text, want) {
			t.Errorf("the report lacks %q:\n%s", want, text)
		}
	}
	// Plots that cannot be written are refused before anything is fitted
	// or recorded.
	validations := func() int {
		var n int
		if err := db.Pool.QueryRow(context.Background(), `select count(*) from loyalty.model_validations`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := validations()
	_, stderr, err := loyalty(t, "analytics", "validate", "--calibration-end", "2025-09-30", "--holdout-end", "2026-06-30",
		"--plot", file, "--database-url", db.URL)
	after := validations()
	if err == nil || !strings.Contains(stderr, "--plot") || after != before {
		t.Errorf("--plot onto a file: %v, %q; %d validations before, %d after", err, stderr, before, after)
	}
	fit := mustLoyalty(t, "analytics", "fit", "--as-of", "2025-09-30", "--time-unit", "week", "--quiet", "--database-url", db.URL)
	if !strings.Contains(fit, "Pareto/NBD  r=0.553") {
		t.Errorf("a fit after the validation scores with its best model, Pareto/NBD:\n%s", fit)
	}
}

// checkPlots opens each plot: the SVGs parse as XML and name every series,
// the PNGs decode.
func checkPlots(t *testing.T, dir string) {
	t.Helper()
	for _, name := range []string{"tracking", "conditional-expectations"} {
		svg, err := os.ReadFile(filepath.Join(dir, name+".svg"))
		if err != nil {
			t.Fatal(err)
		}
		d := xml.NewDecoder(bytes.NewReader(svg))
		for {
			if _, err := d.Token(); err != nil {
				if !errors.Is(err, io.EOF) {
					t.Errorf("%s.svg: %v", name, err)
				}
				break
			}
		}
		for _, series := range []string{"actual", "bgnbd", "pareto_nbd"} {
			if !bytes.Contains(svg, []byte(">"+series+"<")) {
				t.Errorf("%s.svg has no %s series", name, series)
			}
		}
		f, err := os.Open(filepath.Join(dir, name+".png"))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil || img.Bounds().Dx() < 500 {
			t.Errorf("%s.png: %v", name, err)
		}
	}
}

// serve with --validate-holdout-days validates before each refit, and its
// refit scores with the validation's best model: the CDNOW sample, moved
// so that its holdout ends today, validated on its published holdout of
// 273 days.
func TestServeValidatesBeforeItsRefits(t *testing.T) {
	env := natstest.Start(t)
	db := pgtest.New(t)
	natsURL := env.Server.ClientURL()
	today := time.Now().UTC().Truncate(24 * time.Hour)
	shift := today.Sub(cdnow.HoldoutEnd)
	file, rows := writeCDNOWCSV(t, func(day time.Time) time.Time { return day.Add(shift) })
	// The history goes in first, with no refits; then a serve that
	// validates and refits, once, on all of it.
	dataDir := t.TempDir()
	importer := startServe(t, "--nats-url", natsURL, "--database-url", db.URL, "--data-dir", dataDir, "--refit-every", "0")
	mustLoyalty(t, "import", file, "--quiet", "--nats-url", natsURL)
	waitCaughtUp(t, env.JS, db.Pool, uint64(rows))
	importer.stop(t)
	srv := startServe(t, "--nats-url", natsURL, "--database-url", db.URL, "--data-dir", dataDir, "--time-unit", "week",
		"--refit-every", "1h", "--refit-check-interval", "300ms", "--validate-holdout-days", "273", "--model", "best")
	fit := waitForFit(t, db.Pool, "schedule")
	var members int
	var model string
	if err := db.Pool.QueryRow(context.Background(), `select members, model from loyalty.model_fits where id = $1`, fit).Scan(&members, &model); err != nil {
		t.Fatal(err)
	}
	if members != 2357 {
		t.Errorf("the fit saw %d members, the sample has 2,357", members)
	}
	var validation int64
	var best string
	var calibrationEnd time.Time
	if err := db.Pool.QueryRow(context.Background(), `select id, best_model, calibration_end from loyalty.model_validations
where reason = 'schedule' order by id desc limit 1`).Scan(&validation, &best, &calibrationEnd); err != nil {
		t.Fatalf("no scheduled validation: %v\n%s", err, srv.log.String())
	}
	if best != "pareto_nbd" || model != "pareto_nbd" || !calibrationEnd.Equal(today.AddDate(0, 0, -273)) {
		t.Errorf("validation %d: best %q, calibration to %s; the fit scored with %q: want Pareto/NBD, as on the published holdout",
			validation, best, calibrationEnd.Format(time.DateOnly), model)
	}
}

// On a database serve has never run against, the analytics commands say
// to migrate it rather than only that a table is missing.
func TestAnalyticsOnAnUnmigratedDatabaseSayToMigrate(t *testing.T) {
	db := pgtest.New(t)
	for _, args := range [][]string{
		{"analytics", "validate", "--calibration-end", "2025-09-30", "--holdout-end", "2026-06-30"},
		{"analytics", "fit", "--as-of", "2026-06-30", "--quiet"},
	} {
		_, stderr, err := loyalty(t, append(args, "--database-url", db.URL)...)
		if err == nil || !strings.Contains(stderr, "run `loyalty migrate`") {
			t.Errorf("%v: %v\n%s", args, err, stderr)
		}
	}
}
