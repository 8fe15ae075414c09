package analytics

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/diff/fd"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize"
)

// ErrNotConverged is returned (wrapped, with the optimiser's status and the
// gradient left) when no starting point led to a maximum of the likelihood.
var ErrNotConverged = errors.New("the fit did not converge")

// ErrNoData is returned when there are too few members to fit a model.
var ErrNoData = errors.New("too few members to fit")

// FitStats describes how a maximum-likelihood fit went.
type FitStats struct {
	// Members is the number of member histories the likelihood was summed
	// over.
	Members int
	// LogLikelihood is the total log-likelihood at the fitted parameters.
	LogLikelihood float64
	// Iterations is the optimiser's major iterations, over every starting
	// point tried.
	Iterations int
	// Status is the optimiser's termination status at the accepted start.
	Status string
	// Gradient is the largest absolute gradient of the mean log-likelihood
	// (with respect to the log parameters) at the fit.
	Gradient float64
}

// gradientTolerance is how flat the mean log-likelihood must be, per log
// parameter, at an accepted fit. A change of 1e-5 in the mean log-likelihood
// over a 1% change of a parameter is far below the sampling error of any
// data set worth fitting.
const gradientTolerance = 1e-5

// objective returns the log-likelihood summed over the data and its gradient
// with respect to the (natural) parameters.
type objective func(params []float64) (ll float64, grad []float64)

// maximize fits the parameters of an objective by BFGS in log-parameter
// space (which keeps every parameter positive) from each start in turn,
// returning the first that converges. names name the parameters in errors.
func maximize(ll objective, names []string, members int, starts [][]float64) ([]float64, FitStats, error) {
	stats := FitStats{Members: members}
	if members < 2 {
		return nil, stats, fmt.Errorf("%w: %d members", ErrNoData, members)
	}
	var best []float64
	bestLL := math.Inf(-1)
	for _, start := range starts {
		p := logSpaceProblem(ll, float64(members))
		res, _ := optimize.Minimize(p, logs(start), &optimize.Settings{
			GradientThreshold: gradientTolerance / 10,
			MajorIterations:   500,
			Converger:         &optimize.FunctionConverge{Absolute: 1e-13, Relative: 1e-13, Iterations: 20},
		}, &optimize.BFGS{})
		if res == nil {
			continue
		}
		stats.Iterations += res.MajorIterations
		params := exps(res.X)
		value, grad := ll(params)
		gradient := logGradientNorm(params, grad, float64(members))
		if math.IsNaN(value) || value <= bestLL {
			continue
		}
		best, bestLL = params, value
		stats.LogLikelihood, stats.Gradient, stats.Status = value, gradient, res.Status.String()
		// A start that stopped early (a line search that could not improve)
		// but at a flat point has found the maximum too.
		if gradient <= gradientTolerance {
			return best, stats, nil
		}
	}
	if best == nil {
		return nil, stats, fmt.Errorf("%w: the likelihood could not be evaluated from any starting point", ErrNotConverged)
	}
	if i, ok := ranAway(best, starts); ok {
		return best, stats, fmt.Errorf("%w: the likelihood has no maximum at finite parameters (%s ran off to %.3g): "+
			"%d members are too few, or too alike, to fit; fit again when there is more history",
			ErrNotConverged, names[i], best[i], members)
	}
	return best, stats, fmt.Errorf("%w: optimiser status %s, gradient %.3g left (tolerance %.0e)",
		ErrNotConverged, stats.Status, stats.Gradient, gradientTolerance)
}

// runawayRatio is how far from every start a parameter must have gone for
// a fit that did not converge to be called a runaway: the starts are scaled
// to the data, and a real maximum lies within a few orders of them.
const runawayRatio = 1e4

// ranAway says which parameter, if any, went further than runawayRatio from
// its value in every start: the optimiser was following a likelihood that
// keeps rising towards zero or infinity.
func ranAway(params []float64, starts [][]float64) (int, bool) {
	for i, p := range params {
		away := true
		for _, s := range starts {
			if r := p / s[i]; r < runawayRatio && r > 1/runawayRatio {
				away = false
			}
		}
		if away {
			return i, true
		}
	}
	return 0, false
}

// logSpaceProblem turns a log-likelihood into the mean negative
// log-likelihood over log parameters, which the optimiser minimises. The
// mean keeps the tolerances independent of the number of members.
func logSpaceProblem(ll objective, n float64) optimize.Problem {
	var lastX, lastGrad []float64
	var lastF float64
	eval := func(x []float64) (float64, []float64) {
		if lastX != nil && equal(x, lastX) {
			return lastF, lastGrad
		}
		params := exps(x)
		value, grad := ll(params)
		f := -value / n
		g := make([]float64, len(x))
		for i := range g {
			g[i] = -params[i] * grad[i] / n
		}
		if math.IsNaN(f) || math.IsInf(f, 0) || anyNaN(g) {
			f = math.Inf(1)
		}
		lastX, lastF, lastGrad = append(lastX[:0], x...), f, g
		return f, g
	}
	return optimize.Problem{
		Func: func(x []float64) float64 { f, _ := eval(x); return f },
		Grad: func(grad, x []float64) { _, g := eval(x); copy(grad, g) },
	}
}

// standardErrors estimates each parameter's standard error from the
// observed information: the Hessian of the log-likelihood in log-parameter
// space (by finite differences of the exact gradient), inverted, and mapped
// back by the delta method (se(θ) = θ·se(log θ)).
func standardErrors(ll objective, params []float64) ([]float64, error) {
	n := len(params)
	grad := func(y, x []float64) {
		p := exps(x)
		_, g := ll(p)
		for i := range y {
			y[i] = p[i] * g[i]
		}
	}
	h := mat.NewDense(n, n, nil)
	fd.Jacobian(h, grad, logs(params), &fd.JacobianSettings{Formula: fd.Central})
	info := mat.NewSymDense(n, nil)
	for i := range n {
		for j := i; j < n; j++ {
			info.SetSym(i, j, -(h.At(i, j)+h.At(j, i))/2)
		}
	}
	return fromInformation(info, params)
}

// standardErrorsFromHessian is standardErrors for a log-likelihood without
// a gradient: the Hessian in log-parameter space by second differences.
func standardErrorsFromHessian(ll func([]float64) float64, params []float64) ([]float64, error) {
	h := mat.NewSymDense(len(params), nil)
	fd.Hessian(h, func(y []float64) float64 { return -ll(exps(y)) }, logs(params), nil)
	return fromInformation(h, params)
}

// fromInformation inverts the observed information in log-parameter space
// and maps each variance back by the delta method.
func fromInformation(info *mat.SymDense, params []float64) ([]float64, error) {
	n := len(params)
	var chol mat.Cholesky
	if !chol.Factorize(info) {
		return nil, errors.New("the information matrix is not positive definite: the parameters are not identified by these data")
	}
	var cov mat.SymDense
	if err := chol.InverseTo(&cov); err != nil {
		return nil, fmt.Errorf("invert the information matrix: %w", err)
	}
	se := make([]float64, n)
	for i := range n {
		se[i] = params[i] * math.Sqrt(cov.At(i, i))
	}
	return se, nil
}

func logGradientNorm(params, grad []float64, n float64) float64 {
	m := 0.0
	for i := range params {
		m = math.Max(m, math.Abs(params[i]*grad[i]/n))
	}
	if math.IsNaN(m) {
		return math.Inf(1)
	}
	return m
}

func logs(v []float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = math.Log(x)
	}
	return out
}

func exps(v []float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = math.Exp(x)
	}
	return out
}

func equal(a, b []float64) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}

func anyNaN(v []float64) bool {
	for _, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return true
		}
	}
	return false
}
