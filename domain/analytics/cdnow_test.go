package analytics

import (
	"context"
	"fmt"
	"math"
	"os"
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain/analytics/cdnow"
)

// readCDNOW reads the CDNOW sample's purchase days, in customer and date
// order.
func readCDNOW(t testing.TB) []cdnow.Purchase {
	t.Helper()
	f, err := os.Open("cdnow/" + cdnow.File)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	purchases, err := cdnow.Read(f)
	if err != nil {
		t.Fatal(err)
	}
	return purchases
}

var (
	cdnowCalibrationEnd = cdnow.CalibrationEnd
	cdnowHoldoutEnd     = cdnow.HoldoutEnd
)

// cdnowHistories are the customers' calibration histories in weeks, as
// BTYD's walkthrough computes them (calibration to 1997-09-30), with their
// purchase days in the 39 weeks after.
func cdnowHistories(t testing.TB) ([]History, []int) {
	var hs []History
	var holdout []int
	var first time.Time
	for _, p := range readCDNOW(t) {
		if len(hs) == 0 || p.Customer != len(hs) {
			if p.Customer != len(hs)+1 {
				t.Fatalf("customer %d after %d", p.Customer, len(hs))
			}
			first = p.Day
			hs = append(hs, History{Age: weeks(first, cdnowCalibrationEnd)})
			holdout = append(holdout, 0)
			continue
		}
		i := len(hs) - 1
		switch {
		case !p.Day.After(cdnowCalibrationEnd):
			hs[i].Frequency++
			hs[i].Recency = weeks(first, p.Day)
		case !p.Day.After(cdnowHoldoutEnd):
			holdout[i]++
		}
	}
	return hs, holdout
}

func weeks(from, to time.Time) float64 { return to.Sub(from).Hours() / 24 / 7 }

// cdnowHoldout is the sample as a validation sees it, in weeks.
func cdnowHoldout(t testing.TB) Holdout {
	purchases := readCDNOW(t)
	day0 := purchases[0].Day
	calDays := int(cdnowCalibrationEnd.Sub(day0).Hours()/24) + 1
	h := Holdout{Length: 39, DaysPerUnit: 7, CalibrationDays: calDays,
		HoldoutDays: int(cdnowHoldoutEnd.Sub(cdnowCalibrationEnd).Hours() / 24)}
	h.FirstPurchases = make([]int, calDays+h.HoldoutDays)
	h.RepeatPurchases = make([]int, calDays+h.HoldoutDays)
	hs, holdout := cdnowHistories(t)
	for i := range hs {
		h.Members = append(h.Members, HoldoutMember{Calibration: hs[i], Holdout: holdout[i]})
	}
	previous := 0
	for _, p := range purchases {
		day := int(p.Day.Sub(day0).Hours() / 24)
		if p.Customer != previous {
			h.FirstPurchases[day]++
			previous = p.Customer
		} else if day < len(h.RepeatPurchases) {
			h.RepeatPurchases[day]++
		}
	}
	return h
}

// TestCDNOWFits reproduces the published fits of both models to the CDNOW
// sample: Pareto/NBD as CLVTools reports it (r 0.55315, alpha 10.57633, s
// 0.60625, beta 11.67150, log-likelihood -9594.98; BTYD's walkthrough finds
// the same within 0.2%), BG/NBD as Fader, Hardie and Lee (2005) and BTYD
// (0.2425982, 4.4136842, 0.7929899, 2.4261667, log-likelihood -9582.43).
func TestCDNOWFits(t *testing.T) {
	hs, _ := cdnowHistories(t)
	if len(hs) != 2357 {
		t.Fatalf("%d customers, the sample has 2,357", len(hs))
	}
	pn, err := FitParetoNBD(hs)
	if err != nil {
		t.Fatal(err)
	}
	within(t, "Pareto/NBD", pn.Params.vector(), []float64{0.55315, 10.57633, 0.60625, 11.67150}, 0.01)
	if math.Abs(pn.Stats.LogLikelihood+9594.98) > 0.01 {
		t.Errorf("Pareto/NBD log-likelihood %.3f, published -9594.98", pn.Stats.LogLikelihood)
	}
	bg, err := FitBGNBD(hs)
	if err != nil {
		t.Fatal(err)
	}
	within(t, "BG/NBD", bg.Params.vector(), []float64{0.2425982, 4.4136842, 0.7929899, 2.4261667}, 0.01)
	if math.Abs(bg.Stats.LogLikelihood+9582.429) > 0.01 {
		t.Errorf("BG/NBD log-likelihood %.3f, published -9582.429", bg.Stats.LogLikelihood)
	}
	if len(pn.StdErr) != 4 {
		t.Errorf("Pareto/NBD standard errors %v", pn.StdErr)
	}
}

// within fails for each value further than tolerance (relative) from its
// published value.
func within(t *testing.T, what string, got, want []float64, tolerance float64) {
	t.Helper()
	for i := range want {
		if math.Abs(got[i]-want[i]) > tolerance*math.Abs(want[i]) {
			t.Errorf("%s: value %d is %.6g, published %.6g (more than %.1f%% off)", what, i, got[i], want[i], 100*tolerance)
		}
	}
}

// TestCDNOWHoldout reproduces the published holdout checks of the CDNOW
// sample (BTYD's walkthrough, calibration to 1997-09-30, 39 weeks of
// holdout): the conditional expectations by calibration frequency, actual
// and of each model, to 1%, and the actual counts exactly.
func TestCDNOWHoldout(t *testing.T) {
	v, err := Validate(context.Background(), cdnowHoldout(t), ModelBGNBD, ModelParetoNBD)
	if err != nil {
		t.Fatal(err)
	}
	members := []int{1411, 439, 214, 100, 62, 38, 29, 64}
	actual := []float64{0.237, 0.697, 1.393, 1.560, 2.532, 2.947, 3.862, 6.359}
	bgnbd := []float64{0.225, 0.523, 1.044, 1.520, 2.164, 2.654, 3.504, 6.157}
	pnbd := []float64{0.138, 0.600, 1.196, 1.714, 2.399, 2.907, 3.819, 6.403}
	var gotActual, gotBG, gotPN []float64
	for i, r := range v.ByFrequency {
		if r.Members != members[i] {
			t.Errorf("frequency %d: %d members, published %d", r.Frequency, r.Members, members[i])
		}
		gotActual = append(gotActual, r.ActualMean)
		gotBG, gotPN = append(gotBG, r.Predicted[0]), append(gotPN, r.Predicted[1])
	}
	// The published means have three decimals.
	for i := range actual {
		if math.Abs(gotActual[i]-actual[i]) > 0.0005 {
			t.Errorf("frequency %d: actual mean %.4f, published %.3f", i, gotActual[i], actual[i])
		}
	}
	within(t, "BG/NBD conditional expectations", gotBG, bgnbd, 0.01)
	within(t, "Pareto/NBD conditional expectations", gotPN, pnbd, 0.01)
	if v.ActualRepeatPurchases != 1882 {
		t.Errorf("%d repeat purchases in the holdout, the sample has 1,882", v.ActualRepeatPurchases)
	}
	for _, c := range v.Models {
		t.Logf("%s: predicted %.1f, MAE %.4f, RMSE %.4f, r %.4f", c.Model, c.PredictedRepeatPurchases, c.MeanAbsoluteError, c.RootMeanSquaredError, c.Correlation)
	}
	t.Logf("best %s", v.Best)
	// BTYD's tracking of cumulative repeat purchases, weeks 20 and 25.
	for _, w := range []struct {
		week   int
		actual int
		pnbd   float64
	}{{20, 1359, 1308.856}, {25, 1672, 1674.253}} {
		r := v.Tracking[w.week-1]
		if r.LastDay != 7*w.week-1 || r.ActualCum != w.actual {
			t.Errorf("week %d: ends on day %d with %d repeat purchases, published %d", w.week, r.LastDay, r.ActualCum, w.actual)
		}
		within(t, fmt.Sprintf("week %d, Pareto/NBD", w.week), r.ExpectCum[1:], []float64{w.pnbd}, 0.001)
		t.Logf("week %d: actual %d, Pareto/NBD %.3f (published %.3f)", w.week, r.ActualCum, r.ExpectCum[1], w.pnbd)
	}
	if n := len(v.Tracking); n != 78 || v.Tracking[38].Holdout || !v.Tracking[39].Holdout || v.Tracking[n-1].ActualCum != v.Tracking[38].ActualCum+1882 {
		t.Errorf("tracking: %d weeks, want 39 of calibration and 39 of holdout with 1,882 repeat purchases", n)
	}
}
