package analytics

import (
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// Confidence is the level of the intervals below: 95%, two-sided.
const Confidence = 0.95

// Power is the chance the sample sizes below give of seeing an effect of
// the size asked for: 80%.
const Power = 0.80

// zOf is the standard normal quantile at p.
func zOf(p float64) float64 { return distuv.UnitNormal.Quantile(p) }

// Interval is an estimate of a difference (an arm less control) with its
// 95% confidence interval.
type Interval struct {
	Estimate, Low, High float64
}

// Excludes reports whether the interval lies wholly on one side of v.
func (i Interval) Excludes(v float64) bool { return v < i.Low || v > i.High }

// Wilson is the Wilson score interval of a proportion x/n.
func Wilson(x, n int) (low, high float64) {
	if n == 0 {
		return 0, 1
	}
	z := zOf(1 - (1-Confidence)/2)
	p, nf := float64(x)/float64(n), float64(n)
	center := (p + z*z/(2*nf)) / (1 + z*z/nf)
	half := z / (1 + z*z/nf) * math.Sqrt(p*(1-p)/nf+z*z/(4*nf*nf))
	return math.Max(0, center-half), math.Min(1, center+half)
}

// ProportionDifference is x1/n1 - x0/n0 with Newcombe's hybrid score
// interval (method 10 of Newcombe 1998), built from the two Wilson
// intervals: it keeps its coverage for small counts and proportions near 0
// or 1, where the Wald interval does not.
func ProportionDifference(x1, n1, x0, n0 int) Interval {
	if n1 == 0 || n0 == 0 {
		return Interval{Estimate: math.NaN(), Low: math.NaN(), High: math.NaN()}
	}
	p1, p0 := float64(x1)/float64(n1), float64(x0)/float64(n0)
	l1, u1 := Wilson(x1, n1)
	l0, u0 := Wilson(x0, n0)
	d := p1 - p0
	return Interval{Estimate: d,
		Low:  d - math.Sqrt((p1-l1)*(p1-l1)+(u0-p0)*(u0-p0)),
		High: d + math.Sqrt((u1-p1)*(u1-p1)+(p0-l0)*(p0-l0))}
}

// Summary is a sample's size, mean and (n-1) variance.
type Summary struct {
	N              int
	Mean, Variance float64
}

// Add puts one value in the summary (Welford's update, stable for money
// in minor units).
func (s *Summary) Add(v float64) {
	s.N++
	d := v - s.Mean
	s.Mean += d / float64(s.N)
	if s.N > 1 {
		s.Variance += (d*(v-s.Mean) - s.Variance) / float64(s.N-1)
	}
}

// MeanDifference is a1's mean less a0's with Welch's interval: Student's t
// with the Welch-Satterthwaite degrees of freedom, which does not assume
// the arms' variances equal.
func MeanDifference(a1, a0 Summary) Interval {
	d := a1.Mean - a0.Mean
	if a1.N < 2 || a0.N < 2 {
		return Interval{Estimate: d, Low: math.NaN(), High: math.NaN()}
	}
	v1, v0 := a1.Variance/float64(a1.N), a0.Variance/float64(a0.N)
	se := math.Sqrt(v1 + v0)
	if se == 0 {
		return Interval{Estimate: d, Low: d, High: d}
	}
	df := (v1 + v0) * (v1 + v0) / (v1*v1/float64(a1.N-1) + v0*v0/float64(a0.N-1))
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: df}.Quantile(1 - (1-Confidence)/2)
	return Interval{Estimate: d, Low: d - t*se, High: d + t*se}
}

// MaxMembersNeeded bounds the sample sizes below: a change too small to
// see with that many members per arm is reported as 0, not measurable.
const MaxMembersNeeded = 1_000_000_000

// membersNeeded is n rounded up, or 0 when it is beyond MaxMembersNeeded
// or not a number.
func membersNeeded(n float64) int {
	if !(n >= 0) || n > MaxMembersNeeded {
		return 0
	}
	return int(math.Ceil(n))
}

// MembersForProportions is how many members each of two equal arms needs
// to tell p0 from p1 at 95% two-sided, with 80% power (the normal
// approximation); 0 when they are equal, out of range or the difference is
// too small to measure (MaxMembersNeeded).
func MembersForProportions(p0, p1 float64) int {
	if p0 == p1 || p0 < 0 || p0 > 1 || p1 < 0 || p1 > 1 {
		return 0
	}
	za, zb := zOf(1-(1-Confidence)/2), zOf(Power)
	pbar := (p0 + p1) / 2
	n := za*math.Sqrt(2*pbar*(1-pbar)) + zb*math.Sqrt(p0*(1-p0)+p1*(1-p1))
	return membersNeeded(n * n / ((p1 - p0) * (p1 - p0)))
}

// MembersForMeans is how many members each of two equal arms needs to see
// a difference delta in a mean whose standard deviation is sd, at 95%
// two-sided with 80% power; 0 when delta is 0 or too small to measure.
func MembersForMeans(sd, delta float64) int {
	if delta == 0 || !(sd >= 0) {
		return 0
	}
	z := zOf(1-(1-Confidence)/2) + zOf(Power)
	return membersNeeded(2 * z * z * sd * sd / (delta * delta))
}
