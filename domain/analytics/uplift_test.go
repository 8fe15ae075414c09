package analytics

import (
	"math"
	"testing"
)

// The intervals against published figures: Wilson's and Newcombe's from
// Newcombe (1998), Statistics in Medicine 17:857-872 (Table I) and
// 17:873-890 (Table II, method 10); Welch's from R's
// t.test(extra ~ group, data = sleep).
func TestIntervalsReproducePublishedFigures(t *testing.T) {
	wilson := []struct {
		x, n      int
		low, high float64
	}{
		{81, 263, 0.2553, 0.3662},
		{15, 148, 0.0624, 0.1605},
		{0, 20, 0, 0.1611},
		{1, 29, 0.0061, 0.1718},
	}
	for _, w := range wilson {
		low, high := Wilson(w.x, w.n)
		if math.Abs(low-w.low) > 5e-5 || math.Abs(high-w.high) > 5e-5 {
			t.Errorf("Wilson %d/%d = %.4f, %.4f; published %.4f, %.4f", w.x, w.n, low, high, w.low, w.high)
		}
	}
	newcombe := []struct {
		x1, n1, x0, n0 int
		low, high      float64
	}{
		{56, 70, 48, 80, 0.0524, 0.3339},
		{9, 10, 3, 10, 0.1705, 0.8090},
	}
	for _, c := range newcombe {
		i := ProportionDifference(c.x1, c.n1, c.x0, c.n0)
		if math.Abs(i.Low-c.low) > 5e-5 || math.Abs(i.High-c.high) > 5e-5 {
			t.Errorf("Newcombe %d/%d - %d/%d = %.4f (%.4f, %.4f); published (%.4f, %.4f)", c.x1, c.n1, c.x0, c.n0, i.Estimate, i.Low, i.High, c.low, c.high)
		}
	}
	var g1, g2 Summary
	for _, v := range []float64{0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0} {
		g1.Add(v)
	}
	for _, v := range []float64{1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4} {
		g2.Add(v)
	}
	if i := MeanDifference(g1, g2); math.Abs(i.Estimate+1.58) > 1e-9 || math.Abs(i.Low+3.3654832) > 1e-6 || math.Abs(i.High-0.2054832) > 1e-6 {
		t.Errorf("Welch on the sleep data: %.7f (%.7f, %.7f); R gives -1.58 (-3.3654832, 0.2054832)", i.Estimate, i.Low, i.High)
	}
}

// The sample sizes against the normal approximation's closed form, worked
// by hand: 0.5 against 0.75 needs 57.7 per arm (R's power.prop.test gives
// 57.67); one standard deviation needs 2 (1.96 + 0.84)^2 = 15.7.
func TestMembersNeeded(t *testing.T) {
	if n := MembersForProportions(0.5, 0.75); n != 58 {
		t.Errorf("0.5 vs 0.75: %d per arm, want 58", n)
	}
	if n := MembersForMeans(1, 1); n != 16 {
		t.Errorf("one sd: %d per arm, want 16", n)
	}
	if n := MembersForMeans(10, 1); n != 1570 {
		t.Errorf("a tenth of an sd: %d per arm, want 1570", n)
	}
	if MembersForProportions(0.2, 0.2) != 0 || MembersForMeans(1, 0) != 0 {
		t.Error("no effect needs no sample: want 0")
	}
}
