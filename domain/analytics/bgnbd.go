// Package analytics holds the buy-till-you-die models of member behaviour:
// BG/NBD (Fader, Hardie and Lee 2005, "Counting Your Customers the Easy
// Way") for how often a member buys and whether the member is still active,
// and Gamma-Gamma (Fader, Hardie and Lee 2005, "RFM and CLV") for how much
// the member spends per purchase. Both are fitted by maximum likelihood.
//
// Time is in the caller's unit (days or weeks); money in any unit, as long
// as it is the same throughout.
package analytics

import (
	"math"

	"gonum.org/v1/gonum/mathext"
)

// History is one member's purchase history in the models' terms.
type History struct {
	// Frequency is the number of repeat purchases (purchase days after the
	// first).
	Frequency int
	// Recency is the time from the first to the latest purchase (0 without
	// repeats).
	Recency float64
	// Age is the time from the first purchase to the end of observation (T).
	Age float64
}

// BGNBD holds the BG/NBD parameters: purchase rates follow Gamma(R, Alpha)
// across members, and the chance of dropping out after each purchase follows
// Beta(A, B).
type BGNBD struct {
	R, Alpha, A, B float64
}

func (p BGNBD) vector() []float64 { return []float64{p.R, p.Alpha, p.A, p.B} }

func bgnbdFrom(v []float64) BGNBD { return BGNBD{R: v[0], Alpha: v[1], A: v[2], B: v[3]} }

// LogLikelihood is the member's log-likelihood under p (equation 6 of the
// paper, in logs).
func (p BGNBD) LogLikelihood(h History) float64 {
	x := float64(h.Frequency)
	lgRX, _ := math.Lgamma(p.R + x)
	lgR, _ := math.Lgamma(p.R)
	a1 := lgRX - lgR + p.R*math.Log(p.Alpha)
	a2 := mathext.Lbeta(p.A, p.B+x) - mathext.Lbeta(p.A, p.B)
	a3 := -(p.R + x) * math.Log(p.Alpha+h.Age)
	if h.Frequency == 0 {
		return a1 + a2 + a3
	}
	a4 := math.Log(p.A) - math.Log(p.B+x-1) - (p.R+x)*math.Log(p.Alpha+h.Recency)
	return a1 + a2 + logAddExp(a3, a4)
}

// ProbabilityAlive is the probability that a member with history h is still
// active at the end of observation (equation 11 of the paper's note "Computing
// P(alive) using the BG/NBD model"). Without repeat purchases it is 1: in the
// model a member can only drop out after a repeat purchase.
func (p BGNBD) ProbabilityAlive(h History) float64 {
	if h.Frequency == 0 {
		return 1
	}
	return 1 / (1 + p.deadOdds(h))
}

// deadOdds is the odds that the member dropped out after the latest purchase:
// a/(b+x-1) * ((alpha+T)/(alpha+t_x))^(r+x).
func (p BGNBD) deadOdds(h History) float64 {
	x := float64(h.Frequency)
	return math.Exp(math.Log(p.A/(p.B+x-1)) + (p.R+x)*(math.Log(p.Alpha+h.Age)-math.Log(p.Alpha+h.Recency)))
}

// ExpectedPurchases is the number of purchases a member with history h is
// expected to make in the next t time units (equation 10 of the paper).
func (p BGNBD) ExpectedPurchases(h History, t float64) float64 {
	if t <= 0 {
		return 0
	}
	x := float64(h.Frequency)
	z := t / (p.Alpha + h.Age + t)
	hyp := mathext.Hypergeo(p.R+x, p.B+x, p.A+p.B+x-1, z)
	ratio := math.Exp((p.R + x) * (math.Log(p.Alpha+h.Age) - math.Log(p.Alpha+h.Age+t)))
	num := (p.A + p.B + x - 1) / (p.A - 1) * (1 - ratio*hyp)
	den := 1.0
	if h.Frequency > 0 {
		den += p.deadOdds(h)
	}
	return num / den
}

// logAddExp is log(exp(a) + exp(b)) without overflow.
func logAddExp(a, b float64) float64 {
	if a < b {
		a, b = b, a
	}
	return a + math.Log1p(math.Exp(b-a))
}
