package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/pointsledger/loyalty/domain/analytics"
	"github.com/pointsledger/loyalty/projections"
)

func newValidateCommand(g *globals) *cobra.Command {
	var calibrationEnd, holdoutEnd, timeUnit, plotDir string
	var models []string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "validate --calibration-end DATE --holdout-end DATE",
		Short: "Fit each purchase model to the purchases up to one date and compare its predictions with what members did next",
		Long: `Fits BG/NBD and Pareto/NBD to every member's purchase days up to the end of
--calibration-end (UTC), predicts each member's purchases from then to the end
of --holdout-end, and compares with the purchases the ledger shows: totals,
errors per member, the conditional expectations by calibration frequency and
the tracking of repeat purchases period by period. The result is recorded in
loyalty.model_validations and its detail tables; the model with the lowest
root mean squared error is the best, which fits with --model best then use.
See docs/analytics.md, "Validating the models".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := projections.ValidateConfig{TimeUnit: timeUnit, Reason: "command", Models: models}
			var err error
			if cfg.CalibrationEnd, err = parseDateFlag("--calibration-end", calibrationEnd); err != nil {
				return err
			}
			if cfg.HoldoutEnd, err = parseDateFlag("--holdout-end", holdoutEnd); err != nil {
				return err
			}
			if today := time.Now().UTC().Truncate(24 * time.Hour); cfg.HoldoutEnd.After(today) {
				return fmt.Errorf("--holdout-end %s is after today (%s): the holdout's purchases have not all happened yet; "+
					"end it today at the latest, and move --calibration-end back", holdoutEnd, today.Format(time.DateOnly))
			}
			if err := cfg.Validate(); err != nil {
				return fmt.Errorf("validation settings: %w", err)
			}
			if plotDir != "" {
				if err := checkPlotDir(plotDir); err != nil {
					return err
				}
			}
			return g.withDatabase(cmd.Context(), func(pool *pgxpool.Pool) error {
				res, err := projections.ValidateModels(cmd.Context(), pool, cfg)
				if err != nil {
					return err
				}
				if plotDir != "" {
					files, err := writeValidationPlots(plotDir, cfg, res)
					if err != nil {
						return err
					}
					fmt.Fprintf(g.stderr, "plots written: %s\n", strings.Join(files, ", "))
				}
				if asJSON {
					enc := json.NewEncoder(g.stdout)
					enc.SetIndent("", "  ")
					return enc.Encode(validationJSON(cfg, res))
				}
				printValidation(g.stdout, cfg, res)
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&calibrationEnd, "calibration-end", "", "last UTC date of the purchases the models are fitted to (YYYY-MM-DD)")
	f.StringVar(&holdoutEnd, "holdout-end", "", "last UTC date of the holdout the predictions are compared with (YYYY-MM-DD)")
	f.StringVar(&timeUnit, "time-unit", "week", "time unit of the models and period of the tracking: day or week")
	f.StringSliceVar(&models, "models", analytics.Models, "models to fit and compare")
	f.BoolVar(&asJSON, "json", false, "print the validation as JSON")
	f.StringVar(&plotDir, "plot", "", "also write the tracking and conditional-expectation plots (SVG and PNG) into this directory")
	return cmd
}

func parseDateFlag(flag, value string) (time.Time, error) {
	if value == "" {
		return time.Time{}, fmt.Errorf("%s is required: give a date as YYYY-MM-DD", flag)
	}
	day, err := time.Parse(time.DateOnly, value)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q: give a date as YYYY-MM-DD, such as %s", flag, value, time.Now().UTC().Format(time.DateOnly))
	}
	return day, nil
}

func printValidation(w io.Writer, cfg projections.ValidateConfig, res projections.ValidationResult) {
	v := res.Validation
	holdout := cfg.HoldoutEnd.Sub(cfg.CalibrationEnd).Hours() / 24
	fmt.Fprintf(w, "validation %d: fitted to purchases up to %s, compared over the %g days to %s (%s units), in %s\n",
		res.ID, cfg.CalibrationEnd.Format(time.DateOnly), holdout, cfg.HoldoutEnd.Format(time.DateOnly), cfg.TimeUnit,
		res.Duration.Round(time.Millisecond))
	fmt.Fprintf(w, "%d members had bought by the calibration end; they made %d repeat purchases (purchase days) in the holdout\n\n",
		v.Members, v.ActualRepeatPurchases)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MODEL\tPREDICTED\tACTUAL\tTOTAL ERROR\tMAE\tRMSE\tCORRELATION\tLOG-LIKELIHOOD\tPARAMETERS")
	for _, c := range v.Models {
		if c.Err != nil {
			fmt.Fprintf(tw, "%s\tnot fitted: %v\n", c.Model, c.Err)
			continue
		}
		params := make([]string, len(c.Names))
		for i, n := range c.Names {
			params[i] = fmt.Sprintf("%s=%.4g", n, c.Params[i])
		}
		totalError := "-" // nothing to compare with
		if v.ActualRepeatPurchases > 0 {
			totalError = fmt.Sprintf("%+.1f%%", 100*(c.PredictedRepeatPurchases/float64(v.ActualRepeatPurchases)-1))
		}
		fmt.Fprintf(tw, "%s\t%.1f\t%d\t%s\t%.4f\t%.4f\t%s\t%.2f\t%s\n", c.Model, c.PredictedRepeatPurchases,
			v.ActualRepeatPurchases, totalError, c.MeanAbsoluteError, c.RootMeanSquaredError, meanText(c.Correlation),
			c.Fit.LogLikelihood, strings.Join(params, " "))
	}
	tw.Flush()
	if v.Best != "" {
		fmt.Fprintf(w, "best: %s (the lowest root mean squared error per member)%s\n", v.Best, closeCall(v))
	}
	fmt.Fprintln(w, "\nholdout purchases per member, by repeat purchases in the calibration period:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header(tw, "FREQUENCY\tMEMBERS\tACTUAL", v.Models)
	for _, r := range v.ByFrequency {
		fmt.Fprintf(tw, "%s\t%d\t%s", frequencyLabel(r.Frequency), r.Members, meanText(r.ActualMean))
		for _, p := range r.Predicted {
			fmt.Fprintf(tw, "\t%s", meanText(p))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	fmt.Fprintln(w, "\ncumulative repeat purchases at the end of calibration and of the holdout (the tracking per period is in --json and the tables):")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header(tw, "PERIOD END\tACTUAL", v.Models)
	for i, r := range v.Tracking {
		last, calibrationEnd := i == len(v.Tracking)-1, !r.Holdout && i+1 < len(v.Tracking) && v.Tracking[i+1].Holdout
		if !last && !calibrationEnd {
			continue
		}
		fmt.Fprintf(tw, "%s\t%d", res.PeriodEnd(r).Format(time.DateOnly), r.ActualCum)
		for _, e := range r.ExpectCum {
			fmt.Fprintf(tw, "\t%s", meanText(e))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

// header prints a table's header: the given columns, then one per model.
func header(w io.Writer, columns string, models []analytics.ModelCheck) {
	fmt.Fprint(w, columns)
	for _, c := range models {
		fmt.Fprintf(w, "\t%s", strings.ToUpper(c.Model))
	}
	fmt.Fprintln(w)
}

// closeCall notes when the models' errors per member differ by less than
// 0.5%: then either predicts as well, and the choice is by a hair.
func closeCall(v analytics.Validation) string {
	var rmse []float64
	for _, c := range v.Models {
		if c.Err == nil {
			rmse = append(rmse, c.RootMeanSquaredError)
		}
	}
	if len(rmse) > 1 && slices.Max(rmse) < 1.005*slices.Min(rmse) {
		return "; the models' errors differ by less than 0.5%: either predicts these members as well"
	}
	return ""
}

// checkPlotDir makes the plots' directory and checks it takes files, before
// any fitting: a validation is recorded before its plots are drawn.
func checkPlotDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("--plot %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".loyalty-plot-check-*")
	if err != nil {
		return fmt.Errorf("--plot %s: the plots cannot be written there: %w", dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

func frequencyLabel(f int) string {
	if f == analytics.FrequencyCensor {
		return fmt.Sprintf("%d+", f)
	}
	return fmt.Sprint(f)
}

func meanText(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf("%.3f", v)
}

// validationJSON is the validation as --json prints it.
func validationJSON(cfg projections.ValidateConfig, res projections.ValidationResult) any {
	type model struct {
		Model                    string             `json:"model"`
		Error                    string             `json:"error,omitempty"`
		Parameters               map[string]float64 `json:"parameters,omitempty"`
		LogLikelihood            *float64           `json:"log_likelihood,omitempty"`
		PredictedRepeatPurchases *float64           `json:"predicted_repeat_purchases,omitempty"`
		ActualRepeatPurchases    int                `json:"actual_repeat_purchases"`
		MeanAbsoluteError        *float64           `json:"mean_absolute_error,omitempty"`
		RootMeanSquaredError     *float64           `json:"root_mean_squared_error,omitempty"`
		Correlation              *float64           `json:"correlation,omitempty"`
	}
	type frequency struct {
		Frequency  int                 `json:"frequency"`
		Label      string              `json:"label"`
		Members    int                 `json:"members"`
		ActualMean *float64            `json:"actual_mean"`
		Predicted  map[string]*float64 `json:"predicted_mean"`
	}
	type period struct {
		PeriodEnd          string              `json:"period_end"`
		Holdout            bool                `json:"holdout"`
		Actual             int                 `json:"actual"`
		ActualCumulative   int                 `json:"actual_cumulative"`
		Expected           map[string]*float64 `json:"expected"`
		ExpectedCumulative map[string]*float64 `json:"expected_cumulative"`
	}
	v := res.Validation
	out := struct {
		ValidationID          int64       `json:"validation_id"`
		CalibrationEnd        string      `json:"calibration_end"`
		HoldoutEnd            string      `json:"holdout_end"`
		TimeUnit              string      `json:"time_unit"`
		Members               int         `json:"members"`
		ActualRepeatPurchases int         `json:"actual_repeat_purchases"`
		BestModel             string      `json:"best_model,omitempty"`
		Models                []model     `json:"models"`
		ByFrequency           []frequency `json:"conditional_expectations"`
		Tracking              []period    `json:"tracking"`
	}{ValidationID: res.ID, CalibrationEnd: cfg.CalibrationEnd.Format(time.DateOnly), HoldoutEnd: cfg.HoldoutEnd.Format(time.DateOnly),
		TimeUnit: cfg.TimeUnit, Members: v.Members, ActualRepeatPurchases: v.ActualRepeatPurchases, BestModel: v.Best}
	for _, c := range v.Models {
		m := model{Model: c.Model, ActualRepeatPurchases: v.ActualRepeatPurchases}
		if c.Err != nil {
			m.Error = c.Err.Error()
		} else {
			m.Parameters = map[string]float64{}
			for i, n := range c.Names {
				m.Parameters[n] = c.Params[i]
			}
			m.LogLikelihood, m.PredictedRepeatPurchases = finitePtr(c.Fit.LogLikelihood), finitePtr(c.PredictedRepeatPurchases)
			m.MeanAbsoluteError, m.RootMeanSquaredError, m.Correlation = finitePtr(c.MeanAbsoluteError), finitePtr(c.RootMeanSquaredError), finitePtr(c.Correlation)
		}
		out.Models = append(out.Models, m)
	}
	for _, r := range v.ByFrequency {
		f := frequency{Frequency: r.Frequency, Label: frequencyLabel(r.Frequency), Members: r.Members, ActualMean: finitePtr(r.ActualMean), Predicted: map[string]*float64{}}
		for i, c := range v.Models {
			f.Predicted[c.Model] = finitePtr(r.Predicted[i])
		}
		out.ByFrequency = append(out.ByFrequency, f)
	}
	for _, r := range v.Tracking {
		p := period{PeriodEnd: res.PeriodEnd(r).Format(time.DateOnly), Holdout: r.Holdout, Actual: r.Actual, ActualCumulative: r.ActualCum,
			Expected: map[string]*float64{}, ExpectedCumulative: map[string]*float64{}}
		for i, c := range v.Models {
			p.Expected[c.Model], p.ExpectedCumulative[c.Model] = finitePtr(r.Expected[i]), finitePtr(r.ExpectCum[i])
		}
		out.Tracking = append(out.Tracking, p)
	}
	return out
}

func finitePtr(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}
