package simulate

import (
	"encoding/binary"
	"math"
	"math/rand/v2"

	"github.com/google/uuid"
)

// memberSource lets one *rand.Rand draw from whichever member is being
// simulated: each member has its own PCG stream, so a member's activity
// depends only on the seed and its position, not on how its events
// interleave with other members' (ties in time, say).
type memberSource struct{ pcg *rand.PCG }

func (s *memberSource) Uint64() uint64 { return s.pcg.Uint64() }

// gamma draws from a Gamma distribution with the given shape and scale
// (mean shape*scale), by Marsaglia and Tsang's method.
func gamma(r *rand.Rand, shape, scale float64) float64 {
	if shape < 1 {
		// Gamma(a) = Gamma(a+1) * U^(1/a).
		u := 1 - r.Float64() // (0, 1]
		return gamma(r, shape+1, scale) * math.Pow(u, 1/shape)
	}
	d := shape - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := r.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := r.Float64()
		if u < 1-0.0331*x*x*x*x || math.Log(u) < 0.5*x*x+d*(1-v+math.Log(v)) {
			return d * v * scale
		}
	}
}

// beta draws from a Beta(a, b) distribution.
func beta(r *rand.Rand, a, b float64) float64 {
	x := gamma(r, a, 1)
	y := gamma(r, b, 1)
	if x+y == 0 {
		return 0
	}
	return x / (x + y)
}

// weighted picks an index with probability proportional to its weight.
func weighted(r *rand.Rand, weights []float64) int {
	var sum float64
	for _, w := range weights {
		sum += w
	}
	x := r.Float64() * sum
	for i, w := range weights {
		if x < w {
			return i
		}
		x -= w
	}
	return len(weights) - 1
}

// between returns a uniformly distributed int64 in [lo, hi].
func between(r *rand.Rand, lo, hi int64) int64 {
	if hi <= lo {
		return lo
	}
	return lo + r.Int64N(hi-lo+1)
}

// newID returns a version 4 UUID made from the random stream.
func newID(r *rand.Rand) string {
	var b uuid.UUID
	binary.LittleEndian.PutUint64(b[:8], r.Uint64())
	binary.LittleEndian.PutUint64(b[8:], r.Uint64())
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	return b.String()
}
