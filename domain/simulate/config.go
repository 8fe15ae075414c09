package simulate

import (
	"errors"
	"fmt"
	"time"

	"github.com/pointsledger/loyalty/domain"
)

// Limits on a simulation's size. Member state is about 150 bytes, so the
// largest run keeps roughly 1.5 GiB of member state in memory.
const (
	MaxMembers = 10_000_000
	MaxDays    = 3650
)

// DefaultCurrency is the home currency when Config.Currency is empty.
const DefaultCurrency = "EUR"

// ErrInvalidConfig is matched (errors.Is) by every problem Config.Validate
// reports.
var ErrInvalidConfig = errors.New("invalid simulation config")

// Config says what to simulate. The same Config always gives the same events.
type Config struct {
	// Members is how many members to simulate (1 to MaxMembers).
	Members int
	// Days is the length of the simulated period (1 to MaxDays).
	Days int
	// Seed selects the run; any value, including 0, is valid.
	Seed uint64
	// Start is UTC midnight of day 0; the zero value means 2026-01-01.
	// Every event happens in [Start, Start+Days).
	Start time.Time
	// Currency is the home currency (ISO 4217, default EUR). Catalogue prices
	// are in its major units; about 3% of purchases are in USD or GBP
	// (EUR when one of those is the home currency) instead.
	Currency string
}

func (c *Config) setDefaults() {
	if c.Start.IsZero() {
		c.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	c.Start = c.Start.UTC()
	if c.Currency == "" {
		c.Currency = DefaultCurrency
	}
}

// Validate reports every problem with the config at once, each wrapping
// ErrInvalidConfig. Zero Start and empty Currency are valid: they take
// their defaults.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...))
	}
	if c.Members < 1 || c.Members > MaxMembers {
		add("members must be between 1 and %d, got %d", MaxMembers, c.Members)
	}
	if c.Days < 1 || c.Days > MaxDays {
		add("days must be between 1 and %d, got %d", MaxDays, c.Days)
	}
	if !c.Start.IsZero() {
		s := c.Start.UTC()
		if !s.Equal(s.Truncate(24 * time.Hour)) {
			add("start must be midnight UTC, got %s", s.Format(time.RFC3339Nano))
		}
		if s.Before(domain.DefaultAcceptEventsFrom) {
			add("start %s is before %s, the earliest time events may have", s.Format(time.RFC3339), domain.DefaultAcceptEventsFrom.Format(time.RFC3339))
		}
	}
	if c.Currency != "" {
		if _, ok := domain.Currencies[c.Currency]; !ok {
			add("currency %q is not an ISO 4217 currency code", c.Currency)
		}
	}
	return errors.Join(errs...)
}
