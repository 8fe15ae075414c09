package domain

// An internal test: the int64 arithmetic of purchases (qualifying spend,
// points) must give what math/big gives, or hand over to it.

import (
	"fmt"
	"math/big"
	"testing"

	"pgregory.net/rapid"
)

// drawDecimal is a rate or multiplier as a program file may give it: up to
// 6 decimals, below 10^6.
func drawDecimal(t *rapid.T, label string) Ratio {
	if rapid.Bool().Draw(t, label+"_whole") { // whole rates, round prices: whole points, the floor's edge
		return Ratio{Num: rapid.Int64Range(0, 10).Draw(t, label), Den: 1}
	}
	s := fmt.Sprintf("%d.%0*d", rapid.Int64Range(0, 999_999).Draw(t, label+"_units"), 6,
		rapid.Int64Range(0, 999_999).Draw(t, label+"_fraction"))
	s = s[:len(s)-rapid.IntRange(0, 6).Draw(t, label+"_dropped")] // fewer decimals
	r, err := ParseRatio(s)
	if err != nil {
		t.Fatalf("ParseRatio(%q): %v", s, err)
	}
	return r
}

func floorOf(r *big.Rat) *big.Int { return new(big.Int).Quo(r.Num(), r.Denom()) }

func TestInt64ArithmeticIsExact(t *testing.T) {
	fast := 0
	rapid.Check(t, func(t *rapid.T) {
		// Amounts small and huge: the int64 path must take what fits and
		// refuse what does not.
		scale := rapid.SampledFrom([]int64{100, 100_000, 1_000_000_000, MaxAmount}).Draw(t, "scale")
		var b Purchase
		b.Total = Money{Minor: rapid.Int64Range(0, scale).Draw(t, "total"), Currency: rapid.SampledFrom([]string{"EUR", "JPY", "KWD"}).Draw(t, "currency")}
		multipliers := map[string]Ratio{"shoes": drawDecimal(t, "shoes"), "food": {Num: 1, Den: 3}} // a Ratio no file gives
		for i := range rapid.IntRange(0, 5).Draw(t, "lines") {
			b.Lines = append(b.Lines, LineItem{
				Category:  rapid.SampledFrom([]string{"", "shoes", "food"}).Draw(t, fmt.Sprint("category", i)),
				Quantity:  rapid.Int64Range(1, 1000).Draw(t, fmt.Sprint("quantity", i)),
				UnitPrice: rapid.Int64Range(0, scale).Draw(t, fmt.Sprint("price", i)),
			})
		}
		if rapid.Bool().Draw(t, "round_prices") { // whole euros: points come out whole
			for i := range b.Lines {
				b.Lines[i].UnitPrice -= b.Lines[i].UnitPrice % 100
			}
		}
		if rapid.Bool().Draw(t, "total_is_lines") { // as most orders: exact products, the floor's edge
			b.Total.Minor = 0
			for _, l := range b.Lines {
				b.Total.Minor += l.Quantity * l.UnitPrice
			}
			if b.Total.Minor > MaxAmount {
				return
			}
		}
		ppu, tier := drawDecimal(t, "points_per_unit"), drawDecimal(t, "tier")
		conv, programUnit := drawDecimal(t, "to_program_currency"), rapid.SampledFrom([]int64{1, 100, 1000}).Draw(t, "program_minor_unit")
		spend := new(big.Rat).SetFrac64(b.Total.Minor, MinorUnit(b.Total.Currency))
		spend.Mul(spend, rat(conv)).Mul(spend, big.NewRat(programUnit, 1))
		wantSpend := floorOf(spend)
		gotSpend, within := qualifyingSpend(b.Total, conv, programUnit)
		if within != (wantSpend.IsInt64() && wantSpend.Int64() <= MaxAmount) || within && gotSpend != wantSpend.Int64() {
			t.Fatalf("qualifying spend %d (within %v), math/big gives %s", gotSpend, within, wantSpend)
		}
		exact, withTier := purchasePointsBig(b, ppu, tier, multipliers)
		base, total, ok := purchasePointsInt64(b, ppu, tier, multipliers)
		if !ok {
			return
		}
		fast++
		if want := floorOf(exact); !want.IsInt64() || want.Int64() != base {
			t.Fatalf("base points %d, math/big gives %s", base, want)
		}
		if want := floorOf(withTier); !want.IsInt64() || want.Int64() != total {
			t.Fatalf("points with the tier %d, math/big gives %s", total, want)
		}
	})
	if fast == 0 {
		t.Error("no purchase took the int64 path")
	}
}

// An ordinary order takes the int64 path.
func TestPurchasePointsInt64TakesOrdinaryOrders(t *testing.T) {
	b := Purchase{Total: Money{Minor: 12_999, Currency: "EUR"}, Lines: []LineItem{
		{Category: "shoes", Quantity: 2, UnitPrice: 4_000}, {Quantity: 1, UnitPrice: 4_999}}}
	base, total, ok := purchasePointsInt64(b, Ratio{Num: 1, Den: 1}, Ratio{Num: 15, Den: 10}, map[string]Ratio{"shoes": {Num: 2, Den: 1}})
	// 129.99 EUR at 1 point per euro, shoes (8,000 of 12,999) at 2x:
	// 129.99 * 20,999 / 12,999 = 209.99; at 1.5x 314.985.
	if !ok || base != 209 || total != 314 {
		t.Errorf("purchasePointsInt64 = %d, %d, %v; want 209, 314, true", base, total, ok)
	}
	// Exactly 100 euros of shoes at 2x and 1.5x: 200 and 300, not a point
	// less.
	b = Purchase{Total: Money{Minor: 10_000, Currency: "EUR"}, Lines: []LineItem{{Category: "shoes", Quantity: 4, UnitPrice: 2_500}}}
	base, total, ok = purchasePointsInt64(b, Ratio{Num: 1, Den: 1}, Ratio{Num: 15, Den: 10}, map[string]Ratio{"shoes": {Num: 2, Den: 1}})
	if !ok || base != 200 || total != 300 {
		t.Errorf("purchasePointsInt64 = %d, %d, %v; want 200, 300, true", base, total, ok)
	}
}
