package domain_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
)

func onChange(id, when string, award domain.Award) domain.Rule {
	return domain.Rule{ID: id, Trigger: domain.TriggerChange, Scope: domain.ScopeEvent, When: when, Award: award}
}

func band(id string, at time.Time, risk string) domain.Event {
	return scored(id, at, scores("fit-"+id, map[string]int64{"low": 900_000, "medium": 500_000, "high": 100_000}[risk], risk, "high", "loyal", 9000))
}

func scoredFact(e domain.Event) domain.MemberScored {
	return domain.MemberScored{FactMeta: meta(e.ID, e.OccurredAt), Scores: e.Body.(domain.Scored).Scores}
}

func triggered(id string, at time.Time, points int64, rule string) domain.PointsEarned {
	f := earned(id, at, points, rule, "")
	f.Triggered = true
	return f
}

func TestChangeRules(t *testing.T) {
	winback := onChange("winback", `member.risk_band == "high"`, domain.Award{Points: 300})
	winback.OncePerDays = 180
	offer := onChange("call-me", `member.risk_band == "high" && member.value_band == "high"`, domain.Award{Offer: "winback-call"})
	optIn := onChange("opt-in", `member.attributes.sms_opt_in == true`, domain.Award{Points: 50})
	known := []domain.Event{enrolled(), firstBuy}
	enter := band("s-2", t0, "high")
	runRuleCases(t, []ruleCase{
		{
			name: "entering the band fires it", program: withRules(winback),
			given: append(known, band("s-1", t0.Add(-day), "low")), when: enter,
			want: []domain.Fact{scoredFact(enter), triggered("s-2", t0, 300, "winback")},
		},
		{
			name: "so does the first scores in it", program: withRules(winback),
			given: known, when: enter,
			want: []domain.Fact{scoredFact(enter), triggered("s-2", t0, 300, "winback")},
		},
		{
			name: "staying in it does not", program: withRules(winback),
			given: append(known, band("s-1", t0.Add(-day), "high")), when: enter,
			want: []domain.Fact{scoredFact(enter)},
		},
		{
			name: "nor does leaving it", program: withRules(winback),
			given: append(known, band("s-1", t0.Add(-day), "high")), when: band("s-2", t0, "low"),
			want: []domain.Fact{scoredFact(band("s-2", t0, "low"))},
		},
		{
			name: "entering again within once_per_days does not", program: withRules(winback),
			given: append(known, band("s-1", t0.Add(-100*day), "high"), band("s-1b", t0.Add(-50*day), "low")), when: enter,
			want: []domain.Fact{scoredFact(enter)},
		},
		{
			name: "after it, it does", program: withRules(winback),
			given: append(known, band("s-1", t0.Add(-200*day), "high"), band("s-1b", t0.Add(-50*day), "low")), when: enter,
			want: []domain.Fact{scoredFact(enter), triggered("s-2", t0, 300, "winback")},
		},
		{
			name: "an offer is made, no points", program: withRules(offer),
			given: known, when: enter,
			want: []domain.Fact{scoredFact(enter), domain.OfferMade{FactMeta: meta("s-2", t0), Rule: "call-me", Offer: "winback-call", ProgramVersion: "test-1"}},
		},
		{
			name: "a blocked member is given nothing", program: withRules(winback, offer),
			given: append(known, event("b-1", t0.Add(-day), domain.StatusChange{Status: domain.StatusBlocked})), when: enter,
			want: []domain.Fact{scoredFact(enter)},
		},
		{
			name: "attributes are changes too", program: withRules(optIn),
			given: known, when: attributes("a-1", t0, flag("sms_opt_in", true)),
			want: []domain.Fact{domain.AttributesUpdated{FactMeta: meta("a-1", t0), Attributes: []domain.Attribute{flag("sms_opt_in", true)}},
				triggered("a-1", t0, 50, "opt-in")},
		},
		{
			name: "a purchase fires no change rule", program: withRules(onChange("any", `member.purchases >= 1`, domain.Award{Points: 9})),
			given: known, when: buy("e-1", t0, "o-1", eur(1000)),
			want: []domain.Fact{purchased("e-1", t0, "o-1", eur(1000), 1000, 1100), earned("e-1", t0, 10, domain.RuleBase, "o-1")},
		},
		{
			name: "an offer on a purchase rule", program: withRules(onPurchase("big-spender", `event.amount >= 40000`, domain.Award{Offer: "vip-event"})),
			given: known, when: buy("e-1", t0, "o-1", eur(40000)),
			want: []domain.Fact{purchased("e-1", t0, "o-1", eur(40000), 40000, 40100), earned("e-1", t0, 400, domain.RuleBase, "o-1"),
				domain.OfferMade{FactMeta: meta("e-1", t0), Rule: "big-spender", Offer: "vip-event", ProgramVersion: "test-1"}},
		},
	})
}

// A win-back bonus is not the member coming back: it moves neither their
// last activity nor the inactivity clock.
func TestTriggeredPointsAreNotActivity(t *testing.T) {
	p := testProgram()
	withRules(onChange("winback", `member.risk_band == "high"`, domain.Award{Points: 300}))(p)
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	m := given(t, p, enrolled(), firstBuy)
	last, balance := m.LastActivity, m.Balance
	facts, err := domain.Apply(m, band("s-1", t0, "high"), p)
	if err != nil || len(facts) < 2 {
		t.Fatalf("Apply = %v, %v", facts, err)
	}
	if !m.LastActivity.Equal(last) || m.Balance != balance+300 {
		t.Errorf("after the bonus: last activity %v (was %v), balance %d", m.LastActivity, last, m.Balance)
	}
}

func TestChangeRulesUnderExperiment(t *testing.T) {
	x := domain.Experiment{ID: "winback", Rules: []string{"winback"}, From: t0.Add(-day),
		Arms: []domain.Arm{{Name: domain.ControlArm, Share: 50}, {Name: "treatment", Share: 50}}}
	control := memberInArm(x, domain.ControlArm)
	p := testProgram()
	withRules(onChange("winback", `member.risk_band == "high"`, domain.Award{Points: 300}))(p)
	p.Experiments = []domain.Experiment{x}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	m := given(t, p, as(control, enrolled()), as(control, firstBuy))
	facts, err := domain.Apply(m, as(control, band("s-1", t0, "high")), p)
	if err != nil {
		t.Fatal(err)
	}
	if len(facts) != 2 || !reflect.DeepEqual(facts[1], domain.ExperimentAssigned{FactMeta: domain.FactMeta{MemberID: control, EventID: "s-1", OccurredAt: t0},
		Experiment: "winback", Arm: domain.ControlArm, Withheld: []string{"winback"}}) {
		t.Errorf("a control member entering the band: %s", formatFacts(facts))
	}
}

// An offer needs no points: a rule on inactivity may make one under expiry
// on inactivity.
func TestOffersUnderInactivityExpiry(t *testing.T) {
	p := testProgram()
	p.Earning.Expiry = domain.Expiry{Policy: domain.ExpireOnInactivity, Days: 30}
	p.Earning.Rules = []domain.Rule{{ID: "we-miss-you", Trigger: domain.TriggerInactivity, Scope: domain.ScopeEvent, InactiveDays: 60,
		Award: domain.Award{Offer: "come-back"}}}
	if err := p.Validate(); err != nil {
		t.Errorf("an offer on inactivity under expiry on inactivity: %v", err)
	}
}

func TestTriggersAreValidated(t *testing.T) {
	tests := []struct {
		name  string
		rule  domain.Rule
		field string
	}{
		{"a change rule without a condition", onChange("x", "", domain.Award{Points: 1}), "earning.rules[0].when"},
		{"a change rule per unit", onChange("x", "true", domain.Award{PointsPerUnit: ratio(1, 1)}), "earning.rules[0].award"},
		{"a change rule multiplying", onChange("x", "true", domain.Award{Multiplier: ratio(2, 1)}), "earning.rules[0].award"},
		{"a change rule on lines", func() domain.Rule {
			r := onChange("x", "true", domain.Award{Points: 1})
			r.Scope = domain.ScopeLine
			return r
		}(), "earning.rules[0].scope"},
		{"an offer on lines", domain.Rule{ID: "x", On: domain.TypePurchaseCompleted, Scope: domain.ScopeLine, Award: domain.Award{Offer: "o"}}, "earning.rules[0].award.offer"},
		{"an offer and points", onChange("x", "true", domain.Award{Offer: "o", Points: 1}), "earning.rules[0].award"},
		{"an offer with a control character", onChange("x", "true", domain.Award{Offer: "o\n"}), "earning.rules[0].award.offer"},
		{"once per -1 days", func() domain.Rule { r := onChange("x", "true", domain.Award{Points: 1}); r.OncePerDays = -1; return r }(), "earning.rules[0].once_per_days"},
		{"a rule on scores events", domain.Rule{ID: "x", On: domain.TypeMemberScored, Scope: domain.ScopeEvent, Award: domain.Award{Points: 1}}, "earning.rules[0].on"},
		{"an unknown trigger", domain.Rule{ID: "x", Trigger: "sometimes", Scope: domain.ScopeEvent, When: "true", Award: domain.Award{Points: 1}}, "earning.rules[0].on"},
	}
	inactivityExpiry := domain.Expiry{Policy: domain.ExpireOnInactivity, Days: 30}
	tests = append(tests, struct {
		name  string
		rule  domain.Rule
		field string
	}{"points on change under expiry on inactivity", onChange("x", "true", domain.Award{Points: 5}), "earning.rules[0].award.points"})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testProgram()
			if tt.field == "earning.rules[0].award.points" {
				p.Earning.Expiry = inactivityExpiry
			}
			p.Earning.Rules = []domain.Rule{tt.rule}
			found := false
			for _, fe := range unjoin(p.Validate()) {
				if e, ok := fe.(*domain.FieldError); ok && e.Field == tt.field {
					found = true
				}
			}
			if !found {
				t.Errorf("Validate = %v, want a problem of %s", p.Validate(), tt.field)
			}
			for _, fe := range unjoin(p.Validate()) {
				if e, ok := fe.(*domain.FieldError); ok && tt.rule.Trigger != "" && tt.rule.Award.Points == 0 &&
					(e.Field == "earning.rules[0].award.multiplier" || e.Field == "earning.rules[0].award.points_per_unit") {
					t.Errorf("a triggered rule is told %v: the rule is not on purchases, which its own problem says", e)
				}
			}
		})
	}
}

func clock(id string, at time.Time) domain.Event { return event(id, at, domain.Clock{}) }

func TestInactivityRules(t *testing.T) {
	lapsed := domain.Rule{ID: "lapsed", Trigger: domain.TriggerInactivity, Scope: domain.ScopeEvent, InactiveDays: 60,
		Award: domain.Award{Offer: "we-miss-you"}}
	goldLapsed := domain.Rule{ID: "gold-lapsed", Trigger: domain.TriggerInactivity, Scope: domain.ScopeEvent, InactiveDays: 60,
		When: `member.tier == "gold"`, Award: domain.Award{Points: 200}}
	known := []domain.Event{enrolled(), buy("b-0", t0, "o-0", eur(1000))}
	offer := func(id string, at time.Time) domain.OfferMade {
		return domain.OfferMade{FactMeta: meta(id, at), Rule: "lapsed", Offer: "we-miss-you", ProgramVersion: "test-1"}
	}
	runRuleCases(t, []ruleCase{
		{
			name: "sixty days without a purchase fires it", program: withRules(lapsed),
			given: known, when: clock("c-1", t0.Add(60*day)),
			want: []domain.Fact{offer("c-1", t0.Add(60*day))},
		},
		{
			name: "not before", program: withRules(lapsed),
			given: known, when: clock("c-1", t0.Add(60*day-time.Minute)),
		},
		{
			name: "once in a lapse", program: withRules(lapsed),
			given: append(known, clock("c-1", t0.Add(60*day))), when: clock("c-2", t0.Add(90*day)),
		},
		{
			name: "again after the member bought and lapsed again", program: withRules(lapsed),
			given: append(known, clock("c-1", t0.Add(60*day)), buy("b-1", t0.Add(70*day), "o-1", eur(1000))),
			when:  clock("c-2", t0.Add(130*day)),
			want:  []domain.Fact{offer("c-2", t0.Add(130*day))},
		},
		{
			name: "a visit is not a purchase", program: withRules(lapsed),
			given: append(known, visit("v-1", t0.Add(50*day))), when: clock("c-1", t0.Add(61*day)),
			want: []domain.Fact{offer("c-1", t0.Add(61*day))},
		},
		{
			name: "only the clock wakes it", program: withRules(lapsed),
			given: known, when: visit("v-1", t0.Add(61*day)),
			want: []domain.Fact{domain.VisitRecorded{FactMeta: meta("v-1", t0.Add(61*day)), Channel: "store-1"},
				earned("v-1", t0.Add(61*day), 5, domain.RuleVisitBonus, "")},
		},
		{
			name: "its condition must hold", program: withRules(goldLapsed),
			given: known, when: clock("c-1", t0.Add(61*day)),
		},
		{
			name: "a member who never bought has not lapsed", program: withRules(lapsed),
			given: []domain.Event{enrolled()}, when: clock("c-1", t0.Add(400*day)),
		},
	})
}
