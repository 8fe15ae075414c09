package analytics

import (
	"math"

	"gonum.org/v1/gonum/mathext"
)

// ParetoNBD holds the Pareto/NBD parameters (Schmittlein, Morrison and
// Colombo 1987): while active a member buys at a rate that follows
// Gamma(R, Alpha) across members, and drops out after an exponential
// lifetime whose rate follows Gamma(S, Beta). Unlike BG/NBD a member may
// drop out at any moment, before any repeat purchase too.
//
// The expressions are those of Fader and Hardie's note "A Note on Deriving
// the Pareto/NBD Model and Related Expressions" (2005), equations 18-20
// (likelihood), 36-37 (probability alive) and 41 (expected purchases).
type ParetoNBD struct {
	R, Alpha, S, Beta float64
}

// Name is how the model is recorded.
func (p ParetoNBD) Name() string { return ModelParetoNBD }

func (p ParetoNBD) vector() []float64 { return []float64{p.R, p.Alpha, p.S, p.Beta} }

func paretoNBDFrom(v []float64) ParetoNBD {
	return ParetoNBD{R: v[0], Alpha: v[1], S: v[2], Beta: v[3]}
}

// LogLikelihood is the member's log-likelihood under p (equation 18).
func (p ParetoNBD) LogLikelihood(h History) float64 {
	x := float64(h.Frequency)
	return p.logFront(x) + p.logTail(x, h.Age, p.logA0(x, h.Recency, h.Age))
}

// logFront is the part of the likelihood that depends on the frequency
// only: Γ(r+x) α^r β^s / Γ(r).
func (p ParetoNBD) logFront(x float64) float64 {
	lgRX, _ := math.Lgamma(p.R + x)
	lgR, _ := math.Lgamma(p.R)
	return lgRX - lgR + p.R*math.Log(p.Alpha) + p.S*math.Log(p.Beta)
}

// logTail is log of 1/((α+T)^(r+x) (β+T)^s) + s/(r+s+x)·A0: alive at T, or
// gone between the latest purchase and T.
func (p ParetoNBD) logTail(x, age, logA0 float64) float64 {
	return logAddExp(p.logAliveAt(x, age), math.Log(p.S)-math.Log(p.R+p.S+x)+logA0)
}

func (p ParetoNBD) logAliveAt(x, age float64) float64 {
	return -(p.R+x)*math.Log(p.Alpha+age) - p.S*math.Log(p.Beta+age)
}

// logA0 is log A0 of equations 19 and 20: F(t_x) − F(T), both terms from
// logF.
func (p ParetoNBD) logA0(x, recency, age float64) float64 {
	return logSubExp(p.logF(x, recency), p.logF(x, age))
}

// logF is log of 2F1(r+s+x, b; r+s+x+1; |α−β|/(m+t)) / (m+t)^(r+s+x), with
// m the larger of α and β and b = r+x when α < β, s+1 otherwise: the form
// that keeps the hypergeometric function's argument in [0, 1).
func (p ParetoNBD) logF(x, t float64) float64 {
	rsx := p.R + p.S + x
	m, b := p.Alpha, p.S+1
	if p.Alpha < p.Beta {
		m, b = p.Beta, p.R+x
	}
	z := math.Abs(p.Alpha-p.Beta) / (m + t)
	return math.Log(mathext.Hypergeo(rsx, b, rsx+1, z)) - rsx*math.Log(m+t)
}

// ProbabilityAlive is the probability that a member with history h is still
// active at the end of observation (equation 37).
func (p ParetoNBD) ProbabilityAlive(h History) float64 {
	x := float64(h.Frequency)
	logOdds := math.Log(p.S) - math.Log(p.R+p.S+x) + p.logA0(x, h.Recency, h.Age) - p.logAliveAt(x, h.Age)
	return 1 / (1 + math.Exp(logOdds))
}

// ExpectedPurchases is the number of purchases a member with history h is
// expected to make in the next t time units (equation 41): the purchases
// of a member still active, times the probability that the member is.
func (p ParetoNBD) ExpectedPurchases(h History, t float64) float64 {
	if t <= 0 {
		return 0
	}
	x, age := float64(h.Frequency), h.Age
	return p.ProbabilityAlive(h) * (p.R + x) * (p.Beta + age) / (p.Alpha + age) * lifetimeShare(p.S, t/(p.Beta+age))
}

// lifetimeShare is [1 − (1+u)^−(s−1)]/(s−1), the expected share of the next
// t = u·(β+T) time units a member active now stays active, in units of
// (β+T); log(1+u) in the limit s = 1.
func lifetimeShare(s, u float64) float64 {
	l := math.Log1p(u)
	if math.Abs(s-1) < 1e-9 {
		return l
	}
	return -math.Expm1(-(s-1)*l) / (s - 1)
}

// logSubExp is log(exp(a) − exp(b)) for a ≥ b; −Inf when they are equal.
func logSubExp(a, b float64) float64 {
	if b >= a {
		return math.Inf(-1)
	}
	return a + math.Log(-math.Expm1(b-a))
}
