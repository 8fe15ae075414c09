package analytics

import (
	"fmt"
	"slices"
	"testing"

	"github.com/pointsledger/loyalty/domain"
)

func TestValueBands(t *testing.T) {
	tests := []struct {
		values []float64
		want   []string
	}{
		{nil, []string{}},
		{[]float64{5}, []string{"high"}},
		// ten members: the top 2 high, the next 3 medium, 5 low
		{[]float64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, []string{"high", "high", "medium", "medium", "medium", "low", "low", "low", "low", "low"}},
		// order does not matter
		{[]float64{1, 10, 6, 9, 2, 8, 3, 7, 4, 5}, []string{"low", "high", "medium", "high", "low", "medium", "low", "medium", "low", "low"}},
		// ties take the better band: all equal are all high
		{[]float64{3, 3, 3, 3}, []string{"high", "high", "high", "high"}},
		// 3 members: ceil(0.6) = 1 high, ceil(1.5) = 2 down to medium
		{[]float64{1, 2, 3}, []string{"low", "medium", "high"}},
	}
	for _, tt := range tests {
		if got := ValueBands(tt.values); !slices.Equal(got, tt.want) {
			t.Errorf("ValueBands(%v) = %v, want %v", tt.values, got, tt.want)
		}
	}
}

func TestSegment(t *testing.T) {
	tests := []struct {
		risk, value string
		repeats     int
		days        float64
		want        string
	}{
		{"low", "low", 0, 30, "new"},
		{"low", "high", 0, 90, "new"},
		{"low", "high", 0, 91, "one_time"},
		{"high", "high", 3, 400, "cant_lose"},
		{"high", "medium", 3, 400, "hibernating"},
		{"medium", "high", 3, 400, "at_risk"},
		{"low", "high", 3, 400, "champion"},
		{"low", "medium", 3, 400, "loyal"},
		{"low", "low", 1, 10, "loyal"},
	}
	for _, tt := range tests {
		got := Segment(tt.risk, tt.value, tt.repeats, tt.days)
		if got != tt.want {
			t.Errorf("Segment(%s, %s, %d, %v) = %s, want %s", tt.risk, tt.value, tt.repeats, tt.days, got, tt.want)
		}
		if !slices.Contains(domain.Segments, got) {
			t.Errorf("segment %s is not one the engine takes (domain.Segments)", got)
		}
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		seen[Segment(tt.risk, tt.value, tt.repeats, tt.days)] = true
	}
	if len(seen) != len(domain.Segments) {
		t.Error(fmt.Sprint("the cases reach ", len(seen), " segments of ", len(domain.Segments)))
	}
}
