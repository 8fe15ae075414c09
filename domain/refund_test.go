package domain_test

import (
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
)

var (
	t1 = t0.Add(day)
	// tenEuros is an order of 10.00 EUR at t0: 10 base points (plus the first
	// purchase bonus of 200, which only a refund of the whole order takes
	// back) and 1000 cents of spend.
	tenEuros = []domain.Event{enrolled(), buy("e-1", t0, "o-1", eur(1000))}

	lineA = domain.LineItem{SKU: "A", Category: "toys", Quantity: 2, UnitPrice: 1500}
	lineB = domain.LineItem{SKU: "B", Category: "toys", Quantity: 1, UnitPrice: 2000}
	// byLines is an order of 50.00 EUR whose lines add up to it: 50 points.
	byLines = []domain.Event{enrolled(), buy("e-1", t0, "o-1", eur(5000), lineA, lineB)}
	// discounted is the same lines sold for 40.00 EUR: 40 points.
	discounted = []domain.Event{enrolled(), buy("e-1", t0, "o-1", eur(4000), lineA, lineB)}
)

func refunded(id string, at time.Time, order string, amount domain.Money, qualifying, after int64, lines ...domain.RefundLine) domain.RefundRecorded {
	return domain.RefundRecorded{
		FactMeta: meta(id, at), OrderID: order, Amount: amount, Lines: lines,
		QualifyingSpend: qualifying, QualifyingSpendAfter: after,
	}
}

func with(history []domain.Event, more ...domain.Event) []domain.Event {
	return append(append([]domain.Event(nil), history...), more...)
}

func TestRefundByAmount(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{
			name:  "points are reversed in proportion, floored",
			given: tenEuros,
			when:  refund("e-2", t1, "o-1", eur(333)),
			want: []domain.Fact{
				refunded("e-2", t1, "o-1", eur(333), -333, 667),
				reversed("e-2", t1, 3, "o-1"), // 10 * 3.33 / 10.00 = 3.33
			},
		},
		{
			name:  "a second partial refund reverses on the running total",
			given: with(tenEuros, refund("e-2", t1, "o-1", eur(333))),
			when:  refund("e-3", t1, "o-1", eur(333)),
			want: []domain.Fact{
				refunded("e-3", t1, "o-1", eur(333), -333, 334),
				reversed("e-3", t1, 3, "o-1"), // floor(6.66) - 3
			},
		},
		{
			name:  "the last partial refund reverses what is left, never more",
			given: with(tenEuros, refund("e-2", t1, "o-1", eur(333)), refund("e-3", t1, "o-1", eur(333))),
			when:  refund("e-4", t1, "o-1", eur(334)),
			want: []domain.Fact{
				refunded("e-4", t1, "o-1", eur(334), -334, 0),
				reversed("e-4", t1, 204, "o-1"), // 10 - 6, and the first purchase bonus
			},
		},
		{
			name:  "a refund too small to reverse a point",
			given: tenEuros,
			when:  refund("e-2", t1, "o-1", eur(5)),
			want:  []domain.Fact{refunded("e-2", t1, "o-1", eur(5), -5, 995)},
		},
		{
			name:    "a full refund leaves the first purchase bonus under order_bonuses: keep",
			program: func(p *domain.Program) { p.Returns.OrderBonuses = domain.OrderBonusesKeep },
			given:   tenEuros,
			when:    refund("e-2", t1, "o-1", eur(1000)),
			want: []domain.Fact{
				refunded("e-2", t1, "o-1", eur(1000), -1000, 0),
				reversed("e-2", t1, 10, "o-1"),
			},
		},
		{
			name:  "a refund of zero",
			given: tenEuros,
			when:  refund("e-2", t1, "o-1", eur(0)),
			want:  []domain.Fact{refunded("e-2", t1, "o-1", eur(0), 0, 1000)},
		},
		{
			name:  "a zero-amount order refunded by zero",
			given: []domain.Event{enrolled(), buy("e-1", t0, "o-1", eur(0))},
			when:  refund("e-2", t1, "o-1", eur(0)),
			want:  []domain.Fact{refunded("e-2", t1, "o-1", eur(0), 0, 0)},
		},
		{
			name:  "tier bonus points are reversed too",
			given: with(silver, buy("e-1", t0, "o-1", eur(1000))), // 10 base + 2 tier
			when:  refund("e-2", t1, "o-1", eur(500)),
			want: []domain.Fact{
				refunded("e-2", t1, "o-1", eur(500), -500, 50500),
				reversed("e-2", t1, 6, "o-1"), // 12 / 2
			},
		},
		{
			name:  "a refund below the threshold keeps the tier",
			given: silver,
			when:  refund("e-2", firstBuyAt.Add(day), "o-0", eur(200_00)),
			want: []domain.Fact{
				refunded("e-2", firstBuyAt.Add(day), "o-0", eur(200_00), -200_00, 300_00),
				reversed("e-2", firstBuyAt.Add(day), 200, "o-0"),
			},
		},
		{
			name:    "spend already out of the qualifying window is not taken twice",
			program: func(p *domain.Program) { p.RefundWindow = 400 * day },
			given: []domain.Event{
				buy("e-1", time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC), "o-1", eur(100_00)),
				buy("e-2", time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC), "o-2", eur(20_00)),
			},
			when: refund("e-3", time.Date(2026, 3, 5, 10, 0, 0, 0, time.UTC), "o-1", eur(100_00)),
			want: []domain.Fact{
				refunded("e-3", time.Date(2026, 3, 5, 10, 0, 0, 0, time.UTC), "o-1", eur(100_00), -100_00, 20_00),
				reversed("e-3", time.Date(2026, 3, 5, 10, 0, 0, 0, time.UTC), 300, "o-1"), // 100, and the first purchase bonus
			},
		},
		{
			name:  "the last day of the refund window",
			given: tenEuros,
			when:  refund("e-2", t0.Add(30*day), "o-1", eur(1000)),
			want: []domain.Fact{
				refunded("e-2", t0.Add(30*day), "o-1", eur(1000), -1000, 0),
				reversed("e-2", t0.Add(30*day), 210, "o-1"),
			},
		},
		{
			name:   "after the refund window",
			given:  tenEuros,
			when:   refund("e-2", t0.Add(30*day+time.Nanosecond), "o-1", eur(1000)),
			reason: domain.ReasonRefundWindowClosed, field: "order_id",
		},
		{
			name:   "more than the order",
			given:  tenEuros,
			when:   refund("e-2", t1, "o-1", eur(1001)),
			reason: domain.ReasonRefundExceedsOrder, field: "amount",
		},
		{
			name:   "more than is left of the order",
			given:  with(tenEuros, refund("e-2", t1, "o-1", eur(333))),
			when:   refund("e-3", t1, "o-1", eur(668)),
			reason: domain.ReasonRefundExceedsOrder, field: "amount",
		},
		{
			name:   "anything after a full refund",
			given:  with(tenEuros, refund("e-2", t1, "o-1", eur(1000))),
			when:   refund("e-3", t1, "o-1", eur(1)),
			reason: domain.ReasonRefundExceedsOrder, field: "amount",
		},
		{
			name:   "an order never recorded",
			given:  tenEuros,
			when:   refund("e-2", t1, "o-9", eur(100)),
			reason: domain.ReasonUnknownOrder, field: "order_id",
		},
		{
			name:   "a new member has no orders",
			when:   refund("e-2", t1, "o-1", eur(100)),
			reason: domain.ReasonUnknownOrder, field: "order_id",
		},
		{
			name:   "in another currency than the order",
			given:  tenEuros,
			when:   refund("e-2", t1, "o-1", money(100, "USD")),
			reason: domain.ReasonCurrencyMismatch, field: "currency",
		},
	})
}

func TestRefundByLines(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{
			name:  "lines are priced at the order's unit prices",
			given: byLines,
			when:  refundLines("e-2", t1, "o-1", domain.RefundLine{SKU: "A", Quantity: 1}),
			want: []domain.Fact{
				refunded("e-2", t1, "o-1", eur(1500), -1500, 3500, domain.RefundLine{SKU: "A", Quantity: 1}),
				reversed("e-2", t1, 15, "o-1"), // 50 * 15 / 50
			},
		},
		{
			name:  "lines decide the amount when both are sent",
			given: byLines,
			when:  event("e-2", t1, domain.Refund{OrderID: "o-1", Amount: money(1, "USD"), Lines: []domain.RefundLine{{SKU: "A", Quantity: 1}}}),
			want: []domain.Fact{
				refunded("e-2", t1, "o-1", eur(1500), -1500, 3500, domain.RefundLine{SKU: "A", Quantity: 1}),
				reversed("e-2", t1, 15, "o-1"),
			},
		},
		{
			name:  "several lines",
			given: byLines,
			when:  refundLines("e-2", t1, "o-1", domain.RefundLine{SKU: "A", Quantity: 2}, domain.RefundLine{SKU: "B", Quantity: 1}),
			want: []domain.Fact{
				refunded("e-2", t1, "o-1", eur(5000), -5000, 0, domain.RefundLine{SKU: "A", Quantity: 2}, domain.RefundLine{SKU: "B", Quantity: 1}),
				reversed("e-2", t1, 250, "o-1"), // 50, and the first purchase bonus
			},
		},
		{
			name:  "discounted order: in proportion to the price paid",
			given: discounted,
			when:  refundLines("e-2", t1, "o-1", domain.RefundLine{SKU: "B", Quantity: 1}),
			want: []domain.Fact{
				refunded("e-2", t1, "o-1", eur(2000), -2000, 2000, domain.RefundLine{SKU: "B", Quantity: 1}),
				reversed("e-2", t1, 20, "o-1"), // 40 * 20.00 / 40.00
			},
		},
		{
			name:  "discounted order: line prices are capped at what is left",
			given: with(discounted, refundLines("e-2", t1, "o-1", domain.RefundLine{SKU: "B", Quantity: 1})),
			when:  refundLines("e-3", t1, "o-1", domain.RefundLine{SKU: "A", Quantity: 2}), // 30.00 of lines, 20.00 left
			want: []domain.Fact{
				refunded("e-3", t1, "o-1", eur(2000), -2000, 0, domain.RefundLine{SKU: "A", Quantity: 2}),
				reversed("e-3", t1, 220, "o-1"), // 40 - 20, and the first purchase bonus
			},
		},
		{
			name:   "a line is returned at most once",
			given:  with(byLines, refundLines("e-2", t1, "o-1", domain.RefundLine{SKU: "A", Quantity: 1})),
			when:   refundLines("e-3", t1, "o-1", domain.RefundLine{SKU: "A", Quantity: 2}),
			reason: domain.ReasonRefundExceedsOrder, field: "lines[0].quantity",
		},
		{
			name:   "the same sku twice in one refund",
			given:  byLines,
			when:   refundLines("e-2", t1, "o-1", domain.RefundLine{SKU: "A", Quantity: 1}, domain.RefundLine{SKU: "A", Quantity: 2}),
			reason: domain.ReasonRefundExceedsOrder, field: "lines[1].quantity",
		},
		{
			name:   "a sku the order does not have",
			given:  byLines,
			when:   refundLines("e-2", t1, "o-1", domain.RefundLine{SKU: "B", Quantity: 1}, domain.RefundLine{SKU: "Z", Quantity: 1}),
			reason: domain.ReasonInvalidField, field: "lines[1].sku",
		},
		{
			name:   "lines of an order sent without lines",
			given:  tenEuros,
			when:   refundLines("e-2", t1, "o-1", domain.RefundLine{SKU: "A", Quantity: 1}),
			reason: domain.ReasonInvalidField, field: "lines[0].sku",
		},
	})
}

// A refund dated before its purchase (the till that took the goods back
// runs behind the one that sold them) takes its spend off the purchase's
// day, like any refund. It cannot have happened before the purchase, so its
// qualifying spend and tier standing are counted as of the purchase's time:
// the purchase net of the refund, never negative.
func TestRefundDatedBeforeItsPurchase(t *testing.T) {
	noBonus := func(p *domain.Program) { p.Earning.FirstPurchaseBonus = 0 }
	feb1 := time.Date(2026, 2, 1, 10, 0, 0, 0, time.UTC)
	dayBefore := t0.Add(-day) // 28 February; the purchase is on 1 March
	runRuleCases(t, []ruleCase{
		{
			name:    "a full refund the day before: nothing left of the order",
			program: noBonus,
			given:   tenEuros,
			when:    refund("e-2", dayBefore, "o-1", eur(1000)),
			want: []domain.Fact{
				refunded("e-2", dayBefore, "o-1", eur(1000), -1000, 0),
				reversed("e-2", dayBefore, 10, "o-1"),
			},
		},
		{
			name:    "a partial refund the day before: the purchase counts, net of it",
			program: noBonus,
			given:   []domain.Event{enrolled(), buy("e-1", feb1, "o-0", eur(300_00)), buy("e-2", t0, "o-1", eur(100_00))},
			when:    refund("e-3", dayBefore, "o-1", eur(40_00)),
			want: []domain.Fact{
				refunded("e-3", dayBefore, "o-1", eur(40_00), -40_00, 360_00),
				reversed("e-3", dayBefore, 40, "o-1"),
			},
		},
		{
			name:    "the tier progress is the purchase's, net of the refund",
			program: noBonus,
			given:   []domain.Event{enrolled(), buy("e-1", t0, "o-1", eur(100_00))},
			when:    refund("e-2", dayBefore, "o-1", eur(40_00)),
			want: []domain.Fact{
				refunded("e-2", dayBefore, "o-1", eur(40_00), -40_00, 60_00),
				reversed("e-2", dayBefore, 40, "o-1"),
				domain.TierProgress{FactMeta: meta("e-2", dayBefore),
					TierOutlook: domain.TierOutlook{Value: 60_00, NextTier: "silver", Missing: 440_00, Projected: "bronze"}},
			},
		},
		{
			name:    "an hour before, on the purchase's day: the order's day nets out",
			program: noBonus,
			given:   tenEuros,
			when:    refund("e-2", t0.Add(-time.Hour), "o-1", eur(400)),
			want: []domain.Fact{
				refunded("e-2", t0.Add(-time.Hour), "o-1", eur(400), -400, 600),
				reversed("e-2", t0.Add(-time.Hour), 4, "o-1"),
			},
		},
		{
			name:    "the refund comes off the purchase's window: the next purchase sees it",
			program: noBonus,
			given:   []domain.Event{enrolled(), buy("e-1", t0, "o-1", eur(400_00)), refund("e-2", dayBefore, "o-1", eur(300_00))},
			when:    buy("e-3", t0.Add(day), "o-2", eur(300_00)),
			want: []domain.Fact{
				purchased("e-3", t0.Add(day), "o-2", eur(300_00), 300_00, 400_00),
				earned("e-3", t0.Add(day), 300, domain.RuleBase, "o-2"),
			},
		},
	})
}

// The one-off bonuses of an order (the first-purchase bonus, a referred
// member's referral bonus) follow the order when it is refunded in full:
// the refund that completes the return takes them back with the order's
// points, by the returns policy. A partial refund leaves them.
func TestRefundTakesBackOrderBonuses(t *testing.T) {
	referred := event("e-enrol", enrolAt, domain.Enrolment{Channel: "app", ReferredBy: "m-ref"})
	firstOrder := []domain.Event{referred, buy("e-1", t0, "o-1", eur(1000))} // 10 + 200 + 100 points
	runRuleCases(t, []ruleCase{
		{
			name:  "a full refund of the first order takes back its first-purchase bonus",
			given: tenEuros,
			when:  refund("e-2", t1, "o-1", eur(1000)),
			want: []domain.Fact{
				refunded("e-2", t1, "o-1", eur(1000), -1000, 0),
				reversed("e-2", t1, 210, "o-1"),
			},
		},
		{
			name:  "a partial refund leaves it",
			given: tenEuros,
			when:  refund("e-2", t1, "o-1", eur(999)),
			want: []domain.Fact{
				refunded("e-2", t1, "o-1", eur(999), -999, 1),
				reversed("e-2", t1, 9, "o-1"),
			},
		},
		{
			name:  "the refund that completes the return takes it back",
			given: with(tenEuros, refund("e-2", t1, "o-1", eur(600))),
			when:  refund("e-3", t1, "o-1", eur(400)),
			want: []domain.Fact{
				refunded("e-3", t1, "o-1", eur(400), -400, 0),
				reversed("e-3", t1, 204, "o-1"), // 10 - 6, and the bonus
			},
		},
		{
			name:  "returning every line is a full refund",
			given: byLines,
			when:  refundLines("e-2", t1, "o-1", domain.RefundLine{SKU: "A", Quantity: 2}, domain.RefundLine{SKU: "B", Quantity: 1}),
			want: []domain.Fact{
				refunded("e-2", t1, "o-1", eur(5000), -5000, 0, domain.RefundLine{SKU: "A", Quantity: 2}, domain.RefundLine{SKU: "B", Quantity: 1}),
				reversed("e-2", t1, 250, "o-1"),
			},
		},
		{
			name:  "a later order has no bonus to take back",
			given: with(tenEuros, buy("e-2", t1, "o-2", eur(2000))),
			when:  refund("e-3", t1, "o-2", eur(2000)),
			want: []domain.Fact{
				refunded("e-3", t1, "o-2", eur(2000), -2000, 1000),
				reversed("e-3", t1, 20, "o-2"),
			},
		},
		{
			name:  "a purchase after the refund is not a first purchase again",
			given: with(tenEuros, refund("e-2", t1, "o-1", eur(1000))),
			when:  buy("e-3", t1.Add(time.Hour), "o-2", eur(2000)),
			want: []domain.Fact{
				purchased("e-3", t1.Add(time.Hour), "o-2", eur(2000), 2000, 2000),
				earned("e-3", t1.Add(time.Hour), 20, domain.RuleBase, "o-2"),
			},
		},
		{
			name:    "the referred member's bonus too",
			program: withTransfers,
			given:   firstOrder,
			when:    refund("e-2", t1, "o-1", eur(1000)),
			want: []domain.Fact{
				refunded("e-2", t1, "o-1", eur(1000), -1000, 0),
				reversed("e-2", t1, 310, "o-1"),
			},
		},
		{
			name: "points already spent: within the balance, the rest is debt",
			program: func(p *domain.Program) {
				withCatalogue(true, 0)(p)
				p.Returns.Policy = domain.ReturnsWithinBalance
			},
			given: with(tenEuros, redeemPoints("e-2", t1, "r-1", 150)), // 60 left
			when:  refund("e-3", t1.Add(time.Hour), "o-1", eur(1000)),
			want: []domain.Fact{
				refunded("e-3", t1.Add(time.Hour), "o-1", eur(1000), -1000, 0),
				reversed("e-3", t1.Add(time.Hour), 60, "o-1"),
				debt("e-3", t1.Add(time.Hour), 150, "o-1"),
			},
		},
		{
			name:    "points already spent: unlimited takes the balance below zero",
			program: withCatalogue(true, 0),
			given:   with(tenEuros, redeemPoints("e-2", t1, "r-1", 150)),
			when:    refund("e-3", t1.Add(time.Hour), "o-1", eur(1000)),
			want: []domain.Fact{
				refunded("e-3", t1.Add(time.Hour), "o-1", eur(1000), -1000, 0),
				reversed("e-3", t1.Add(time.Hour), 210, "o-1"),
			},
		},
		{
			name:    "order_bonuses: keep leaves them",
			program: func(p *domain.Program) { withTransfers(p); p.Returns.OrderBonuses = domain.OrderBonusesKeep },
			given:   with(firstOrder, refund("e-2", t1, "o-1", eur(600))),
			when:    refund("e-3", t1, "o-1", eur(400)),
			want: []domain.Fact{
				refunded("e-3", t1, "o-1", eur(400), -400, 0),
				reversed("e-3", t1, 4, "o-1"),
			},
		},
		{
			name:    "order_bonuses: reverse, as by default",
			program: func(p *domain.Program) { p.Returns.OrderBonuses = domain.OrderBonusesReverse },
			given:   tenEuros,
			when:    refund("e-2", t1, "o-1", eur(1000)),
			want: []domain.Fact{
				refunded("e-2", t1, "o-1", eur(1000), -1000, 0),
				reversed("e-2", t1, 210, "o-1"),
			},
		},
		{
			name:  "a zero refund after the full one takes nothing more",
			given: with(tenEuros, refund("e-2", t1, "o-1", eur(1000))),
			when:  refund("e-3", t1, "o-1", eur(0)),
			want:  []domain.Fact{refunded("e-3", t1, "o-1", eur(0), 0, 0)},
		},
		{
			name:    "a pending bonus is cancelled",
			program: withPending(14, false, domain.ReturnsUnlimited),
			given:   tenEuros,
			when:    refund("e-2", t1, "o-1", eur(1000)),
			want: []domain.Fact{
				refunded("e-2", t1, "o-1", eur(1000), -1000, 0),
				cancelled("e-2", t1, "o-1", 210),
			},
		},
	})
}
