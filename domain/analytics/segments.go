package analytics

import (
	"cmp"
	"math"
	"slices"
)

// Shares of a fit's members in the value bands: the top HighValueShare by
// predicted value are "high", the next MediumValueShare "medium", the rest
// "low".
const (
	HighValueShare   = 0.2
	MediumValueShare = 0.3
)

// NewMemberDays is how long after the first purchase a member without a
// repeat purchase is "new" rather than "one_time".
const NewMemberDays = 90

// ValueBands gives each value its band by rank among values. Equal values
// get the same band (the better one), so a band depends on the value and
// the population only, not on the members' order.
func ValueBands(values []float64) []string {
	n := len(values)
	bands := make([]string, n)
	if n == 0 {
		return bands
	}
	sorted := slices.SortedFunc(slices.Values(values), func(a, b float64) int { return cmp.Compare(b, a) })
	high := sorted[rankCut(n, HighValueShare)]
	medium := sorted[rankCut(n, HighValueShare+MediumValueShare)]
	for i, v := range values {
		switch {
		case v >= high:
			bands[i] = "high"
		case v >= medium:
			bands[i] = "medium"
		default:
			bands[i] = "low"
		}
	}
	return bands
}

// rankCut is the index, in descending order, of the last of the top share
// of n values (at least the first).
func rankCut(n int, share float64) int {
	// less a hair, so that a share of whole members (0.2 of 10) is not
	// rounded up by the float product's last bit
	k := int(math.Ceil(share*float64(n)-1e-9)) - 1
	return min(max(k, 0), n-1)
}

// Segment puts a member in one of the segments rules and analysts use, from
// their risk and value bands and purchase history (docs/analytics.md):
// without a repeat purchase, new or one_time by age; otherwise by risk,
// and within a risk band by value.
func Segment(riskBand, valueBand string, repeatPurchases int, daysSinceFirst float64) string {
	switch {
	case repeatPurchases == 0 && daysSinceFirst <= NewMemberDays:
		return "new"
	case repeatPurchases == 0:
		return "one_time"
	case riskBand == "high" && valueBand == "high":
		return "cant_lose"
	case riskBand == "high":
		return "hibernating"
	case riskBand == "medium":
		return "at_risk"
	case valueBand == "high":
		return "champion"
	default:
		return "loyal"
	}
}
