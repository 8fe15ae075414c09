package domain

import (
	"time"
)

// TierPolicy says how members qualify for tiers and when they lose them.
// The zero value is the engine's original policy: spend over a rolling 365
// days, upgrades only.
type TierPolicy struct {
	Measure TierMeasure
	// Period is the window qualification is counted over: rolling (the
	// last Days days) or a calendar month, quarter or year (to date).
	Period TierPeriod
	Days   int
	// Downgrade is what the review at the end of a tier's period does to a
	// member who no longer qualifies; GraceDays delays it.
	Downgrade Downgrade
	GraceDays int
}

// TierMeasure is what qualifies for a tier.
type TierMeasure string

// TierPeriod is the window that qualification is counted over.
type TierPeriod string

// Downgrade is what a review does to a member who no longer qualifies.
type Downgrade string

const (
	MeasureSpend  TierMeasure = "spend"  // qualifying spend, net of refunds (Tier.QualifyingSpend)
	MeasurePoints TierMeasure = "points" // points earned, net of reversals (Tier.QualifyingPoints)

	PeriodRolling TierPeriod = "rolling"
	PeriodMonth   TierPeriod = "month"
	PeriodQuarter TierPeriod = "quarter"
	PeriodYear    TierPeriod = "year"

	DowngradeNever       Downgrade = "never"        // a tier once reached is kept
	DowngradeOneTier     Downgrade = "one_tier"     // at most one tier down per review
	DowngradeToQualified Downgrade = "to_qualified" // down to the tier the period qualified for
)

// Reasons of TierChanged facts besides enrolment and qualifying spend.
const (
	TierReasonQualifyingPoints = "qualifying_points"
	TierReasonPeriodEnd        = "period_end"
	TierReasonAssigned         = "assigned"
)

// TierReasons lists every reason a TierChanged fact gives.
var TierReasons = []string{TierReasonEnrolment, TierReasonQualifyingSpend, TierReasonQualifyingPoints, TierReasonPeriodEnd, TierReasonAssigned}

// maxTierReviews bounds the reviews one event decides for a member away for
// a long time: each review after the first finds nothing qualifying and the
// member reaches the first tier, which is never reviewed, in len(Tiers).
const maxTierReviews = 1000

func (x TierPolicy) measure() TierMeasure {
	if x.Measure == "" {
		return MeasureSpend
	}
	return x.Measure
}

func (x TierPolicy) period() TierPeriod {
	if x.Period == "" {
		return PeriodRolling
	}
	return x.Period
}

func (x TierPolicy) days() int {
	if x.Days == 0 {
		return 365
	}
	return x.Days
}

func (x TierPolicy) reviews() bool { return x.Downgrade != "" && x.Downgrade != DowngradeNever }

func (x TierPolicy) validate(add func(field, format string, args ...any)) {
	switch x.Measure {
	case "", MeasureSpend, MeasurePoints:
	default:
		add("tier_policy.measure", "must be spend or points, got %q", x.Measure)
	}
	switch x.Period {
	case "", PeriodRolling:
		if x.Days < 0 || x.Days > 365 {
			add("tier_policy.days", "must be 1 to 365, got %d", x.Days)
		}
	case PeriodMonth, PeriodQuarter, PeriodYear:
		if x.Days != 0 {
			add("tier_policy.days", "is for the rolling period only")
		}
	default:
		add("tier_policy.period", "must be rolling, month, quarter or year, got %q", x.Period)
	}
	switch x.Downgrade {
	case "", DowngradeNever, DowngradeOneTier, DowngradeToQualified:
	default:
		add("tier_policy.downgrade", "must be never, one_tier or to_qualified, got %q", x.Downgrade)
	}
	if x.GraceDays < 0 || x.GraceDays > 365 {
		add("tier_policy.grace_days", "must be 0 to 365, got %d", x.GraceDays)
	}
}

// window is the first and last UTC day whose amounts count at t.
func (x TierPolicy) window(t time.Time) (first, last int64) {
	switch x.period() {
	case PeriodMonth:
		return periodBounds(PerMonth, t)
	case PeriodQuarter:
		_, last = periodBounds(PerDay, t)
		q := time.Date(t.Year(), time.Month((int(t.UTC().Month())-1)/3*3+1), 1, 0, 0, 0, 0, time.UTC)
		return dayOf(q), last
	case PeriodYear:
		return periodBounds(PerYear, t)
	}
	last = dayOf(t)
	return last - int64(x.days()) + 1, last
}

// validUntil is when a tier reached or kept at t is next reviewed: the end
// of the window after t's for a calendar period, Days after t's day for a
// rolling one; zero when tiers are never reviewed.
func (x TierPolicy) validUntil(t time.Time) time.Time {
	if !x.reviews() {
		return time.Time{}
	}
	t = t.UTC()
	switch x.period() {
	case PeriodMonth:
		return time.Date(t.Year(), t.Month()+2, 1, 0, 0, 0, 0, time.UTC)
	case PeriodQuarter:
		return time.Date(t.Year(), time.Month((int(t.Month())-1)/3*3+1)+6, 1, 0, 0, 0, 0, time.UTC)
	case PeriodYear:
		return time.Date(t.Year()+2, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return time.Date(t.Year(), t.Month(), t.Day()+1+x.days(), 0, 0, 0, 0, time.UTC)
}

// nextReview is the review after one at due: the end of the next window.
func (x TierPolicy) nextReview(due time.Time) time.Time {
	switch x.period() {
	case PeriodMonth:
		return due.AddDate(0, 1, 0)
	case PeriodQuarter:
		return due.AddDate(0, 3, 0)
	case PeriodYear:
		return due.AddDate(1, 0, 0)
	}
	return due.AddDate(0, 0, x.days())
}

// threshold is what tier t needs under the policy's measure.
func (x TierPolicy) threshold(t Tier) int64 {
	if x.measure() == MeasurePoints {
		return t.QualifyingPoints
	}
	return t.QualifyingSpend
}

// qualifiedFor is the highest tier value reaches.
func (p *Program) qualifiedFor(value int64) int {
	best := 0
	for i, t := range p.Tiers {
		if value >= p.TierPolicy.threshold(t) {
			best = i
		}
	}
	return best
}

// tierValue is the member's qualifying value in the window at t.
func (m *Member) tierValue(x TierPolicy, t time.Time) int64 {
	first, last := x.window(t)
	if x.measure() == MeasurePoints {
		return sumBetween(m.tierPoints, first, last)
	}
	return sumBetween(m.spend, first, last)
}

// tierDelta is what one fact of an event adds to the qualifying value in
// the window [first, last], before the member's state has it.
func (m *Member) tierDelta(x TierPolicy, f Fact, first, last int64) int64 {
	in := func(at time.Time) bool { d := dayOf(at); return d >= first && d <= last }
	orderIn := func(id string) bool { o := m.order(id); return o != nil && in(o.PlacedAt) }
	if x.measure() == MeasureSpend {
		switch f := f.(type) {
		case PurchaseRecorded:
			if in(f.OccurredAt) {
				return f.QualifyingSpend
			}
		case RefundRecorded:
			if orderIn(f.OrderID) {
				return f.QualifyingSpend
			}
		}
		return 0
	}
	switch f := f.(type) {
	case PointsEarned:
		if in(f.OccurredAt) {
			return f.Points
		}
	case PointsReversed:
		if orderIn(f.OrderID) {
			return -f.Points
		}
	case PointsCancelled:
		if orderIn(f.OrderID) {
			return -f.Points
		}
	}
	return 0
}

// decideTierChange is the tier move an event's facts bring: up as soon as the
// member qualifies for a higher tier, or, under a policy with reviews, a
// renewal of the tier's period when they qualify for it again. The facts
// count at `at` (countedAt).
func decideTierChange(m *Member, meta FactMeta, at time.Time, facts []Fact, p *Program) []Fact {
	x := p.TierPolicy
	first, last := x.window(at)
	value := m.tierValue(x, at)
	for _, f := range facts {
		value += m.tierDelta(x, f, first, last)
	}
	// A tier this version does not have (a later version dropped it) ranks
	// below every tier of it: the member moves to the tier they qualify for.
	from := currentTier(m, p)
	current := p.tierRank(from)
	for _, f := range facts { // the first tier of a new member
		if tc, ok := f.(TierChanged); ok {
			from, current = tc.To, p.tierRank(tc.To)
		}
	}
	qualified := p.qualifiedFor(value)
	switch {
	case qualified > current:
		reason := TierReasonQualifyingSpend
		if x.measure() == MeasurePoints {
			reason = TierReasonQualifyingPoints
		}
		return []Fact{TierChanged{FactMeta: meta, From: from, To: p.Tiers[qualified].Name, Reason: reason,
			ExpiresAt: x.validUntil(at)}}
	case qualified == current && current > 0 && x.reviews():
		if until := x.validUntil(at); until.After(m.TierExpires) {
			return []Fact{TierRenewed{FactMeta: meta, Tier: p.Tiers[current].Name, ExpiresAt: until}}
		}
	}
	return nil
}

// decideTierReviews are the reviews due by meta's time: at each, a member
// who qualified in the window that ended keeps the tier for another; one who
// did not goes down as the policy says, never below the assigned floor.
func decideTierReviews(m *Member, meta FactMeta, p *Program) []Fact {
	x := p.TierPolicy
	if !x.reviews() || m.TierExpires.IsZero() || m.Tier == "" {
		return nil
	}
	grace := time.Duration(x.GraceDays) * 24 * time.Hour
	var facts []Fact
	tier, due := p.tierRank(m.Tier), m.TierExpires
	if tier < 0 { // a tier this version does not have: start from the first
		tier = 0
	}
	for n := 0; n < maxTierReviews && tier > 0 && !due.Add(grace).After(meta.OccurredAt); n++ {
		fm := meta
		fm.OccurredAt = due.Add(grace)
		qualified := p.qualifiedFor(m.tierValue(x, due.Add(-time.Nanosecond)))
		next := x.nextReview(due)
		target := qualified
		if x.Downgrade == DowngradeOneTier {
			target = max(qualified, tier-1)
		}
		target = max(target, p.tierRank(m.TierFloor), 0)
		if target >= tier {
			facts = append(facts, TierRenewed{FactMeta: fm, Tier: p.Tiers[tier].Name, ExpiresAt: next})
		} else {
			if target == 0 {
				next = time.Time{} // the first tier is never reviewed
			}
			facts = append(facts, TierChanged{FactMeta: fm, From: p.Tiers[tier].Name, To: p.Tiers[target].Name,
				Reason: TierReasonPeriodEnd, ExpiresAt: next})
			tier = target
		}
		due = next
	}
	return facts
}

// TierAssignment is the body of TypeTierAssigned: the loyalty team gives a
// member a tier (a status match, a goodwill gesture). It is a floor: the
// member is at least in it, and reviews never take them below it, until
// another assignment (the first tier removes the floor).
type TierAssignment struct {
	Tier   string
	Reason string
}

func (b TierAssignment) validate(e Event) error {
	if b.Tier == "" {
		return reject(ReasonMissingField, "tier", "is required")
	}
	return nil
}

func (b TierAssignment) stringFields(yield func(StringField) bool) bool {
	return yield(ident("tier", b.Tier, MaxNameBytes)) && yield(freeText("reason", b.Reason, MaxStatusReasonBytes))
}

func (b TierAssignment) decide(m *Member, meta FactMeta, at time.Time, e Event, p *Program) ([]Fact, bool, error) {
	facts, err := decideTierAssignment(m, meta, b, p)
	return facts, false, err
}

func (TierAssignment) EventType() EventType { return TypeTierAssigned }

// TierAssigned records a member's tier floor.
type TierAssigned struct {
	FactMeta
	Tier   string
	Reason string
}

// TierRenewed moves the review of the member's tier to ExpiresAt: they
// qualified for it again.
type TierRenewed struct {
	FactMeta
	Tier      string
	ExpiresAt time.Time
}

func (TierRenewed) activity() bool { return false }

func (TierAssigned) FactType() FactType { return FactTierAssigned }
func (TierRenewed) FactType() FactType  { return FactTierRenewed }

func decideTierAssignment(m *Member, meta FactMeta, b TierAssignment, p *Program) ([]Fact, error) {
	if !m.Known() {
		return nil, unknownMember()
	}
	rank := p.tierRank(b.Tier)
	if rank < 0 {
		return nil, reject(ReasonInvalidField, "tier", "program %s has no tier %q", p.Version, b.Tier)
	}
	facts := []Fact{TierAssigned{FactMeta: meta, Tier: b.Tier, Reason: b.Reason}}
	if current := p.tierRank(currentTier(m, p)); rank > current {
		facts = append(facts, TierChanged{FactMeta: meta, From: p.Tiers[current].Name, To: b.Tier, Reason: TierReasonAssigned,
			ExpiresAt: p.TierPolicy.validUntil(meta.OccurredAt)})
	}
	return facts, nil
}

// TierOutlook is where a member stands: the qualifying value so far, what
// the next tier needs, and the tier they would have after their next review
// if nothing more counted.
type TierOutlook struct {
	Value     int64
	NextTier  string // "" in the highest tier
	Missing   int64  // to reach NextTier
	Projected string // at the next review; the current tier when there is none
}

// TierProgress records a change of the member's TierOutlook, as of its
// event: the members read model shows it.
type TierProgress struct {
	FactMeta
	TierOutlook
}

func (TierProgress) activity() bool { return false }

func (TierProgress) FactType() FactType { return FactTierProgress }

// decideProgress is the TierProgress an event's facts bring, if the outlook
// changed: decided on the member as their state is before the facts, with
// the facts' effect added, in the window of `at` (countedAt).
func decideProgress(m *Member, meta FactMeta, at time.Time, facts []Fact, p *Program) []Fact {
	after := *m // a shallow view: only the tier fields and the value change
	value := m.tierValue(p.TierPolicy, at)
	first, last := p.TierPolicy.window(at)
	var reviewDelta int64 // what the facts add to the window of the next review
	for _, f := range facts {
		value += m.tierDelta(p.TierPolicy, f, first, last)
		switch f := f.(type) {
		case TierChanged:
			after.Tier, after.TierExpires = f.To, f.ExpiresAt
		case TierRenewed:
			after.TierExpires = f.ExpiresAt
		case TierAssigned:
			after.TierFloor = f.Tier
		}
	}
	if !after.TierExpires.IsZero() {
		rf, rl := p.TierPolicy.window(after.TierExpires.Add(-time.Nanosecond))
		for _, f := range facts {
			reviewDelta += m.tierDelta(p.TierPolicy, f, rf, rl)
		}
	}
	o := after.outlook(p, value, m.tierValue(p.TierPolicy, after.TierExpires.Add(-time.Nanosecond))+reviewDelta)
	if o == m.progress {
		return nil
	}
	return []Fact{TierProgress{FactMeta: meta, TierOutlook: o}}
}

// Outlook is the member's TierOutlook at t under the program.
func (m *Member) Outlook(p *Program, t time.Time) TierOutlook {
	return m.outlook(p, m.tierValue(p.TierPolicy, t), m.tierValue(p.TierPolicy, m.TierExpires.Add(-time.Nanosecond)))
}

// outlook is the TierOutlook of a member with the given qualifying value now
// and in the window their next review measures.
func (m *Member) outlook(p *Program, value, atReview int64) TierOutlook {
	x := p.TierPolicy
	current := max(p.tierRank(currentTier(m, p)), 0)
	o := TierOutlook{Value: value, Projected: p.Tiers[current].Name}
	if current+1 < len(p.Tiers) {
		next := p.Tiers[current+1]
		o.NextTier, o.Missing = next.Name, max(x.threshold(next)-o.Value, 0)
	}
	if x.reviews() && !m.TierExpires.IsZero() && current > 0 {
		qualified := p.qualifiedFor(atReview)
		target := qualified
		if x.Downgrade == DowngradeOneTier {
			target = max(qualified, current-1)
		}
		o.Projected = p.Tiers[min(max(target, p.tierRank(m.TierFloor), 0), current)].Name // reviews never raise
	}
	return o
}
