package domain

import (
	"slices"
	"time"
)

// A member's state forgets orders and requests past its horizon. Scanning
// all of them on every event made an event's cost grow with the member's
// history; these queues, soonest first, hand forgetOld only what is due.
// An entry whose order or request was replaced since is skipped.

type orderAge struct {
	placedAt time.Time
	id       string
}

// orderAges and requestAges are kept in time order, oldest first. Orders
// and requests come nearly in time order, so adding one is nearly always
// an append, and forgetting takes from the front: no heap, and no
// allocation for each entry (container/heap boxes them).
type orderAges []orderAge

func (q *orderAges) add(a orderAge) {
	n := len(*q)
	if n == 0 || !a.placedAt.Before((*q)[n-1].placedAt) {
		*q = append(*q, a)
		return
	}
	i, _ := slices.BinarySearchFunc(*q, a.placedAt, func(e orderAge, t time.Time) int {
		if e.placedAt.After(t) {
			return 1
		}
		return -1 // after every entry of the same time: kept in the order added
	})
	*q = slices.Insert(*q, i, a)
}

type requestAge struct {
	day int64
	ref RequestRef
}

type requestAges []requestAge

func (q *requestAges) add(a requestAge) {
	n := len(*q)
	if n == 0 || a.day >= (*q)[n-1].day {
		*q = append(*q, a)
		return
	}
	i, _ := slices.BinarySearchFunc(*q, a.day, func(e requestAge, day int64) int {
		if e.day > day {
			return 1
		}
		return -1
	})
	*q = slices.Insert(*q, i, a)
}

// forgetOrders drops the orders placed more than orderMemory before the
// member's latest activity.
func (m *Member) forgetOrders() {
	for len(m.orderAges) > 0 && m.LastActivity.Sub(m.orderAges[0].placedAt) > orderMemory {
		a := m.orderAges[0]
		m.orderAges = m.orderAges[1:]
		if o := m.order(a.id); o != nil && o.PlacedAt.Equal(a.placedAt) {
			m.deleteOrder(a.id)
		}
	}
}

// forgetRequests drops the requests decided before the horizon day.
func (m *Member) forgetRequests(horizon int64) {
	for len(m.requestAges) > 0 && m.requestAges[0].day < horizon {
		a := m.requestAges[0]
		m.requestAges = m.requestAges[1:]
		if o, ok := m.requests[a.ref]; ok && dayOf(o.At) == a.day {
			delete(m.requests, a.ref)
			if a.ref.Kind == RequestRedemption {
				delete(m.spent, a.ref.ID)
				m.forgetVouchers(a.ref.ID)
			}
		}
	}
}
