package domain_test

import (
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
)

// Rule tests in the "given history, when event, then facts" form. Expected
// numbers are worked out by hand in the comments next to them.

var (
	firstBuyAt = enrolAt.Add(time.Hour)
	// firstBuy takes the first purchase bonus out of the way: EUR 1.00, 100
	// cents of qualifying spend.
	firstBuy = buy("e-0", firstBuyAt, "o-0", eur(100))
)

func purchased(id string, at time.Time, order string, total domain.Money, qualifying, after int64, lines ...domain.LineItem) domain.PurchaseRecorded {
	return domain.PurchaseRecorded{
		FactMeta: meta(id, at), OrderID: order, Total: total, Lines: lines, Channel: "web",
		QualifyingSpend: qualifying, QualifyingSpendAfter: after,
	}
}

func TestEnrolment(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{
			name: "a new member starts in the first tier",
			when: event("e-1", t0, domain.Enrolment{Channel: "app"}),
			want: []domain.Fact{
				firstTier("e-1", t0),
				domain.MemberEnrolled{FactMeta: meta("e-1", t0), Channel: "app"},
			},
		},
		{
			name:   "enrolling twice is rejected",
			given:  []domain.Event{enrolled()},
			when:   event("e-1", t0, domain.Enrolment{Channel: "web"}),
			reason: domain.ReasonAlreadyEnrolled, field: "member_id",
		},
		{
			name:  "enrolment after other activity opens no second tier",
			given: []domain.Event{visit("e-v", enrolAt)},
			when:  event("e-1", t0, domain.Enrolment{Channel: "app"}),
			want:  []domain.Fact{domain.MemberEnrolled{FactMeta: meta("e-1", t0), Channel: "app"}},
		},
		{
			name: "any first event opens the member",
			when: visit("e-1", t0),
			want: []domain.Fact{
				firstTier("e-1", t0),
				domain.VisitRecorded{FactMeta: meta("e-1", t0), Channel: "store-1"},
				earned("e-1", t0, 5, domain.RuleVisitBonus, ""),
			},
		},
		{
			name: "time is recorded in UTC",
			when: event("e-1", time.Date(2026, 3, 1, 11, 0, 0, 0, time.FixedZone("CET", 3600)), domain.Enrolment{}),
			want: []domain.Fact{firstTier("e-1", t0), domain.MemberEnrolled{FactMeta: meta("e-1", t0)}},
		},
	})
}

func TestPurchaseEarning(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{
			name: "first event is a purchase: first tier, base points floored, first purchase bonus",
			when: buy("e-1", t0, "o-1", eur(1299)),
			want: []domain.Fact{
				firstTier("e-1", t0),
				purchased("e-1", t0, "o-1", eur(1299), 1299, 1299),
				earned("e-1", t0, 12, domain.RuleBase, "o-1"), // 12.99 EUR * 1
				earned("e-1", t0, 200, domain.RuleFirstPurchaseBonus, "o-1"),
			},
		},
		{
			name:  "enrolled member's first purchase",
			given: []domain.Event{enrolled()},
			when:  buy("e-1", t0, "o-1", eur(1000)),
			want: []domain.Fact{
				purchased("e-1", t0, "o-1", eur(1000), 1000, 1000),
				earned("e-1", t0, 10, domain.RuleBase, "o-1"),
				earned("e-1", t0, 200, domain.RuleFirstPurchaseBonus, "o-1"),
			},
		},
		{
			name:  "first purchase bonus is paid once",
			given: []domain.Event{enrolled(), firstBuy},
			when:  buy("e-1", t0, "o-1", eur(550)),
			want: []domain.Fact{
				purchased("e-1", t0, "o-1", eur(550), 550, 650),
				earned("e-1", t0, 5, domain.RuleBase, "o-1"), // 5.50 floors to 5
			},
		},
		{
			name:  "zero amount first purchase earns only the bonus",
			given: []domain.Event{enrolled()},
			when:  buy("e-1", t0, "o-1", eur(0)),
			want: []domain.Fact{
				purchased("e-1", t0, "o-1", eur(0), 0, 0),
				earned("e-1", t0, 200, domain.RuleFirstPurchaseBonus, "o-1"),
			},
		},
		{
			name:  "zero amount later purchase earns nothing",
			given: []domain.Event{enrolled(), firstBuy},
			when:  buy("e-1", t0, "o-1", eur(0)),
			want:  []domain.Fact{purchased("e-1", t0, "o-1", eur(0), 0, 100)},
		},
		{
			name:  "USD: 1.5 points per dollar, spend converted at 0.92",
			given: []domain.Event{enrolled(), firstBuy},
			when:  buy("e-1", t0, "o-1", money(2000, "USD")),
			want: []domain.Fact{
				purchased("e-1", t0, "o-1", money(2000, "USD"), 1840, 1940), // 20.00 USD * 0.92 = 18.40 EUR
				earned("e-1", t0, 30, domain.RuleBase, "o-1"),               // 20 * 1.5
			},
		},
		{
			name:  "USD: fractions of points and cents are dropped",
			given: []domain.Event{enrolled(), firstBuy},
			when:  buy("e-1", t0, "o-1", money(99, "USD")),
			want: []domain.Fact{
				purchased("e-1", t0, "o-1", money(99, "USD"), 91, 191), // 99 * 0.92 = 91.08
				earned("e-1", t0, 1, domain.RuleBase, "o-1"),           // 0.99 * 1.5 = 1.485
			},
		},
		{
			name:  "JPY has no minor unit",
			given: []domain.Event{enrolled(), firstBuy},
			when:  buy("e-1", t0, "o-1", money(1500, "JPY")),
			want: []domain.Fact{
				purchased("e-1", t0, "o-1", money(1500, "JPY"), 915, 1015), // 1500 * 0.0061 EUR = 9.15 EUR
				earned("e-1", t0, 15, domain.RuleBase, "o-1"),              // 1500 * 0.01
			},
		},
		{
			name:  "JPY rounding",
			given: []domain.Event{enrolled(), firstBuy},
			when:  buy("e-1", t0, "o-1", money(199, "JPY")),
			want: []domain.Fact{
				purchased("e-1", t0, "o-1", money(199, "JPY"), 121, 221), // 199 * 0.61 cents = 121.39
				earned("e-1", t0, 1, domain.RuleBase, "o-1"),             // 1.99
			},
		},
		{
			name:  "KWD has three decimals",
			given: []domain.Event{enrolled(), firstBuy},
			when:  buy("e-1", t0, "o-1", money(1250, "KWD")),
			want: []domain.Fact{
				purchased("e-1", t0, "o-1", money(1250, "KWD"), 373, 473), // 1.250 KWD * 2.985 = 3.73125 EUR
				earned("e-1", t0, 3, domain.RuleBase, "o-1"),              // 1.25 * 3 = 3.75
			},
		},
		{
			name: "a program in JPY converts EUR spend to yen",
			program: func(p *domain.Program) {
				p.Currency = "JPY"
				p.Earning.Currencies["EUR"] = domain.CurrencyRule{PointsPerUnit: domain.One, ToProgramCurrency: ratio(160, 1)}
				p.MaxOrderAmount = 0
			},
			given: []domain.Event{enrolled()},
			when:  buy("e-1", t0, "o-1", eur(1000)),
			want: []domain.Fact{
				purchased("e-1", t0, "o-1", eur(1000), 1600, 1600), // 10.00 EUR = 1600 JPY
				earned("e-1", t0, 10, domain.RuleBase, "o-1"),
				earned("e-1", t0, 200, domain.RuleFirstPurchaseBonus, "o-1"),
			},
		},
		{
			name:   "currency the program does not accept",
			given:  []domain.Event{enrolled()},
			when:   buy("e-1", t0, "o-1", money(1000, "GBP")),
			reason: domain.ReasonCurrencyNotAccepted, field: "currency",
		},
		{
			name:   "new member's rejected purchase opens nothing",
			when:   buy("e-1", t0, "o-1", money(1000, "GBP")),
			reason: domain.ReasonCurrencyNotAccepted, field: "currency",
		},
		{
			name:   "an order is recorded once",
			given:  []domain.Event{enrolled(), firstBuy},
			when:   buy("e-1", t0, "o-0", eur(2500)),
			reason: domain.ReasonDuplicateOrder, field: "order_id",
		},
		{
			name:  "max order amount is inclusive and in program currency",
			given: []domain.Event{enrolled(), firstBuy},
			when:  buy("e-1", t0, "o-1", money(1_086_957, "USD")),
			want: []domain.Fact{
				purchased("e-1", t0, "o-1", money(1_086_957, "USD"), 1_000_000, 1_000_100), // 1,000,000.44 cents
				earned("e-1", t0, 16304, domain.RuleBase, "o-1"),                           // 10869.57 * 1.5 = 16304.355
				upgrade("e-1", t0, "bronze", "gold"),
			},
		},
		{
			name:   "one converted cent over max order amount",
			given:  []domain.Event{enrolled(), firstBuy},
			when:   buy("e-1", t0, "o-1", money(1_086_958, "USD")), // 1,000,001.36 cents
			reason: domain.ReasonInvalidAmount, field: "amount",
		},
		{
			name:   "one cent over max order amount",
			given:  []domain.Event{enrolled(), firstBuy},
			when:   buy("e-1", t0, "o-1", eur(1_000_001)),
			reason: domain.ReasonInvalidAmount, field: "amount",
		},
		{
			name:    "no max order amount: the largest valid amount",
			program: func(p *domain.Program) { p.MaxOrderAmount = 0 },
			given:   []domain.Event{enrolled(), firstBuy},
			when:    buy("e-1", t0, "o-1", eur(1_000_000_000_000)),
			want: []domain.Fact{
				purchased("e-1", t0, "o-1", eur(1_000_000_000_000), 1_000_000_000_000, 1_000_000_000_100),
				earned("e-1", t0, 10_000_000_000, domain.RuleBase, "o-1"),
				upgrade("e-1", t0, "bronze", "gold"),
			},
		},
	})
}

// bronze, silver and gold are histories that leave a member in that tier:
// 400.00 EUR, and exactly the silver and gold thresholds.
var (
	silver = []domain.Event{enrolled(), buy("e-0", firstBuyAt, "o-0", eur(500_00))}
	gold   = []domain.Event{enrolled(), buy("e-0", firstBuyAt, "o-0", eur(1500_00))}
	bronze = []domain.Event{enrolled(), buy("e-0", firstBuyAt, "o-0", eur(400_00))}
)

func TestTiers(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{
			name:  "silver earns a 25% tier bonus",
			given: silver,
			when:  buy("e-1", t0, "o-1", eur(1000)),
			want: []domain.Fact{
				purchased("e-1", t0, "o-1", eur(1000), 1000, 51000),
				earned("e-1", t0, 10, domain.RuleBase, "o-1"),
				earned("e-1", t0, 2, domain.RuleTierBonus, "o-1"), // 12.5 - 10, floored
			},
		},
		{
			name:  "gold: tier bonus is the floored total less the floored base",
			given: gold,
			when:  buy("e-1", t0, "o-1", eur(999)),
			want: []domain.Fact{
				purchased("e-1", t0, "o-1", eur(999), 999, 150999),
				earned("e-1", t0, 9, domain.RuleBase, "o-1"),      // 9.99
				earned("e-1", t0, 5, domain.RuleTierBonus, "o-1"), // floor(14.985) - 9
			},
		},
		{
			name:  "the qualifying purchase earns at the old tier, then upgrades",
			given: bronze,
			when:  buy("e-1", t0, "o-1", eur(150_00)),
			want: []domain.Fact{
				purchased("e-1", t0, "o-1", eur(150_00), 150_00, 550_00),
				earned("e-1", t0, 150, domain.RuleBase, "o-1"),
				upgrade("e-1", t0, "bronze", "silver"),
			},
		},
		{
			name:  "reaching the threshold exactly qualifies",
			given: bronze,
			when:  buy("e-1", t0, "o-1", eur(100_00)),
			want: []domain.Fact{
				purchased("e-1", t0, "o-1", eur(100_00), 100_00, 500_00),
				earned("e-1", t0, 100, domain.RuleBase, "o-1"),
				upgrade("e-1", t0, "bronze", "silver"),
			},
		},
		{
			name:  "one cent short does not",
			given: bronze,
			when:  buy("e-1", t0, "o-1", eur(99_99)),
			want: []domain.Fact{
				purchased("e-1", t0, "o-1", eur(99_99), 99_99, 499_99),
				earned("e-1", t0, 99, domain.RuleBase, "o-1"),
			},
		},
		{
			name:  "skipping a tier is one change",
			given: bronze,
			when:  buy("e-1", t0, "o-1", eur(1100_00)),
			want: []domain.Fact{
				purchased("e-1", t0, "o-1", eur(1100_00), 1100_00, 1500_00),
				earned("e-1", t0, 1100, domain.RuleBase, "o-1"),
				upgrade("e-1", t0, "bronze", "gold"),
			},
		},
		{
			name:  "silver to gold earns the silver bonus on the way",
			given: silver,
			when:  buy("e-1", t0, "o-1", eur(1000_00)),
			want: []domain.Fact{
				purchased("e-1", t0, "o-1", eur(1000_00), 1000_00, 1500_00),
				earned("e-1", t0, 1000, domain.RuleBase, "o-1"),
				earned("e-1", t0, 250, domain.RuleTierBonus, "o-1"),
				upgrade("e-1", t0, "silver", "gold"),
			},
		},
		{
			name: "a new member's first purchase can reach gold",
			when: buy("e-1", t0, "o-1", eur(1500_00)),
			want: []domain.Fact{
				firstTier("e-1", t0),
				purchased("e-1", t0, "o-1", eur(1500_00), 1500_00, 1500_00),
				earned("e-1", t0, 1500, domain.RuleBase, "o-1"),
				earned("e-1", t0, 200, domain.RuleFirstPurchaseBonus, "o-1"),
				upgrade("e-1", t0, "bronze", "gold"),
			},
		},
		{
			// 2025-03-01 is day d; the purchase counts on days d+1 .. d+364.
			name:  "spend counts on the 364th day after it",
			given: []domain.Event{buy("e-0", time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC), "o-0", eur(400_00))},
			when:  buy("e-1", time.Date(2026, 2, 28, 23, 59, 59, 0, time.UTC), "o-1", eur(150_00)),
			want: []domain.Fact{
				purchased("e-1", time.Date(2026, 2, 28, 23, 59, 59, 0, time.UTC), "o-1", eur(150_00), 150_00, 550_00),
				earned("e-1", time.Date(2026, 2, 28, 23, 59, 59, 0, time.UTC), 150, domain.RuleBase, "o-1"),
				upgrade("e-1", time.Date(2026, 2, 28, 23, 59, 59, 0, time.UTC), "bronze", "silver"),
			},
		},
		{
			name:  "and leaves the window at the start of the 365th",
			given: []domain.Event{buy("e-0", time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC), "o-0", eur(400_00))},
			when:  buy("e-1", time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), "o-1", eur(150_00)),
			want: []domain.Fact{
				purchased("e-1", time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), "o-1", eur(150_00), 150_00, 150_00),
				earned("e-1", time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), 150, domain.RuleBase, "o-1"),
			},
		},
	})
}

func TestDecideWithoutBody(t *testing.T) {
	e := domain.Event{ID: "e-1", Type: domain.TypePurchaseCompleted, MemberID: memberID, OccurredAt: t0}
	facts, err := domain.Decide(domain.NewMember(memberID), e, testProgram())
	rej := rejection(err)
	if rej == nil || rej.Reason != domain.ReasonMissingField || rej.Field != "data" || facts != nil {
		t.Errorf("Decide = %v, %v; want a missing_field rejection of data and no facts", formatFacts(facts), err)
	}
}
