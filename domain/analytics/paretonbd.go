package analytics

import "math"

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
	return logHypergeoNextC(rsx, b, z) - rsx*math.Log(m+t)
}

// logHypergeoNextC is log 2F1(a, b; a+1; z) for a, b > 0 and 0 <= z < 1,
// the one hypergeometric function the Pareto/NBD needs. A general routine
// (Cephes' hyp2f1, as in gonum's mathext) takes thousands of times longer
// where a fit often goes, z near 1 with a or b large, and loses accuracy
// there, which numerical gradients cannot bear.
func logHypergeoNextC(a, b, z float64) float64 {
	if z <= 0.95 {
		return logHypergeoSeries(a, b, z)
	}
	return logHypergeoIntegral(a, b, z)
}

// logHypergeoSeries sums Euler's transformation (1−z)^(1−b) · Σ_j
// (a+1−b)_j / (a+1)_j · z^j. The Pareto/NBD's a+1−b is positive, so the
// terms are positive and fall by at least z each: at most some 800 terms
// for z <= 0.95.
func logHypergeoSeries(a, b, z float64) float64 {
	sum, term := 1.0, 1.0
	for j := 0.0; term*z >= (1-z)*sum*0x1p-53; j++ {
		term *= (a + 1 - b + j) / (a + 1 + j) * z
		sum += term
	}
	return (1-b)*math.Log1p(-z) + math.Log(sum)
}

// logHypergeoIntegral is the same function by quadrature, from Euler's
// transformation and integral: (1−z)^(1−b) / B(a+1−b, b) · ∫₀¹ w^(a−b)
// (1−w)^(b−1) / (1−zw) dw. In this form the factor that is nearly
// singular as z nears 1 is only 1/(1−zw), tempered by (1−w)^(b−1). The
// tanh-sinh rule's nodes crowd double-exponentially at both ends, where
// the powers of w and 1−w are singular or fall steeply; 1−w is computed
// apart from w, so that 1−zw keeps its digits.
func logHypergeoIntegral(a, b, z float64) float64 {
	terms := make([]float64, 0, len(tanhSinhLevels[0]))
	add := func(level []tanhSinhNode) {
		for _, n := range level {
			terms = append(terms, n.logWeight+(a-b)*n.logW+(b-1)*n.log1mW-math.Log((1-z)+z*n.oneMinusW))
		}
	}
	// Beyond the outermost nodes w^(a−b) and (1−w)^(b−1) may still hold
	// mass (a+1−b or b near 0): there the integrand is the power alone.
	tails := logAddExp((a-b+1)*tanhSinhEdge-math.Log(a-b+1), b*tanhSinhEdge-math.Log(b)-math.Log1p(-z))
	// Halve the step until two estimates agree: the error of each is about
	// the square of the previous one's, so agreement to 1e-9 leaves far
	// less. A peaked integrand (a and b both large) needs the finer steps.
	var estimate float64
	for level, nodes := range tanhSinhLevels {
		add(nodes)
		previous := estimate
		estimate = logAddExp(math.Log(tanhSinhStep(level))+logSumExp(terms), tails)
		if level > 0 && math.Abs(estimate-previous) < 1e-9 {
			break
		}
	}
	lgA1B, _ := math.Lgamma(a + 1 - b)
	lgB, _ := math.Lgamma(b)
	lgA1, _ := math.Lgamma(a + 1)
	return (1-b)*math.Log1p(-z) + lgA1 - lgA1B - lgB + estimate
}

// tanhSinhNode is a node of the tanh-sinh rule on [0, 1], in logs: w and
// 1−w are computed apart, since either underflows at the far nodes.
type tanhSinhNode struct {
	logWeight, logW, log1mW, oneMinusW float64
}

// tanhSinhLevels are the rule's nodes, computed once: level 0 at steps of
// 1/8 over [−tanhSinhEnd, tanhSinhEnd], each later level the midpoints of
// the one before, down to steps of 1/512.
var tanhSinhLevels = func() [][]tanhSinhNode {
	node := func(t float64) tanhSinhNode {
		u := math.Pi / 2 * math.Sinh(t)
		// w = (1+tanh u)/2 = 1/(1+e^(−2u)), 1−w = 1/(1+e^(2u)),
		// dw/dt = (π/2)·cosh t / (2·cosh² u).
		n := tanhSinhNode{logW: -softplus(-2 * u), log1mW: -softplus(2 * u),
			logWeight: math.Log(math.Pi/2*math.Cosh(t)) - 2*logCosh(u) - math.Ln2}
		n.oneMinusW = math.Exp(n.log1mW)
		return n
	}
	levels := make([][]tanhSinhNode, 7)
	for level := range levels {
		step, first := tanhSinhStep(level), -tanhSinhEnd
		if level > 0 {
			step, first = tanhSinhStep(level-1), -tanhSinhEnd+tanhSinhStep(level)
		}
		for t := first; t <= tanhSinhEnd; t += step {
			levels[level] = append(levels[level], node(t))
		}
	}
	return levels
}()

func tanhSinhStep(level int) float64 { return 1.0 / float64(int(8)<<level) }

// tanhSinhEdge is log w at the first node, and log(1−w) at the last.
var tanhSinhEdge = -softplus(math.Pi * math.Sinh(tanhSinhEnd))

// tanhSinhEnd bounds the tanh-sinh rule: at t = ±8 its nodes are within
// e^−4682 of the ends (in logs: w itself would underflow).
const tanhSinhEnd = 8.0

func softplus(x float64) float64 { return math.Max(x, 0) + math.Log1p(math.Exp(-math.Abs(x))) }

func logCosh(u float64) float64 {
	u = math.Abs(u)
	return u + math.Log1p(math.Exp(-2*u)) - math.Ln2
}

func logSumExp(v []float64) float64 {
	m := math.Inf(-1)
	for _, x := range v {
		m = math.Max(m, x)
	}
	if math.IsInf(m, 0) {
		return m
	}
	sum := 0.0
	for _, x := range v {
		sum += math.Exp(x - m)
	}
	return m + math.Log(sum)
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
