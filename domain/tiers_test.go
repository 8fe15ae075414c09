package domain_test

import (
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
)

func withTierPolicy(x domain.TierPolicy) func(*domain.Program) {
	return func(p *domain.Program) {
		p.TierPolicy = x
		for i, points := range []int64{0, 500, 1500} {
			p.Tiers[i].QualifyingPoints = points
		}
	}
}

func tierMove(id string, at time.Time, from, to, reason string, expires time.Time) domain.TierChanged {
	return domain.TierChanged{FactMeta: meta(id, at), From: from, To: to, Reason: reason, ExpiresAt: expires}
}

func renewed(id string, at time.Time, tier string, expires time.Time) domain.TierRenewed {
	return domain.TierRenewed{FactMeta: meta(id, at), Tier: tier, ExpiresAt: expires}
}

func assign(id string, at time.Time, tier string) domain.Event {
	return event(id, at, domain.TierAssignment{Tier: tier, Reason: "status match"})
}

func at(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 12, 0, 0, 0, time.UTC) }

// Tiers by spend in the calendar year, reviewed at its end: a tier reached
// in 2026 holds until 2027 ends. Silver needs 500.00, gold 1500.00. The
// member enrolled on 2026-01-05 (enrolled()).
func TestTierPolicyCalendarYear(t *testing.T) {
	yearly := withTierPolicy(domain.TierPolicy{Period: domain.PeriodYear, Downgrade: domain.DowngradeToQualified})
	silverIn2026 := buy("e-s", at(2026, 3, 1), "o-s", eur(600_00))
	runRuleCases(t, []ruleCase{
		{
			name:    "an upgrade holds until the end of the next year",
			program: yearly,
			given:   []domain.Event{enrolled()},
			when:    silverIn2026,
			want: []domain.Fact{
				purchased("e-s", at(2026, 3, 1), "o-s", eur(600_00), 600_00, 600_00),
				earned("e-s", at(2026, 3, 1), 600, domain.RuleBase, "o-s"),
				earned("e-s", at(2026, 3, 1), 200, domain.RuleFirstPurchaseBonus, "o-s"),
				tierMove("e-s", at(2026, 3, 1), "bronze", "silver", domain.TierReasonQualifyingSpend, utcDate(2028, 1, 1)),
			},
		},
		{
			name:    "a year without qualifying: down at its end, dated then",
			program: yearly,
			given:   []domain.Event{enrolled(), silverIn2026},
			when:    event("e-c", at(2028, 1, 2), domain.Clock{}),
			want:    []domain.Fact{tierMove("e-c", utcDate(2028, 1, 1), "silver", "bronze", domain.TierReasonPeriodEnd, time.Time{})},
		},
		{
			name:    "not before",
			program: yearly,
			given:   []domain.Event{enrolled(), silverIn2026},
			when:    event("e-c", at(2027, 12, 31), domain.Clock{}),
			want:    nil,
		},
		{
			name: "grace days put the review off",
			program: withTierPolicy(domain.TierPolicy{Period: domain.PeriodYear, Downgrade: domain.DowngradeToQualified,
				GraceDays: 30}),
			given: []domain.Event{enrolled(), silverIn2026},
			when:  event("e-c", at(2028, 2, 5), domain.Clock{}),
			want:  []domain.Fact{tierMove("e-c", utcDate(2028, 1, 31), "silver", "bronze", domain.TierReasonPeriodEnd, time.Time{})},
		},
		{
			name:    "one_tier: gold goes to silver, not further, and is reviewed again a year on",
			program: withTierPolicy(domain.TierPolicy{Period: domain.PeriodYear, Downgrade: domain.DowngradeOneTier}),
			given:   []domain.Event{enrolled(), buy("e-g", at(2026, 3, 1), "o-g", eur(1600_00))},
			when:    event("e-c", at(2028, 1, 2), domain.Clock{}),
			want:    []domain.Fact{tierMove("e-c", utcDate(2028, 1, 1), "gold", "silver", domain.TierReasonPeriodEnd, utcDate(2029, 1, 1))},
		},
		{
			name:    "one_tier, away for two years: one step at each review",
			program: withTierPolicy(domain.TierPolicy{Period: domain.PeriodYear, Downgrade: domain.DowngradeOneTier}),
			given:   []domain.Event{enrolled(), buy("e-g", at(2026, 3, 1), "o-g", eur(1600_00))},
			when:    event("e-c", at(2029, 3, 1), domain.Clock{}),
			want: []domain.Fact{
				tierMove("e-c", utcDate(2028, 1, 1), "gold", "silver", domain.TierReasonPeriodEnd, utcDate(2029, 1, 1)),
				tierMove("e-c", utcDate(2029, 1, 1), "silver", "bronze", domain.TierReasonPeriodEnd, time.Time{}),
			},
		},
		{
			name:    "a review keeps the tier the year qualified for",
			program: yearly,
			given:   []domain.Event{enrolled(), buy("e-g", at(2026, 3, 1), "o-g", eur(1600_00)), buy("e-2", at(2027, 5, 1), "o-2", eur(700_00))},
			when:    event("e-c", at(2028, 1, 2), domain.Clock{}),
			want:    []domain.Fact{tierMove("e-c", utcDate(2028, 1, 1), "gold", "silver", domain.TierReasonPeriodEnd, utcDate(2029, 1, 1))},
		},
		{
			name:    "an assigned tier lifts the member at once",
			program: yearly,
			given:   []domain.Event{enrolled()},
			when:    assign("e-a", at(2026, 2, 1), "gold"),
			want: []domain.Fact{
				domain.TierAssigned{FactMeta: meta("e-a", at(2026, 2, 1)), Tier: "gold", Reason: "status match"},
				tierMove("e-a", at(2026, 2, 1), "bronze", "gold", domain.TierReasonAssigned, utcDate(2028, 1, 1)),
			},
		},
		{
			name:    "and is a floor at reviews",
			program: yearly,
			given:   []domain.Event{enrolled(), assign("e-a", at(2026, 2, 1), "gold")},
			when:    event("e-c", at(2028, 1, 2), domain.Clock{}),
			want:    []domain.Fact{renewed("e-c", utcDate(2028, 1, 1), "gold", utcDate(2029, 1, 1))},
		},
		{
			name:    "a tier the program does not have is refused",
			program: yearly,
			given:   []domain.Event{enrolled()},
			when:    assign("e-a", at(2026, 2, 1), "platinum"),
			reason:  domain.ReasonInvalidField,
			field:   "tier",
		},
		{
			name:    "never (the default): a tier once reached is kept",
			program: withTierPolicy(domain.TierPolicy{Period: domain.PeriodYear}),
			given:   []domain.Event{enrolled()},
			when:    silverIn2026,
			want: []domain.Fact{
				purchased("e-s", at(2026, 3, 1), "o-s", eur(600_00), 600_00, 600_00),
				earned("e-s", at(2026, 3, 1), 600, domain.RuleBase, "o-s"),
				earned("e-s", at(2026, 3, 1), 200, domain.RuleFirstPurchaseBonus, "o-s"),
				tierMove("e-s", at(2026, 3, 1), "bronze", "silver", domain.TierReasonQualifyingSpend, time.Time{}),
			},
		},
	})
}

// Qualifying again the next year renews the tier for another (the
// purchase's own facts aside).
func TestTierRenewalOnRequalifying(t *testing.T) {
	p := testProgram()
	withTierPolicy(domain.TierPolicy{Period: domain.PeriodYear, Downgrade: domain.DowngradeToQualified})(p)
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	m := given(t, p, enrolled(), buy("e-s", at(2026, 3, 1), "o-s", eur(600_00)))
	facts, err := domain.Decide(m, buy("e-2", at(2027, 6, 1), "o-2", eur(500_00)), p)
	if err != nil {
		t.Fatal(err)
	}
	// 500.00 in 2027 renews silver until 2029; if 2028 then brings
	// nothing, the review drops the member to bronze.
	checkFacts(t, facts[len(facts)-2:], []domain.Fact{
		renewed("e-2", at(2027, 6, 1), "silver", utcDate(2029, 1, 1)),
		domain.TierProgress{FactMeta: meta("e-2", at(2027, 6, 1)),
			TierOutlook: domain.TierOutlook{Value: 500_00, NextTier: "gold", Missing: 1000_00, Projected: "bronze"}},
	})
}

// Tiers by points over a rolling 30 days: silver at 500 points, reviewed 30
// days after it was reached.
func TestTierPolicyRollingPoints(t *testing.T) {
	rolling := withTierPolicy(domain.TierPolicy{Measure: domain.MeasurePoints, Days: 30, Downgrade: domain.DowngradeToQualified})
	order := buy("e-1", t0, "o-1", eur(300_00)) // 300 base + 200 first purchase: 500 points
	runRuleCases(t, []ruleCase{
		{
			name:    "points earned qualify",
			program: rolling,
			given:   []domain.Event{enrolled()},
			when:    order,
			want: []domain.Fact{
				purchased("e-1", t0, "o-1", eur(300_00), 300_00, 300_00),
				earned("e-1", t0, 300, domain.RuleBase, "o-1"),
				earned("e-1", t0, 200, domain.RuleFirstPurchaseBonus, "o-1"),
				tierMove("e-1", t0, "bronze", "silver", domain.TierReasonQualifyingPoints, eod(t0).Add(30*day)),
			},
		},
		{
			name:    "the 30 days after it no longer hold them: down at the review",
			program: rolling,
			given:   []domain.Event{enrolled(), order},
			when:    visit("e-2", t0.Add(40*day)),
			want: []domain.Fact{
				tierMove("e-2", eod(t0).Add(30*day), "silver", "bronze", domain.TierReasonPeriodEnd, time.Time{}),
				domain.VisitRecorded{FactMeta: meta("e-2", t0.Add(40*day)), Channel: "store-1"},
				earned("e-2", t0.Add(40*day), 5, domain.RuleVisitBonus, ""),
			},
		},
		{
			name:    "a refund takes its points out of qualification",
			program: rolling,
			given:   []domain.Event{enrolled(), order, refund("e-r", t0.Add(day), "o-1", eur(300_00))},
			when:    visit("e-2", t0.Add(40*day)),
			want: []domain.Fact{
				tierMove("e-2", eod(t0).Add(30*day), "silver", "bronze", domain.TierReasonPeriodEnd, time.Time{}),
				domain.VisitRecorded{FactMeta: meta("e-2", t0.Add(40*day)), Channel: "store-1"},
				earned("e-2", t0.Add(40*day), 5, domain.RuleVisitBonus, ""),
			},
		},
	})
}

func TestTierOutlook(t *testing.T) {
	p := testProgram()
	withTierPolicy(domain.TierPolicy{Period: domain.PeriodYear, Downgrade: domain.DowngradeOneTier})(p)
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	m := given(t, p, enrolled(), buy("e-g", at(2026, 3, 1), "o-g", eur(1600_00)), buy("e-2", at(2027, 2, 1), "o-2", eur(200_00)))
	got := m.Outlook(p, at(2027, 3, 1))
	want := domain.TierOutlook{Value: 200_00, NextTier: "", Missing: 0, Projected: "silver"}
	if got != want {
		t.Errorf("gold with 200.00 in 2027: %+v, want %+v", got, want)
	}
	m = given(t, p, enrolled(), buy("e-1", at(2026, 3, 1), "o-1", eur(300_00)))
	if got, want := m.Outlook(p, at(2026, 4, 1)), (domain.TierOutlook{Value: 300_00, NextTier: "silver", Missing: 200_00, Projected: "bronze"}); got != want {
		t.Errorf("bronze with 300.00: %+v, want %+v", got, want)
	}
}

func TestTierPolicyIsValidated(t *testing.T) {
	for _, x := range []domain.TierPolicy{{Measure: "visits"}, {Period: "week"}, {Days: 400}, {Period: domain.PeriodYear, Days: 30},
		{Downgrade: "sometimes"}, {GraceDays: -1}} {
		p := testProgram()
		p.TierPolicy = x
		if err := p.Validate(); err == nil {
			t.Errorf("%+v was accepted", x)
		}
	}
	p := testProgram()
	p.TierPolicy.Measure = domain.MeasurePoints // and no qualifying_points
	if err := p.Validate(); err == nil {
		t.Error("tiers by points without points thresholds were accepted")
	}
}
