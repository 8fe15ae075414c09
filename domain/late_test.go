package domain_test

import (
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
)

// TestLateEvents applies events in stream order that is not time order: the
// events page says "a late upstream batch is applied as of its own time".
// All three cases fail on the current code; see the comments.
func TestLateEvents(t *testing.T) {
	d := func(month time.Month, dd int) time.Time { return time.Date(2026, month, dd, 10, 0, 0, 0, time.UTC) }
	runRuleCases(t, []ruleCase{
		{
			// Bug: Member keeps one visit-bonus counter, for the day of the
			// last bonus. A late visit dated 3 March resets it, so 4 March
			// gets a second bonus although max_per_day is 1.
			name:    "visit bonus limit holds across a late visit",
			program: func(p *domain.Program) { p.Earning.VisitBonusMaxPerDay = 1 },
			given:   []domain.Event{enrolled(), visit("e-1", d(3, 4)), visit("e-2", d(3, 3))},
			when:    visit("e-3", d(3, 4).Add(time.Hour)),
			want:    []domain.Fact{domain.VisitRecorded{FactMeta: meta("e-3", d(3, 4).Add(time.Hour)), Channel: "store-1"}},
		},
		{
			// Bug: applying the (free) 20 March purchase dropped the
			// 10 March 2025 spend from Member.spend for good, although it is
			// still inside the 365 days before 1 March 2026, the date of the
			// late purchase that arrives next. In the window of 1 March:
			// 300.00 + 250.00, and the member reaches silver.
			name: "a late purchase sees the spend of its own window",
			given: []domain.Event{
				buy("e-1", time.Date(2025, 3, 10, 10, 0, 0, 0, time.UTC), "o-1", eur(300_00)),
				buy("e-2", d(3, 20), "o-2", eur(0)),
			},
			when: buy("e-3", d(3, 1), "o-3", eur(250_00)),
			want: []domain.Fact{
				purchased("e-3", d(3, 1), "o-3", eur(250_00), 250_00, 550_00),
				earned("e-3", d(3, 1), 250, domain.RuleBase, "o-3"),
				upgrade("e-3", d(3, 1), "bronze", "silver"),
			},
		},
		{
			// Bug: the window counts spend dated after the event. On
			// 1 March 2026 the member has 300.00 in the last 365 days; the
			// 300.00 of 10 April 2027 has not happened yet (and on that day
			// this purchase is 405 days old), so no day ever had 500.00.
			name:  "a late purchase does not count spend from its future",
			given: []domain.Event{buy("e-1", time.Date(2027, 4, 10, 10, 0, 0, 0, time.UTC), "o-1", eur(300_00))},
			when:  buy("e-2", d(3, 1), "o-2", eur(300_00)),
			want: []domain.Fact{
				purchased("e-2", d(3, 1), "o-2", eur(300_00), 300_00, 300_00),
				earned("e-2", d(3, 1), 300, domain.RuleBase, "o-2"),
			},
		},
	})
}
