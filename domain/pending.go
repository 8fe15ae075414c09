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

func (Confirmation) EventType() EventType { return TypePurchaseConfirmed }

// PurchaseConfirmed records an order's confirmation.
type PurchaseConfirmed struct {
	FactMeta
	OrderID string
}

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

// PointsCancelled takes back pending points of an order that was refunded:
// they never became available.
type PointsCancelled struct {
	FactMeta
	OrderID        string
	Points         int64
	ProgramVersion string
}

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
	for id, o := range m.orders {
		if o.Pending > 0 {
			out = append(out, PendingOrder{OrderID: id, Points: o.Pending, AvailableAt: o.AvailableAt})
		}
	}
	slices.SortFunc(out, func(a, b PendingOrder) int {
		if c := a.AvailableAt.Compare(b.AvailableAt); c != 0 {
			return c
		}
		return strings.Compare(a.OrderID, b.OrderID)
	})
	return out
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
	for _, po := range m.PendingPoints() {
		if po.AvailableAt.After(meta.OccurredAt) || len(facts) == MaxReleasesPerEvent {
			break
		}
		fm := meta
		fm.OccurredAt = po.AvailableAt
		facts = append(facts, PointsReleased{FactMeta: fm, OrderID: po.OrderID, Points: po.Points,
			ExpiresAt: p.Earning.Expiry.expiresAt(po.AvailableAt), ProgramVersion: p.Version})
	}
	return facts
}

func decideConfirmation(m *Member, meta FactMeta, b Confirmation, p *Program) ([]Fact, error) {
	o := m.orders[b.OrderID]
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
		if o := m.orders[f.OrderID]; o != nil {
			o.Pending -= f.Points
		}
		m.addCappedLot(f.ExpiresAt, f.Points)
	case PointsCancelled:
		m.Pending -= f.Points
		if o := m.orders[f.OrderID]; o != nil {
			o.Pending -= f.Points
			o.Reversed += f.Points
		}
	}
}
