package domain_test

import (
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
)

func debt(id string, at time.Time, points int64, order string) domain.PointsDebt {
	return domain.PointsDebt{FactMeta: meta(id, at), Points: points, Rule: domain.RuleRefund, OrderID: order, ProgramVersion: version}
}

// A refund of o-1 should take back its 20 points when the balance holds
// fewer: they expired, or some were spent.
func TestReturnsPolicy(t *testing.T) {
	withinBalance := func(p *domain.Program) { p.Returns = domain.Returns{Policy: domain.ReturnsWithinBalance} }
	noBonus := func(p *domain.Program) { p.Earning.FirstPurchaseBonus = 0 }
	// Points: o-1 20 and o-2 10, one lot until the end of t0+1d; o-2's
	// refund takes its 10 back, leaving 20.
	history := []domain.Event{enrolled(), buy("e-1", t0, "o-1", eur(2000)), buy("e-2", t0.Add(time.Hour), "o-2", eur(1000)),
		refund("e-3", t0.Add(2*time.Hour), "o-2", eur(1000))} // balance 20 + 10 - 10 = 20
	runRuleCases(t, []ruleCase{
		{
			name: "unlimited (the default): the balance may go below zero",
			program: func(p *domain.Program) {
				noBonus(p)
				p.Earning.Expiry = domain.Expiry{Policy: domain.ExpireAfterDays, Days: 1}
			},
			given: history,
			// the lot expired; the refund still takes back 20
			when: refund("e-4", t0.Add(2*day), "o-1", eur(2000)),
			want: []domain.Fact{
				expired("e-4", eod(t0.Add(day)), 20, domain.RuleExpiry),
				refunded("e-4", t0.Add(2*day), "o-1", eur(2000), -2000, 0),
				reversed("e-4", t0.Add(2*day), 20, "o-1"),
			},
		},
		{
			name: "within balance: the balance stops at zero and the rest is debt",
			program: func(p *domain.Program) {
				noBonus(p)
				withinBalance(p)
				p.Earning.Expiry = domain.Expiry{Policy: domain.ExpireAfterDays, Days: 1}
			},
			given: append(history, visit("e-v", t0.Add(36*time.Hour))), // +5 for the visit, until the day after
			when:  refund("e-4", t0.Add(2*day), "o-1", eur(2000)),
			want: []domain.Fact{
				expired("e-4", eod(t0.Add(day)), 20, domain.RuleExpiry),
				refunded("e-4", t0.Add(2*day), "o-1", eur(2000), -2000, 0),
				reversed("e-4", t0.Add(2*day), 5, "o-1"),
				debt("e-4", t0.Add(2*day), 15, "o-1"),
			},
		},
		{
			name:    "within balance, with enough points: as unlimited",
			program: func(p *domain.Program) { noBonus(p); withinBalance(p) },
			given:   history,
			when:    refund("e-4", t0.Add(2*day), "o-1", eur(1000)),
			want: []domain.Fact{
				refunded("e-4", t0.Add(2*day), "o-1", eur(1000), -1000, 1000),
				reversed("e-4", t0.Add(2*day), 10, "o-1"),
			},
		},
	})
}

// Debt counts as taken back: a second refund of the order does not take it
// again.
func TestDebtCountsAsReversed(t *testing.T) {
	p := testProgram()
	p.Earning.FirstPurchaseBonus = 0
	p.Returns = domain.Returns{Policy: domain.ReturnsWithinBalance}
	p.Earning.Expiry = domain.Expiry{Policy: domain.ExpireAfterDays, Days: 1}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	m := given(t, p, enrolled(), buy("e-1", t0, "o-1", eur(2000)), refund("e-2", t0.Add(2*day), "o-1", eur(1000)))
	if m.Balance != 0 || m.Debt != 10 {
		t.Fatalf("after the first refund: balance %d, debt %d; want 0 and 10", m.Balance, m.Debt)
	}
	facts, err := domain.Apply(m, refund("e-3", t0.Add(3*day), "o-1", eur(1000)), p)
	if err != nil {
		t.Fatal(err)
	}
	checkFacts(t, facts, []domain.Fact{
		refunded("e-3", t0.Add(3*day), "o-1", eur(1000), -1000, 0),
		debt("e-3", t0.Add(3*day), 10, "o-1"),
	})
	if m.Debt != 20 || m.Balance != 0 {
		t.Errorf("balance %d, debt %d; want 0 and 20", m.Balance, m.Debt)
	}
}
