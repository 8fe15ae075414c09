package handlers

import (
	"slices"
	"strconv"
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
// (requestKey); two calls for one request both get the decision. A decision
// is delivered once the ledger holds it (or the dead letter is stored),
// never from a staged state that a failed append could still drop; a held
// redemption's is delivered when the stock's answer is applied.
type waiters struct {
	n         atomic.Int64 // how many wait, read without the lock on every commit
	mu        sync.Mutex
	byRequest map[string][]chan Decision
}

// wait registers interest in a request; cancel must be called when done.
func (w *waiters) wait(key string) (decided <-chan Decision, cancel func()) {
	ch := make(chan Decision, 1)
	w.mu.Lock()
	if w.byRequest == nil {
		w.byRequest = map[string][]chan Decision{}
	}
	w.byRequest[key] = append(w.byRequest[key], ch)
	w.n.Add(1)
	w.mu.Unlock()
	return ch, func() {
		w.mu.Lock()
		list := w.byRequest[key]
		if i := slices.Index(list, ch); i >= 0 {
			if list = slices.Delete(list, i, i+1); len(list) == 0 {
				delete(w.byRequest, key)
			} else {
				w.byRequest[key] = list
			}
			w.n.Add(-1)
		}
		w.mu.Unlock()
	}
}

// deliver hands a decision to whoever waits for key, if anyone does.
func (w *waiters) deliver(key string, d func() Decision) {
	if w.n.Load() == 0 {
		return
	}
	w.mu.Lock()
	list := w.byRequest[key]
	delete(w.byRequest, key)
	w.n.Add(-int64(len(list)))
	w.mu.Unlock()
	if len(list) == 0 {
		return
	}
	decision := d()
	for _, ch := range list {
		ch <- decision // buffered: never blocks the partition
	}
}

// requestKey identifies a member's request for the waiters.
func requestKey(member string, request domain.RequestRef) string {
	return member + "\x00" + strconv.Itoa(int(request.Kind)) + "\x00" + request.ID
}

// answerCommitted delivers the decisions of a batch the ledger now holds.
func (e *Engine) answerCommitted(p *partition) {
	if e.waiters.n.Load() == 0 {
		return
	}
	for _, r := range p.staged {
		switch r.eventType {
		case domain.TypeRedemption, domain.TypeTransfer, domain.TypeStockAnswer, domain.TypeAdjustment, domain.TypeRedemptionCancel,
			domain.TypeVoucherUse:
		default:
			continue
		}
		request, final := requestOf(r.facts)
		if request.ID == "" || !final {
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
// be one of them. A request held then is not decided (requestOf): the dead
// letter is another input's (a second event with its request id), and its
// callers wait for the stock's answer, so nothing is delivered.
func (e *Engine) answerDeadLetter(p *partition, ev domain.Event, rej *domain.RejectedError) {
	if e.waiters.n.Load() == 0 {
		return
	}
	var request domain.RequestRef
	switch b := ev.Body.(type) {
	case domain.RedeemRequest:
		request = domain.RedemptionRef(b.RequestID)
	case domain.TransferRequest:
		request = domain.TransferRef(b.RequestID)
	case domain.AdjustRequest:
		request = domain.AdjustmentRef(b.RequestID)
	case domain.CancelRequest:
		request = domain.CancelRef(b.RequestID, b.RedemptionID)
	case domain.VoucherUse:
		request = domain.VoucherUseRef(b.RequestID, b.Channel, b.Code)
	default:
		return
	}
	p.deadLetters = append(p.deadLetters, func() {
		// The member may have left memory since: read from its row.
		if m, err := p.lookup(ev.MemberID); err != nil {
			return // the caller, timed out, asks again
		} else if m != nil {
			if o, ok := m.Request(request); ok && o.Held {
				return
			}
		}
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
func requestOf(facts []domain.Fact) (domain.RequestRef, bool) {
	for _, f := range facts {
		switch f := f.(type) {
		case domain.PointsRedeemed:
			return domain.RedemptionRef(f.RequestID), true
		case domain.RedemptionRejected:
			return domain.RedemptionRef(f.RequestID), true
		case domain.PointsTransferred:
			return domain.TransferRef(f.RequestID), true
		case domain.TransferRejected:
			return domain.TransferRef(f.RequestID), true
		case domain.HoldRedeemed:
			return domain.RedemptionRef(f.RequestID), true
		case domain.PointsHeld:
			return domain.RedemptionRef(f.RequestID), false
		case domain.PointsAdjusted:
			return domain.AdjustmentRef(f.RequestID), true
		case domain.AdjustmentRejected:
			return domain.AdjustmentRef(f.RequestID), true
		case domain.RedemptionCancelled:
			return domain.CancelRef(f.RequestID, f.RedemptionID), true
		case domain.CancellationRejected:
			return domain.CancelRef(f.RequestID, f.RedemptionID), true
		case domain.VoucherUsed:
			return domain.VoucherUseRef(f.RequestID, f.Channel, f.Code), true
		case domain.VoucherRefused:
			return domain.VoucherUseRef(f.RequestID, f.Channel, f.Code), true
		}
	}
	return domain.RequestRef{}, false
}
