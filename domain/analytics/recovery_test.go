package analytics

import (
	"math"
	"testing"
)

// The population: a realistic spread of buyers (r, alpha), a
// dropout probability with mean a/(a+b) ≈ 0.24, and spend per purchase
// with mean p·γ/(q−1) = 30.
var (
	trueBGNBD = BGNBD{R: 0.25, Alpha: 4, A: 0.8, B: 2.5}
	trueGG    = GammaGamma{P: 6, Q: 4, Gamma: 15}
)

// TestFitRecoversTheParameters simulates 10,000 members from known
// parameters and fits them back: each estimate must lie within four of its
// standard errors (computed from the observed information) of the truth,
// and the likelihood at the fit must be at least that at the truth.
func TestFitRecoversTheParameters(t *testing.T) {
	data := Synthesize(trueBGNBD, trueGG, 10_000, 30, 365, 7)

	bg, err := FitBGNBD(data.Histories)
	if err != nil {
		t.Fatalf("fit BG/NBD: %v", err)
	}
	t.Logf("BG/NBD %+v se %v, %d iterations, status %s", bg.Params, bg.StdErr, bg.Stats.Iterations, bg.Stats.Status)
	checkRecovered(t, "BG/NBD", []string{"r", "alpha", "a", "b"}, trueBGNBD.vector(), bg.Params.vector(), bg.StdErr)
	atTruth := sumLL(data.Histories, trueBGNBD.LogLikelihood)
	if bg.Stats.LogLikelihood < atTruth {
		t.Errorf("BG/NBD log-likelihood at the fit %.4f < at the true parameters %.4f", bg.Stats.LogLikelihood, atTruth)
	}
	if got := sumLL(data.Histories, bg.Params.LogLikelihood); math.Abs(got-bg.Stats.LogLikelihood) > 1e-6*math.Abs(got) {
		t.Errorf("grouped log-likelihood %.6f != per-member sum %.6f", bg.Stats.LogLikelihood, got)
	}

	gg, err := FitGammaGamma(data.Spends)
	if err != nil {
		t.Fatalf("fit Gamma-Gamma: %v", err)
	}
	t.Logf("Gamma-Gamma %+v se %v over %d members, %d iterations, status %s", gg.Params, gg.StdErr, gg.Stats.Members, gg.Stats.Iterations, gg.Stats.Status)
	truth := []float64{trueGG.P, trueGG.Q, trueGG.Gamma}
	checkRecovered(t, "Gamma-Gamma", []string{"p", "q", "gamma"}, truth, []float64{gg.Params.P, gg.Params.Q, gg.Params.Gamma}, gg.StdErr)
	var repeaters []Spend
	for _, s := range data.Spends {
		if s.Frequency > 0 {
			repeaters = append(repeaters, s)
		}
	}
	if gg.Stats.Members != len(repeaters) {
		t.Errorf("Gamma-Gamma used %d members, want the %d with repeat purchases", gg.Stats.Members, len(repeaters))
	}
	if atTruth := sumLL(repeaters, trueGG.LogLikelihood); gg.Stats.LogLikelihood < atTruth {
		t.Errorf("Gamma-Gamma log-likelihood at the fit %.4f < at the true parameters %.4f", gg.Stats.LogLikelihood, atTruth)
	}
}

func checkRecovered(t *testing.T, model string, names []string, truth, got, se []float64) {
	t.Helper()
	if len(se) != len(truth) {
		t.Fatalf("%s: no standard errors (%v)", model, se)
	}
	for i, name := range names {
		if z := math.Abs(got[i]-truth[i]) / se[i]; !(z <= 4) {
			t.Errorf("%s %s = %.4f, true %.4f: %.1f standard errors (%.4f) away", model, name, got[i], truth[i], z, se[i])
		}
		// A standard error as large as the value would make the check
		// above one that cannot fail.
		if se[i] > 0.25*truth[i] {
			t.Errorf("%s %s: standard error %.4f is too wide for 10,000 members to test recovery", model, name, se[i])
		}
	}
}

func sumLL[T any](data []T, ll func(T) float64) float64 {
	s := 0.0
	for _, d := range data {
		s += ll(d)
	}
	return s
}
