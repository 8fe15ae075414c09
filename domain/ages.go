package domain

import (
	"container/heap"
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

type orderAges []orderAge

func (q orderAges) Len() int           { return len(q) }
func (q orderAges) Less(i, j int) bool { return q[i].placedAt.Before(q[j].placedAt) }
func (q orderAges) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *orderAges) Push(x any)        { *q = append(*q, x.(orderAge)) }
func (q *orderAges) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

type requestAge struct {
	day int64
	ref RequestRef
}

type requestAges []requestAge

func (q requestAges) Len() int           { return len(q) }
func (q requestAges) Less(i, j int) bool { return q[i].day < q[j].day }
func (q requestAges) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *requestAges) Push(x any)        { *q = append(*q, x.(requestAge)) }
func (q *requestAges) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// forgetOrders drops the orders placed more than orderMemory before the
// member's latest activity.
func (m *Member) forgetOrders() {
	for len(m.orderAges) > 0 && m.LastActivity.Sub(m.orderAges[0].placedAt) > orderMemory {
		a := heap.Pop(&m.orderAges).(orderAge)
		if o := m.order(a.id); o != nil && o.PlacedAt.Equal(a.placedAt) {
			m.deleteOrder(a.id)
		}
	}
}

// forgetRequests drops the requests decided before the horizon day.
func (m *Member) forgetRequests(horizon int64) {
	for len(m.requestAges) > 0 && m.requestAges[0].day < horizon {
		a := heap.Pop(&m.requestAges).(requestAge)
		if o, ok := m.requests[a.ref]; ok && dayOf(o.At) == a.day {
			delete(m.requests, a.ref)
		}
	}
}
