package programs

import (
	"strings"
	"testing"
	"time"
)

// accept_events_from is read as a date, defaults to 2000-01-01, and cannot
// go before 1971, where a time is a zero value rather than history.
func TestAcceptEventsFrom(t *testing.T) {
	if got := mustParse(t, string(DefaultYAML)).AcceptsEventsFrom(); !got.Equal(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("the default program accepts events from %v, want 2000-01-01", got)
	}
	p := mustParse(t, string(DefaultYAML)+"\naccept_events_from: 1995-06-01\n")
	if want := time.Date(1995, 6, 1, 0, 0, 0, 0, time.UTC); !p.AcceptsEventsFrom().Equal(want) {
		t.Errorf("accept_events_from: 1995-06-01 gave %v", p.AcceptsEventsFrom())
	}
	for value, want := range map[string]string{
		"1960-01-01":                             "accept_events_from: must be 1971-01-01 or later",
		"0001-01-01":                             "accept_events_from: must be 1971-01-01 or later",
		"yesterday":                              "accept_events_from: must be a date",
		"2027-01-01\neffective_from: 2026-06-01": "accept_events_from: must not be after effective_from",
	} {
		if _, err := Parse([]byte(string(DefaultYAML) + "\naccept_events_from: " + value + "\n")); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("accept_events_from: %s: %v; want an error with %q", value, err, want)
		}
	}
}
