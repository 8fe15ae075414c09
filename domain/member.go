package domain

import (
	"cmp"
	"maps"
	"math"
	"slices"
	"time"
)

// Member is what the rules need to know about one member. It is rebuilt by
// folding the member's facts with Evolve, so it holds nothing a fact does not
// carry. Fields are kept small: open orders are forgotten after the refund
// window and spend is kept per day.
type Member struct {
	ID         string
	EnrolledAt time.Time
	Balance    int64
	Lifetime   int64
	Tier       string
	TierSince  time.Time
	// TierExpires is when the tier is next reviewed; zero: never.
	TierExpires time.Time
	// TierFloor is the tier the loyalty team assigned, below which reviews
	// never take the member.
	TierFloor     string
	FirstActivity time.Time
	LastActivity  time.Time
	Purchases     int64
	// Debt is what refunds could not take back (PointsDebt facts).
	Debt int64
	// Redeemed is every point the member spent (PointsRedeemed facts).
	Redeemed int64
	// ReferredBy is the member who referred this one at enrolment.
	ReferredBy string
	// Birthday is from enrolment; the yearly bonuses were last paid for
	// the days lastBirthday and lastAnniversary.
	Birthday        Birthday
	lastBirthday    time.Time
	lastAnniversary time.Time
	// noticedUntil is the latest expiry date a PointsExpiring noticed.
	noticedUntil time.Time
	// Pending is points earned that are not available yet (see Pending):
	// not in Balance, not to be spent.
	Pending int64
	// Status is the account's status; "" until one is set, which is active.
	Status      MemberStatus
	StatusSince time.Time
	// ErasedAt is when the member was erased (MemberErased); nothing is
	// decided for them after it.
	ErasedAt time.Time
	// Scores are the latest fit's (MemberScored), given at ScoredAt.
	Scores   Scores
	ScoredAt time.Time
	// Attributes are upstream's (AttributesUpdated), sorted by name.
	Attributes []Attribute
	// experiments are the arms the member was recorded in, by experiment;
	// withheld, the rules an arm is not given, from when it was recorded.
	experiments map[string]string
	withheld    map[string]time.Time
	// ruleFired is when each program rule last gave the member something,
	// for once_per_days.
	ruleFired map[string]time.Time
	// LastPurchaseAt is the time of the latest purchase, for rules on
	// inactivity.
	LastPurchaseAt time.Time

	// QualifyingSpend is the rolling spend as of the latest purchase or refund.
	QualifyingSpend int64
	spend           []daySpend
	orders          map[string]*Order
	visitBonuses    map[int64]int                    // visit bonuses paid per UTC day, recent days only
	ruleDays        map[string][]daySpend            // points of each program rule per UTC day, recent days only
	lots            []lot                            // points with an expiry date, soonest first
	visitDays       []int64                          // UTC days with a visit, ascending, the last visitMemory days only
	rewardDays      map[string][]daySpend            // units of each reward redeemed per UTC day, recent days only
	requests        map[RequestRef]RedemptionOutcome // redemption and transfer requests decided, recent ones only
	tierPoints      []daySpend                       // points earned per UTC day net of reversals, for tiers by points
	progress        TierOutlook                      // as of the latest TierProgress
	holds           map[string]hold                  // points held for a stocked reward, by request
	stockTaken      map[string]int64                 // a stock's member: units given, by reward
	orderAges       orderAges                        // the orders by age, for forgetOld
	pendingQueue    []pendingEntry                   // the orders with pending points, by when they become available
	requestAges     requestAges                      // the requests by age, for forgetOld
	spent           map[string]spent                 // accepted redemptions, by request, while their request is remembered
	vouchers        map[string]voucher               // voucher codes, while their redemption's request is remembered
	// forked: a fork of another member (fork), sharing its history;
	// ordersOverlay holds the orders the fork changed (nil: forgotten).
	forked        bool
	ordersOverlay map[string]*Order
}

// Order is what a member's state remembers of a purchase, for refunds and
// the once-per-order feedback bonus.
type Order struct {
	PlacedAt        time.Time
	Total           Money
	Lines           []LineItem
	QualifyingSpend int64
	// Earned is the order's points that refunds take back in proportion
	// (base, tier bonus, program rules); Bonus its one-off bonuses (first
	// purchase, referral), which the refund that completes its return
	// takes back whole (Returns.OrderBonuses).
	Earned         int64
	Bonus          int64
	Refunded       int64
	Reversed       int64
	QualifyingLost int64
	// Pending is what the order earned that is not available yet, until
	// AvailableAt.
	Pending          int64
	AvailableAt      time.Time
	FeedbackRewarded bool
	returned         map[string]int64 // quantity returned per SKU by line refunds
}

type daySpend struct {
	day    int64 // days since the Unix epoch, UTC
	amount int64
}

// NewMember returns the state of a member with no history.
func NewMember(id string) *Member {
	return &Member{ID: id}
}

// Earns reports whether the member's account earns points: it is active.
func (m *Member) Earns() bool { return m.Status == "" || m.Status == StatusActive }

// visitMemory is how many days of visits a member's state keeps, for the
// visits_7d and visits_30d of rule conditions.
const visitMemory = 31

func (m *Member) addVisitDay(at time.Time) {
	day := dayOf(at)
	i, found := slices.BinarySearch(m.visitDays, day)
	if !found {
		m.visitDays = slices.Insert(m.visitDays, i, day)
	}
	latest := m.visitDays[len(m.visitDays)-1]
	for len(m.visitDays) > 0 && m.visitDays[0] <= latest-visitMemory {
		m.visitDays = m.visitDays[1:]
	}
}

// visitDaysAgo is how many days before at's day each remembered visit day
// was, soonest first, at's day counted when today is true.
func (m *Member) visitDaysAgo(at time.Time, today bool) []int {
	last := dayOf(at)
	var ago []int
	if today {
		ago = append(ago, 0)
	}
	for i := len(m.visitDays) - 1; i >= 0; i-- {
		d := m.visitDays[i]
		if d > last || d <= last-visitMemory || (today && d == last) {
			continue
		}
		ago = append(ago, int(last-d))
	}
	return ago
}

// fork returns a member that Decide may evolve with the facts time brings
// (expiry, releases, reviews, yearly bonuses, notices) without changing m.
// Those change only the small, bounded parts of the state, which are
// copied; the parts that grow with the member's history (orders and their
// queues, requests, holds, stock) are shared (releases only take entries
// off the front of the pending queue, which leaves the shared array as it
// is), an order changed by the fork
// is copied into an overlay of its own (orderToChange), and any other
// change of the shared parts copies them first (unshare). So a fork costs
// the same for a member with 100,000 orders as for a new one.
func (m *Member) fork() *Member {
	c := *m
	c.forked = true
	c.ordersOverlay = map[string]*Order{}
	c.spend = slices.Clone(m.spend)
	c.tierPoints = slices.Clone(m.tierPoints)
	c.lots = slices.Clone(m.lots)
	c.visitDays = slices.Clone(m.visitDays)
	c.visitBonuses = maps.Clone(m.visitBonuses)
	c.ruleDays = cloneDays(m.ruleDays)
	c.rewardDays = cloneDays(m.rewardDays)
	return &c
}

// unshare gives a fork its own copy of the parts it shares with the member
// it was forked from, before it changes them.
func (m *Member) unshare() {
	if !m.forked {
		return
	}
	orders := make(map[string]*Order, len(m.orders)+len(m.ordersOverlay))
	for id, o := range m.orders {
		orders[id] = o // not changed in place: orderToChange gave the fork its own copy
	}
	for id, o := range m.ordersOverlay {
		if o == nil {
			delete(orders, id)
		} else {
			orders[id] = o
		}
	}
	m.orders, m.ordersOverlay, m.forked = orders, nil, false
	m.orderAges = slices.Clone(m.orderAges)
	m.pendingQueue = slices.Clone(m.pendingQueue)
	m.requests = maps.Clone(m.requests)
	m.requestAges = slices.Clone(m.requestAges)
	m.holds = maps.Clone(m.holds) // a hold's lots are never changed in place
	m.spent = maps.Clone(m.spent) // nor a redemption's
	m.vouchers = maps.Clone(m.vouchers)
	m.stockTaken = maps.Clone(m.stockTaken)
}

// order returns the remembered order with the given id, or nil.
func (m *Member) order(id string) *Order {
	if m.ordersOverlay != nil {
		if o, ok := m.ordersOverlay[id]; ok {
			return o
		}
	}
	return m.orders[id]
}

// orderToChange is order for a change in place: in a fork, its own copy.
func (m *Member) orderToChange(id string) *Order {
	if m.ordersOverlay == nil {
		return m.orders[id]
	}
	if o, ok := m.ordersOverlay[id]; ok {
		return o
	}
	o := m.orders[id]
	if o == nil {
		return nil
	}
	c := *o
	c.returned = maps.Clone(o.returned)
	m.ordersOverlay[id] = &c
	return &c
}

func (m *Member) setOrder(id string, o *Order) {
	if m.ordersOverlay != nil {
		m.ordersOverlay[id] = o
		return
	}
	if m.orders == nil {
		m.orders = map[string]*Order{}
	}
	m.orders[id] = o
}

func (m *Member) deleteOrder(id string) {
	if m.ordersOverlay != nil {
		m.ordersOverlay[id] = nil
		return
	}
	delete(m.orders, id)
}

// Known reports whether the member has any history.
func (m *Member) Known() bool { return !m.FirstActivity.IsZero() }

// Order returns the remembered order with the given id, or nil.
func (m *Member) Order(id string) *Order { return m.order(id) }

// Evolve folds one fact into the member's state. It never fails: facts are
// decisions already taken.
func (m *Member) Evolve(f Fact) {
	meta := f.Meta()
	switch f := f.(type) { // not activity (IsActivity): time brought them
	case PointsExpired:
		m.Balance -= f.Points
		if f.Rule == RuleInactivity {
			m.lots = nil
		} else {
			m.expireLots(f.OccurredAt)
		}
		return
	case PointsReleased:
		m.evolvePending(f)
		return
	case PurchaseConfirmed:
		return
	case TierRenewed:
		m.TierExpires = f.ExpiresAt
		return
	case PointsReceived:
		m.Balance += f.Points
		m.addCappedLot(f.ExpiresAt, f.Points)
		return
	case TierProgress:
		m.progress = f.TierOutlook
		return
	case PointsExpiring:
		if f.ExpiresAt.After(m.noticedUntil) {
			m.noticedUntil = f.ExpiresAt
		}
		return
	case PointsAdjusted, AdjustmentRejected:
		m.evolveAdjustment(f)
		return
	case RedemptionCancelled, CancellationRejected, StockReturned:
		m.evolveCancel(f)
		return
	case VoucherIssued, VoucherUsed, VoucherRefused:
		m.evolveVoucher(f)
		return
	case DebtRepaid:
		m.Debt -= f.Points
		m.Balance -= f.Points
		m.drawLots(f.Points)
		return
	}
	if IsActivity(f) {
		m.touch(meta.OccurredAt)
		m.trimPending() // entries a refund's cancellation left at the front
	}
	switch f := f.(type) {
	case MemberEnrolled:
		m.EnrolledAt, m.ReferredBy, m.Birthday = f.OccurredAt, f.ReferredBy, f.Birthday
	case PointsTransferred:
		m.Balance -= f.Points
		m.drawLots(f.Points)
		m.rememberRequest(TransferRef(f.RequestID), RedemptionOutcome{At: f.OccurredAt, Points: f.Points})
	case TransferRejected:
		m.rememberRequest(TransferRef(f.RequestID), RedemptionOutcome{At: f.OccurredAt, Rejected: f.Reason})
	case PurchaseRecorded:
		m.evolvePurchase(f)
	case RefundRecorded:
		m.evolveRefund(f)
	case PointsEarned:
		switch f.Rule {
		case RuleBirthday:
			m.lastBirthday = f.OccurredAt
		case RuleAnniversary:
			m.lastAnniversary = f.OccurredAt
		}
		m.Lifetime += f.Points
		m.addTierPoints("", f.OccurredAt, f.Points)
		if !f.AvailableAt.IsZero() {
			m.Pending += f.Points
			if o := m.orderToChange(f.OrderID); o != nil {
				o.Pending += f.Points
				o.AvailableAt = f.AvailableAt
				m.queuePending(f.AvailableAt, f.OrderID)
			}
		} else {
			m.Balance += f.Points
		}
		if f.AvailableAt.IsZero() {
			m.addCappedLot(f.ExpiresAt, f.Points)
		}
		if o := m.orderToChange(f.OrderID); o != nil && f.OrderID != "" {
			switch f.Rule {
			case RuleFeedbackBonus:
				o.FeedbackRewarded = true
			case RuleBase, RuleTierBonus:
				o.Earned += f.Points
			case RuleFirstPurchaseBonus, RuleReferred:
				o.Bonus += f.Points
			}
		}
		if f.Rule == RuleVisitBonus {
			m.countVisitBonus(f.OccurredAt)
		}
		if !slices.Contains(builtinRules, f.Rule) {
			m.addRuleDay(f.Rule, f.OccurredAt, f.Points)
			m.noteFired(f.Rule, f.OccurredAt)
			// A program rule's points on a purchase belong to the order:
			// a refund takes back its share of them too.
			if o := m.orderToChange(f.OrderID); o != nil && f.OrderID != "" {
				o.Earned += f.Points
			}
		}
	case PointsReversed:
		m.addTierPoints(f.OrderID, time.Time{}, -f.Points)
		m.Balance -= f.Points
		m.drawLots(f.Points)
		if o := m.orderToChange(f.OrderID); o != nil {
			o.Reversed += f.Points
		}
	case PointsDebt:
		m.Debt += f.Points
		if o := m.orderToChange(f.OrderID); o != nil {
			o.Reversed += f.Points // decided: later refunds of the order do not take it again
		}
	case VisitRecorded:
		m.addVisitDay(f.OccurredAt)
	case TierChanged:
		m.Tier, m.TierSince, m.TierExpires = f.To, f.OccurredAt, f.ExpiresAt
	case StatusChanged:
		m.Status, m.StatusSince = f.To, f.OccurredAt
	case MemberErased:
		m.ErasedAt, m.Birthday, m.ReferredBy, m.Attributes = f.OccurredAt, Birthday{}, "", nil
	case MemberScored:
		m.Scores, m.ScoredAt = f.Scores, f.OccurredAt
	case AttributesUpdated:
		m.Attributes = mergeAttributes(m.Attributes, f.Attributes)
	case OfferMade:
		m.noteFired(f.Rule, f.OccurredAt)
	case ExperimentAssigned:
		m.experiments = maps.Clone(m.experiments) // a fork shares the map
		if m.experiments == nil {
			m.experiments = map[string]string{}
		}
		m.experiments[f.Experiment] = f.Arm
		if len(f.Withheld) > 0 {
			m.withheld = maps.Clone(m.withheld)
			if m.withheld == nil {
				m.withheld = map[string]time.Time{}
			}
			for _, r := range f.Withheld {
				if f.OccurredAt.After(m.withheld[r]) {
					m.withheld[r] = f.OccurredAt
				}
			}
		}
	case PointsRedeemed, RedemptionRejected:
		m.evolveRedemption(f)
	case PointsCancelled:
		m.addTierPoints(f.OrderID, time.Time{}, -f.Points)
		m.evolvePending(f)
	case TierAssigned:
		m.TierFloor = f.Tier
	case PointsHeld, HoldRedeemed, HoldReturned, StockTaken: // of these only PointsHeld is activity
		m.evolveStock(f)
	}
}

func (m *Member) touch(at time.Time) {
	if m.FirstActivity.IsZero() || at.Before(m.FirstActivity) {
		m.FirstActivity = at
	}
	if at.After(m.LastActivity) {
		m.LastActivity = at
	}
}

func (m *Member) evolvePurchase(f PurchaseRecorded) {
	m.Purchases++
	if f.OccurredAt.After(m.LastPurchaseAt) {
		m.LastPurchaseAt = f.OccurredAt
	}
	m.forgetOld()
	m.orderAges.add(orderAge{placedAt: f.OccurredAt, id: f.OrderID})
	m.setOrder(f.OrderID, &Order{
		PlacedAt:        f.OccurredAt,
		Total:           f.Total,
		Lines:           f.Lines,
		QualifyingSpend: f.QualifyingSpend,
	})
	m.addSpend(f.OccurredAt, f.QualifyingSpend)
	m.QualifyingSpend = f.QualifyingSpendAfter
}

func (m *Member) evolveRefund(f RefundRecorded) {
	if o := m.orderToChange(f.OrderID); o != nil {
		o.Refunded += f.Amount.Minor
		for _, l := range f.Lines {
			if o.returned == nil {
				o.returned = map[string]int64{}
			}
			o.returned[l.SKU] += l.Quantity
		}
		o.QualifyingLost -= f.QualifyingSpend
		m.addSpend(o.PlacedAt, f.QualifyingSpend)
	}
	m.QualifyingSpend = f.QualifyingSpendAfter
}

// addTierPoints books points for tiers by points: earned on their day, taken
// back on the day of their order (a reversal of a forgotten order on no day).
func (m *Member) addTierPoints(order string, at time.Time, points int64) {
	if order != "" {
		o := m.order(order)
		if o == nil {
			return
		}
		at = o.PlacedAt
	}
	m.tierPoints = bookDay(m.tierPoints, dayOf(at), points)
}

// addSpend books spend on the day it was made, so it leaves the rolling
// window a year after the purchase, refunds included.
func (m *Member) addSpend(at time.Time, amount int64) {
	m.spend = bookDay(m.spend, dayOf(at), amount)
}

// A list of days is kept in ascending order of day, so that booking,
// summing a window and forgetting the days past the horizon look only at the
// days concerned: a member's lists hold up to two years of days.

// bookDay adds amount to day's entry of days, adding the entry if need be.
func bookDay(days []daySpend, day, amount int64) []daySpend {
	i, found := slices.BinarySearchFunc(days, day, func(d daySpend, day int64) int { return cmp.Compare(d.day, day) })
	if found {
		days[i].amount += amount
		return days
	}
	return slices.Insert(days, i, daySpend{day: day, amount: amount})
}

// firstFrom is the index of the first of days on or after day.
func firstFrom(days []daySpend, day int64) int {
	i, _ := slices.BinarySearchFunc(days, day, func(d daySpend, day int64) int { return cmp.Compare(d.day, day) })
	return i
}

// sumBetween totals the days from first to last, both included.
func sumBetween(days []daySpend, first, last int64) int64 {
	var total int64
	for _, d := range days[firstFrom(days, first):] {
		if d.day > last {
			break
		}
		total += d.amount
	}
	return total
}

// keepFrom drops the days before horizon, in place.
func keepFrom(days []daySpend, horizon int64) []daySpend {
	if i := firstFrom(days, horizon); i > 0 {
		return slices.Delete(days, 0, i)
	}
	return days
}

// spendWithin sums spend on days inside the qualifying window ending on
// now's day: later days do not count, so a late event sees the spend of its
// own window. Spend is kept per UTC day, so a purchase made later on the same
// day counts too.
func (m *Member) spendWithin(now time.Time) int64 {
	first, last := qualifyingDays(now)
	return sumBetween(m.spend, first, last)
}

// qualifyingDays are the first and last UTC day of the qualifying window
// that ends on now's day.
func qualifyingDays(now time.Time) (first, last int64) {
	return dayOf(now.Add(-QualifyingWindow)) + 1, dayOf(now)
}

// forgetOld drops spend days, orders and visit counts older than
// orderMemory before the member's latest activity: no event that late can
// still need them (see horizon).
func (m *Member) forgetOld() {
	m.unshare()
	horizon := m.horizonDay()
	m.spend = keepFrom(m.spend, horizon)
	m.tierPoints = keepFrom(m.tierPoints, horizon)
	m.forgetOrders()
	for day := range m.visitBonuses {
		if day < horizon {
			delete(m.visitBonuses, day)
		}
	}
	forgetDays(m.ruleDays, horizon)
	forgetDays(m.rewardDays, horizon)
	m.forgetRequests(horizon)
}

func (m *Member) addRuleDay(rule string, at time.Time, points int64) {
	m.ruleDays = addDay(m.ruleDays, rule, at, points)
	m.forgetOld()
}

// ruleAwarded is what a program rule awarded the member in the period that
// contains at. Beyond the member's horizon the days are forgotten, and the
// answer is "the limit was reached" only in that no limit period is that long.
func (m *Member) ruleAwarded(rule string, per LimitPeriod, at time.Time) int64 {
	return sumDays(m.ruleDays[rule], per, at)
}

// addDay adds amount to key's total on at's UTC day, making the map if need be.
func addDay(days map[string][]daySpend, key string, at time.Time, amount int64) map[string][]daySpend {
	if days == nil {
		days = map[string][]daySpend{}
	}
	days[key] = bookDay(days[key], dayOf(at), amount)
	return days
}

// sumDays totals the days that fall in the calendar period containing at.
func sumDays(days []daySpend, per LimitPeriod, at time.Time) int64 {
	first, last := periodBounds(per, at)
	return sumBetween(days, first, last)
}

// forgetDays drops the days before horizon, and keys left with none.
func forgetDays(days map[string][]daySpend, horizon int64) {
	for key, list := range days {
		if kept := keepFrom(list, horizon); len(kept) == 0 {
			delete(days, key)
		} else {
			days[key] = kept
		}
	}
}

func cloneDays(days map[string][]daySpend) map[string][]daySpend {
	if days == nil {
		return nil
	}
	c := make(map[string][]daySpend, len(days))
	for k, d := range days {
		c[k] = slices.Clone(d)
	}
	return c
}

// horizonDay is the first day the member's state still remembers.
func (m *Member) horizonDay() int64 {
	return dayOf(m.LastActivity.Add(-orderMemory))
}

// orderMemory bounds how long orders are remembered in state. Refund windows
// longer than this are refused by program validation.
const orderMemory = 2 * QualifyingWindow

func (m *Member) countVisitBonus(at time.Time) {
	if m.visitBonuses == nil {
		m.visitBonuses = map[int64]int{}
	}
	m.visitBonuses[dayOf(at)]++
	m.forgetOld()
}

// visitBonusesOn is how many visit bonuses were paid on at's UTC day. For a
// day before the member's horizon the count is forgotten, so it reports
// "many": a visit that late earns no bonus rather than perhaps a second one.
func (m *Member) visitBonusesOn(at time.Time) int {
	day := dayOf(at)
	if m.Known() && day < m.horizonDay() {
		return math.MaxInt
	}
	return m.visitBonuses[day]
}

func dayOf(t time.Time) int64 {
	return t.UTC().Unix() / 86400
}
