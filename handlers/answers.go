package handlers

import (
	"sync"
	"sync/atomic"

	"github.com/pointsledger/loyalty/domain"
)

// Decision is what became of an input someone waits for (the service's
// redemption requests): the facts the ledger now holds for it, or why it was
// dead-lettered, and the member's state after it.
type Decision struct {
	Facts      []domain.Fact
	DeadLetter *domain.RejectedError
	State      MemberView
}

// waiters are the requests someone waits for, by member and request id
// (requestKey). A decision is delivered once the ledger holds it (or the
// dead letter is stored), never from a staged state that a failed append
// could still drop; a held redemption's is delivered when the stock's answer
// is applied.
type waiters struct {
	n       atomic.Int64 // len(byEvent), read without the lock on every input
	mu      sync.Mutex
	byEvent map[string]chan Decision
}

// wait registers interest in an event id; cancel must be called when done.
func (w *waiters) wait(eventID string) (decided <-chan Decision, cancel func()) {
	ch := make(chan Decision, 1)
	w.mu.Lock()
	if w.byEvent == nil {
		w.byEvent = map[string]chan Decision{}
	}
	w.byEvent[eventID] = ch
	w.n.Store(int64(len(w.byEvent)))
	w.mu.Unlock()
	return ch, func() {
		w.mu.Lock()
		if w.byEvent[eventID] == ch {
			delete(w.byEvent, eventID)
			w.n.Store(int64(len(w.byEvent)))
		}
		w.mu.Unlock()
	}
}

// deliver hands a decision to whoever waits for eventID, if anyone does.
func (w *waiters) deliver(eventID string, d func() Decision) {
	if w.n.Load() == 0 {
		return
	}
	w.mu.Lock()
	ch, ok := w.byEvent[eventID]
	if ok {
		delete(w.byEvent, eventID)
		w.n.Store(int64(len(w.byEvent)))
	}
	w.mu.Unlock()
	if ok {
		ch <- d() // buffered: never blocks the partition
	}
}

// requestKey identifies a member's request for the waiters.
func requestKey(member, request string) string { return member + "\x00" + request }

// answerCommitted delivers the decisions of a batch the ledger now holds.
func (e *Engine) answerCommitted(p *partition) {
	for _, r := range p.staged {
		switch r.eventType {
		case domain.TypeRedemption, domain.TypeTransfer, domain.TypeStockAnswer:
		default:
			continue
		}
		request, final := requestOf(r.facts)
		if request == "" || !final {
			continue
		}
		e.waiters.deliver(requestKey(r.memberID, request), func() Decision {
			return Decision{Facts: r.facts, State: p.memberState(r.memberID, request)}
		})
	}
}

// answerDeadLetter delivers a dead-lettered input's reason, with the
// member's state (for a request decided before, that holds its outcome),
// once the partition's staged records are committed: the earlier request may
// be one of them.
func (e *Engine) answerDeadLetter(p *partition, ev domain.Event, rej *domain.RejectedError) {
	if e.waiters.n.Load() == 0 {
		return
	}
	var request string
	switch b := ev.Body.(type) {
	case domain.RedeemRequest:
		request = b.RequestID
	case domain.TransferRequest:
		request = b.RequestID
	default:
		return
	}
	p.deadLetters = append(p.deadLetters, func() {
		e.waiters.deliver(requestKey(ev.MemberID, request), func() Decision {
			return Decision{DeadLetter: rej, State: p.memberState(ev.MemberID, request)}
		})
	})
}

// answerDeadLetters delivers what answerDeadLetter held back; on a failed
// commit they are dropped, and the caller, timed out, asks again.
func (p *partition) answerDeadLetters(deliver bool) {
	if deliver {
		for _, answer := range p.deadLetters {
			answer()
		}
	}
	p.deadLetters = p.deadLetters[:0]
}

// requestOf is the request a record's facts decide, and whether they end
// it (a hold waits for its stock).
func requestOf(facts []domain.Fact) (string, bool) {
	for _, f := range facts {
		switch f := f.(type) {
		case domain.PointsRedeemed:
			return f.RequestID, true
		case domain.RedemptionRejected:
			return f.RequestID, true
		case domain.PointsTransferred:
			return f.RequestID, true
		case domain.TransferRejected:
			return f.RequestID, true
		case domain.HoldRedeemed:
			return f.RequestID, true
		case domain.PointsHeld:
			return f.RequestID, false
		}
	}
	return "", false
}
