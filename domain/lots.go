package domain

import (
	"slices"
	"time"
)

// Expiry is the program's points expiry policy.
type Expiry struct {
	Policy ExpiryPolicy
	// Days is the N of ExpireAfterDays and ExpireOnInactivity.
	Days int
	// Periods is, for the end-of-period policies, how many whole periods
	// after the one the points were earned in they last: 0 expires them at
	// the end of that same month (quarter, year), 1 at the end of the next.
	Periods int
	// NoticeDays before dated points expire, a PointsExpiring notice is
	// recorded; 0: none.
	NoticeDays int
}

// ExpiryPolicy names when points expire.
type ExpiryPolicy string

const (
	ExpireNever        ExpiryPolicy = "never"
	ExpireAfterDays    ExpiryPolicy = "days"           // at the end of the Days-th UTC day after they were earned
	ExpireEndOfMonth   ExpiryPolicy = "end_of_month"   // at the end of a calendar month (UTC)
	ExpireEndOfQuarter ExpiryPolicy = "end_of_quarter" // ... of a calendar quarter
	ExpireEndOfYear    ExpiryPolicy = "end_of_year"    // ... of a calendar year
	ExpireOnInactivity ExpiryPolicy = "inactivity"     // all points, Days after the member's last activity
)

func (x Expiry) validate(add func(field, format string, args ...any)) {
	switch x.Policy {
	case "", ExpireNever:
	case ExpireAfterDays, ExpireOnInactivity:
		if x.Days < 1 || x.Days > 36_500 {
			add("earning.expiry.days", "must be 1 to 36500 for policy %s, got %d", x.Policy, x.Days)
		}
	case ExpireEndOfMonth, ExpireEndOfQuarter, ExpireEndOfYear:
		if x.Periods < 0 || x.Periods > 1200 {
			add("earning.expiry.periods", "must be 0 to 1200, got %d", x.Periods)
		}
	default:
		add("earning.expiry.policy", "must be never, days, end_of_month, end_of_quarter, end_of_year or inactivity, got %q", x.Policy)
	}
	if x.NoticeDays < 0 || x.NoticeDays > MaxNoticeDays {
		add("earning.expiry.notice_days", "must be 0 to %d, got %d", MaxNoticeDays, x.NoticeDays)
	}
}

// expiresAt is when points earned at `at` expire; zero when they have no
// date of their own (never, or inactivity).
func (x Expiry) expiresAt(at time.Time) time.Time {
	at = at.UTC()
	y, m := at.Year(), at.Month()
	switch x.Policy {
	case ExpireAfterDays:
		// At the end of the day, so that a day's awards share a lot.
		d := at.AddDate(0, 0, x.Days)
		return time.Date(d.Year(), d.Month(), d.Day()+1, 0, 0, 0, 0, time.UTC)
	case ExpireEndOfMonth:
		return time.Date(y, m+1+time.Month(x.Periods), 1, 0, 0, 0, 0, time.UTC)
	case ExpireEndOfQuarter:
		first := time.Month((int(m)-1)/3*3 + 1)
		return time.Date(y, first+3+time.Month(3*x.Periods), 1, 0, 0, 0, 0, time.UTC)
	case ExpireEndOfYear:
		return time.Date(y+1+x.Periods, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return time.Time{}
}

// lot is points with one expiry date. A member's lots hold the points that
// expire on a date; the rest of the balance does not expire by date.
// Points earned with the same date share a lot, which keeps state small.
type lot struct {
	expires   time.Time
	remaining int64
}

// addLot books points expiring at expires.
func (m *Member) addLot(expires time.Time, points int64) {
	i, found := slices.BinarySearchFunc(m.lots, expires, func(l lot, t time.Time) int { return l.expires.Compare(t) })
	if found {
		m.lots[i].remaining += points
		return
	}
	m.lots = slices.Insert(m.lots, i, lot{expires: expires, remaining: points})
}

// addCappedLot books points that joined the balance as a lot expiring at
// expires (none when it is zero). Lots never hold more than the balance:
// points that make good a negative balance (refunds of points that had
// expired) are not there to expire.
func (m *Member) addCappedLot(expires time.Time, points int64) {
	if expires.IsZero() {
		return
	}
	if room := max(m.Balance, 0) - m.lotTotal(); room > 0 {
		m.addLot(expires, min(points, room))
	}
}

// lotTotal is the points of the dated lots.
func (m *Member) lotTotal() int64 {
	var total int64
	for _, l := range m.lots {
		total += l.remaining
	}
	return total
}

// drawLots takes points off the lots, soonest-expiring first: spending and
// reversals use the points that would be lost first. What the lots do not
// cover comes from the points that do not expire by date. It returns what it
// took from each lot (a hold gives it back).
func (m *Member) drawLots(points int64) []lot {
	var taken []lot
	for points > 0 && len(m.lots) > 0 {
		take := min(points, m.lots[0].remaining)
		taken = append(taken, lot{expires: m.lots[0].expires, remaining: take})
		m.lots[0].remaining -= take
		points -= take
		if m.lots[0].remaining == 0 {
			m.lots = m.lots[1:]
		}
	}
	return taken
}

// expireLots removes the lots expiring at or before `at`.
func (m *Member) expireLots(at time.Time) {
	for len(m.lots) > 0 && !m.lots[0].expires.After(at) {
		m.lots = m.lots[1:]
	}
}

// ExpiringLot is points that expire at At.
type ExpiringLot struct {
	At     time.Time
	Points int64
}

// ExpiringPoints returns the member's dated lots, soonest first; the rest
// of the balance does not expire by date.
func (m *Member) ExpiringPoints() []ExpiringLot {
	out := make([]ExpiringLot, 0, len(m.lots))
	for _, l := range m.lots {
		out = append(out, ExpiringLot{l.expires, l.remaining})
	}
	return out
}

// decideExpiry is what has expired by the event at meta's time, before the
// event itself counts: lots whose date has come, and, under the inactivity
// policy, the whole balance when the member was inactive for too long.
// Each fact is dated when the points expired.
func decideExpiry(m *Member, meta FactMeta, p *Program) []Fact {
	if !m.Known() || m.Balance <= 0 {
		return nil
	}
	expired := func(points int64, at time.Time, rule string) Fact {
		fm := meta
		fm.OccurredAt = at
		return PointsExpired{FactMeta: fm, Points: points, Rule: rule, ProgramVersion: p.Version}
	}
	x := p.Earning.Expiry
	if x.Policy == ExpireOnInactivity {
		if due := m.LastActivity.AddDate(0, 0, x.Days); !due.After(meta.OccurredAt) {
			return []Fact{expired(m.Balance, due, RuleInactivity)}
		}
	}
	var facts []Fact
	left := m.Balance
	for _, l := range m.lots {
		if l.expires.After(meta.OccurredAt) || left <= 0 {
			break
		}
		points := min(l.remaining, left)
		left -= points
		facts = append(facts, expired(points, l.expires, RuleExpiry))
	}
	return facts
}

// MaxNoticeDays bounds how long before their date expiring points are noticed.
const MaxNoticeDays = 365

// PointsExpiring says that Points of the member's balance expire at
// ExpiresAt: a notice, NoticeDays before the date (see Expiry), for upstream
// to tell the member. It moves no points. Its time is when the notice fell
// due, which may be before the event that noticed it.
type PointsExpiring struct {
	FactMeta
	Points         int64
	ExpiresAt      time.Time
	ProgramVersion string
}

func (PointsExpiring) activity() bool { return false }

func (PointsExpiring) FactType() FactType { return FactPointsExpiring }

// decideNotices gives notice of the dated points that expire within the
// program's notice days of meta's time and were not noticed before.
func decideNotices(m *Member, meta FactMeta, p *Program) []Fact {
	days := p.Earning.Expiry.NoticeDays
	if days == 0 || m.Balance <= 0 {
		return nil
	}
	var facts []Fact
	left := m.Balance
	for _, l := range m.lots {
		due := l.expires.AddDate(0, 0, -days)
		if due.After(meta.OccurredAt) {
			break
		}
		points := min(l.remaining, left)
		left -= points
		if !l.expires.After(m.noticedUntil) || !l.expires.After(meta.OccurredAt) || points <= 0 {
			continue
		}
		fm := meta
		fm.OccurredAt = due
		facts = append(facts, PointsExpiring{FactMeta: fm, Points: points, ExpiresAt: l.expires, ProgramVersion: p.Version})
	}
	return facts
}
