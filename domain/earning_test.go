package domain_test

import (
	"errors"
	"testing"

	"github.com/pointsledger/loyalty/domain"
)

func TestCategoryMultipliers(t *testing.T) {
	electronics := domain.LineItem{SKU: "tv", Category: "electronics", Quantity: 1, UnitPrice: 6000}
	beauty := domain.LineItem{SKU: "soap", Category: "beauty", Quantity: 2, UnitPrice: 2000}
	toys := domain.LineItem{SKU: "ball", Category: "toys", Quantity: 1, UnitPrice: 3000}
	runRuleCases(t, []ruleCase{
		{
			// (6000 * 0.5 + 4000 * 2) / 10000 = 1.1
			name:  "spend-weighted mean of line multipliers",
			given: []domain.Event{enrolled(), firstBuy},
			when:  buy("e-1", t0, "o-1", eur(10000), electronics, beauty),
			want: []domain.Fact{
				purchased("e-1", t0, "o-1", eur(10000), 10000, 10100, electronics, beauty),
				earned("e-1", t0, 110, domain.RuleBase, "o-1"),
			},
		},
		{
			name:  "a discounted total earns in proportion",
			given: []domain.Event{enrolled(), firstBuy},
			when:  buy("e-1", t0, "o-1", eur(8000), electronics, beauty),
			want: []domain.Fact{
				purchased("e-1", t0, "o-1", eur(8000), 8000, 8100, electronics, beauty),
				earned("e-1", t0, 88, domain.RuleBase, "o-1"), // 80 * 1.1
			},
		},
		{
			// (3000 * 1 + 2000 * 2) / 5000 = 1.4
			name:  "unlisted categories earn at 1",
			given: []domain.Event{enrolled(), firstBuy},
			when:  buy("e-1", t0, "o-1", eur(5000), toys, domain.LineItem{SKU: "soap", Category: "beauty", Quantity: 1, UnitPrice: 2000}),
			want: []domain.Fact{
				purchased("e-1", t0, "o-1", eur(5000), 5000, 5100, toys, domain.LineItem{SKU: "soap", Category: "beauty", Quantity: 1, UnitPrice: 2000}),
				earned("e-1", t0, 70, domain.RuleBase, "o-1"),
			},
		},
		{
			// 33.33 * (1000 * 0.5 + 2000) / 3000 = 27.775
			name:  "the weighted product is floored once",
			given: []domain.Event{enrolled(), firstBuy},
			when:  buy("e-1", t0, "o-1", eur(3333), domain.LineItem{SKU: "tv", Category: "electronics", Quantity: 1, UnitPrice: 1000}, domain.LineItem{SKU: "ball", Category: "toys", Quantity: 1, UnitPrice: 2000}),
			want: []domain.Fact{
				purchased("e-1", t0, "o-1", eur(3333), 3333, 3433, domain.LineItem{SKU: "tv", Category: "electronics", Quantity: 1, UnitPrice: 1000}, domain.LineItem{SKU: "ball", Category: "toys", Quantity: 1, UnitPrice: 2000}),
				earned("e-1", t0, 27, domain.RuleBase, "o-1"),
			},
		},
		{
			name:  "free lines alone leave the factor at 1",
			given: []domain.Event{enrolled(), firstBuy},
			when:  buy("e-1", t0, "o-1", eur(500), domain.LineItem{SKU: "gift", Category: "beauty", Quantity: 1, UnitPrice: 0}),
			want: []domain.Fact{
				purchased("e-1", t0, "o-1", eur(500), 500, 600, domain.LineItem{SKU: "gift", Category: "beauty", Quantity: 1, UnitPrice: 0}),
				earned("e-1", t0, 5, domain.RuleBase, "o-1"),
			},
		},
	})
}

func TestPerOrderCap(t *testing.T) {
	capAt100 := func(p *domain.Program) { p.Earning.PerOrderCap = 100 }
	runRuleCases(t, []ruleCase{
		{
			name: "base and tier points together are capped", program: capAt100,
			given: silver,
			when:  buy("e-1", t0, "o-1", eur(90_00)),
			want: []domain.Fact{
				purchased("e-1", t0, "o-1", eur(90_00), 90_00, 590_00),
				earned("e-1", t0, 90, domain.RuleBase, "o-1"),
				earned("e-1", t0, 10, domain.RuleTierBonus, "o-1"), // 22 uncapped
			},
		},
		{
			name: "base above the cap leaves no tier bonus", program: capAt100,
			given: silver,
			when:  buy("e-1", t0, "o-1", eur(150_00)),
			want: []domain.Fact{
				purchased("e-1", t0, "o-1", eur(150_00), 150_00, 650_00),
				earned("e-1", t0, 100, domain.RuleBase, "o-1"),
			},
		},
		{
			name: "exactly the cap", program: capAt100,
			given: []domain.Event{enrolled(), firstBuy},
			when:  buy("e-1", t0, "o-1", eur(100_00)),
			want: []domain.Fact{
				purchased("e-1", t0, "o-1", eur(100_00), 100_00, 101_00),
				earned("e-1", t0, 100, domain.RuleBase, "o-1"),
			},
		},
		{
			name: "the first purchase bonus is not capped", program: capAt100,
			when: buy("e-1", t0, "o-1", eur(500_00)),
			want: []domain.Fact{
				firstTier("e-1", t0),
				purchased("e-1", t0, "o-1", eur(500_00), 500_00, 500_00),
				earned("e-1", t0, 100, domain.RuleBase, "o-1"),
				earned("e-1", t0, 200, domain.RuleFirstPurchaseBonus, "o-1"),
				upgrade("e-1", t0, "bronze", "silver"),
			},
		},
	})
}

// TestPointsBeyondInt64AreNotWrapped shows a bug: Program.Validate accepts
// any positive points_per_unit and category multiplier, Validate accepts
// amounts up to 10^12, and purchasePoints converts the exact big.Rat result
// with Int64(), which wraps silently. Here the exact base is
// 10^12 JPY * 999999 * 999999 = 999998000001000000000000 points, beyond
// int64; the engine awards 3765205206896640 instead. Either the program or the
// event must be refused.
func TestPointsBeyondInt64AreNotWrapped(t *testing.T) {
	p := testProgram()
	p.MaxOrderAmount = 0
	p.Earning.Currencies["JPY"] = domain.CurrencyRule{PointsPerUnit: ratio(999_999, 1), ToProgramCurrency: ratio(61, 10000)}
	p.Earning.CategoryMultipliers["beauty"] = ratio(999_999, 1)
	if err := p.Validate(); err != nil {
		return // refusing the program is a fix
	}
	e := buy("e-1", t0, "o-1", money(1_000_000_000_000, "JPY"),
		domain.LineItem{SKU: "x", Category: "beauty", Quantity: 1, UnitPrice: 1_000_000_000_000})
	if err := domain.Validate(e, t0); err != nil {
		return // so is refusing the event
	}
	m := given(t, p, enrolled(), firstBuy)
	facts, err := domain.Apply(m, e, p)
	if err == nil {
		t.Errorf("a purchase worth 999998000001000000000000 points was accepted, want a rejection; facts:%s", formatFacts(facts))
	} else if !errors.Is(err, domain.ErrRejected) {
		t.Errorf("Apply = %v, want a rejection", err)
	}
}
