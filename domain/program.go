package domain

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"
)

// QualifyingWindow is how far back purchases count towards a tier.
const QualifyingWindow = 365 * 24 * time.Hour

// Program is one version of a loyalty program's rules. It is loaded from a
// program file (see package programs) and validated before use.
type Program struct {
	Version string
	// EffectiveFrom is when this version takes over from the one before
	// (see Programs); zero for a program with a single version.
	EffectiveFrom time.Time
	// Currency is the program currency: tier thresholds, qualifying spend and
	// MaxOrderAmount are in its minor units.
	Currency string
	Earning  Earning
	// Returns decides what a refund does when the points it should take back
	// are more than the balance.
	Returns Returns
	// Redemption is the reward catalogue and how points may be spent.
	Redemption Redemption
	// Transfers says whether members may give points to each other.
	Transfers Transfers
	// Adjustments are the limits on the back office's manual corrections.
	Adjustments Adjustments
	// Tiers are ordered by ascending threshold (of TierPolicy's measure); the
	// first has threshold 0 and is every member's starting tier.
	Tiers []Tier
	// TierPolicy is how members qualify for tiers and lose them.
	TierPolicy TierPolicy
	// MaxOrderAmount rejects orders above it (in program currency minor units)
	// as absurd; 0 means no limit.
	MaxOrderAmount int64
	// RefundWindow is how long after a purchase a refund is accepted; orders
	// older than that are forgotten, which keeps member state small.
	RefundWindow time.Duration
	// Experiments test program rules against control groups.
	Experiments []Experiment
	// AcceptEventsFrom refuses events dated before it (invalid_timestamp);
	// zero is DefaultAcceptEventsFrom. A retailer importing older history
	// sets it earlier, down to MinEventTime.
	AcceptEventsFrom time.Time
}

// DefaultAcceptEventsFrom is the earliest event time a program accepts
// unless it says otherwise: before it, a time is far more often a zero
// value or seconds read as milliseconds than a purchase.
var DefaultAcceptEventsFrom = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// AcceptsEventsFrom is the earliest event time the program accepts.
func (p *Program) AcceptsEventsFrom() time.Time {
	if p.AcceptEventsFrom.IsZero() {
		return DefaultAcceptEventsFrom
	}
	return p.AcceptEventsFrom
}

// Earning holds the rules that award points.
type Earning struct {
	// Currencies lists the accepted currencies and how each earns points.
	Currencies map[string]CurrencyRule
	// CategoryMultipliers scale the base points of line items by category;
	// categories not listed earn at 1.
	CategoryMultipliers map[string]Ratio
	// PerOrderCap caps base plus tier points for one order; 0 means no cap.
	PerOrderCap         int64
	FirstPurchaseBonus  int64
	FeedbackBonus       int64
	VisitBonus          int64
	VisitBonusMaxPerDay int
	// Rules are the program's own earning rules, run after the built-in
	// ones above (see Rule).
	Rules []Rule
	// Expiry is when earned points expire; the zero value never.
	Expiry Expiry
	// Pending is how long a purchase's points wait before they can be
	// spent; the zero value not at all.
	Pending Pending
	// Referral is the bonus of a referred member's first purchase.
	Referral Referral
	// Yearly is the birthday and enrolment anniversary bonuses.
	Yearly Yearly

	// byPriority is Rules in the order they run, set by Validate.
	byPriority []*Rule
}

// CurrencyRule says how purchases in one currency earn and qualify.
type CurrencyRule struct {
	// PointsPerUnit is the points earned per major unit (1.00 EUR) spent.
	PointsPerUnit Ratio
	// ToProgramCurrency converts one major unit of this currency into major
	// units of the program currency, for tier qualification.
	ToProgramCurrency Ratio
}

// Tier is a level members reach by qualifying spend or points.
type Tier struct {
	Name             string
	QualifyingSpend  int64
	QualifyingPoints int64
	Multiplier       Ratio
}

// Validate reports every problem with the program, naming the field, and
// compiles the conditions of its rules: a program is used only once it has
// been validated.
func (p *Program) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	if p.Version == "" {
		add("version", "is required")
	} else if problem := textProblem(p.Version, MaxNameBytes, Identifier); problem != "" {
		add("version", "%s", problem) // every fact the program decides names it
	}
	if _, ok := Currencies[p.Currency]; !ok {
		add("currency", "%q is not an ISO 4217 currency code", p.Currency)
	}
	if len(p.Earning.Currencies) == 0 {
		add("earning.currencies", "must list at least one accepted currency")
	}
	for _, code := range slices.Sorted(maps.Keys(p.Earning.Currencies)) {
		rule := p.Earning.Currencies[code]
		field := "earning.currencies." + code
		if _, ok := Currencies[code]; !ok {
			add(field, "%q is not an ISO 4217 currency code", code)
		}
		if rule.PointsPerUnit.Negative() {
			add(field+".points_per_unit", "must not be negative")
		}
		if !rule.ToProgramCurrency.Positive() {
			add(field+".rate", "must be greater than zero")
		}
	}
	for _, cat := range slices.Sorted(maps.Keys(p.Earning.CategoryMultipliers)) {
		if p.Earning.CategoryMultipliers[cat].Negative() {
			add("earning.category_multipliers."+cat, "must not be negative")
		}
	}
	for field, v := range map[string]int64{
		"earning.per_order_cap":        p.Earning.PerOrderCap,
		"earning.first_purchase_bonus": p.Earning.FirstPurchaseBonus,
		"earning.feedback_bonus":       p.Earning.FeedbackBonus,
		"earning.visit_bonus.points":   p.Earning.VisitBonus,
		"max_order_amount":             p.MaxOrderAmount,
	} {
		if v < 0 {
			add(field, "must not be negative, got %d", v)
		}
	}
	if p.Earning.VisitBonusMaxPerDay < 0 {
		add("earning.visit_bonus.max_per_day", "must not be negative")
	}
	if p.RefundWindow < 24*time.Hour || p.RefundWindow > orderMemory {
		add("refund_window_days", "must be between 1 and %d days", int(orderMemory.Hours()/24))
	}
	errs = append(errs, validateTiers(p.Tiers, p.TierPolicy.measure())...)
	p.TierPolicy.validate(add)
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	p.Earning.Expiry.validate(add)
	p.Earning.Pending.validate(add)
	p.Earning.byPriority = sortedRules(p.Earning.Rules)
	p.Returns.validate(add)
	p.Redemption.validate(p.Tiers, add)
	p.Transfers.validate(add)
	p.Adjustments.validate(add)
	p.Earning.Referral.validate(add)
	p.Earning.Yearly.validate(add)
	ids := map[string]bool{}
	for i := range p.Earning.Rules {
		p.Earning.Rules[i].validate(fmt.Sprintf("earning.rules[%d]", i), add, ids)
	}
	if p.Earning.Expiry.Policy == ExpireOnInactivity {
		for i, r := range p.Earning.Rules {
			if r.Trigger != "" && r.Award.Points > 0 {
				// Triggered points are not the member's activity, and the
				// members they target are the inactive: they would expire at
				// the next event, dated before they were given.
				add(fmt.Sprintf("earning.rules[%d].award.points", i),
					"a rule on %s gives no points under expiry on inactivity, which would expire them at the member's next event: give an offer, or expire points by date", r.Trigger)
			}
		}
	}
	experiments, tested := map[string]bool{}, map[string]bool{}
	for i := range p.Experiments {
		p.Experiments[i].validate(fmt.Sprintf("experiments[%d]", i), add, experiments, tested, p.Earning.Rules)
	}
	return errors.Join(errs...)
}

func validateTiers(tiers []Tier, measure TierMeasure) []error {
	var errs []error
	if len(tiers) == 0 {
		return []error{&FieldError{Field: "tiers", Reason: "must define at least one tier"}}
	}
	seen := map[string]bool{}
	for i, t := range tiers {
		field := fmt.Sprintf("tiers[%d]", i)
		switch {
		case t.Name == "":
			errs = append(errs, &FieldError{Field: field + ".name", Reason: "is required"})
		case textProblem(t.Name, MaxNameBytes, Identifier) != "":
			errs = append(errs, &FieldError{Field: field + ".name", Reason: textProblem(t.Name, MaxNameBytes, Identifier)})
		case seen[t.Name]:
			errs = append(errs, &FieldError{Field: field + ".name", Reason: fmt.Sprintf("%q is defined twice", t.Name)})
		}
		seen[t.Name] = true
		key, threshold, previous := ".qualifying_spend", t.QualifyingSpend, int64(0)
		if measure == MeasurePoints {
			key, threshold = ".qualifying_points", t.QualifyingPoints
		}
		if i > 0 {
			previous = TierPolicy{Measure: measure}.threshold(tiers[i-1])
		}
		if i == 0 && threshold != 0 {
			errs = append(errs, &FieldError{Field: field + key, Reason: "the first tier must start at 0"})
		}
		if i > 0 && threshold <= previous {
			errs = append(errs, &FieldError{Field: field + key, Reason: "must be greater than the previous tier's"})
		}
		if t.Multiplier.Negative() || t.Multiplier.Num < t.Multiplier.Den {
			errs = append(errs, &FieldError{Field: field + ".multiplier", Reason: "must be at least 1 (a tier adds points to the base, it never takes them away)"})
		}
	}
	return errs
}

// TierFor returns the highest tier whose threshold qualifyingSpend reaches.
func (p *Program) TierFor(qualifyingSpend int64) Tier {
	best := p.Tiers[0]
	for _, t := range p.Tiers[1:] {
		if qualifyingSpend >= t.QualifyingSpend {
			best = t
		}
	}
	return best
}

// tierRank is the index of a tier by name, -1 when the program has none.
func (p *Program) tierRank(name string) int {
	for i, t := range p.Tiers {
		if t.Name == name {
			return i
		}
	}
	return -1
}

// FieldError names the program or event field that is wrong and why.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// ClockNeeds is what the engine's clock must look for, by the program: the
// work on a member that no event of the member's brings about.
type ClockNeeds struct {
	// InactivityDays: all points expire after this many days without
	// activity; 0 when points expire by date only.
	InactivityDays int
	// ReviewGraceDays: tiers are reviewed this many days after their
	// period ends; -1 when tiers are never reviewed downwards.
	ReviewGraceDays int
	// Yearly: birthday or anniversary bonuses are given.
	Yearly bool
	// NoticeDays: points are noticed this many days before they expire.
	NoticeDays int
	// LapseDays: the days without a purchase of the rules on inactivity;
	// members are woken at the end of the day their last purchase's date
	// plus so many days falls on.
	LapseDays []int
}

// ClockNeeds says what the clock must look for under p.
func (p *Program) ClockNeeds() ClockNeeds {
	n := ClockNeeds{ReviewGraceDays: -1, NoticeDays: p.Earning.Expiry.NoticeDays,
		Yearly: p.Earning.Yearly.BirthdayPoints > 0 || p.Earning.Yearly.AnniversaryPoints > 0}
	if p.Earning.Expiry.Policy == ExpireOnInactivity {
		n.InactivityDays = p.Earning.Expiry.Days
	}
	if d := p.TierPolicy.Downgrade; d != "" && d != DowngradeNever {
		n.ReviewGraceDays = p.TierPolicy.GraceDays
	}
	for _, r := range p.Earning.Rules {
		if r.Trigger == TriggerInactivity && !slices.Contains(n.LapseDays, r.InactiveDays) {
			n.LapseDays = append(n.LapseDays, r.InactiveDays)
		}
	}
	slices.Sort(n.LapseDays)
	return n
}
