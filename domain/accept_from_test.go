package domain_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
)

// A program accepts events from 2000 unless it says accept_events_from:
// a retailer importing older history sets it earlier, and an event before
// it is refused with invalid_timestamp, naming the setting.
func TestProgramAcceptsEventsFrom(t *testing.T) {
	p := testProgram()
	for _, c := range []struct {
		name string
		at   time.Time
		ok   bool
	}{
		{"2000-01-01 UTC", time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), true},
		{"just before 2000", time.Date(1999, 12, 31, 23, 59, 59, 999999999, time.UTC), false},
		{"2000-01-01T00:30+01:00 is 1999 in UTC", time.Date(2000, 1, 1, 0, 30, 0, 0, time.FixedZone("CET", 3600)), false},
	} {
		facts, err := domain.Decide(domain.NewMember(memberID), buy("e-1", c.at, "o-1", eur(5000)), p)
		var rej *domain.RejectedError
		switch {
		case c.ok && (err != nil || len(facts) == 0):
			t.Errorf("%s: %v, %v; want the purchase recorded", c.name, facts, err)
		case !c.ok && (!errors.As(err, &rej) || rej.Reason != domain.ReasonInvalidTimestamp || !strings.Contains(err.Error(), "accept_events_from")):
			t.Errorf("%s: %v; want invalid_timestamp naming accept_events_from", c.name, err)
		}
	}

	p.AcceptEventsFrom = time.Date(1995, 1, 1, 0, 0, 0, 0, time.UTC)
	facts, err := domain.Decide(domain.NewMember(memberID), buy("e-1", time.Date(1996, 3, 1, 12, 0, 0, 0, time.UTC), "o-1", eur(5000)), p)
	if err != nil || len(facts) == 0 {
		t.Errorf("a 1996 purchase under accept_events_from 1995-01-01: %v, %v; want it recorded", facts, err)
	}
	if _, err := domain.Decide(domain.NewMember(memberID), buy("e-1", time.Date(1994, 12, 31, 0, 0, 0, 0, time.UTC), "o-1", eur(5000)), p); err == nil {
		t.Error("a 1994 purchase under accept_events_from 1995-01-01 was accepted")
	}
}
