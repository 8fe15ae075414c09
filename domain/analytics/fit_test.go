package analytics

import (
	"errors"
	"strings"
	"testing"
)

// A handful of members (what a fit during an import sees) often has no
// maximum of the likelihood at finite parameters: the fit must fail, and
// say that too little history is why, not only that the optimiser stopped.
func TestFitSaysWhenTooFewMembers(t *testing.T) {
	histories := []History{{2, 49, 411}, {8, 266, 451}, {1, 2, 387}, {9, 112, 402}}
	_, err := FitBGNBD(histories)
	if !errors.Is(err, ErrNotConverged) || !strings.Contains(err.Error(), "4 members are too few") ||
		!strings.Contains(err.Error(), " ran off to ") {
		t.Errorf("BG/NBD on 4 members: %v; want a runaway parameter named and too few members blamed", err)
	}
	spends := []Spend{{2, 3543}, {8, 1160}, {1, 3576}, {19, 2006}, {13, 1967}, {0, 0}, {0, 0}, {15, 1324}}
	_, err = FitGammaGamma(spends)
	if !errors.Is(err, ErrNotConverged) || !strings.Contains(err.Error(), "6 members are too few") ||
		!strings.Contains(err.Error(), "q ran off to ") {
		t.Errorf("Gamma-Gamma on 6 repeat buyers: %v; want q named as the runaway and too few members blamed", err)
	}
}

func TestRanAwayLooksAtEveryStart(t *testing.T) {
	starts := [][]float64{{1, 10}, {0.01, 1000}}
	for _, c := range []struct {
		params []float64
		want   int
		away   bool
	}{
		{[]float64{50, 5e5}, 0, false}, // within 1e4 of a start each
		{[]float64{2e4, 10}, 0, true},  // 2e4 from 1, 2e6 from 0.01
		{[]float64{1, 1e-4}, 1, true},  // 1e-5 of 10, 1e-7 of 1000
		{[]float64{1e-7, 10}, 0, true},
	} {
		if i, away := ranAway(c.params, starts); away != c.away || (away && i != c.want) {
			t.Errorf("ranAway(%v) = %d, %v; want %d, %v", c.params, i, away, c.want, c.away)
		}
	}
}
