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

// waiters are the inputs someone waits for, by event id. A decision is
// delivered once the ledger holds it (or the dead letter is stored), never
// from a staged state that a failed append could still drop.
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

// answerCommitted delivers the decisions of a batch the ledger now holds.
func (e *Engine) answerCommitted(p *partition) {
	for _, r := range p.staged {
		if r.eventType != domain.TypeRedemption && r.eventType != domain.TypeTransfer {
			continue
		}
		e.waiters.deliver(r.eventID, func() Decision {
			return Decision{Facts: r.facts, State: p.memberState(r.memberID, requestOf(r.facts))}
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
		e.waiters.deliver(ev.ID, func() Decision {
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

func requestOf(facts []domain.Fact) string {
	for _, f := range facts {
		switch f := f.(type) {
		case domain.PointsRedeemed:
			return f.RequestID
		case domain.RedemptionRejected:
			return f.RequestID
		case domain.PointsTransferred:
			return f.RequestID
		case domain.TransferRejected:
			return f.RequestID
		}
	}
	return ""
}
