package domain

import (
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
)

// Rule is an earning rule of the program beyond the built-in ones: when its
// condition holds for an event (and, with ScopeLine, for a line item), it
// awards points under its own id. Rules run in Priority order after the
// built-in earning; one with Stop ends the run when it awards.
type Rule struct {
	ID          string
	Description string
	On          EventType // the event type it looks at; "" for a trigger
	// Trigger, when set, makes the rule fire on a change of the member
	// rather than on an event of type On (see triggers.go).
	Trigger Trigger
	Scope   RuleScope
	// When is an expression over event, member and (ScopeLine) line; see
	// docs/program.md. Empty: always.
	When     string
	Award    Award
	Priority int
	Stop     bool
	// ValidFrom and ValidTo bound the event times it applies to (ValidTo
	// excluded); zero: unbounded.
	ValidFrom, ValidTo time.Time
	// Limit caps what the rule awards one member per period.
	Limit Limit
	// OncePerDays, when set, lets the rule award a member at most once in
	// so many days.
	OncePerDays int
	// InactiveDays is how long without a purchase fires a rule on
	// inactivity.
	InactiveDays int

	cond *vm.Program
}

// RuleScope is what a rule's award is counted on.
type RuleScope string

const (
	ScopeEvent RuleScope = "event" // once per event
	ScopeLine  RuleScope = "line"  // once per matching line item of a purchase
)

// Award is what a rule gives: exactly one of the four.
type Award struct {
	Points        int64 // fixed points
	PointsPerUnit Ratio // per major currency unit of the order, or of the line
	Multiplier    Ratio // the order's base points times Multiplier-1 more
	// Offer is an offer for the CRM to make the member (OfferMade, an
	// outbound event): no points.
	Offer string
}

// Limit caps a rule's points per member and period; zero Points: no cap.
type Limit struct {
	Points int64
	Per    LimitPeriod
}

// LimitPeriod is a calendar period in UTC.
type LimitPeriod string

const (
	PerDay   LimitPeriod = "day"
	PerWeek  LimitPeriod = "week" // ISO weeks, from Monday
	PerMonth LimitPeriod = "month"
	PerYear  LimitPeriod = "year"
)

// builtinRules are the rule names the built-in earning uses; program rules
// may not take them.
var builtinRules = []string{RuleBase, RuleTierBonus, RuleFirstPurchaseBonus, RuleFeedbackBonus, RuleVisitBonus, RuleRefund,
	RuleReferred, RuleReferrer, RuleTransferOut, RuleTransferIn, RuleBirthday, RuleAnniversary,
	RuleExpiry, RuleInactivity}

// ruleEnv is what a condition sees. Names are the expr tags.
type ruleEnv struct {
	Event  ruleEvent  `expr:"event"`
	Member ruleMember `expr:"member"`
	Line   ruleLine   `expr:"line"`
}

type ruleEvent struct {
	Type       string   `expr:"type"` // enrolment, purchase, refund, feedback, visit
	Channel    string   `expr:"channel"`
	Amount     int64    `expr:"amount"` // minor units
	Currency   string   `expr:"currency"`
	OrderID    string   `expr:"order_id"`
	Date       string   `expr:"date"`    // YYYY-MM-DD, UTC
	Weekday    string   `expr:"weekday"` // Mon ... Sun, UTC
	Hour       int      `expr:"hour"`    // 0-23, UTC
	Rating     int      `expr:"rating"`  // 0: none
	NPS        int      `expr:"nps"`     // -1: none
	Lines      int      `expr:"lines"`
	Categories []string `expr:"categories"`
	SKUs       []string `expr:"skus"`
}

type ruleMember struct {
	ID              string `expr:"id"`
	Tier            string `expr:"tier"`
	Purchases       int64  `expr:"purchases"`
	Balance         int64  `expr:"balance"`
	Lifetime        int64  `expr:"lifetime"`
	QualifyingSpend int64  `expr:"qualifying_spend"`
	Enrolled        bool   `expr:"enrolled"`
	Status          string `expr:"status"` // active, blocked, closed
	// Visits7d and Visits30d count the days with a visit among the last 7
	// (30) UTC days, the event's day included, a visit being decided
	// included: `member.visits_7d >= 3` is a visit streak.
	Visits7d  int `expr:"visits_7d"`
	Visits30d int `expr:"visits_30d"`
	// VisitDaysAgo lists, for the days with a visit among the last 31, how
	// many days ago each was (0: the event's day): n visits in d days is
	// `len(filter(member.visit_days_ago, # < d)) >= n`.
	VisitDaysAgo []int `expr:"visit_days_ago"`

	// The latest fit's scores (MemberScored); a member never scored has
	// scored false, bands and segment "" and the numbers 0. ChurnRisk is
	// 1 - the probability alive, from its integer parts per million.
	Scored         bool    `expr:"scored"`
	ChurnRisk      float64 `expr:"churn_risk"`
	RiskBand       string  `expr:"risk_band"`
	ValueBand      string  `expr:"value_band"`
	PredictedValue int64   `expr:"predicted_value"` // minor units
	Segment        string  `expr:"segment"`
	// Attributes are upstream's, by name: a string, an int or a bool; a
	// name the member does not have reads nil.
	Attributes map[string]any `expr:"attributes"`
}

type ruleLine struct {
	SKU       string `expr:"sku"`
	Category  string `expr:"category"`
	Quantity  int64  `expr:"quantity"`
	UnitPrice int64  `expr:"unit_price"`
	Amount    int64  `expr:"amount"` // quantity times unit price, minor units
}

// eventKinds names event types the way conditions and `on` do.
var eventKinds = map[EventType]string{
	TypeMemberEnrolled: "enrolment", TypePurchaseCompleted: "purchase", TypePurchaseRefunded: "refund",
	TypeFeedbackSubmitted: "feedback", TypeVisitRecorded: "visit", TypeMemberStatus: "status", TypeMemberClock: "clock",
	TypeMemberScored: "scored", TypeAttributesUpdated: "attributes",
}

// EventKind is an event type's name in conditions and `on:`.
func EventKind(t EventType) string { return eventKinds[t] }

// ruleEvents are the event types a rule may be `on`; the others of
// eventKinds are named in conditions only.
var ruleEvents = []EventType{TypeMemberEnrolled, TypePurchaseCompleted, TypeFeedbackSubmitted, TypeVisitRecorded}

// EventTypeForKind is the event type of an `on:` name.
func EventTypeForKind(kind string) (EventType, bool) {
	for _, t := range ruleEvents {
		if eventKinds[t] == kind {
			return t, true
		}
	}
	return "", false
}

// compile checks the rule's condition against what conditions see. The
// clock is not available (now() is disabled): the same event must earn the
// same when it is replayed.
func (r *Rule) compile() error {
	if r.When == "" {
		r.cond = nil
		return nil
	}
	// No clock and no time zones (date() and timezone() read the host's
	// zone database): a condition decides the same on any machine, at any
	// time.
	prog, err := expr.Compile(r.When, expr.Env(ruleEnv{}), expr.AsBool(),
		expr.DisableBuiltin("now"), expr.DisableBuiltin("date"), expr.DisableBuiltin("timezone"))
	if err != nil {
		// The messages name Go types; the program file knows them as
		// event, member and line.
		return errors.New(envNames.Replace(err.Error()))
	}
	r.cond = prog
	return nil
}

func (r *Rule) validate(field string, add func(field, format string, args ...any), ids map[string]bool) {
	switch {
	case r.ID == "":
		add(field+".id", "is required")
	case textProblem(r.ID, MaxNameBytes, Identifier) != "":
		add(field+".id", "%s", textProblem(r.ID, MaxNameBytes, Identifier))
	case slices.Contains(builtinRules, r.ID):
		add(field+".id", "%q is the name of a built-in rule; choose another", r.ID)
	case ids[r.ID]:
		add(field+".id", "%q is used by two rules", r.ID)
	}
	ids[r.ID] = true
	if r.Trigger != "" {
		r.validateTrigger(field, add)
	} else if !slices.Contains(ruleEvents, r.On) {
		add(field+".on", "must be purchase, visit, feedback, enrolment, change or inactivity")
	} else if r.InactiveDays != 0 {
		add(field+".days", "only a rule on inactivity takes days")
	}
	if r.OncePerDays < 0 || r.OncePerDays > MaxOncePerDays {
		add(field+".once_per_days", "must be 1 to %d days", MaxOncePerDays)
	}
	if r.Scope != ScopeEvent && r.Scope != ScopeLine {
		add(field+".scope", "must be event or line, got %q", r.Scope)
	} else if r.Scope == ScopeLine && r.On != TypePurchaseCompleted {
		add(field+".scope", "line applies only to rules on purchases")
	}
	a := r.Award
	set := 0
	for _, on := range []bool{a.Points != 0, a.PointsPerUnit != (Ratio{}), a.Multiplier != (Ratio{}), a.Offer != ""} {
		if on {
			set++
		}
	}
	switch {
	case set != 1:
		add(field+".award", "must give exactly one of points, points_per_unit, multiplier and offer")
	case a.Offer != "" && textProblem(a.Offer, MaxNameBytes, Identifier) != "":
		add(field+".award.offer", "%s", textProblem(a.Offer, MaxNameBytes, Identifier))
	case a.Offer != "" && r.Scope != ScopeEvent:
		add(field+".award.offer", "an offer is made once per event: scope must be event")
	case a.Points < 0:
		add(field+".award.points", "must not be negative")
	case r.Trigger != "" && (a.PointsPerUnit != (Ratio{}) || a.Multiplier != (Ratio{})):
		// validateTrigger says why
	case a.PointsPerUnit != (Ratio{}) && (a.PointsPerUnit.Num <= 0 || r.On != TypePurchaseCompleted):
		add(field+".award.points_per_unit", "must be greater than zero, on a rule on purchases")
	case a.Multiplier != (Ratio{}) && (a.Multiplier.Num < a.Multiplier.Den || r.On != TypePurchaseCompleted || r.Scope != ScopeEvent):
		add(field+".award.multiplier", "must be at least 1, on an event-scoped rule on purchases")
	}
	if !r.ValidTo.IsZero() && !r.ValidTo.After(r.ValidFrom) {
		add(field+".valid_to", "must be after valid_from")
	}
	if r.Limit.Points < 0 {
		add(field+".limit.points", "must not be negative")
	}
	if r.Limit.Points > 0 && !slices.Contains([]LimitPeriod{PerDay, PerWeek, PerMonth, PerYear}, r.Limit.Per) {
		add(field+".limit.per", "must be day, week, month or year, got %q", r.Limit.Per)
	}
	if err := r.compile(); err != nil {
		add(field+".when", "%v", err)
	}
}

var envNames = strings.NewReplacer("type domain.ruleEvent", "event", "type domain.ruleMember", "member",
	"type domain.ruleLine", "line", "domain.ruleEvent", "event", "domain.ruleMember", "member", "domain.ruleLine", "line")

// inOrder is the rules in the order they run: as Validate sorted them, or
// sorted now for a program not validated.
func (e *Earning) inOrder() []*Rule {
	if len(e.byPriority) == len(e.Rules) {
		return e.byPriority
	}
	return sortedRules(e.Rules)
}

// sortedRules is the program's rules in the order they run.
func sortedRules(rules []Rule) []*Rule {
	if len(rules) == 0 {
		return nil
	}
	out := make([]*Rule, len(rules))
	for i := range rules {
		out[i] = &rules[i]
	}
	slices.SortStableFunc(out, func(a, b *Rule) int { return a.Priority - b.Priority })
	return out
}

// decideRules runs the program's rules for an event after the built-in
// earning; base is the order's base points (for multipliers).
func decideRules(m *Member, meta FactMeta, e Event, p *Program, base int64) ([]Fact, error) {
	if len(p.Earning.Rules) == 0 {
		return nil, nil
	}
	env := ruleEnv{Event: eventEnv(e), Member: memberEnv(m, p)}
	visiting := e.Type == TypeVisitRecorded
	env.Member.VisitDaysAgo = m.visitDaysAgo(meta.OccurredAt, visiting)
	for _, ago := range env.Member.VisitDaysAgo {
		if ago < 7 {
			env.Member.Visits7d++
		}
		if ago < 30 {
			env.Member.Visits30d++
		}
	}
	var facts []Fact
	// Only a purchase's rule points belong to its order (refunds take them
	// back); feedback names an order too, but its points are not the
	// order's.
	orderID := ""
	if e.Type == TypePurchaseCompleted {
		orderID = env.Event.OrderID
	}
	arms := experimentArms{member: m}
	for _, r := range p.Earning.inOrder() {
		if r.Trigger != "" || r.On != e.Type || !r.covers(meta.OccurredAt) || m.firedWithin(r, meta.OccurredAt) {
			continue
		}
		points, err := r.points(env, e, base)
		if err != nil {
			return nil, fmt.Errorf("rule %s: %w", r.ID, err)
		}
		if points > 0 && arms.fire(p, r, meta, &facts, points, orderID) {
			break
		}
	}
	return facts, nil
}

// fire gives the member what rule r gives (points, cut to its limit, or
// its offer) unless an experiment withholds r from them: then it is as if
// r were not in the program (no points, no limit, no stop). It reports
// whether r stops the rules after it.
func (a *experimentArms) fire(p *Program, r *Rule, meta FactMeta, facts *[]Fact, points int64, orderID string) (stop bool) {
	if !a.allow(p, r, meta, facts) {
		return false
	}
	award, ok := r.give(a.member, meta, p, points, orderID)
	if !ok {
		return false
	}
	*facts = append(*facts, award)
	return r.Stop
}

// allow reports whether the member may be given rule r: not when an
// experiment testing it puts them in an arm not given it. The first time,
// it records the member's arm in facts.
func (a *experimentArms) allow(p *Program, r *Rule, meta FactMeta, facts *[]Fact) bool {
	if a.member.withholds(r.ID, meta.OccurredAt) {
		return false
	}
	x := p.experimentTesting(r.ID, meta.OccurredAt)
	if x == nil {
		return true
	}
	arm, assigned := a.of(x, meta)
	if assigned != nil {
		*facts = append(*facts, *assigned)
	}
	return x.gives(arm, r.ID)
}

// experimentArms are a member's arms as one decision finds and assigns
// them.
type experimentArms struct {
	member   *Member
	assigned map[string]string
}

// of is the member's arm of x, and the fact recording it when this is the
// first time.
func (a *experimentArms) of(x *Experiment, meta FactMeta) (string, *ExperimentAssigned) {
	if arm, ok := a.member.Arm(x.ID); ok {
		return arm, nil
	}
	if arm, ok := a.assigned[x.ID]; ok {
		return arm, nil
	}
	arm := x.ArmOf(meta.MemberID)
	if a.assigned == nil {
		a.assigned = map[string]string{}
	}
	a.assigned[x.ID] = arm
	var withheld []string
	for _, r := range x.Rules {
		if !x.gives(arm, r) {
			withheld = append(withheld, r)
		}
	}
	return arm, &ExperimentAssigned{FactMeta: meta, Experiment: x.ID, Arm: arm, Withheld: withheld}
}

func (r *Rule) covers(at time.Time) bool {
	return !at.Before(r.ValidFrom) && (r.ValidTo.IsZero() || at.Before(r.ValidTo))
}

// points is what the rule awards for the event: 0 when its condition does
// not hold (for line rules, summed over the lines where it holds).
func (r *Rule) points(env ruleEnv, e Event, base int64) (int64, error) {
	if r.Scope == ScopeEvent {
		ok, err := r.holds(env)
		if err != nil || !ok {
			return 0, err
		}
		return r.award(env.Event.Amount, env.Event.Currency, base)
	}
	var total int64
	for _, l := range e.Body.(Purchase).Lines {
		env.Line = ruleLine{SKU: l.SKU, Category: l.Category, Quantity: l.Quantity, UnitPrice: l.UnitPrice, Amount: l.Quantity * l.UnitPrice}
		ok, err := r.holds(env)
		if err != nil {
			return 0, err
		}
		if ok {
			n, err := r.award(env.Line.Amount, env.Event.Currency, 0)
			if err != nil {
				return 0, err
			}
			total += n
		}
	}
	return min(total, MaxPointsPerEvent), nil
}

func (r *Rule) holds(env ruleEnv) (bool, error) {
	if r.cond == nil {
		if r.When != "" {
			return false, fmt.Errorf("condition not compiled (the program was not validated)")
		}
		return true, nil
	}
	// A condition that cannot be evaluated for this member (an attribute
	// they lack compared with a number, an attribute upstream sent as
	// another type, an index past the end) does not hold: the event is
	// valid, and refusing it would lose what the rest of the program
	// gives. `??` gives an absent attribute a default (docs/program.md).
	out, err := expr.Run(r.cond, env)
	if err != nil {
		return false, nil
	}
	return out.(bool), nil
}

func (r *Rule) award(amount int64, currency string, base int64) (int64, error) {
	a := r.Award
	var exact *big.Rat
	switch {
	case a.Offer != "":
		return 1, nil // it fires: give makes the offer
	case a.Points > 0:
		return a.Points, nil
	case a.PointsPerUnit != (Ratio{}):
		exact = new(big.Rat).SetFrac64(amount, MinorUnit(currency))
		exact.Mul(exact, rat(a.PointsPerUnit))
	case a.Multiplier != (Ratio{}):
		exact = new(big.Rat).SetInt64(base)
		exact.Mul(exact, new(big.Rat).Sub(rat(a.Multiplier), big.NewRat(1, 1)))
	default:
		return 0, nil
	}
	if exact.Sign() <= 0 {
		return 0, nil
	}
	n, ok := floorWithin(exact, MaxPointsPerEvent)
	if !ok {
		return 0, reject(ReasonInvalidAmount, "amount", "rule %s would award more than %d points", r.ID, int64(MaxPointsPerEvent))
	}
	return n, nil
}

func eventEnv(e Event) ruleEvent {
	at := e.OccurredAt.UTC()
	env := ruleEvent{Type: eventKinds[e.Type], Date: at.Format(time.DateOnly), Weekday: at.Weekday().String()[:3], Hour: at.Hour(), NPS: -1}
	switch b := e.Body.(type) {
	case Purchase:
		env.Channel, env.Amount, env.Currency, env.OrderID, env.Lines = b.Channel, b.Total.Minor, b.Total.Currency, b.OrderID, len(b.Lines)
		for _, l := range b.Lines {
			env.SKUs = append(env.SKUs, l.SKU)
			if l.Category != "" && !slices.Contains(env.Categories, l.Category) {
				env.Categories = append(env.Categories, l.Category)
			}
		}
	case Visit:
		env.Channel = b.Channel
	case Enrolment:
		env.Channel = b.Channel
	case Feedback:
		env.Channel, env.OrderID = b.Channel, b.OrderID
		if b.Rating != nil {
			env.Rating = *b.Rating
		}
		if b.NPS != nil {
			env.NPS = *b.NPS
		}
	}
	return env
}

func memberEnv(m *Member, p *Program) ruleMember {
	env := ruleMember{ID: m.ID, Tier: currentTier(m, p), Purchases: m.Purchases, Balance: m.Balance, Lifetime: m.Lifetime,
		QualifyingSpend: m.QualifyingSpend, Enrolled: !m.EnrolledAt.IsZero(), Status: string(memberStatus(m)),
		Scored: m.Scores.FitID != "", ChurnRisk: float64(m.Scores.ChurnRiskPPM()) / PartsPerMillion,
		RiskBand: m.Scores.RiskBand, ValueBand: m.Scores.ValueBand, PredictedValue: m.Scores.PredictedValue.Minor,
		Segment: m.Scores.Segment}
	if len(m.Attributes) > 0 { // nil reads as no attribute: most members cost no map
		env.Attributes = make(map[string]any, len(m.Attributes))
		for _, a := range m.Attributes {
			env.Attributes[a.Name] = a.Value()
		}
	}
	return env
}

func memberStatus(m *Member) MemberStatus {
	if m.Status == "" {
		return StatusActive
	}
	return m.Status
}

// periodBounds are the first and last UTC day (days since the epoch) of
// the period containing at.
func periodBounds(per LimitPeriod, at time.Time) (first, last int64) {
	at = at.UTC()
	day := time.Date(at.Year(), at.Month(), at.Day(), 0, 0, 0, 0, time.UTC)
	var start, end time.Time
	switch per {
	case PerWeek:
		offset := (int(day.Weekday()) + 6) % 7 // days since Monday
		start = day.AddDate(0, 0, -offset)
		end = start.AddDate(0, 0, 6)
	case PerMonth:
		start = time.Date(at.Year(), at.Month(), 1, 0, 0, 0, 0, time.UTC)
		end = start.AddDate(0, 1, -1)
	case PerYear:
		start = time.Date(at.Year(), 1, 1, 0, 0, 0, 0, time.UTC)
		end = start.AddDate(1, 0, -1)
	default:
		start, end = day, day
	}
	return dayOf(start), dayOf(end)
}
