package analytics

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"

	"gonum.org/v1/gonum/diff/fd"
)

// ParetoNBDFit is a fitted Pareto/NBD model.
type ParetoNBDFit struct {
	Params ParetoNBD
	// StdErr holds the standard errors of R, Alpha, S and Beta; nil where
	// the information matrix is singular.
	StdErr []float64
	Stats  FitStats
}

// FitParetoNBD fits the Pareto/NBD model to the histories by maximum
// likelihood, with the errors of FitBGNBD.
//
// The likelihood's gradient is taken by central differences: its exact
// form needs derivatives of the hypergeometric function in its parameters.
// The histories are grouped as for BG/NBD, and each hypergeometric term is
// computed once per distinct (frequency, time) pair.
func FitParetoNBD(histories []History) (ParetoNBDFit, error) {
	return FitParetoNBDContext(context.Background(), histories)
}

// FitParetoNBDContext is FitParetoNBD that stops, with ctx's error, when
// ctx is done.
func FitParetoNBDContext(ctx context.Context, histories []History) (ParetoNBDFit, error) {
	d := newParetoData(histories)
	if err := d.noRepeats(); err != nil {
		return ParetoNBDFit{Stats: FitStats{Members: len(histories)}}, err
	}
	walled := d.walled(ctx)
	params, stats, err := maximize(numericGradient(walled.logLikelihood), []string{"r", "alpha", "s", "beta"}, len(histories), d.starts())
	fit := ParetoNBDFit{Stats: stats}
	if params != nil {
		fit.Params = paretoNBDFrom(params)
	}
	switch {
	case ctx.Err() != nil:
		return fit, fmt.Errorf("Pareto/NBD fit stopped: %w", ctx.Err())
	case walled.visits > wallVisits:
		return fit, fmt.Errorf("%w: the members' dropout rates look alike (s ran off past %g with s/beta near %.3g): "+
			"the Pareto/NBD likelihood has no maximum at finite parameters for these data; BG/NBD may fit them",
			ErrNotConverged, maxDropoutShape/2, walled.meanRate)
	case walled.evaluations > maxEvaluations:
		return fit, fmt.Errorf("%w: no maximum found in %d evaluations of the likelihood (%d iterations)",
			ErrNotConverged, maxEvaluations, stats.Iterations)
	case err != nil:
		return fit, err
	}
	fit.StdErr, _ = standardErrorsFromHessian(d.logLikelihood, params)
	return fit, nil
}

// paretoData adds to the grouped histories the distinct (frequency,
// recency) and (frequency, age) pairs, the arguments of the hypergeometric
// terms.
type paretoData struct {
	*bgnbdData
	recencyPairs, agePairs []freqTime
	groupRecency, groupAge []int32
}

type freqTime struct{ freq, time int32 }

func newParetoData(hs []History) *paretoData {
	d := &paretoData{bgnbdData: newBGNBDData(hs)}
	recIdx, ageIdx := map[freqTime]int32{}, map[freqTime]int32{}
	for _, g := range d.groups {
		rec, age := freqTime{g.freq, g.recency}, freqTime{g.freq, g.age}
		d.groupRecency = append(d.groupRecency, index(recIdx, rec, &d.recencyPairs, rec))
		d.groupAge = append(d.groupAge, index(ageIdx, age, &d.agePairs, age))
	}
	return d
}

// starts put the purchase rate's mean r/alpha near the observed repeat
// rate and the dropout rate's mean s/beta at one per mean age, then wider.
func (d *paretoData) starts() [][]float64 {
	rate := math.Max(d.meanFreq, 0.01) / math.Max(d.meanAge, 1)
	age := math.Max(d.meanAge, 1)
	return [][]float64{
		{1, 1 / rate, 1, age},
		{0.5, 0.5 / rate, 0.5, 0.5 * age},
		{0.1, 0.1 / rate, 2, 4 * age},
	}
}

// maxDropoutShape bounds s, the shape of the dropout rates' Gamma
// distribution. When members' dropout rates hardly vary, the likelihood
// keeps rising as s and beta grow together (s/beta, the mean rate, fixed),
// and every evaluation costs more as they do. At s = 100 the rates'
// spread is a tenth of their mean: for a fit beyond half of that they are
// all but alike, and BG/NBD (whose members may all drop out alike) is the
// model to fit.
const maxDropoutShape = 100.0

// maxEvaluations bounds the likelihood evaluations of one fit (nine make a
// gradient): a fit that converges takes a few hundred.
const maxEvaluations = 3000

// wallVisits is how many evaluations beyond half of maxDropoutShape make a
// runaway: a line search may overshoot there once or twice, a runaway
// stays.
const wallVisits = 20

// walledLikelihood is the likelihood the optimiser sees: NaN (a wall)
// beyond maxDropoutShape, and everywhere once the fit has run towards it.
// It is a wall too once the fit has taken maxEvaluations, or its context
// is done.
type walledLikelihood struct {
	ctx         context.Context
	d           *paretoData
	visits      int
	evaluations int
	meanRate    float64 // s/beta on the way to the wall
}

func (d *paretoData) walled(ctx context.Context) *walledLikelihood {
	return &walledLikelihood{ctx: ctx, d: d}
}

func (w *walledLikelihood) logLikelihood(params []float64) float64 {
	w.evaluations++
	if params[2] > maxDropoutShape/2 {
		w.visits++
		w.meanRate = params[2] / params[3]
	}
	if params[2] > maxDropoutShape || w.visits > wallVisits || w.evaluations > maxEvaluations || w.ctx.Err() != nil {
		return math.NaN()
	}
	return w.d.logLikelihood(params)
}

// logLikelihood sums the members' log-likelihoods at (R, Alpha, S, Beta).
func (d *paretoData) logLikelihood(params []float64) float64 {
	p := paretoNBDFrom(params)
	fronts := make([]float64, len(d.freqs))
	for i, x := range d.freqs {
		fronts[i] = p.logFront(x)
	}
	logFs := func(pairs []freqTime, times []float64) []float64 {
		out := make([]float64, len(pairs))
		inParallel(len(pairs), func(i int) { out[i] = p.logF(d.freqs[pairs[i].freq], times[pairs[i].time]) })
		return out
	}
	atRecency, atAge := logFs(d.recencyPairs, d.recencies), logFs(d.agePairs, d.ages)
	var ll float64
	for i, g := range d.groups {
		x := d.freqs[g.freq]
		logA0 := logSubExp(atRecency[d.groupRecency[i]], atAge[d.groupAge[i]])
		ll += g.weight * (fronts[g.freq] + p.logTail(x, d.ages[g.age], logA0))
	}
	return ll
}

// numericGradient turns a log-likelihood into an objective whose gradient
// is taken by central differences in log-parameter space (the steps are
// relative, as the parameters' scales differ by orders).
func numericGradient(ll func([]float64) float64) objective {
	return func(params []float64) (float64, []float64) {
		value := ll(params)
		inLogs := func(y []float64) float64 { return ll(exps(y)) }
		g := fd.Gradient(nil, inLogs, logs(params), &fd.Settings{Formula: fd.Central, OriginKnown: true, OriginValue: value})
		for i := range g {
			g[i] /= params[i]
		}
		return value, g
	}
}

// inParallel calls do(i) for each i below n, spread over the CPUs in
// chunks: each call writes its own result, so the sum after is the same
// as one CPU's.
func inParallel(n int, do func(i int)) {
	const chunk = 256
	workers := min(runtime.GOMAXPROCS(0), (n+chunk-1)/chunk)
	if workers <= 1 {
		for i := range n {
			do(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				start := int(next.Add(chunk)) - chunk
				if start >= n {
					return
				}
				for i := start; i < min(start+chunk, n); i++ {
					do(i)
				}
			}
		})
	}
	wg.Wait()
}
