package domain

import (
	"math"
	"math/big"
	"math/bits"
)

// Points and amounts are exact: floor of a product of rationals. The
// products of an ordinary order fit in int64, and are taken there; only when
// one would not (huge amounts, rates or line counts) is the same value
// computed with math/big, whose allocations and normalisations cost far more
// per event.

// mulNonNeg returns a*b for a, b >= 0, and whether it fits in int64.
func mulNonNeg(a, b int64) (int64, bool) {
	if a < 0 || b < 0 {
		return 0, false
	}
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi != 0 || lo > math.MaxInt64 {
		return 0, false
	}
	return int64(lo), true
}

// addNonNeg returns a+b for a, b >= 0, and whether it fits in int64.
func addNonNeg(a, b int64) (int64, bool) {
	if a < 0 || b < 0 || a > math.MaxInt64-b {
		return 0, false
	}
	return a + b, true
}

// fraction is a non-negative rational kept unreduced in int64: num/den with
// den > 0.
type fraction struct{ num, den int64 }

// times returns f*r, and whether it still fits.
func (f fraction) times(r Ratio) (fraction, bool) {
	num, ok1 := mulNonNeg(f.num, r.Num)
	den, ok2 := mulNonNeg(f.den, r.Den)
	return fraction{num, den}, ok1 && ok2 && den > 0
}

// floor returns floor(num/den).
func (f fraction) floor() int64 { return f.num / f.den }

// categoryScale is the common denominator of category multipliers: every
// Ratio that ParseRatio reads has a power of ten of at most 10^6 as its
// denominator.
const categoryScale = 1_000_000

// categoryFraction is categoryFactor in int64, or false when a line's
// amounts overflow or a multiplier's denominator does not divide
// categoryScale.
func categoryFraction(lines []LineItem, multipliers map[string]Ratio) (fraction, bool) {
	var sum, weighted int64
	for _, l := range lines {
		amount, ok := mulNonNeg(l.Quantity, l.UnitPrice)
		if !ok {
			return fraction{}, false
		}
		mult, found := multipliers[l.Category]
		if !found {
			mult = One
		}
		if mult.Den <= 0 || categoryScale%mult.Den != 0 {
			return fraction{}, false
		}
		scaled, ok1 := mulNonNeg(mult.Num, categoryScale/mult.Den)
		w, ok2 := mulNonNeg(amount, scaled)
		var ok3, ok4 bool
		sum, ok3 = addNonNeg(sum, amount)
		weighted, ok4 = addNonNeg(weighted, w)
		if !ok1 || !ok2 || !ok3 || !ok4 {
			return fraction{}, false
		}
	}
	if sum == 0 {
		return fraction{1, 1}, true
	}
	den, ok := mulNonNeg(sum, categoryScale)
	return fraction{weighted, den}, ok
}

// purchasePointsInt64 is the exact base and tier-multiplied points of
// purchasePoints (before the cap), or false when a product does not fit in
// int64 and math/big must compute them.
func purchasePointsInt64(b Purchase, ppu, tier Ratio, multipliers map[string]Ratio) (base, withTier int64, ok bool) {
	category, ok := categoryFraction(b.Lines, multipliers)
	if !ok {
		return 0, 0, false
	}
	f, ok1 := fraction{b.Total.Minor, MinorUnit(b.Total.Currency)}.times(ppu) // refuses a negative total
	f, ok2 := f.times(Ratio{Num: category.num, Den: category.den})
	t, ok3 := f.times(tier)
	if !ok1 || !ok2 || !ok3 {
		return 0, 0, false
	}
	return f.floor(), t.floor(), true
}

// purchasePointsBig is purchasePointsInt64 in math/big, for any size.
func purchasePointsBig(b Purchase, ppu, tier Ratio, multipliers map[string]Ratio) (base, withTier *big.Rat) {
	base = new(big.Rat).SetFrac64(b.Total.Minor, MinorUnit(b.Total.Currency))
	base.Mul(base, rat(ppu))
	base.Mul(base, categoryFactor(b.Lines, multipliers))
	return base, new(big.Rat).Mul(base, rat(tier))
}

// qualifyingSpend converts an order's total into minor units of the program
// currency (rounded down), and reports whether it is at most MaxAmount.
func qualifyingSpend(total Money, toProgram Ratio, programMinorUnit int64) (int64, bool) {
	f, ok1 := fraction{total.Minor, MinorUnit(total.Currency)}.times(toProgram)
	f, ok2 := f.times(Ratio{Num: programMinorUnit, Den: 1})
	if ok1 && ok2 { // a negative total does not fit: mulNonNeg refuses it
		q := f.floor()
		return q, q <= MaxAmount
	}
	exact := new(big.Rat).SetFrac64(total.Minor, MinorUnit(total.Currency))
	exact.Mul(exact, rat(toProgram))
	exact.Mul(exact, new(big.Rat).SetInt64(programMinorUnit))
	return floorWithin(exact, MaxAmount)
}
