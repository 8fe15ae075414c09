package handlers

import (
	"sync"
	"time"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/streams"
)

// partitionView lets other goroutines read a partition's members as the
// ledger has them. The partition's goroutine holds it for writing from the
// first record it stages until that batch is committed (or dropped and the
// state re-read), so a reader never sees a decision the ledger may not get:
// a balance answered is a balance the ledger holds. One lock per batch, not
// per event, keeps it off the hot path.
type partitionView struct {
	mu   sync.RWMutex
	held bool // by the partition's goroutine; only it reads or writes this
}

// beginStaging takes the view before the partition's state changes.
func (p *partition) beginStaging() {
	if !p.view.held {
		p.view.mu.Lock()
		p.view.held = true
	}
}

// endStaging gives the view back once the state matches the ledger again.
func (p *partition) endStaging() {
	if p.view.held {
		p.view.held = false
		p.view.mu.Unlock()
	}
}

// MemberView is what the ledger says of one member now, for the service.
type MemberView struct {
	Known     bool
	Balance   int64
	Available int64
	Redeemed  int64
	Debt      int64
	Pending   []domain.PendingOrder
	// TierExpires is the tier's next review (zero: none); Outlook where the
	// member stands now under the program in effect.
	TierExpires time.Time
	TierFloor   string
	Outlook     domain.TierOutlook
	Tier        string
	Status      domain.MemberStatus
	Expiring    []domain.ExpiringLot
	// Redemption is the outcome of the request asked about, if any.
	Redemption *domain.RedemptionOutcome
	// LedgerSeq is the partition's last ledger message: the state is as of it.
	LedgerSeq uint64
}

// readMember reads a member's committed state, and the outcome of one of
// their redemption requests when requestID is set. ok is false when this
// engine owns no state (standby, starting, stopping).
func (e *Engine) readMember(memberID string, request domain.RequestRef) (s MemberView, ok bool) {
	ok = e.withCommittedMember(memberID, func(p *partition, m *domain.Member) {
		s = p.viewOf(m, memberID, request)
		if s.Known {
			now := time.Now().UTC()
			s.Outlook = m.Outlook(e.programs.Load().At(now), now)
		}
	})
	return s, ok
}

// withCommittedMember runs read on the member's committed state (nil: not
// on record) under its partition's view lock; false when this engine owns
// no state for the member (standby, starting, stopping) or the row cannot
// be read.
func (e *Engine) withCommittedMember(memberID string, read func(p *partition, m *domain.Member)) bool {
	parts := e.parts.Load()
	if parts == nil {
		return false
	}
	p := (*parts)[streams.PartitionOf(memberID)]
	if p == nil {
		return false
	}
	p.view.mu.RLock()
	defer p.view.mu.RUnlock()
	m, err := p.lookup(memberID)
	if err != nil {
		return false
	}
	read(p, m)
	return true
}

// memberState is readMember for the partition's own goroutine. A member
// whose row cannot be read is answered as unknown: the caller, who waits
// for a decision, is told what the ledger did with its request instead.
func (p *partition) memberState(memberID string, request domain.RequestRef) MemberView {
	m, _ := p.lookup(memberID)
	return p.viewOf(m, memberID, request)
}

// viewOf is the view of m (nil: unknown) as of the partition's last ledger
// message.
func (p *partition) viewOf(m *domain.Member, memberID string, request domain.RequestRef) MemberView {
	s := MemberView{LedgerSeq: p.ledgerSeq}
	if m == nil || !m.Known() || !m.ErasedAt.IsZero() { // an erased id is no one's: as after a fold
		return s
	}
	s.Known, s.Balance, s.Available, s.Redeemed, s.Debt = true, m.Balance, m.Available(), m.Redeemed, m.Debt
	s.Tier, s.Status, s.Expiring, s.Pending = m.Tier, m.Status, m.ExpiringPoints(), m.PendingPoints()
	s.TierExpires, s.TierFloor = m.TierExpires, m.TierFloor
	if s.Status == "" {
		s.Status = domain.StatusActive
	}
	if request.ID != "" {
		if o, ok := m.Request(request); ok {
			s.Redemption = &o
		} else if o := p.requestDecided(memberID, request); o != nil {
			s.Redemption = o
		}
	}
	return s
}

// requestDecided is what the key index remembers of a request the member's
// state has forgotten (decided over two years ago), or nil. A failing look-up
// counts as none: the request then goes to the engine, which asks again.
func (p *partition) requestDecided(memberID string, request domain.RequestRef) *domain.RedemptionOutcome {
	e, ok, err := p.keys.Get(domain.RequestKey(memberID, request))
	if !ok || err != nil || e.Held {
		return nil
	}
	return e.Request
}
