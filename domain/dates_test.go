package domain_test

import (
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
)

func withYearly(p *domain.Program) {
	p.Earning.Yearly = domain.Yearly{BirthdayPoints: 250, AnniversaryPoints: 100}
}

func bonusOn(id string, day time.Time, points int64, rule string) domain.PointsEarned {
	return domain.PointsEarned{FactMeta: meta(id, day), Points: points, Rule: rule, ProgramVersion: version}
}

// The member enrolled on 2026-01-05 (enrolAt), born on 20 March.
func TestYearlyBonuses(t *testing.T) {
	born := event("e-enrol", enrolAt, domain.Enrolment{Channel: "app", Birthday: domain.Birthday{Month: time.March, Day: 20}})
	runRuleCases(t, []ruleCase{
		{
			name:    "the first event on or after the birthday brings the bonus, dated on the day",
			program: withYearly,
			given:   []domain.Event{born},
			when:    visit("e-1", at(2026, 3, 22)),
			want: []domain.Fact{
				bonusOn("e-1", utcDate(2026, 3, 20), 250, domain.RuleBirthday),
				domain.VisitRecorded{FactMeta: meta("e-1", at(2026, 3, 22)), Channel: "store-1"},
				earned("e-1", at(2026, 3, 22), 5, domain.RuleVisitBonus, ""),
			},
		},
		{
			name:    "once a year",
			program: withYearly,
			given:   []domain.Event{born, visit("e-1", at(2026, 3, 22))},
			when:    visit("e-2", at(2026, 6, 1)),
			want: []domain.Fact{
				domain.VisitRecorded{FactMeta: meta("e-2", at(2026, 6, 1)), Channel: "store-1"},
				earned("e-2", at(2026, 6, 1), 5, domain.RuleVisitBonus, ""),
			},
		},
		{
			name:    "a year later: the birthday and the anniversary of enrolment; years missed are not paid",
			program: withYearly,
			given:   []domain.Event{born, visit("e-1", at(2026, 3, 22))},
			when:    event("e-c", at(2028, 4, 1), domain.Clock{}),
			want: []domain.Fact{
				bonusOn("e-c", utcDate(2028, 3, 20), 250, domain.RuleBirthday),
				bonusOn("e-c", utcDate(2028, 1, 5), 100, domain.RuleAnniversary),
			},
		},
		{
			name:    "no birthday is owed before enrolment",
			program: withYearly,
			given:   []domain.Event{event("e-enrol", at(2026, 3, 25), domain.Enrolment{Birthday: domain.Birthday{Month: time.March, Day: 20}})},
			when:    visit("e-1", at(2026, 4, 1)),
			want: []domain.Fact{
				domain.VisitRecorded{FactMeta: meta("e-1", at(2026, 4, 1)), Channel: "store-1"},
				earned("e-1", at(2026, 4, 1), 5, domain.RuleVisitBonus, ""),
			},
		},
		{
			name:    "a blocked member gets none",
			program: withYearly,
			given:   []domain.Event{born, status("e-b", at(2026, 3, 1), domain.StatusBlocked, "review")},
			when:    event("e-c", at(2026, 3, 22), domain.Clock{}),
			want:    nil,
		},
	})
}

func TestParseBirthday(t *testing.T) {
	for in, want := range map[string]domain.Birthday{"1990-03-20": {Month: time.March, Day: 20}, "02-29": {Month: time.February, Day: 29}, "": {}} {
		if got, err := domain.ParseBirthday(in); err != nil || got != want {
			t.Errorf("ParseBirthday(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"1990-02-30", "20.03.1990", "13-01", "March 20"} {
		if _, err := domain.ParseBirthday(bad); err == nil {
			t.Errorf("ParseBirthday(%q) accepted", bad)
		}
	}
}
