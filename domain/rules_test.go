package domain_test

import (
	"strings"
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
)

// withRules adds program rules to the test program.
func withRules(rules ...domain.Rule) func(*domain.Program) {
	return func(p *domain.Program) { p.Earning.Rules = append(p.Earning.Rules, rules...) }
}

func onPurchase(id, when string, award domain.Award) domain.Rule {
	return domain.Rule{ID: id, On: domain.TypePurchaseCompleted, Scope: domain.ScopeEvent, When: when, Award: award}
}

// t0 (2026-03-01) is a Sunday.
func TestProgramRules(t *testing.T) {
	beauty := domain.LineItem{SKU: "soap", Category: "beauty", Quantity: 2, UnitPrice: 2000}
	toys := domain.LineItem{SKU: "ball", Category: "toys", Quantity: 1, UnitPrice: 3000}
	weekend := onPurchase("weekend", `event.weekday in ["Sat", "Sun"]`, domain.Award{Points: 30})
	always10 := domain.Rule{ID: "r1", On: domain.TypePurchaseCompleted, Scope: domain.ScopeEvent, Award: domain.Award{Points: 10}, Priority: 1, Stop: true}
	then20 := domain.Rule{ID: "r2", On: domain.TypePurchaseCompleted, Scope: domain.ScopeEvent, Award: domain.Award{Points: 20}, Priority: 2}
	visitExtra := domain.Rule{ID: "visit-extra", On: domain.TypeVisitRecorded, Scope: domain.ScopeEvent, Award: domain.Award{Points: 40},
		Limit: domain.Limit{Points: 50, Per: domain.PerDay}}
	runRuleCases(t, []ruleCase{
		{
			name:    "fixed points when the condition holds",
			program: withRules(weekend),
			given:   []domain.Event{enrolled(), firstBuy},
			when:    buy("e-1", t0, "o-1", eur(2000)),
			want: []domain.Fact{
				purchased("e-1", t0, "o-1", eur(2000), 2000, 2100),
				earned("e-1", t0, 20, domain.RuleBase, "o-1"),
				earned("e-1", t0, 30, "weekend", "o-1"),
			},
		},
		{
			name:    "nothing when it does not (a Monday)",
			program: withRules(weekend),
			given:   []domain.Event{enrolled(), firstBuy},
			when:    buy("e-1", t0.Add(day), "o-1", eur(2000)),
			want: []domain.Fact{
				purchased("e-1", t0.Add(day), "o-1", eur(2000), 2000, 2100),
				earned("e-1", t0.Add(day), 20, domain.RuleBase, "o-1"),
			},
		},
		{
			// base: 70 * (4000*2 + 3000*1)/7000 = 110; rule: 3 per euro of the beauty line (40.00) = 120
			name: "points per unit of the matching lines",
			program: withRules(domain.Rule{ID: "beauty-lines", On: domain.TypePurchaseCompleted, Scope: domain.ScopeLine,
				When: `line.category == "beauty"`, Award: domain.Award{PointsPerUnit: ratio(3, 1)}}),
			given: []domain.Event{enrolled(), firstBuy},
			when:  buy("e-1", t0, "o-1", eur(7000), beauty, toys),
			want: []domain.Fact{
				purchased("e-1", t0, "o-1", eur(7000), 7000, 7100, beauty, toys),
				earned("e-1", t0, 110, domain.RuleBase, "o-1"),
				earned("e-1", t0, 120, "beauty-lines", "o-1"),
			},
		},
		{
			name:    "a multiplier adds base points times multiplier-1, by tier",
			program: withRules(onPurchase("bronze-double", `member.tier == "bronze" && event.amount >= 1000`, domain.Award{Multiplier: ratio(2, 1)})),
			given:   []domain.Event{enrolled(), firstBuy},
			when:    buy("e-1", t0, "o-1", eur(5000)),
			want: []domain.Fact{
				purchased("e-1", t0, "o-1", eur(5000), 5000, 5100),
				earned("e-1", t0, 50, domain.RuleBase, "o-1"),
				earned("e-1", t0, 50, "bronze-double", "o-1"),
			},
		},
		{
			name:    "priority order, and stop after a rule that awards",
			program: withRules(then20, always10),
			given:   []domain.Event{enrolled(), firstBuy},
			when:    buy("e-1", t0, "o-1", eur(1000)),
			want: []domain.Fact{
				purchased("e-1", t0, "o-1", eur(1000), 1000, 1100),
				earned("e-1", t0, 10, domain.RuleBase, "o-1"),
				earned("e-1", t0, 10, "r1", "o-1"),
			},
		},
		{
			name: "a stop rule that does not award does not stop",
			program: withRules(then20, domain.Rule{ID: "r1", On: domain.TypePurchaseCompleted, Scope: domain.ScopeEvent,
				When: `event.channel == "store"`, Award: domain.Award{Points: 10}, Priority: 1, Stop: true}),
			given: []domain.Event{enrolled(), firstBuy},
			when:  buy("e-1", t0, "o-1", eur(1000)),
			want: []domain.Fact{
				purchased("e-1", t0, "o-1", eur(1000), 1000, 1100),
				earned("e-1", t0, 10, domain.RuleBase, "o-1"),
				earned("e-1", t0, 20, "r2", "o-1"),
			},
		},
		{
			name:    "a limit per day caps the rule (40 earlier today, 10 left of 50)",
			program: withRules(visitExtra),
			given:   []domain.Event{enrolled(), visit("e-v", t0)},
			when:    visit("e-1", t0.Add(time.Hour)),
			want: []domain.Fact{
				domain.VisitRecorded{FactMeta: meta("e-1", t0.Add(time.Hour)), Channel: "store-1"},
				earned("e-1", t0.Add(time.Hour), 5, domain.RuleVisitBonus, ""),
				earned("e-1", t0.Add(time.Hour), 10, "visit-extra", ""),
			},
		},
		{
			name:    "the limit starts again the next day",
			program: withRules(visitExtra),
			given:   []domain.Event{enrolled(), visit("e-v", t0), visit("e-v2", t0.Add(time.Hour))},
			when:    visit("e-1", t0.Add(day)),
			want: []domain.Fact{
				domain.VisitRecorded{FactMeta: meta("e-1", t0.Add(day)), Channel: "store-1"},
				earned("e-1", t0.Add(day), 5, domain.RuleVisitBonus, ""),
				earned("e-1", t0.Add(day), 40, "visit-extra", ""),
			},
		},
		{
			name: "a limit per month counts the whole calendar month",
			program: withRules(domain.Rule{ID: "monthly", On: domain.TypeVisitRecorded, Scope: domain.ScopeEvent, Award: domain.Award{Points: 40},
				Limit: domain.Limit{Points: 50, Per: domain.PerMonth}}),
			given: []domain.Event{enrolled(), visit("e-v", t0)},
			when:  visit("e-1", t0.Add(20*day)),
			want: []domain.Fact{
				domain.VisitRecorded{FactMeta: meta("e-1", t0.Add(20*day)), Channel: "store-1"},
				earned("e-1", t0.Add(20*day), 5, domain.RuleVisitBonus, ""),
				earned("e-1", t0.Add(20*day), 10, "monthly", ""),
			},
		},
		{
			name: "outside valid_from..valid_to nothing",
			program: withRules(domain.Rule{ID: "march", On: domain.TypePurchaseCompleted, Scope: domain.ScopeEvent, Award: domain.Award{Points: 99},
				ValidFrom: t0.Add(day), ValidTo: t0.Add(31 * day)}),
			given: []domain.Event{enrolled(), firstBuy},
			when:  buy("e-1", t0, "o-1", eur(1000)),
			want: []domain.Fact{
				purchased("e-1", t0, "o-1", eur(1000), 1000, 1100),
				earned("e-1", t0, 10, domain.RuleBase, "o-1"),
			},
		},
		{
			// the order earned 20 + 30; half of it refunded takes back 25
			name:    "a refund takes back the rule's share of the order's points",
			program: withRules(weekend),
			given:   []domain.Event{enrolled(), firstBuy, buy("e-1", t0, "o-1", eur(2000))},
			when:    refund("e-2", t0.Add(day), "o-1", eur(1000)),
			want: []domain.Fact{
				refunded("e-2", t0.Add(day), "o-1", eur(1000), -1000, 1100),
				reversed("e-2", t0.Add(day), 25, "o-1"),
			},
		},
		{
			name: "feedback rules see the rating; their points are not an order's",
			program: withRules(domain.Rule{ID: "happy", On: domain.TypeFeedbackSubmitted, Scope: domain.ScopeEvent,
				When: `event.rating >= 4`, Award: domain.Award{Points: 15}}),
			given: []domain.Event{enrolled()},
			when:  event("e-1", t0, domain.Feedback{Rating: intp(5), Channel: "app"}),
			want: []domain.Fact{
				domain.FeedbackRecorded{FactMeta: meta("e-1", t0), Rating: intp(5), Channel: "app"},
				earned("e-1", t0, 15, "happy", ""),
			},
		},
	})
}

func TestProgramRulesAreValidated(t *testing.T) {
	for _, c := range []struct {
		name, field, want string
		rule              domain.Rule
	}{
		{"built-in name", "earning.rules[0].id", "built-in", onPurchase(domain.RuleBase, "", domain.Award{Points: 1})},
		{"no award", "earning.rules[0].award", "exactly one", onPurchase("x", "", domain.Award{})},
		{"two awards", "earning.rules[0].award", "exactly one", onPurchase("x", "", domain.Award{Points: 1, Multiplier: ratio(2, 1)})},
		{"bad expression", "earning.rules[0].when", "", onPurchase("x", `event.amount >`, domain.Award{Points: 1})},
		{"unknown name", "earning.rules[0].when", "event has no field colour", onPurchase("x", `event.colour == "red"`, domain.Award{Points: 1})},
		{"not a condition", "earning.rules[0].when", "bool", onPurchase("x", `event.amount`, domain.Award{Points: 1})},
		{"no clock", "earning.rules[0].when", "now", onPurchase("x", `now().Year() == 2026`, domain.Award{Points: 1})},
		{"line rule on visits", "earning.rules[0].scope", "only to rules on purchases",
			domain.Rule{ID: "x", On: domain.TypeVisitRecorded, Scope: domain.ScopeLine, Award: domain.Award{Points: 1}}},
		{"bad period", "earning.rules[0].limit.per", "day, week", domain.Rule{ID: "x", On: domain.TypeVisitRecorded, Scope: domain.ScopeEvent,
			Award: domain.Award{Points: 1}, Limit: domain.Limit{Points: 5, Per: "fortnight"}}},
	} {
		p := testProgram()
		p.Earning.Rules = []domain.Rule{c.rule}
		err := p.Validate()
		if err == nil || !strings.Contains(err.Error(), c.field) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %s: ...%s...", c.name, err, c.field, c.want)
		}
	}
	p := testProgram()
	p.Earning.Rules = []domain.Rule{onPurchase("a", "", domain.Award{Points: 1}), onPurchase("a", "", domain.Award{Points: 2})}
	if err := p.Validate(); err == nil || !strings.Contains(err.Error(), `"a" is used by two rules`) {
		t.Errorf("duplicate ids: %v", err)
	}
}

func TestVisitStreaks(t *testing.T) {
	streak := withRules(domain.Rule{ID: "streak", On: domain.TypeVisitRecorded, Scope: domain.ScopeEvent,
		When: `member.visits_7d >= 3`, Award: domain.Award{Points: 20}, Limit: domain.Limit{Points: 20, Per: domain.PerWeek}})
	visitFacts := func(id string, at time.Time, more ...domain.Fact) []domain.Fact {
		return append([]domain.Fact{
			domain.VisitRecorded{FactMeta: meta(id, at), Channel: "store-1"},
			earned(id, at, 5, domain.RuleVisitBonus, ""),
		}, more...)
	}
	runRuleCases(t, []ruleCase{
		{
			name:    "a third visiting day within 7 days",
			program: streak,
			given:   []domain.Event{enrolled(), visit("e-a", t0.Add(-2*day)), visit("e-b", t0.Add(-day))},
			when:    visit("e-1", t0),
			want:    visitFacts("e-1", t0, earned("e-1", t0, 20, "streak", "")),
		},
		{
			name:    "visits 8 days apart are no streak",
			program: streak,
			given:   []domain.Event{enrolled(), visit("e-a", t0.Add(-8*day)), visit("e-b", t0.Add(-day))},
			when:    visit("e-1", t0),
			want:    visitFacts("e-1", t0),
		},
		{
			name:    "two visits on one day count as one day",
			program: streak,
			given:   []domain.Event{enrolled(), visit("e-a", t0.Add(-day)), visit("e-b", t0.Add(-day+time.Hour))},
			when:    visit("e-1", t0),
			want:    visitFacts("e-1", t0),
		},
	})
	// n visits in d days, for any d up to 31: four visiting days in 12.
	fourIn12 := withRules(domain.Rule{ID: "streak", On: domain.TypeVisitRecorded, Scope: domain.ScopeEvent,
		When: `len(filter(member.visit_days_ago, # < 12)) >= 4`, Award: domain.Award{Points: 20}})
	runRuleCases(t, []ruleCase{
		{
			name:    "four visiting days within 12",
			program: fourIn12,
			given:   []domain.Event{enrolled(), visit("e-a", t0.Add(-11*day)), visit("e-b", t0.Add(-6*day)), visit("e-c", t0.Add(-day))},
			when:    visit("e-1", t0),
			want:    visitFacts("e-1", t0, earned("e-1", t0, 20, "streak", "")),
		},
		{
			name:    "not within 12",
			program: fourIn12,
			given:   []domain.Event{enrolled(), visit("e-a", t0.Add(-12*day)), visit("e-b", t0.Add(-6*day)), visit("e-c", t0.Add(-day))},
			when:    visit("e-1", t0),
			want:    visitFacts("e-1", t0),
		},
	})
}
