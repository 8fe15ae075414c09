package domain_test

import (
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
)

func feedbackOn(id string, at time.Time, order string) domain.Event {
	return event(id, at, domain.Feedback{OrderID: order, Rating: intp(5), Comment: "great", Channel: "email"})
}

func feedbackRecorded(id string, at time.Time, order string) domain.FeedbackRecorded {
	return domain.FeedbackRecorded{FactMeta: meta(id, at), OrderID: order, Rating: intp(5), Comment: "great", Channel: "email"}
}

func TestFeedbackBonus(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{
			name:  "feedback on a recorded order earns the bonus",
			given: tenEuros,
			when:  feedbackOn("e-2", t1, "o-1"),
			want: []domain.Fact{
				feedbackRecorded("e-2", t1, "o-1"),
				earned("e-2", t1, 25, domain.RuleFeedbackBonus, "o-1"),
			},
		},
		{
			name:  "once per order",
			given: with(tenEuros, feedbackOn("e-2", t1, "o-1")),
			when:  feedbackOn("e-3", t1, "o-1"),
			want:  []domain.Fact{feedbackRecorded("e-3", t1, "o-1")},
		},
		{
			name:  "each order earns its own",
			given: with(tenEuros, buy("e-2", t0, "o-2", eur(500)), feedbackOn("e-3", t1, "o-1")),
			when:  feedbackOn("e-4", t1, "o-2"),
			want: []domain.Fact{
				feedbackRecorded("e-4", t1, "o-2"),
				earned("e-4", t1, 25, domain.RuleFeedbackBonus, "o-2"),
			},
		},
		{
			name:  "an unknown order is recorded but earns nothing",
			given: tenEuros,
			when:  feedbackOn("e-2", t1, "o-9"),
			want:  []domain.Fact{feedbackRecorded("e-2", t1, "o-9")},
		},
		{
			name:  "feedback naming no order earns nothing",
			given: tenEuros,
			when:  event("e-2", t1, domain.Feedback{NPS: intp(0)}),
			want:  []domain.Fact{domain.FeedbackRecorded{FactMeta: meta("e-2", t1), NPS: intp(0)}},
		},
		{
			name:    "no bonus in the program",
			program: func(p *domain.Program) { p.Earning.FeedbackBonus = 0 },
			given:   tenEuros,
			when:    feedbackOn("e-2", t1, "o-1"),
			want:    []domain.Fact{feedbackRecorded("e-2", t1, "o-1")},
		},
		{
			name: "a new member's feedback opens the member",
			when: feedbackOn("e-1", t0, "o-1"),
			want: []domain.Fact{firstTier("e-1", t0), feedbackRecorded("e-1", t0, "o-1")},
		},
	})
}

func TestVisitBonus(t *testing.T) {
	morning := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	noon := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	lastSecond := time.Date(2026, 3, 1, 23, 59, 59, 0, time.UTC)
	midnight := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	twoVisits := []domain.Event{enrolled(), visit("e-1", morning), visit("e-2", noon)}
	recorded := func(id string, at time.Time) domain.VisitRecorded {
		return domain.VisitRecorded{FactMeta: meta(id, at), Channel: "store-1"}
	}
	runRuleCases(t, []ruleCase{
		{
			name:  "a visit earns the bonus",
			given: []domain.Event{enrolled()},
			when:  visit("e-1", morning),
			want:  []domain.Fact{recorded("e-1", morning), earned("e-1", morning, 5, domain.RuleVisitBonus, "")},
		},
		{
			name:  "the second of the day too",
			given: []domain.Event{enrolled(), visit("e-1", morning)},
			when:  visit("e-2", noon),
			want:  []domain.Fact{recorded("e-2", noon), earned("e-2", noon, 5, domain.RuleVisitBonus, "")},
		},
		{
			name:  "not the third",
			given: twoVisits,
			when:  visit("e-3", lastSecond),
			want:  []domain.Fact{recorded("e-3", lastSecond)},
		},
		{
			name:  "a new UTC day starts afresh",
			given: with(twoVisits, visit("e-3", lastSecond)),
			when:  visit("e-4", midnight),
			want:  []domain.Fact{recorded("e-4", midnight), earned("e-4", midnight, 5, domain.RuleVisitBonus, "")},
		},
		{
			name:  "days are UTC days: 00:30+01:00 is the day before",
			given: twoVisits,
			when:  visit("e-3", time.Date(2026, 3, 2, 0, 30, 0, 0, time.FixedZone("CET", 3600))),
			want:  []domain.Fact{recorded("e-3", time.Date(2026, 3, 1, 23, 30, 0, 0, time.UTC))},
		},
		{
			name:  "days are UTC days: 23:30-01:00 is the day after",
			given: twoVisits,
			when:  visit("e-3", time.Date(2026, 3, 1, 23, 30, 0, 0, time.FixedZone("", -3600))),
			want: []domain.Fact{
				recorded("e-3", time.Date(2026, 3, 2, 0, 30, 0, 0, time.UTC)),
				earned("e-3", time.Date(2026, 3, 2, 0, 30, 0, 0, time.UTC), 5, domain.RuleVisitBonus, ""),
			},
		},
		{
			name:    "no daily limit when max_per_day is 0",
			program: func(p *domain.Program) { p.Earning.VisitBonusMaxPerDay = 0 },
			given:   with(twoVisits, visit("e-3", noon), visit("e-4", noon)),
			when:    visit("e-5", lastSecond),
			want:    []domain.Fact{recorded("e-5", lastSecond), earned("e-5", lastSecond, 5, domain.RuleVisitBonus, "")},
		},
		{
			name:    "no bonus in the program",
			program: func(p *domain.Program) { p.Earning.VisitBonus = 0 },
			given:   []domain.Event{enrolled()},
			when:    visit("e-1", morning),
			want:    []domain.Fact{recorded("e-1", morning)},
		},
	})
}
