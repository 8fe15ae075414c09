package domain

import (
	"fmt"
	"maps"
	"slices"
	"time"
)

// Trigger is what makes a triggered rule fire.
type Trigger string

// TriggerChange fires a rule when an event changes the member so that its
// condition, false before, holds after: a scores or attributes update
// (decision 033). "When a member enters the high risk band" is
// `member.risk_band == "high"` on change.
const TriggerChange Trigger = "change"

// TriggerInactivity fires a rule once per lapse: on the clock's wake of a
// member who has not bought in the rule's InactiveDays (and whose condition
// holds then), and not again until they buy and lapse again.
const TriggerInactivity Trigger = "inactivity"

// MaxOncePerDays bounds a rule's once_per_days: ten years.
const MaxOncePerDays = 3650

// changeEvent reports whether t is an event change rules look at: the updates of what
// the member is, not of what they did.
func changeEvent(t EventType) bool { return t == TypeMemberScored || t == TypeAttributesUpdated }

func (r *Rule) validateTrigger(field string, add func(field, format string, args ...any)) {
	if r.Trigger != TriggerChange && r.Trigger != TriggerInactivity {
		add(field+".on", "must be purchase, visit, feedback, enrolment, change or inactivity, got %q", r.Trigger)
		return
	}
	if r.Scope != ScopeEvent {
		add(field+".scope", "a rule on %s has no lines: its scope is event", r.Trigger)
	}
	if r.Award.PointsPerUnit != (Ratio{}) || r.Award.Multiplier != (Ratio{}) {
		add(field+".award", "a rule on %s gives points or an offer: there is no amount to multiply", r.Trigger)
	}
	switch {
	case r.Trigger == TriggerChange && r.When == "":
		add(field+".when", "a rule on change needs a condition: it fires when the condition becomes true")
	case r.Trigger == TriggerInactivity && (r.InactiveDays < 1 || r.InactiveDays > MaxOncePerDays):
		add(field+".days", "a rule on inactivity needs the days without a purchase, 1 to %d", MaxOncePerDays)
	case r.Trigger != TriggerInactivity && r.InactiveDays != 0:
		add(field+".days", "only a rule on inactivity takes days")
	}
}

// decideInactivityRules fires, on the clock's wake, the rules on
// inactivity the member has lapsed into: no purchase in their days, and
// not fired since the last purchase.
func decideInactivityRules(m *Member, meta FactMeta, e Event, p *Program) ([]Fact, error) {
	if m.LastPurchaseAt.IsZero() || !p.Earning.has(TriggerInactivity) {
		return nil, nil
	}
	env := ruleEnv{Event: eventEnv(e), Member: memberEnv(m, p)}
	arms := experimentArms{member: m}
	var facts []Fact
	for _, r := range p.Earning.inOrder() {
		if r.Trigger != TriggerInactivity || !r.covers(meta.OccurredAt) || m.firedWithin(r, meta.OccurredAt) ||
			meta.OccurredAt.Before(m.LastPurchaseAt.Add(time.Duration(r.InactiveDays)*24*time.Hour)) {
			continue
		}
		if last, ok := m.ruleFired[r.ID]; ok && !last.Before(m.LastPurchaseAt) {
			continue // fired in this lapse already
		}
		holds, err := r.holds(env)
		if err != nil {
			return nil, fmt.Errorf("rule %s: %w", r.ID, err)
		}
		if holds && arms.fire(p, r, meta, &facts, r.Award.Points, "") {
			break
		}
	}
	return facts, nil
}

// has reports whether any rule has the trigger: an event that cannot fire
// one costs no member state to evaluate.
func (e *Earning) has(t Trigger) bool {
	return slices.ContainsFunc(e.Rules, func(r Rule) bool { return r.Trigger == t })
}

// OfferMade records that a rule made the member an offer for the CRM to
// send (an outbound event): no points move.
type OfferMade struct {
	FactMeta
	Rule           string
	Offer          string
	ProgramVersion string
}

func (OfferMade) FactType() FactType { return FactOfferMade }
func (OfferMade) activity() bool     { return false }

// firedWithin reports whether a rule with once_per_days last gave the
// member something less than that many days before at.
func (m *Member) firedWithin(r *Rule, at time.Time) bool {
	if r.OncePerDays <= 0 {
		return false
	}
	last, ok := m.ruleFired[r.ID]
	return ok && at.Sub(last) < time.Duration(r.OncePerDays)*24*time.Hour
}

// noteFired remembers when a program rule last gave the member something.
func (m *Member) noteFired(rule string, at time.Time) {
	m.ruleFired = maps.Clone(m.ruleFired) // a fork shares the map
	if m.ruleFired == nil {
		m.ruleFired = map[string]time.Time{}
	}
	if at.After(m.ruleFired[rule]) {
		m.ruleFired[rule] = at
	}
}

// decideChangeRules fires the program's change rules whose condition the
// event's own facts (own) make true: evaluated on the member before them
// and after.
func decideChangeRules(m *Member, meta FactMeta, e Event, p *Program, own []Fact) ([]Fact, error) {
	if !p.Earning.has(TriggerChange) {
		return nil, nil
	}
	after := m.fork()
	for _, f := range own {
		after.Evolve(f)
	}
	event := eventEnv(e)
	before, now := ruleEnv{Event: event, Member: memberEnv(m, p)}, ruleEnv{Event: event, Member: memberEnv(after, p)}
	arms := experimentArms{member: m}
	var facts []Fact
	for _, r := range p.Earning.inOrder() {
		if r.Trigger != TriggerChange || !r.covers(meta.OccurredAt) || m.firedWithin(r, meta.OccurredAt) {
			continue
		}
		was, err := r.holds(before)
		if err != nil {
			return nil, fmt.Errorf("rule %s: %w", r.ID, err)
		}
		is, err := r.holds(now)
		if err != nil {
			return nil, fmt.Errorf("rule %s: %w", r.ID, err)
		}
		if !was && is && arms.fire(p, r, meta, &facts, r.Award.Points, "") {
			break
		}
	}
	return facts, nil
}

// give is the fact of what rule r gives the member: points (capped by its
// limit; false when nothing is left) or its offer.
func (r *Rule) give(m *Member, meta FactMeta, p *Program, points int64, orderID string) (Fact, bool) {
	if r.Award.Offer != "" {
		return OfferMade{FactMeta: meta, Rule: r.ID, Offer: r.Award.Offer, ProgramVersion: p.Version}, true
	}
	if r.Limit.Points > 0 {
		points = min(points, max(r.Limit.Points-m.ruleAwarded(r.ID, r.Limit.Per, meta.OccurredAt), 0))
	}
	if points <= 0 {
		return nil, false
	}
	return PointsEarned{FactMeta: meta, Points: points, Rule: r.ID, OrderID: orderID, ProgramVersion: p.Version,
		Triggered: r.Trigger != ""}, true
}
