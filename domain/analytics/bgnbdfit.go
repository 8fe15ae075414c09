package analytics

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mathext"
)

// BGNBDFit is a fitted BG/NBD model.
type BGNBDFit struct {
	Params BGNBD
	// StdErr holds the standard errors of R, Alpha, A and B, from the
	// observed information; nil where the information matrix is singular.
	StdErr []float64
	Stats  FitStats
}

// FitBGNBD fits the BG/NBD model to the histories by maximum likelihood.
// Members without repeat purchases count: they say how many never come back.
//
// It returns ErrNoData (wrapped) for fewer than two histories and
// ErrNotConverged (wrapped, with the best fit found) when no start reaches
// a maximum.
func FitBGNBD(histories []History) (BGNBDFit, error) {
	d := newBGNBDData(histories)
	if err := d.noRepeats(); err != nil {
		return BGNBDFit{Stats: FitStats{Members: len(histories)}}, err
	}
	params, stats, err := maximize(d.logLikelihood, []string{"r", "alpha", "a", "b"}, len(histories), d.starts())
	fit := BGNBDFit{Stats: stats}
	if params != nil {
		fit.Params = bgnbdFrom(params)
	}
	if err != nil {
		return fit, err
	}
	fit.StdErr, _ = standardErrors(d.logLikelihood, params)
	return fit, nil
}

// bgnbdData is the histories grouped by identical (frequency, recency, age),
// with the distinct values of each kept apart: the expensive terms of the
// likelihood depend on one of them only, so each is computed once per
// distinct value and evaluation, not once per member.
type bgnbdData struct {
	freqs, recencies, ages []float64
	groups                 []bgnbdGroup
	meanFreq, meanAge      float64
}

type bgnbdGroup struct {
	freq, recency, age int32
	weight             float64
}

func newBGNBDData(hs []History) *bgnbdData {
	d := &bgnbdData{}
	freqIdx, recIdx, ageIdx := map[int]int32{}, map[float64]int32{}, map[float64]int32{}
	type key struct{ f, r, a int32 }
	groupIdx := map[key]int{}
	for _, h := range hs {
		k := key{
			index(freqIdx, h.Frequency, &d.freqs, float64(h.Frequency)),
			index(recIdx, h.Recency, &d.recencies, h.Recency),
			index(ageIdx, h.Age, &d.ages, h.Age),
		}
		i, ok := groupIdx[k]
		if !ok {
			i = len(d.groups)
			groupIdx[k] = i
			d.groups = append(d.groups, bgnbdGroup{freq: k.f, recency: k.r, age: k.a})
		}
		d.groups[i].weight++
		d.meanFreq += float64(h.Frequency)
		d.meanAge += h.Age
	}
	if n := float64(len(hs)); n > 0 {
		d.meanFreq /= n
		d.meanAge /= n
	}
	return d
}

// noRepeats is ErrNoData when no member has a repeat purchase: the
// purchase rate cannot be told from the histories then, and the optimiser
// would return whatever it stopped at.
func (d *bgnbdData) noRepeats() error {
	if len(d.groups) > 0 && d.meanFreq == 0 {
		return fmt.Errorf("%w: no member has a repeat purchase, so the purchase rate cannot be estimated; fit again when some have", ErrNoData)
	}
	return nil
}

// index is k's position in values, appending v (k's value) the first time
// k is seen.
func index[K comparable, V any](m map[K]int32, k K, values *[]V, v V) int32 {
	i, ok := m[k]
	if !ok {
		i = int32(len(*values))
		m[k] = i
		*values = append(*values, v)
	}
	return i
}

// starts are the starting points tried in turn: the purchase rate's mean
// r/alpha near the observed repeat rate, and a dropout probability with
// mean a/(a+b) of one in three, then wider guesses.
func (d *bgnbdData) starts() [][]float64 {
	rate := math.Max(d.meanFreq, 0.01) / math.Max(d.meanAge, 1)
	return [][]float64{
		{1, 1 / rate, 1, 2},
		{0.5, 0.5 / rate, 0.5, 5},
		{0.1, 0.1 / rate, 2, 2},
	}
}

// logLikelihood sums the members' log-likelihoods at params (R, Alpha, A,
// B) and returns the gradient with respect to them.
func (d *bgnbdData) logLikelihood(params []float64) (float64, []float64) {
	r, alpha, a, b := params[0], params[1], params[2], params[3]
	type freqTerms struct{ base, dr, da, db, logA4, db4, rx float64 }
	lgR, _ := math.Lgamma(r)
	lbAB := mathext.Lbeta(a, b)
	psiR, psiAB := mathext.Digamma(r), mathext.Digamma(a+b)
	ft := make([]freqTerms, len(d.freqs))
	for i, x := range d.freqs {
		lgRX, _ := math.Lgamma(r + x)
		psiABX := mathext.Digamma(a + b + x)
		t := freqTerms{
			base: lgRX - lgR + r*math.Log(alpha) + mathext.Lbeta(a, b+x) - lbAB,
			dr:   mathext.Digamma(r+x) - psiR + math.Log(alpha),
			da:   psiAB - psiABX,
			db:   psiAB + mathext.Digamma(b+x) - mathext.Digamma(b) - psiABX,
			rx:   r + x,
		}
		if x > 0 {
			t.logA4, t.db4 = math.Log(a)-math.Log(b+x-1), -1/(b+x-1)
		}
		ft[i] = t
	}
	logAge, invAge := logsAndInverses(d.ages, alpha)
	logRec, invRec := logsAndInverses(d.recencies, alpha)
	dalpha := r / alpha
	var ll, gr, galpha, ga, gb float64
	for _, g := range d.groups {
		t := &ft[g.freq]
		a3 := -t.rx * logAge[g.age]
		l, w4 := a3, 0.0
		if d.freqs[g.freq] > 0 {
			a4 := t.logA4 - t.rx*logRec[g.recency]
			l = logAddExp(a3, a4)
			w4 = math.Exp(a4 - l)
		}
		w3 := 1 - w4
		ll += g.weight * (t.base + l)
		gr += g.weight * (t.dr - w3*logAge[g.age] - w4*logRec[g.recency])
		galpha += g.weight * (dalpha - t.rx*(w3*invAge[g.age]+w4*invRec[g.recency]))
		ga += g.weight * (t.da + w4/a)
		gb += g.weight * (t.db + w4*t.db4)
	}
	return ll, []float64{gr, galpha, ga, gb}
}

// logsAndInverses returns log(alpha+v) and 1/(alpha+v) for each v.
func logsAndInverses(values []float64, alpha float64) (logs, inverses []float64) {
	logs, inverses = make([]float64, len(values)), make([]float64, len(values))
	for i, v := range values {
		logs[i], inverses[i] = math.Log(alpha+v), 1/(alpha+v)
	}
	return logs, inverses
}
