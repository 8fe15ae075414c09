package main

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"github.com/pointsledger/loyalty/domain/analytics"
	"github.com/pointsledger/loyalty/projections"
)

// writeValidationPlots draws the tracking of cumulative repeat purchases
// and the conditional expectations, actual against each model, as SVG and
// PNG files in dir.
func writeValidationPlots(dir string, cfg projections.ValidateConfig, res projections.ValidationResult) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("--plot %s: %w", dir, err)
	}
	period := fmt.Sprintf("validation %d: calibration to %s, holdout to %s", res.ID,
		cfg.CalibrationEnd.Format(time.DateOnly), cfg.HoldoutEnd.Format(time.DateOnly))
	tracking, err := trackingPlot(res)
	if err != nil {
		return nil, err
	}
	expectations, err := expectationsPlot(res.Validation)
	if err != nil {
		return nil, err
	}
	tracking.Title.Text += "\n" + period
	expectations.Title.Text += "\n" + period
	var files []string
	for name, p := range map[string]*plot.Plot{"tracking": tracking, "conditional-expectations": expectations} {
		for _, ext := range []string{".svg", ".png"} {
			file := filepath.Join(dir, name+ext)
			if err := p.Save(8*vg.Inch, 5*vg.Inch, file); err != nil {
				return files, fmt.Errorf("write %s: %w", file, err)
			}
			files = append(files, file)
		}
	}
	return files, nil
}

// trackingPlot is the cumulative repeat purchases by period end, with a
// vertical line at the end of calibration.
func trackingPlot(res projections.ValidationResult) (*plot.Plot, error) {
	v := res.Validation
	p := plot.New()
	p.Title.Text = "Cumulative repeat purchases: actual and expected"
	p.X.Label.Text = "period end"
	p.Y.Label.Text = "repeat purchases"
	p.X.Tick.Marker = plot.TimeTicks{Format: "2006-01-02"}
	p.Legend.Top, p.Legend.Left = true, true
	x := func(r analytics.TrackingRow) float64 { return float64(res.PeriodEnd(r).Unix()) }
	actual := make(plotter.XYs, len(v.Tracking))
	calibrationEnd := math.NaN()
	for i, r := range v.Tracking {
		actual[i] = plotter.XY{X: x(r), Y: float64(r.ActualCum)}
		if !r.Holdout {
			calibrationEnd = x(r)
		}
	}
	if err := addLine(p, "actual", actual, 0); err != nil {
		return nil, err
	}
	for m, c := range v.Models {
		if c.Err != nil {
			continue
		}
		xys := make(plotter.XYs, len(v.Tracking))
		for i, r := range v.Tracking {
			xys[i] = plotter.XY{X: x(r), Y: r.ExpectCum[m]}
		}
		if err := addLine(p, c.Model, xys, m+1); err != nil {
			return nil, err
		}
	}
	if !math.IsNaN(calibrationEnd) && len(actual) > 0 {
		line, err := plotter.NewLine(plotter.XYs{{X: calibrationEnd, Y: 0}, {X: calibrationEnd, Y: actual[len(actual)-1].Y}})
		if err != nil {
			return nil, err
		}
		line.Color = color.Gray{Y: 160}
		line.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
		p.Add(line)
		p.Legend.Add("end of calibration", line)
	}
	return p, nil
}

// expectationsPlot is the mean holdout purchases by calibration frequency.
func expectationsPlot(v analytics.Validation) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Holdout purchases per member by calibration frequency"
	p.X.Label.Text = "repeat purchases in the calibration period"
	p.Y.Label.Text = "mean purchases in the holdout"
	p.Legend.Top, p.Legend.Left = true, true
	var ticks []plot.Tick
	series := func(mean func(analytics.FrequencyRow) float64) plotter.XYs {
		var xys plotter.XYs
		for _, r := range v.ByFrequency {
			if y := mean(r); !math.IsNaN(y) {
				xys = append(xys, plotter.XY{X: float64(r.Frequency), Y: y})
			}
		}
		return xys
	}
	for _, r := range v.ByFrequency {
		ticks = append(ticks, plot.Tick{Value: float64(r.Frequency), Label: fmt.Sprintf("%s\n(%d members)", frequencyLabel(r.Frequency), r.Members)})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	if err := addLine(p, "actual", series(func(r analytics.FrequencyRow) float64 { return r.ActualMean }), 0); err != nil {
		return nil, err
	}
	for m, c := range v.Models {
		if c.Err != nil {
			continue
		}
		if err := addLine(p, c.Model, series(func(r analytics.FrequencyRow) float64 { return r.Predicted[m] }), m+1); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func addLine(p *plot.Plot, name string, xys plotter.XYs, i int) error {
	if len(xys) == 0 {
		return nil
	}
	line, points, err := plotter.NewLinePoints(xys)
	if err != nil {
		return fmt.Errorf("plot %s: %w", name, err)
	}
	line.Color, points.Color = plotutil.Color(i), plotutil.Color(i)
	line.Dashes = plotutil.Dashes(i)
	points.Shape = plotutil.Shape(i)
	points.Radius = vg.Points(1.5)
	p.Add(line, points)
	p.Legend.Add(name, line, points)
	return nil
}
