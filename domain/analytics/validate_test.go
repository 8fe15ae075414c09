package analytics

import (
	"context"
	"errors"
	"math"
	"testing"
)

// TestValidationAgreesWithTheTruth draws members from each model's own
// story, with parameters where the two models tell different stories, and
// validates both models on them. The model that made the data must predict
// the holdout best, its error per member within 1% of its true parameters'
// (which no fit can beat but by chance), and its total within 6% of theirs
// (the fitted parameters' own sampling error, at 20,000 members).
//
// The choice is by root mean squared error, as the conditional expectation
// each model predicts is what minimises it: on these data the mean absolute
// error would pick Pareto/NBD for data BG/NBD made.
func TestValidationAgreesWithTheTruth(t *testing.T) {
	truths := []Model{
		// Many members drop out soon after joining, before any repeat
		// purchase: BG/NBD cannot say so of anyone without repeats.
		ParetoNBD{R: 0.6, Alpha: 8, S: 1.2, Beta: 12},
		// Members drop out only just after a purchase, often.
		BGNBD{R: 0.8, Alpha: 6, A: 1.2, B: 1.5},
		// The CDNOW fit, roughly.
		BGNBD{R: 0.25, Alpha: 4, A: 0.8, B: 2.5},
	}
	for _, truth := range truths {
		for seed := uint64(1); seed <= 3; seed++ {
			data := SynthesizeHoldout(truth, 20_000, 91, 273, 273, 7, seed)
			v, err := Validate(context.Background(), data.Holdout)
			if err != nil {
				t.Fatal(err)
			}
			var trueErr ModelCheck
			trueErr.PredictedRepeatPurchases, trueErr.MeanAbsoluteError, trueErr.RootMeanSquaredError, trueErr.Correlation =
				compare(predictHoldout(truth, data.Holdout), data.Holdout.Members)
			var own ModelCheck
			for _, c := range v.Models {
				if c.Model == truth.Name() {
					own = c
				}
				if c.Err != nil {
					t.Logf("%s seed %d: %s: %v", truth.Name(), seed, c.Model, c.Err)
					continue
				}
				t.Logf("%s seed %d: %s predicted %.0f (actual %d, truth %.0f), RMSE %.4f (truth %.4f), MAE %.4f (truth %.4f)",
					truth.Name(), seed, c.Model, c.PredictedRepeatPurchases, v.ActualRepeatPurchases, trueErr.PredictedRepeatPurchases,
					c.RootMeanSquaredError, trueErr.RootMeanSquaredError, c.MeanAbsoluteError, trueErr.MeanAbsoluteError)
			}
			if own.Err != nil {
				t.Fatalf("%s seed %d: the model that made the data was not fitted: %v", truth.Name(), seed, own.Err)
			}
			if v.Best != truth.Name() {
				t.Errorf("%s seed %d: %s predicted best", truth.Name(), seed, v.Best)
			}
			if math.Abs(own.RootMeanSquaredError/trueErr.RootMeanSquaredError-1) > 0.01 {
				t.Errorf("%s seed %d: RMSE %.4f, the true parameters' %.4f", truth.Name(), seed, own.RootMeanSquaredError, trueErr.RootMeanSquaredError)
			}
			if math.Abs(own.PredictedRepeatPurchases/trueErr.PredictedRepeatPurchases-1) > 0.06 {
				t.Errorf("%s seed %d: predicted %.0f, the true parameters %.0f", truth.Name(), seed, own.PredictedRepeatPurchases, trueErr.PredictedRepeatPurchases)
			}
		}
	}
}

// Validations that cannot judge a model say so instead of choosing one: a
// calibration without a single repeat purchase, and a Holdout that is not
// one.
func TestValidationWithoutEnoughHistory(t *testing.T) {
	h := Holdout{Length: 10, DaysPerUnit: 1, CalibrationDays: 2, HoldoutDays: 10,
		FirstPurchases: make([]int, 12), RepeatPurchases: make([]int, 12)}
	for i := range 14 {
		h.Members = append(h.Members, HoldoutMember{Calibration: History{Age: float64(i % 2)}, Holdout: i % 3})
		h.FirstPurchases[1-i%2]++
	}
	v, err := Validate(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range v.Models {
		if !errors.Is(c.Err, ErrNoData) {
			t.Errorf("%s: %v, want ErrNoData (no repeat purchase to learn from)", c.Model, c.Err)
		}
	}
	if v.Best != "" || len(v.ByFrequency) != FrequencyCensor+1 || !math.IsNaN(v.ByFrequency[0].Predicted[0]) || !math.IsNaN(v.Tracking[0].ExpectCum[1]) {
		t.Errorf("best %q, frequencies %+v: want no best and no predictions", v.Best, v.ByFrequency)
	}
	for _, bad := range []Holdout{
		{Length: 10, DaysPerUnit: 30, CalibrationDays: 2, HoldoutDays: 10, FirstPurchases: make([]int, 12), RepeatPurchases: make([]int, 12)},
		{Length: 10, DaysPerUnit: 1, CalibrationDays: 0, HoldoutDays: 10, FirstPurchases: make([]int, 10), RepeatPurchases: make([]int, 10)},
		{Length: 10, DaysPerUnit: 1, CalibrationDays: 2, HoldoutDays: 10, FirstPurchases: make([]int, 11), RepeatPurchases: make([]int, 12)},
		{Length: 0, DaysPerUnit: 1, CalibrationDays: 2, HoldoutDays: 10, FirstPurchases: make([]int, 12), RepeatPurchases: make([]int, 12)},
	} {
		if _, err := Validate(context.Background(), bad); !errors.Is(err, ErrBadHoldout) {
			t.Errorf("%+v: %v, want ErrBadHoldout", bad, err)
		}
	}
	if v, _ := Validate(context.Background(), h, "mbgnbd"); v.Models[0].Err == nil {
		t.Error("an unknown model was fitted")
	}
}

// What a careless or hostile caller may hand the comparison: predictions
// alike for everyone (no correlation), nearly collinear large numbers
// (within [-1, 1]), a done context (stops), one model (not "best").
func TestValidationEdges(t *testing.T) {
	members := []HoldoutMember{{Holdout: 0}, {Holdout: 1}, {Holdout: 5}}
	if _, _, _, corr := compare([]float64{0.1, 0.1, 0.1}, members); !math.IsNaN(corr) {
		t.Errorf("constant predictions: correlation %v, want NaN", corr)
	}
	big := make([]HoldoutMember, 1000)
	predicted := make([]float64, 1000)
	for i := range big {
		big[i].Holdout = 1_000_000 + i
		predicted[i] = 1_000_000 + float64(i) + 1e-3*float64(i%7)
	}
	if _, _, _, corr := compare(predicted, big); !(corr > 0.999 && corr <= 1) {
		t.Errorf("nearly collinear: correlation %v, want just below 1", corr)
	}
	data := SynthesizeHoldout(BGNBD{R: 0.25, Alpha: 4, A: 0.8, B: 2.5}, 2000, 91, 273, 91, 7, 3)
	if v, err := Validate(context.Background(), data.Holdout, ModelBGNBD); err != nil || v.Best != "" || v.Models[0].Err != nil {
		t.Errorf("one model: best %q, %v, %v: a model compared with nothing is not the best", v.Best, v.Models[0].Err, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Validate(ctx, data.Holdout); !errors.Is(err, context.Canceled) {
		t.Errorf("a done context: %v", err)
	}
	if _, err := FitParetoNBDContext(ctx, cdnowHistoriesOnly(t)); !errors.Is(err, context.Canceled) {
		t.Errorf("a Pareto/NBD fit under a done context: %v", err)
	}
}

func cdnowHistoriesOnly(t *testing.T) []History {
	hs, _ := cdnowHistories(t)
	return hs
}
