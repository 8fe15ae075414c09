package domain

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// Ratio is an exact decimal such as 1.25 (125/100), used for rates and
// multipliers so that points never pass through floating point.
type Ratio struct {
	Num, Den int64
}

// One is the neutral multiplier.
var One = Ratio{Num: 1, Den: 1}

// ParseRatio reads a plain decimal ("2", "0.5", "1.25") exactly.
func ParseRatio(s string) (Ratio, error) {
	s = strings.TrimSpace(s)
	neg := strings.HasPrefix(s, "-")
	digits := strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(digits, ".")
	if whole == "" && frac == "" || len(frac) > 6 || strings.ContainsAny(whole+frac, "+-") {
		return Ratio{}, fmt.Errorf("%q is not a decimal number with at most 6 decimal places", s)
	}
	den := int64(1)
	for range frac {
		den *= 10
	}
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil || n >= 1_000_000*den {
		return Ratio{}, fmt.Errorf("%q is not a decimal number below 1e6", s)
	}
	if neg {
		n = -n
	}
	return Ratio{Num: n, Den: den}, nil
}

// Positive reports whether r > 0.
func (r Ratio) Positive() bool { return r.Den > 0 && r.Num > 0 }

// Negative reports whether r < 0 or r is not a valid ratio.
func (r Ratio) Negative() bool { return r.Den <= 0 || r.Num < 0 }

// String prints r as a decimal.
func (r Ratio) String() string {
	return new(big.Rat).SetFrac64(r.Num, r.Den).FloatString(decimals(r.Den))
}

func decimals(den int64) int {
	n := 0
	for ; den > 1; den /= 10 {
		n++
	}
	return n
}

// mulDivFloor returns floor(a * product(nums) / product(dens)) exactly,
// for non-negative inputs; intermediate products may exceed int64, but the
// caller must know the result fits (refunds: a share of what was earned).
func mulDivFloor(a int64, rs ...Ratio) int64 {
	num := big.NewInt(a)
	den := big.NewInt(1)
	for _, r := range rs {
		num.Mul(num, big.NewInt(r.Num))
		den.Mul(den, big.NewInt(r.Den))
	}
	return new(big.Int).Quo(num, den).Int64()
}
