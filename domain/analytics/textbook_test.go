package analytics

import (
	"math"
	"testing"

	"gonum.org/v1/gonum/diff/fd"
)

// The parameters Fader, Hardie and Lee report for the CDNOW data set, in
// weeks ("Counting Your Customers the Easy Way", 2005, and "RFM and CLV",
// 2005).
var (
	cdnowBGNBD = BGNBD{R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426}
	cdnowGG    = GammaGamma{P: 6.25, Q: 3.74, Gamma: 15.44}
)

// hyp2f1 sums the Gauss hypergeometric series term by term, as one would by
// hand: Σ (a)_j (b)_j / (c)_j z^j / j!.
func hyp2f1(a, b, c, z float64) float64 {
	sum, term := 1.0, 1.0
	for j := 0.0; j < 10_000; j++ {
		term *= (a + j) * (b + j) / ((c + j) * (j + 1)) * z
		sum += term
		if math.Abs(term) < 1e-16*math.Abs(sum) {
			break
		}
	}
	return sum
}

func TestBGNBDClosedFormsByHand(t *testing.T) {
	p := cdnowBGNBD
	for _, h := range []History{
		{Frequency: 2, Recency: 30.43, Age: 38.86}, // the paper's worked example
		{Frequency: 0, Recency: 0, Age: 38.86},
		{Frequency: 1, Recency: 2, Age: 70},
		{Frequency: 15, Recency: 60, Age: 61},
	} {
		x, r, alpha, a, b := float64(h.Frequency), p.R, p.Alpha, p.A, p.B
		odds := 0.0
		if h.Frequency > 0 {
			odds = a / (b + x - 1) * math.Pow((alpha+h.Age)/(alpha+h.Recency), r+x)
		}
		wantAlive := 1 / (1 + odds)
		if got := p.ProbabilityAlive(h); math.Abs(got-wantAlive) > 1e-12 {
			t.Errorf("%+v: P(alive) = %.12f, by hand %.12f", h, got, wantAlive)
		}
		for _, tt := range []float64{1, 39, 52} {
			z := tt / (alpha + h.Age + tt)
			want := (a + b + x - 1) / (a - 1) *
				(1 - math.Pow((alpha+h.Age)/(alpha+h.Age+tt), r+x)*hyp2f1(r+x, b+x, a+b+x-1, z)) / (1 + odds)
			if got := p.ExpectedPurchases(h, tt); math.Abs(got-want) > 1e-9*math.Max(1, want) {
				t.Errorf("%+v: E[Y(%g)] = %.10f, by hand %.10f", h, tt, got, want)
			}
		}
		// Equation 6 of the paper in its own (product) form.
		front := math.Gamma(r+x) * math.Pow(alpha, r) / math.Gamma(r)
		l := mathBeta(a, b+x) / mathBeta(a, b) * front / math.Pow(alpha+h.Age, r+x)
		if h.Frequency > 0 {
			l += mathBeta(a+1, b+x-1) / mathBeta(a, b) * front / math.Pow(alpha+h.Recency, r+x)
		}
		if got := p.LogLikelihood(h); math.Abs(got-math.Log(l)) > 1e-10 {
			t.Errorf("%+v: log-likelihood %.12f, by hand %.12f", h, got, math.Log(l))
		}
	}
	// The paper: "a customer who made 2 repeat purchases, the last at week
	// 30.43, observed for 38.86 weeks, is expected to make 1.226 purchases
	// in the next 39 weeks".
	if got := p.ExpectedPurchases(History{Frequency: 2, Recency: 30.43, Age: 38.86}, 39); math.Abs(got-1.226) > 0.0005 {
		t.Errorf("the paper's example: E[Y(39)] = %.4f, the paper says 1.226", got)
	}
}

func mathBeta(a, b float64) float64 { return math.Gamma(a) * math.Gamma(b) / math.Gamma(a+b) }

func TestGammaGammaClosedFormsByHand(t *testing.T) {
	g := cdnowGG
	population := g.P * g.Gamma / (g.Q - 1)
	if got := g.PopulationMeanSpend(); math.Abs(got-population) > 1e-12 {
		t.Errorf("population mean %.6f, by hand %.6f", got, population)
	}
	for _, s := range []Spend{{1, 10}, {2, 30}, {6, 55.5}, {0, 0}} {
		x, m := float64(s.Frequency), s.Mean
		// The paper writes the expectation as a weighted mean of the
		// population mean and the member's own mean.
		w := g.P * x / (g.P*x + g.Q - 1)
		want := (1-w)*population + w*m
		if got := g.ExpectedSpend(s); math.Abs(got-want) > 1e-9 {
			t.Errorf("%+v: expected spend %.9f, by hand %.9f", s, got, want)
		}
		if s.Frequency == 0 {
			continue
		}
		px := g.P * x
		density := math.Gamma(px+g.Q) / (math.Gamma(px) * math.Gamma(g.Q)) * math.Pow(g.Gamma, g.Q) *
			math.Pow(m, px-1) * math.Pow(x, px) / math.Pow(g.Gamma+m*x, px+g.Q)
		if got := g.LogLikelihood(s); math.Abs(got-math.Log(density)) > 1e-9 {
			t.Errorf("%+v: log-likelihood %.10f, by hand %.10f", s, got, math.Log(density))
		}
	}
}

// TestGradientsMatchFiniteDifferences checks the analytic gradients the
// optimiser relies on against central differences of the likelihood.
func TestGradientsMatchFiniteDifferences(t *testing.T) {
	data := Synthesize(trueBGNBD, trueGG, 2_000, 30, 365, 3)
	cases := []struct {
		name string
		ll   objective
		at   []float64
	}{
		{"BG/NBD", newBGNBDData(data.Histories).logLikelihood, []float64{0.4, 6, 1.3, 2}},
		{"Gamma-Gamma", newGGData(data.Spends).logLikelihood, []float64{3, 5, 20}},
	}
	for _, c := range cases {
		_, got := c.ll(c.at)
		want := fd.Gradient(nil, func(x []float64) float64 { v, _ := c.ll(x); return v }, c.at, &fd.Settings{Formula: fd.Central})
		for i := range want {
			if math.Abs(got[i]-want[i]) > 1e-5*math.Max(1, math.Abs(want[i])) {
				t.Errorf("%s: d/dθ%d = %.6f, finite differences %.6f", c.name, i, got[i], want[i])
			}
		}
	}
}

func TestPredictValueDiscountsMonthByMonth(t *testing.T) {
	h := History{Frequency: 4, Recency: 200, Age: 240}
	v := ValueSettings{Months: 12, MonthLength: 30, AnnualDiscountRate: 0.12, Margin: 0.3}
	got := PredictValue(trueBGNBD, h, 2500, v)
	monthly := math.Pow(1.12, 1.0/12) - 1
	want := 0.0
	for m := 1; m <= 12; m++ {
		inMonth := trueBGNBD.ExpectedPurchases(h, float64(m)*30) - trueBGNBD.ExpectedPurchases(h, float64(m-1)*30)
		want += inMonth * 2500 * 0.3 / math.Pow(1+monthly, float64(m))
	}
	if math.Abs(got.Discounted-want) > 1e-9 {
		t.Errorf("discounted value %.6f, by hand %.6f", got.Discounted, want)
	}
	if purchases := trueBGNBD.ExpectedPurchases(h, 360); math.Abs(got.Purchases-purchases) > 1e-12 {
		t.Errorf("purchases %.6f, want E[Y(360)] %.6f", got.Purchases, purchases)
	}
	// Undiscounted, it is the plain product.
	v.AnnualDiscountRate = 0
	if plain := PredictValue(trueBGNBD, h, 2500, v); math.Abs(plain.Discounted-got.Purchases*2500*0.3) > 1e-6 {
		t.Errorf("undiscounted value %.6f, want purchases × spend × margin %.6f", plain.Discounted, got.Purchases*2500*0.3)
	}
}

func TestFitErrors(t *testing.T) {
	if _, err := FitBGNBD([]History{{Age: 10}}); err == nil {
		t.Error("a BG/NBD fit of one member succeeded")
	}
	if _, err := FitGammaGamma([]Spend{{Frequency: 0}, {Frequency: 3, Mean: 0}}); err == nil {
		t.Error("a Gamma-Gamma fit without a member with repeats and spend succeeded")
	}
}

// The closed forms stay finite, non-negative and increasing in t over the
// histories a program produces (in days, so x repeats take at least x
// days), a first purchase on the as-of date and hundreds of repeats
// included.
func TestClosedFormsAreFiniteOverRealisticHistories(t *testing.T) {
	for _, p := range []BGNBD{trueBGNBD, cdnowBGNBD, {R: 2, Alpha: 0.5, A: 3, B: 0.4}} {
		for _, x := range []int{0, 1, 5, 50, 300} {
			for _, age := range []float64{0, 1, 30, 365, 1000} {
				for _, rec := range []float64{0, age / 2, age} {
					// Purchase days are distinct days: x repeats take x days.
					if x > 0 && (rec == 0 || float64(x) > rec) {
						continue
					}
					h := History{Frequency: x, Recency: rec, Age: age}
					alive := p.ProbabilityAlive(h)
					prev := 0.0
					for _, tt := range []float64{1, 30, 90, 365} {
						e := p.ExpectedPurchases(h, tt)
						if math.IsNaN(e) || math.IsInf(e, 0) || e < prev-1e-9 {
							t.Errorf("%+v %+v: E[Y(%g)] = %g after %g", p, h, tt, e, prev)
						}
						prev = e
					}
					if !(alive >= 0 && alive <= 1) {
						t.Errorf("%+v %+v: P(alive) = %g", p, h, alive)
					}
				}
			}
		}
	}
}

func TestHypergeoNextCBySeries(t *testing.T) {
	for _, c := range []struct{ a, b, z float64 }{
		{1.2, 1.6, 0.1}, {0.55 + 0.6 + 3, 1.6, 0.5}, {2.5, 0.7, 0.9}, {10, 3, 0.99}, {2.8, 2.5, 0.95}, {40, 1.5, 0.6}, {1, 1, 0},
	} {
		want := math.Log(hyp2f1(c.a, c.b, c.a+1, c.z))
		if got := logHypergeoNextC(c.a, c.b, c.z); math.Abs(got-want) > 1e-12*math.Max(1, math.Abs(want)) {
			t.Errorf("log 2F1(%g, %g; %g; %g) = %.15g, by the series %.15g", c.a, c.b, c.a+1, c.z, got, want)
		}
	}
}

// TestHypergeoIntegralAgreesWithTheSeries checks the quadrature against the
// series where both work, far into the regions a fit goes.
func TestHypergeoIntegralAgreesWithTheSeries(t *testing.T) {
	for _, a := range []float64{0.2, 0.9, 1.6, 5, 40, 400} {
		for _, bShare := range []float64{0.05, 0.5, 0.99} {
			b := bShare * (a + 1)
			for _, z := range []float64{0.3, 0.9, 0.99, 0.999} {
				want, got := logHypergeoSeries(a, b, z), logHypergeoIntegral(a, b, z)
				if math.Abs(got-want) > 1e-12*math.Max(1, math.Abs(want)) {
					t.Errorf("log 2F1(%g, %g; %g; %g): quadrature %.15g, series %.15g", a, b, a+1, z, got, want)
				}
			}
		}
	}
}

// TestHypergeoNearOne checks log 2F1(a, b; a+1; z) where z nears 1 against
// values computed with mpmath at 30 digits from the same float64 inputs
// (the series' rounding errors
// add up over its millions of terms there).
func TestHypergeoNearOne(t *testing.T) {
	for _, c := range []struct{ a, b, z, want float64 }{
		{0.2, 0.06, 0.99999, 0.018003172797054548976},
		{0.2, 1.188, 0.99999, 2.2189483982085559211},
		{0.9, 0.95, 0.99999, 2.08350416940979056},
		{1.6, 1.3, 0.99999, 5.086147011873508315},
		{5, 0.3, 0.99999, 0.76338907626209728396},
		{40, 20.5, 0.99999, 225.22050047454609637},
		{400, 20.05, 0.99999, 222.36541652567671198},
		{400, 200.5, 0.99999, 2297.5242704725429362},
		{400, 396.99, 0.999999, 5470.8141014154315212},
		{370.6, 1.55, 0.9999997, 14.760689145183611175},
		{0.75, 0.3, 0.9999999, 0.29787677754529406093},
	} {
		if got := logHypergeoNextC(c.a, c.b, c.z); math.Abs(got-c.want) > 1e-12*math.Max(1, math.Abs(c.want)) {
			t.Errorf("log 2F1(%g, %g; %g; %g) = %.15g, mpmath %.15g", c.a, c.b, c.a+1, c.z, got, c.want)
		}
	}
}
