package domain

import (
	"math/big"
	"slices"
	"time"
)

// Apply decides the facts an event causes for a member and folds them into
// the member's state. On rejection the state is unchanged and the error is a
// *RejectedError. The event must have passed Validate.
func Apply(m *Member, e Event, p *Program) ([]Fact, error) {
	facts, err := Decide(m, e, p)
	if err != nil {
		return nil, err
	}
	for _, f := range facts {
		m.Evolve(f)
	}
	return facts, nil
}

// Decide returns the facts an event causes without changing the member:
// first the points that expired before it (see decideExpiry), then the
// event's own facts, decided on the member as the expiry leaves them.
func Decide(m *Member, e Event, p *Program) ([]Fact, error) {
	return DecideKnown(m, e, p, Known{})
}

// DecideKnown is Decide for an engine that knows more of the member's past
// than the member's state keeps: an order or request older than the state
// remembers is refused as a repeat, as a recent one is.
func DecideKnown(m *Member, e Event, p *Program, k Known) ([]Fact, error) {
	if from := p.AcceptsEventsFrom(); e.OccurredAt.Before(from) {
		return nil, reject(ReasonInvalidTimestamp, "occurred_at", "%s is before %s, the earliest time program %s accepts (accept_events_from)",
			e.OccurredAt.UTC().Format(time.RFC3339), from.Format(time.RFC3339), p.Version)
	}
	if err := refuseKnown(e, k); err != nil {
		return nil, err
	}
	if !m.ErasedAt.IsZero() && !SettlesForErased(e.Type) {
		return nil, reject(ReasonMemberErased, "member_id", "the member was erased: no event for the id is taken")
	}
	meta := FactMeta{MemberID: e.MemberID, EventID: e.ID, OccurredAt: e.OccurredAt.UTC()}
	var timed []Fact // what time brought before the event
	forked := false
	settle := func(facts []Fact) {
		if len(facts) > 0 && !forked {
			m, forked = m.fork(), true
		}
		for _, f := range facts {
			m.Evolve(f)
		}
		timed = append(timed, facts...)
	}
	settle(decideExpiry(m, meta, p))
	if released := decideReleases(m, meta, p); len(released) > 0 {
		settle(released)
		settle(decideExpiry(m, meta, p)) // released points whose date has passed too
	}
	settle(decideTierReviews(m, meta, p))
	settle(decideYearly(m, meta, p))
	settle(decideNotices(m, meta, p))
	at := countedAt(m, e, meta.OccurredAt)
	facts, err := decideEvent(m, meta, at, e, p)
	if err != nil {
		return nil, err
	}
	// A member the event did not make has no tiers; nor has a stock's
	// member, which is never known (Validate gives it stock requests only,
	// whose facts are no activity).
	if !m.Known() && !slices.ContainsFunc(facts, IsActivity) {
		return append(timed, facts...), nil
	}
	own := append(facts, decideProgress(m, meta, at, facts, p)...)
	own = append(own, decideDebtRepayment(m, meta, timed, own, p)...)
	return append(timed, own...), nil
}

// countedAt is when an event counts towards qualifying spend and tiers: at
// its own time, except a refund dated before its purchase (the till that
// took the goods back runs behind the one that sold them). It cannot have
// happened before the purchase, and as of its own date the purchase whose
// spend it takes back is not in the window yet; it counts at the
// purchase's time.
func countedAt(m *Member, e Event, at time.Time) time.Time {
	if b, ok := e.Body.(Refund); ok {
		if o := m.order(b.OrderID); o != nil && o.PlacedAt.After(at) {
			return o.PlacedAt
		}
	}
	return at
}

// decideEvent decides the event's own facts; at is when it counts towards
// qualifying spend and tiers (countedAt).
func decideEvent(m *Member, meta FactMeta, at time.Time, e Event, p *Program) ([]Fact, error) {
	if e.Body == nil {
		return nil, reject(ReasonMissingField, "data", "no body for event type %s", e.Type)
	}
	facts, activity, err := e.Body.decide(m, meta, at, e, p)
	if !activity {
		if err != nil {
			return facts, err
		}
		return decideTriggers(m, meta, at, e, p, facts)
	}
	if err != nil {
		return nil, err
	}
	if e.Type != TypePurchaseCompleted { // purchases run the rules with their base points
		more, err := decideRules(m, meta, e, p, 0)
		if err != nil {
			return nil, err
		}
		facts = append(facts, more...)
	}
	facts = earnings(m, meta, at, e, p, facts)
	if !m.Known() {
		first := TierChanged{FactMeta: meta, To: p.Tiers[0].Name, Reason: TierReasonEnrolment}
		facts = append([]Fact{first}, facts...)
		return append(facts, decideTierChange(m, meta, at, facts, p)...), nil
	}
	return facts, nil
}

// decideTriggers adds to the facts of an event that is not the member's
// activity what the program's triggered rules give for it: an update of
// the member fires its change rules, the clock its inactivity rules.
func decideTriggers(m *Member, meta FactMeta, at time.Time, e Event, p *Program, facts []Fact) ([]Fact, error) {
	var fired []Fact
	var err error
	switch {
	case changeEvent(e.Type):
		fired, err = decideChangeRules(m, meta, e, p, facts)
	case e.Type == TypeMemberClock && m.Known():
		fired, err = decideInactivityRules(m, meta, e, p)
	}
	if err != nil || len(fired) == 0 {
		return facts, err
	}
	return earnings(m, meta, at, e, p, append(facts, fired...)), nil
}

// earnings settles the points an event's facts earn: none for a member who
// does not earn, their expiry (or when they become available), and the
// tier change they bring.
func earnings(m *Member, meta FactMeta, at time.Time, e Event, p *Program, facts []Fact) []Fact {
	if !m.Earns() {
		facts = withoutEarnings(facts)
	}
	expires, available := p.Earning.Expiry.expiresAt(meta.OccurredAt), time.Time{}
	if e.Type == TypePurchaseCompleted {
		available = p.Earning.Pending.availableAt(meta.OccurredAt)
	}
	for i, f := range facts {
		if earned, ok := f.(PointsEarned); ok {
			if available.IsZero() {
				earned.ExpiresAt = expires
			} else {
				earned.AvailableAt = available // the release carries the expiry
			}
			facts[i] = earned
		}
	}
	if !m.Known() {
		return facts // the caller puts the first tier first
	}
	return append(facts, decideTierChange(m, meta, at, facts, p)...)
}

// withoutEarnings drops the points a blocked or closed member would have
// earned, and the offers they would have been made; the activity itself is
// still recorded.
func withoutEarnings(facts []Fact) []Fact {
	kept := facts[:0:0]
	for _, f := range facts {
		switch f.(type) {
		case PointsEarned, OfferMade:
		default:
			kept = append(kept, f)
		}
	}
	return kept
}

func decideEnrolment(m *Member, meta FactMeta, b Enrolment) ([]Fact, error) {
	if !m.EnrolledAt.IsZero() {
		return nil, reject(ReasonAlreadyEnrolled, "member_id", "member enrolled on %s", m.EnrolledAt.Format("2006-01-02"))
	}
	return []Fact{MemberEnrolled{FactMeta: meta, Channel: b.Channel, ReferredBy: b.ReferredBy, Birthday: b.Birthday}}, nil
}

func decidePurchase(m *Member, meta FactMeta, e Event, b Purchase, p *Program) ([]Fact, error) {
	rule, ok := p.Earning.Currencies[b.Total.Currency]
	if !ok {
		return nil, reject(ReasonCurrencyNotAccepted, "currency", "the program does not accept %s", b.Total.Currency)
	}
	if m.order(b.OrderID) != nil {
		return nil, reject(ReasonDuplicateOrder, "order_id", "order %q was already recorded for this member", b.OrderID)
	}
	qualifying, ok := qualifyingSpend(b.Total, rule.ToProgramCurrency, MinorUnit(p.Currency))
	if !ok {
		return nil, reject(ReasonInvalidAmount, "amount", "%d %s converts to more than %d minor units of %s", b.Total.Minor, b.Total.Currency, int64(MaxAmount), p.Currency)
	}
	if p.MaxOrderAmount > 0 && qualifying > p.MaxOrderAmount {
		return nil, reject(ReasonInvalidAmount, "amount", "%d %s exceeds the program's max_order_amount", b.Total.Minor, b.Total.Currency)
	}
	after := m.spendWithin(meta.OccurredAt) + qualifying
	facts := []Fact{PurchaseRecorded{
		FactMeta: meta, OrderID: b.OrderID, Total: b.Total, Lines: b.Lines, Channel: b.Channel,
		QualifyingSpend: qualifying, QualifyingSpendAfter: after,
	}}
	base, tierBonus, err := purchasePoints(m, b, rule, p)
	if err != nil {
		return nil, err
	}
	earn := func(points int64, rule string) {
		if points > 0 {
			facts = append(facts, PointsEarned{FactMeta: meta, Points: points, Rule: rule, OrderID: b.OrderID, ProgramVersion: p.Version})
		}
	}
	earn(base, RuleBase)
	earn(tierBonus, RuleTierBonus)
	if m.Purchases == 0 {
		earn(p.Earning.FirstPurchaseBonus, RuleFirstPurchaseBonus)
		facts = append(facts, decideReferral(m, meta, b.OrderID, p)...)
	}
	more, err := decideRules(m, meta, e, p, base)
	if err != nil {
		return nil, err
	}
	return append(facts, more...), nil
}

// currentTier is the member's tier, or the starting tier for a new member.
func currentTier(m *Member, p *Program) string {
	if m.Tier == "" {
		return p.Tiers[0].Name
	}
	return m.Tier
}

// purchasePoints computes base points (per currency unit, weighted by line
// categories) and the extra points of the member's tier multiplier, capped
// per order. The purchase earns at the tier the member had when it arrived.
func purchasePoints(m *Member, b Purchase, rule CurrencyRule, p *Program) (base, tierBonus int64, err error) {
	tier := tierMultiplier(m, p)
	base, total, fits := purchasePointsInt64(b, rule.PointsPerUnit, tier, p.Earning.CategoryMultipliers)
	okBase, okTotal := base <= MaxPointsPerEvent, total <= MaxPointsPerEvent
	if !fits {
		exact, withTier := purchasePointsBig(b, rule.PointsPerUnit, tier, p.Earning.CategoryMultipliers)
		base, okBase = floorWithin(exact, MaxPointsPerEvent)
		total, okTotal = floorWithin(withTier, MaxPointsPerEvent)
	}
	if !okBase || !okTotal {
		return 0, 0, reject(ReasonInvalidAmount, "amount", "the order would earn more than %d points", int64(MaxPointsPerEvent))
	}
	tierBonus = total - base
	if tierBonus < 0 {
		tierBonus = 0
	}
	if limit := p.Earning.PerOrderCap; limit > 0 && base+tierBonus > limit {
		if base > limit {
			base = limit
		}
		tierBonus = limit - base
	}
	return base, tierBonus, nil
}

// categoryFactor is the spend-weighted mean multiplier of the order's lines;
// it applies to the order total so discounts reduce points proportionally.
func categoryFactor(lines []LineItem, multipliers map[string]Ratio) *big.Rat {
	sum := new(big.Rat)
	weighted := new(big.Rat)
	for _, l := range lines {
		amount := new(big.Rat).SetInt64(l.Quantity)
		amount.Mul(amount, new(big.Rat).SetInt64(l.UnitPrice))
		sum.Add(sum, amount)
		mult, ok := multipliers[l.Category]
		if !ok {
			mult = One
		}
		weighted.Add(weighted, amount.Mul(amount, rat(mult)))
	}
	if sum.Sign() == 0 {
		return big.NewRat(1, 1)
	}
	return weighted.Quo(weighted, sum)
}

func tierMultiplier(m *Member, p *Program) Ratio {
	if i := p.tierRank(currentTier(m, p)); i >= 0 {
		return p.Tiers[i].Multiplier
	}
	return One
}

func decideRefund(m *Member, meta FactMeta, at time.Time, b Refund, p *Program) ([]Fact, error) {
	o := m.order(b.OrderID)
	if o == nil {
		return nil, reject(ReasonUnknownOrder, "order_id", "no order %q is on record for this member", b.OrderID)
	}
	if meta.OccurredAt.Sub(o.PlacedAt) > p.RefundWindow {
		return nil, reject(ReasonRefundWindowClosed, "order_id", "order %q was placed on %s, outside the refund window",
			b.OrderID, o.PlacedAt.Format("2006-01-02"))
	}
	amount, err := refundAmount(o, b)
	if err != nil {
		return nil, err
	}
	refunded := o.Refunded + amount
	var reversal, lost int64
	if o.Total.Minor > 0 {
		// What the order owes back once this refund is counted: its share
		// of the order's points, and, from the refund that completes the
		// return, the order's one-off bonuses. Less what earlier refunds
		// took (or recorded as debt).
		owed := mulDivFloor(o.Earned, Ratio{Num: refunded, Den: o.Total.Minor})
		if refunded == o.Total.Minor && o.Refunded < o.Total.Minor && p.Returns.reversesBonuses() {
			owed += o.Bonus
		}
		reversal = owed - o.Reversed
		lost = mulDivFloor(o.QualifyingSpend, Ratio{Num: refunded, Den: o.Total.Minor}) - o.QualifyingLost
	}
	// The refund's spend comes off its purchase's day (evolveRefund), so it
	// changes the spend of the window it counts in (at, never before the
	// purchase) only when the purchase is in that window, which it is not
	// when it is older than the window.
	after := m.spendWithin(at)
	if first, last := qualifyingDays(at); dayOf(o.PlacedAt) >= first && dayOf(o.PlacedAt) <= last {
		after -= lost
	}
	facts := []Fact{RefundRecorded{
		FactMeta: meta, OrderID: b.OrderID, Amount: Money{Minor: amount, Currency: o.Total.Currency}, Lines: b.Lines,
		QualifyingSpend: -lost, QualifyingSpendAfter: after,
	}}
	if reversal <= 0 {
		return facts, nil
	}
	// The order's pending points go first: they were never available.
	if cancel := min(reversal, o.Pending); cancel > 0 {
		facts = append(facts, PointsCancelled{FactMeta: meta, OrderID: b.OrderID, Points: cancel, ProgramVersion: p.Version})
		reversal -= cancel
	}
	debt := int64(0)
	switch p.Returns.Policy {
	case ReturnsWithinBalance:
		taken := min(reversal, max(m.Balance, 0))
		reversal, debt = taken, reversal-taken
	case ReturnsOnlyPending:
		reversal = 0
	}
	if reversal > 0 {
		facts = append(facts, PointsReversed{FactMeta: meta, Points: reversal, Rule: RuleRefund, OrderID: b.OrderID, ProgramVersion: p.Version})
	}
	if debt > 0 {
		facts = append(facts, PointsDebt{FactMeta: meta, Points: debt, Rule: RuleRefund, OrderID: b.OrderID, ProgramVersion: p.Version})
	}
	return facts, nil
}

// refundAmount is what the refund returns, in the order's currency: the
// amount given, or the returned lines at the order's unit prices.
func refundAmount(o *Order, b Refund) (int64, error) {
	remaining := o.Total.Minor - o.Refunded
	amount := b.Amount.Minor
	if len(b.Lines) > 0 {
		amount = 0
		returning := map[string]int64{}
		for i, rl := range b.Lines {
			line, ok := findLine(o.Lines, rl.SKU)
			if !ok {
				return 0, reject(ReasonInvalidField, lineField(i, "sku"), "order has no line with sku %q", rl.SKU)
			}
			// Earlier refunds of the order count: a line is returned at most once.
			returning[rl.SKU] += rl.Quantity
			if before := o.returned[rl.SKU]; returning[rl.SKU]+before > line.Quantity {
				return 0, reject(ReasonRefundExceedsOrder, lineField(i, "quantity"), "returns %d of sku %q, order had %d of which %d were returned before",
					rl.Quantity, rl.SKU, line.Quantity, before)
			}
			amount += rl.Quantity * line.UnitPrice
		}
		// Line prices may add up to more than a discounted total.
		if amount > remaining {
			amount = remaining
		}
	} else if b.Amount.Currency != o.Total.Currency {
		return 0, reject(ReasonCurrencyMismatch, "currency", "refund in %s for an order paid in %s", b.Amount.Currency, o.Total.Currency)
	}
	if amount > remaining {
		return 0, reject(ReasonRefundExceedsOrder, "amount", "refund of %d exceeds the %d left on the order", amount, remaining)
	}
	return amount, nil
}

func findLine(lines []LineItem, sku string) (LineItem, bool) {
	for _, l := range lines {
		if l.SKU == sku {
			return l, true
		}
	}
	return LineItem{}, false
}

func decideFeedback(m *Member, meta FactMeta, b Feedback, p *Program) []Fact {
	facts := []Fact{FeedbackRecorded{FactMeta: meta, OrderID: b.OrderID, Rating: b.Rating, NPS: b.NPS, Comment: b.Comment, Channel: b.Channel}}
	if o := m.order(b.OrderID); o != nil && !o.FeedbackRewarded && p.Earning.FeedbackBonus > 0 {
		facts = append(facts, PointsEarned{FactMeta: meta, Points: p.Earning.FeedbackBonus, Rule: RuleFeedbackBonus, OrderID: b.OrderID, ProgramVersion: p.Version})
	}
	return facts
}

func decideVisit(m *Member, meta FactMeta, b Visit, p *Program) []Fact {
	facts := []Fact{VisitRecorded{FactMeta: meta, Channel: b.Channel}}
	capped := p.Earning.VisitBonusMaxPerDay > 0 && m.visitBonusesOn(meta.OccurredAt) >= p.Earning.VisitBonusMaxPerDay
	if p.Earning.VisitBonus > 0 && !capped {
		facts = append(facts, PointsEarned{FactMeta: meta, Points: p.Earning.VisitBonus, Rule: RuleVisitBonus, ProgramVersion: p.Version})
	}
	return facts
}

func rat(r Ratio) *big.Rat { return new(big.Rat).SetFrac64(r.Num, r.Den) }

// MaxPointsPerEvent bounds the points one event may earn. Only an absurd
// program (huge rates and multipliers) reaches it; such an event is refused
// rather than letting balances approach int64's range.
const MaxPointsPerEvent = 1_000_000_000_000_000

// floorWithin returns floor(r) for 0 <= r, and whether it is at most limit.
func floorWithin(r *big.Rat, limit int64) (int64, bool) {
	q := new(big.Int).Quo(r.Num(), r.Denom())
	if !q.IsInt64() || q.Int64() > limit {
		return 0, false
	}
	return q.Int64(), true
}
