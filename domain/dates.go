package domain

import (
	"fmt"
	"time"
)

// Rules of the yearly bonuses.
const (
	RuleBirthday    = "birthday_bonus"
	RuleAnniversary = "anniversary_bonus"
)

// Yearly is the program's yearly bonuses: on the member's birthday (when
// enrolment gave one) and on the anniversary of their enrolment.
type Yearly struct {
	BirthdayPoints    int64
	AnniversaryPoints int64
}

func (y Yearly) validate(add func(field, format string, args ...any)) {
	if y.BirthdayPoints < 0 || y.AnniversaryPoints < 0 {
		add("earning.yearly", "points must not be negative")
	}
}

// Birthday is a month and day, as enrolment gives it: the engine keeps no
// birth year.
type Birthday struct {
	Month time.Month
	Day   int
}

// IsZero reports whether no birthday is known.
func (b Birthday) IsZero() bool { return b.Month == 0 }

func (b Birthday) String() string {
	if b.IsZero() {
		return ""
	}
	return fmt.Sprintf("%02d-%02d", int(b.Month), b.Day)
}

// ParseBirthday reads a birth date (YYYY-MM-DD) or a month and day (MM-DD).
func ParseBirthday(s string) (Birthday, error) {
	if s == "" {
		return Birthday{}, nil
	}
	layout := "01-02"
	if len(s) == len(time.DateOnly) {
		layout = time.DateOnly
	}
	t, err := time.Parse(layout, s)
	if err != nil {
		return Birthday{}, fmt.Errorf("%q is not a date as YYYY-MM-DD or MM-DD", s)
	}
	return Birthday{Month: t.Month(), Day: t.Day()}, nil
}

// latest is the start of the latest day that is the birthday at or before
// t (29 February is 1 March in other years).
func (b Birthday) latest(t time.Time) time.Time {
	t = t.UTC()
	d := time.Date(t.Year(), b.Month, b.Day, 0, 0, 0, 0, time.UTC)
	if d.After(t) {
		d = time.Date(t.Year()-1, b.Month, b.Day, 0, 0, 0, 0, time.UTC)
	}
	return d
}

// decideYearly awards the yearly bonuses whose day has come since the last
// ones, each dated on its day: once a year, for the latest day only (a
// member away for years gets one), never for a day before enrolment.
func decideYearly(m *Member, meta FactMeta, p *Program) []Fact {
	y := p.Earning.Yearly
	if !m.Known() || m.EnrolledAt.IsZero() || !m.Earns() {
		return nil
	}
	var facts []Fact
	award := func(rule string, points int64, day time.Time, last time.Time) {
		if points <= 0 || !day.After(m.EnrolledAt) || !day.After(last) {
			return
		}
		fm := meta
		fm.OccurredAt = day
		facts = append(facts, PointsEarned{FactMeta: fm, Points: points, Rule: rule, ProgramVersion: p.Version,
			ExpiresAt: p.Earning.Expiry.expiresAt(day)})
	}
	if !m.Birthday.IsZero() {
		award(RuleBirthday, y.BirthdayPoints, m.Birthday.latest(meta.OccurredAt), m.lastBirthday)
	}
	enrolled := Birthday{Month: m.EnrolledAt.Month(), Day: m.EnrolledAt.Day()}
	award(RuleAnniversary, y.AnniversaryPoints, enrolled.latest(meta.OccurredAt), m.lastAnniversary)
	return facts
}
