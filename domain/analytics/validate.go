package analytics

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
)

// HoldoutMember is a member as a holdout validation sees them: the history
// up to the end of calibration, and the purchases (all repeat purchases)
// made in the holdout.
type HoldoutMember struct {
	Calibration History
	Holdout     int
}

// Holdout is what a validation compares the models with: the members who
// had bought by the end of calibration, and the history the tracking is
// drawn from, day by day from the first member's first purchase.
type Holdout struct {
	Members []HoldoutMember
	// Length is the holdout's length in the models' time unit.
	Length float64
	// DaysPerUnit is the time unit in days (1 or 7).
	DaysPerUnit int
	// CalibrationDays is the number of days from the first purchase day
	// (day 0) to the end of calibration, inclusive; HoldoutDays those after.
	CalibrationDays, HoldoutDays int
	// FirstPurchases[d] is how many of Members made their first purchase
	// on day d; RepeatPurchases[d] how many repeat purchase days they had
	// on day d. Both run over every day of calibration and holdout.
	FirstPurchases, RepeatPurchases []int
}

// FrequencyCensor is the calibration frequency from which members are
// counted together in the conditional-expectation table ("7+").
const FrequencyCensor = 7

// Validation is how well each model fitted to the calibration period
// predicted the holdout.
type Validation struct {
	Members int
	// ActualRepeatPurchases is the members' purchase days in the holdout.
	ActualRepeatPurchases int
	// ByFrequency is the conditional-expectation table: members by
	// calibration frequency 0 .. FrequencyCensor (and above).
	ByFrequency []FrequencyRow
	// Tracking is the repeat purchases period by period, over calibration
	// and holdout.
	Tracking []TrackingRow
	Models   []ModelCheck
	// Best is the model whose predictions were nearest what members did
	// (the lowest root mean squared error per member); empty when no model
	// was fitted.
	Best string
}

// ModelCheck is one model's fit and predictions.
type ModelCheck struct {
	Model string
	// Params are the fitted parameters in the model's order (r, alpha, a,
	// b or r, alpha, s, beta) and Names their names.
	Names  []string
	Params []float64
	Fit    FitStats
	// Err is why the model could not be fitted (then nothing else is set).
	Err error
	// PredictedRepeatPurchases is the members' expected purchases in the
	// holdout, summed.
	PredictedRepeatPurchases float64
	// MeanAbsoluteError and RootMeanSquaredError are per member; the
	// correlation is Pearson's, of predicted and actual per member (NaN
	// when either does not vary).
	MeanAbsoluteError, RootMeanSquaredError, Correlation float64
}

// FrequencyRow is a line of the conditional-expectation table.
type FrequencyRow struct {
	// Frequency is the calibration frequency; FrequencyCensor counts that
	// and above.
	Frequency int
	Members   int
	// ActualMean is the members' mean purchases in the holdout; Predicted
	// the models' means, in the order of Validation.Models (NaN for a model
	// not fitted).
	ActualMean float64
	Predicted  []float64
}

// TrackingRow is one period of the tracking: repeat purchases in the
// period and since day 0, actual and expected by each model (in the order
// of Validation.Models) for the members who had bought by the end of
// calibration. A member's expected purchases are the model's for a member
// who has just made a first purchase, from the day of that purchase.
type TrackingRow struct {
	// LastDay is the period's last day, counted from day 0; the calibration
	// ends at the end of a period.
	LastDay   int
	Holdout   bool
	Actual    int
	ActualCum int
	Expected  []float64
	ExpectCum []float64
}

// ErrBadHoldout wraps what is wrong with a Holdout.
var ErrBadHoldout = errors.New("bad holdout")

func (h Holdout) check() error {
	days := h.CalibrationDays + h.HoldoutDays
	switch {
	case h.DaysPerUnit != 1 && h.DaysPerUnit != 7:
		return fmt.Errorf("%w: %d days per unit, want 1 or 7", ErrBadHoldout, h.DaysPerUnit)
	case h.CalibrationDays < 1 || h.HoldoutDays < 1:
		return fmt.Errorf("%w: calibration of %d days and holdout of %d: both need at least a day", ErrBadHoldout, h.CalibrationDays, h.HoldoutDays)
	case len(h.FirstPurchases) != days || len(h.RepeatPurchases) != days:
		return fmt.Errorf("%w: %d and %d days of tracking, want %d", ErrBadHoldout, len(h.FirstPurchases), len(h.RepeatPurchases), days)
	case !(h.Length > 0):
		return fmt.Errorf("%w: holdout length %g", ErrBadHoldout, h.Length)
	}
	return nil
}

// Validate fits each named model (Models if none) to the calibration
// histories and compares its predictions with the holdout. A model that
// cannot be fitted is reported with its error, and the others still are;
// the error is for a Holdout that cannot be validated at all, or ctx's
// when it is done. The best model is named only when more than one was
// asked for: a model compared with nothing is not the best.
func Validate(ctx context.Context, h Holdout, models ...string) (Validation, error) {
	if err := h.check(); err != nil {
		return Validation{}, err
	}
	if len(models) == 0 {
		models = Models
	}
	histories := make([]History, len(h.Members))
	v := Validation{Members: len(h.Members)}
	for i, m := range h.Members {
		histories[i] = m.Calibration
		v.ActualRepeatPurchases += m.Holdout
	}
	var fitted []Model
	for _, name := range models {
		model, check := fitModel(ctx, name, histories)
		if err := ctx.Err(); err != nil {
			return v, fmt.Errorf("validation stopped: %w", err)
		}
		var predictions []float64
		if check.Err == nil {
			predictions = predictHoldout(model, h)
			check.PredictedRepeatPurchases, check.MeanAbsoluteError, check.RootMeanSquaredError, check.Correlation =
				compare(predictions, h.Members)
			if !AllFinite(check.PredictedRepeatPurchases, check.MeanAbsoluteError, check.RootMeanSquaredError) {
				check = ModelCheck{Model: name, Names: check.Names, Params: check.Params, Fit: check.Fit,
					Err: fmt.Errorf("%w: the fitted parameters (%v) give no finite prediction for some members: "+
						"the calibration period holds too little history to fit this model", ErrNotConverged, check.Params)}
				model, predictions = nil, nil
			}
		}
		v.ByFrequency = addFrequencyColumn(v.ByFrequency, predictions, h.Members, len(v.Models))
		v.Models = append(v.Models, check)
		fitted = append(fitted, model)
	}
	v.Tracking = tracking(h, fitted)
	if len(models) > 1 {
		v.Best = lowestError(v.Models)
	}
	return v, nil
}

// lowestError is the fitted model with the lowest root mean squared error
// per member; empty when none was fitted.
func lowestError(checks []ModelCheck) string {
	best, name := math.Inf(1), ""
	for _, c := range checks {
		if c.Err == nil && c.RootMeanSquaredError < best {
			best, name = c.RootMeanSquaredError, c.Model
		}
	}
	return name
}

// fitModel fits the named model; the Model is nil when the fit failed.
func fitModel(ctx context.Context, name string, hs []History) (Model, ModelCheck) {
	check := ModelCheck{Model: name}
	switch name {
	case ModelBGNBD:
		fit, err := FitBGNBD(hs)
		check.Names, check.Params, check.Fit, check.Err = []string{"r", "alpha", "a", "b"}, fit.Params.vector(), fit.Stats, err
		if err == nil {
			return fit.Params, check
		}
	case ModelParetoNBD:
		fit, err := FitParetoNBDContext(ctx, hs)
		check.Names, check.Params, check.Fit, check.Err = []string{"r", "alpha", "s", "beta"}, fit.Params.vector(), fit.Stats, err
		if err == nil {
			return fit.Params, check
		}
	default:
		check.Err = fmt.Errorf("no model %q: the models are %s", name, strings.Join(Models, ", "))
	}
	return nil, check
}

// predictHoldout is each member's expected purchases over the holdout,
// computed once per distinct history.
func predictHoldout(model Model, h Holdout) []float64 {
	seen := map[History]float64{}
	out := make([]float64, len(h.Members))
	for i, m := range h.Members {
		e, ok := seen[m.Calibration]
		if !ok {
			e = model.ExpectedPurchases(m.Calibration, h.Length)
			seen[m.Calibration] = e
		}
		out[i] = e
	}
	return out
}

// compare sums the predictions and measures their errors per member. The
// correlation is taken about the means (two passes), which keeps it within
// [-1, 1] and NaN for a constant series.
func compare(predicted []float64, members []HoldoutMember) (total, mae, rmse, corr float64) {
	n := float64(len(members))
	var sumA, absErr, sqErr float64
	constant := true
	for i, m := range members {
		p, a := predicted[i], float64(m.Holdout)
		constant = constant && p == predicted[0]
		total += p
		sumA += a
		absErr += math.Abs(p - a)
		sqErr += (p - a) * (p - a)
	}
	meanP, meanA := total/n, sumA/n
	var cov, varP, varA float64
	for i, m := range members {
		dp, da := predicted[i]-meanP, float64(m.Holdout)-meanA
		cov += dp * da
		varP += dp * dp
		varA += da * da
	}
	corr = math.NaN()
	if !constant && varP > 0 && varA > 0 {
		corr = max(-1, min(1, cov/math.Sqrt(varP*varA)))
	}
	return total, absErr / n, math.Sqrt(sqErr / n), corr
}

// addFrequencyColumn adds a model's column to the conditional-expectation
// table, creating the table's rows on the first call. predicted nil: the
// model was not fitted.
func addFrequencyColumn(rows []FrequencyRow, predicted []float64, members []HoldoutMember, column int) []FrequencyRow {
	if rows == nil {
		rows = make([]FrequencyRow, FrequencyCensor+1)
		for i := range rows {
			rows[i].Frequency = i
		}
		for _, m := range members {
			r := &rows[min(m.Calibration.Frequency, FrequencyCensor)]
			r.Members++
			r.ActualMean += float64(m.Holdout)
		}
		for i := range rows {
			rows[i].ActualMean = mean(rows[i].ActualMean, rows[i].Members)
		}
	}
	sums := make([]float64, len(rows))
	for i, m := range members {
		if predicted != nil {
			sums[min(m.Calibration.Frequency, FrequencyCensor)] += predicted[i]
		}
	}
	for i := range rows {
		p := math.NaN()
		if predicted != nil {
			p = mean(sums[i], rows[i].Members)
		}
		rows[i].Predicted = append(rows[i].Predicted[:column:column], p)
	}
	return rows
}

func mean(sum float64, n int) float64 {
	if n == 0 {
		return math.NaN()
	}
	return sum / float64(n)
}

// tracking is the actual and expected repeat purchases period by period.
// Periods are DaysPerUnit long and end at the end of calibration; the
// first may be shorter, and so may the last.
//
// The expected purchases are a convolution: the members who first bought
// on day b have bought again E(d + 1 − b) times by the end of day d, E
// being the model's curve for a member who has just made a first purchase,
// computed once per day. (Counting the day of the first purchase as a
// whole day is BTYD's convention, whose published tracking this
// reproduces.)
func tracking(h Holdout, models []Model) []TrackingRow {
	days := h.CalibrationDays + h.HoldoutDays
	unit := float64(h.DaysPerUnit)
	curves := make([][]float64, len(models))
	for i, m := range models {
		if m == nil {
			continue
		}
		curves[i] = make([]float64, days+1)
		for d := 1; d <= days; d++ {
			curves[i][d] = m.ExpectedPurchases(History{}, float64(d)/unit)
		}
	}
	var rows []TrackingRow
	actualCum := 0
	previous := make([]float64, len(models))
	start := 0
	for _, last := range periodEnds(h) {
		row := TrackingRow{LastDay: last, Holdout: last >= h.CalibrationDays,
			Expected: make([]float64, len(models)), ExpectCum: make([]float64, len(models))}
		for d := start; d <= last; d++ {
			row.Actual += h.RepeatPurchases[d]
		}
		actualCum += row.Actual
		row.ActualCum = actualCum
		for i, curve := range curves {
			if curve == nil {
				row.Expected[i], row.ExpectCum[i] = math.NaN(), math.NaN()
				continue
			}
			cum := 0.0
			for b := 0; b <= last && b < h.CalibrationDays; b++ {
				if n := h.FirstPurchases[b]; n > 0 {
					cum += float64(n) * curve[last+1-b]
				}
			}
			row.ExpectCum[i], row.Expected[i] = cum, cum-previous[i]
			previous[i] = cum
		}
		rows = append(rows, row)
		start = last + 1
	}
	return rows
}

// periodEnds are the last days of the tracking periods.
func periodEnds(h Holdout) []int {
	var ends []int
	calEnd, last := h.CalibrationDays-1, h.CalibrationDays+h.HoldoutDays-1
	for d := calEnd % h.DaysPerUnit; d < calEnd; d += h.DaysPerUnit {
		ends = append(ends, d)
	}
	for d := calEnd; d < last; d += h.DaysPerUnit {
		ends = append(ends, d)
	}
	return append(ends, last)
}

// AllFinite says whether every value is a number, neither NaN nor
// infinite: what a score must be before it is stored.
func AllFinite(vs ...float64) bool {
	for _, v := range vs {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}
