package analytics

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mathext"
)

// Spend is one member's repeat purchases for the Gamma-Gamma model: how
// many and their mean value.
type Spend struct {
	Frequency int
	Mean      float64
}

// GammaGamma holds the Gamma-Gamma parameters: a purchase's value follows
// Gamma(P, ν) for a member, and ν follows Gamma(Q, Gamma) across members.
type GammaGamma struct {
	P, Q, Gamma float64
}

// ErrUnboundedSpend is returned when the fitted Q is at most 1: the model's
// mean spend is then infinite, and the data do not suit it.
var ErrUnboundedSpend = errors.New("the fitted q is at most 1, so the model's mean spend is unbounded")

// LogLikelihood is the member's log-likelihood under g (equation 3 of the
// paper, in logs, with the member's mean standing for the purchases).
func (g GammaGamma) LogLikelihood(s Spend) float64 {
	x := float64(s.Frequency)
	px := g.P * x
	lgPXQ, _ := math.Lgamma(px + g.Q)
	lgPX, _ := math.Lgamma(px)
	lgQ, _ := math.Lgamma(g.Q)
	return lgPXQ - lgPX - lgQ + g.Q*math.Log(g.Gamma) + (px-1)*math.Log(s.Mean) + px*math.Log(x) -
		(px+g.Q)*math.Log(g.Gamma+s.Mean*x)
}

// PopulationMeanSpend is the mean value of a purchase across members,
// p·γ/(q−1): the expected spend of a member without repeat purchases.
func (g GammaGamma) PopulationMeanSpend() float64 { return g.P * g.Gamma / (g.Q - 1) }

// ExpectedSpend is the expected value of the member's future purchases
// given s (equation 5 of the paper): a weighted mean of the population mean
// and the member's own, the member's weighing more the more purchases it
// has. Without repeat purchases it is the population mean.
func (g GammaGamma) ExpectedSpend(s Spend) float64 {
	x := float64(s.Frequency)
	if s.Frequency == 0 {
		return g.PopulationMeanSpend()
	}
	return g.P * (g.Gamma + x*s.Mean) / (g.P*x + g.Q - 1)
}

// GammaGammaFit is a fitted Gamma-Gamma model.
type GammaGammaFit struct {
	Params GammaGamma
	// StdErr holds the standard errors of P, Q and Gamma; nil where the
	// information matrix is singular.
	StdErr []float64
	Stats  FitStats
}

// FitGammaGamma fits the Gamma-Gamma model by maximum likelihood to the
// members with repeat purchases and a positive mean spend; the others carry
// no information about spend per purchase and are left out (Stats.Members
// says how many were used).
//
// It returns ErrNoData, ErrNotConverged or ErrUnboundedSpend, wrapped.
func FitGammaGamma(spends []Spend) (GammaGammaFit, error) {
	d := newGGData(spends)
	params, stats, err := maximize(d.logLikelihood, []string{"p", "q", "gamma"}, len(d.means), d.starts())
	fit := GammaGammaFit{Stats: stats}
	if params != nil {
		fit.Params = GammaGamma{P: params[0], Q: params[1], Gamma: params[2]}
	}
	if err != nil {
		return fit, err
	}
	if fit.Params.Q <= 1 {
		return fit, fmt.Errorf("%w (q = %.4g)", ErrUnboundedSpend, fit.Params.Q)
	}
	fit.StdErr, _ = standardErrors(d.logLikelihood, params)
	return fit, nil
}

// ggData keeps, per member with repeats, the index of its frequency among
// the distinct frequencies (the gamma functions depend on it alone) and
// log(mean).
type ggData struct {
	freqs           []float64
	freqOf          []int32
	means, logMeans []float64
	meanSpend       float64
}

func newGGData(spends []Spend) *ggData {
	d := &ggData{}
	idx := map[int]int32{}
	for _, s := range spends {
		if s.Frequency <= 0 || !(s.Mean > 0) || math.IsInf(s.Mean, 0) {
			continue
		}
		d.freqOf = append(d.freqOf, index(idx, s.Frequency, &d.freqs, float64(s.Frequency)))
		d.means = append(d.means, s.Mean)
		d.logMeans = append(d.logMeans, math.Log(s.Mean))
		d.meanSpend += s.Mean
	}
	if n := float64(len(d.means)); n > 0 {
		d.meanSpend /= n
	}
	return d
}

// starts put the population mean p·γ/(q−1) at the observed mean, for a few
// shapes.
func (d *ggData) starts() [][]float64 {
	m := math.Max(d.meanSpend, 1e-9)
	return [][]float64{
		{1, 3, 2 * m},
		{5, 5, 4 * m / 5},
		{0.5, 2, 2 * m},
	}
}

func (d *ggData) logLikelihood(params []float64) (float64, []float64) {
	p, q, gamma := params[0], params[1], params[2]
	type freqTerms struct{ base, dp, dq, px, x float64 }
	lgQ, _ := math.Lgamma(q)
	psiQ, logGamma := mathext.Digamma(q), math.Log(gamma)
	ft := make([]freqTerms, len(d.freqs))
	for i, x := range d.freqs {
		px := p * x
		lgPXQ, _ := math.Lgamma(px + q)
		lgPX, _ := math.Lgamma(px)
		psiPXQ := mathext.Digamma(px + q)
		ft[i] = freqTerms{
			base: lgPXQ - lgPX - lgQ + q*logGamma + px*math.Log(x),
			dp:   x * (psiPXQ - mathext.Digamma(px) + math.Log(x)),
			dq:   psiPXQ - psiQ + logGamma,
			px:   px, x: x,
		}
	}
	var ll, gp, gq, gg float64
	for i, m := range d.means {
		t := &ft[d.freqOf[i]]
		s := gamma + m*t.x
		logS := math.Log(s)
		ll += t.base + (t.px-1)*d.logMeans[i] - (t.px+q)*logS
		gp += t.dp + t.x*(d.logMeans[i]-logS)
		gq += t.dq - logS
		gg += q/gamma - (t.px+q)/s
	}
	return ll, []float64{gp, gq, gg}
}
