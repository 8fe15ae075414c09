package domain

import (
	"slices"
	"strings"
	"time"
)

// Pending is how long purchase points wait before they can be spent: the
// return window, in which a refund cancels them instead of taking points
// the member may have spent already.
type Pending struct {
	// Days: the points a purchase earns become available at the end of
	// the Days-th UTC day after it; 0, at once.
	Days int
	// Confirmation: a loyalty.purchase.confirmed.v1 of the order (delivered,
	// say) makes them available sooner.
	Confirmation bool
}

// MaxPendingDays bounds the wait; orders are remembered for longer.
const MaxPendingDays = 365

func (x Pending) validate(add func(field, format string, args ...any)) {
	if x.Days < 0 || x.Days > MaxPendingDays {
		add("earning.pending.days", "must be 0 to %d, got %d", MaxPendingDays, x.Days)
	}
	if x.Confirmation && x.Days == 0 {
		add("earning.pending.confirmation", "needs days: points wait for a confirmation at most that long")
	}
}

// availableAt is when purchase points earned at `at` become available.
func (x Pending) availableAt(at time.Time) time.Time {
	if x.Days == 0 {
		return time.Time{}
	}
	return Expiry{Policy: ExpireAfterDays, Days: x.Days}.expiresAt(at)
}

// Confirmation is the body of TypePurchaseConfirmed: upstream says an order
// is final (delivered, collected). Under a program whose pending points wait
// for it, its points become available.
type Confirmation struct {
	OrderID string
}

func (b Confirmation) validate(e Event) error {
	if b.OrderID == "" {
		return reject(ReasonMissingField, "order_id", "is required")
	}
	return nil
}

func (b Confirmation) stringFields(yield func(StringField) bool) bool {
	return yield(ident("order_id", b.OrderID, MaxOrderIDBytes))
}

func (b Confirmation) decide(m *Member, meta FactMeta, at time.Time, e Event, p *Program) ([]Fact, bool, error) {
	facts, err := decideConfirmation(m, meta, b, p)
	return facts, false, err
}

func (Confirmation) EventType() EventType { return TypePurchaseConfirmed }

// PurchaseConfirmed records an order's confirmation.
type PurchaseConfirmed struct {
	FactMeta
	OrderID string
}

func (PurchaseConfirmed) activity() bool { return false }

// PointsReleased makes an order's pending points available: they join the
// balance and a lot that expires at ExpiresAt (zero: no date of its own).
// Its time is when they became available, which may be before the event
// that noticed it.
type PointsReleased struct {
	FactMeta
	OrderID        string
	Points         int64
	ExpiresAt      time.Time
	ProgramVersion string
}

func (f PointsReleased) pointsDelta() int64 { return f.Points }

func (f PointsReleased) pendingDelta() int64 { return -f.Points }

func (PointsReleased) activity() bool { return false }

// PointsCancelled takes back pending points of an order that was refunded:
// they never became available.
type PointsCancelled struct {
	FactMeta
	OrderID        string
	Points         int64
	ProgramVersion string
}

func (f PointsCancelled) pendingDelta() int64 { return -f.Points }

func (PurchaseConfirmed) FactType() FactType { return FactPurchaseConfirmed }
func (PointsReleased) FactType() FactType    { return FactPointsReleased }
func (PointsCancelled) FactType() FactType   { return FactPointsCancelled }

// PendingOrder is an order's points that are not available yet.
type PendingOrder struct {
	OrderID     string
	Points      int64
	AvailableAt time.Time
}

// PendingPoints lists the orders with pending points, soonest available first.
func (m *Member) PendingPoints() []PendingOrder {
	var out []PendingOrder
	for _, e := range m.pendingQueue {
		if o := m.pendingOrder(e); o != nil {
			out = append(out, PendingOrder{OrderID: e.order, Points: o.Pending, AvailableAt: e.at})
		}
	}
	return out
}

// pendingEntry is an order in the member's pending queue: the orders that
// earned pending points, by when they become available (then order id), so
// that the releases due are found at its front, whatever the number of
// orders. An entry whose order has no pending points left (released early,
// cancelled) is stale: skipped, and dropped when it reaches the front.
type pendingEntry struct {
	at    time.Time
	order string
}

func comparePending(a, b pendingEntry) int {
	if c := a.at.Compare(b.at); c != 0 {
		return c
	}
	return strings.Compare(a.order, b.order)
}

// queuePending adds an order that earned pending points.
func (m *Member) queuePending(at time.Time, order string) {
	e := pendingEntry{at: at, order: order}
	m.unshare() // an insert writes into the queue's array
	i, found := slices.BinarySearchFunc(m.pendingQueue, e, comparePending)
	if !found {
		m.pendingQueue = slices.Insert(m.pendingQueue, i, e)
	}
}

// pendingOrder is the entry's order while it has pending points due then.
func (m *Member) pendingOrder(e pendingEntry) *Order {
	if o := m.order(e.order); o != nil && o.Pending > 0 && o.AvailableAt.Equal(e.at) {
		return o
	}
	return nil
}

// trimPending drops the stale entries at the front of the queue.
func (m *Member) trimPending() {
	for len(m.pendingQueue) > 0 && m.pendingOrder(m.pendingQueue[0]) == nil {
		m.pendingQueue = m.pendingQueue[1:]
	}
	if len(m.pendingQueue) == 0 {
		m.pendingQueue = nil
	}
}

// MaxReleasesPerEvent bounds the releases one event makes: a member with
// thousands of orders due at once would otherwise get a ledger record
// larger than a message may be, dead-lettered, and so would every later
// event of theirs, each releasing the same again. The rest are released,
// in their order, by the member's next events and the clock's wake-ups.
const MaxReleasesPerEvent = 1000

// decideReleases makes available the pending points whose time has come by
// meta's time, each dated when it came, the soonest MaxReleasesPerEvent.
func decideReleases(m *Member, meta FactMeta, p *Program) []Fact {
	if m.Pending == 0 {
		return nil
	}
	var facts []Fact
	for _, e := range m.pendingQueue {
		if e.at.After(meta.OccurredAt) || len(facts) == MaxReleasesPerEvent {
			break
		}
		o := m.pendingOrder(e)
		if o == nil {
			continue
		}
		fm := meta
		fm.OccurredAt = e.at
		facts = append(facts, PointsReleased{FactMeta: fm, OrderID: e.order, Points: o.Pending,
			ExpiresAt: p.Earning.Expiry.expiresAt(e.at), ProgramVersion: p.Version})
	}
	return facts
}

func decideConfirmation(m *Member, meta FactMeta, b Confirmation, p *Program) ([]Fact, error) {
	o := m.order(b.OrderID)
	if o == nil {
		return nil, reject(ReasonUnknownOrder, "order_id", "no order %q is on record for this member", b.OrderID)
	}
	facts := []Fact{PurchaseConfirmed{FactMeta: meta, OrderID: b.OrderID}}
	if p.Earning.Pending.Confirmation && o.Pending > 0 {
		facts = append(facts, PointsReleased{FactMeta: meta, OrderID: b.OrderID, Points: o.Pending,
			ExpiresAt: p.Earning.Expiry.expiresAt(meta.OccurredAt), ProgramVersion: p.Version})
	}
	return facts, nil
}

// evolvePending folds the facts of pending points.
func (m *Member) evolvePending(f Fact) {
	switch f := f.(type) {
	case PointsReleased:
		m.Pending -= f.Points
		m.Balance += f.Points
		if o := m.orderToChange(f.OrderID); o != nil {
			o.Pending -= f.Points
		}
		m.addCappedLot(f.ExpiresAt, f.Points)
		m.trimPending()
	case PointsCancelled:
		m.Pending -= f.Points
		if o := m.orderToChange(f.OrderID); o != nil {
			o.Pending -= f.Points
			o.Reversed += f.Points
		}
		m.trimPending()
	}
}
