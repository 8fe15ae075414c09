package handlers

import (
	"crypto/sha256"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/streams"
)

// partition is the in-memory state of one member partition: the members'
// rule state and the event ids already in the ledger. It is owned by one
// goroutine (the partition's handler), so it needs no locks.
type partition struct {
	id int
	// ledgerSubject is streams.LedgerSubject(id).
	ledgerSubject string
	members       map[string]*domain.Member
	seen          map[eventKey]seenEvent
	// ledgerSeq is the sequence of the partition's last ledger message;
	// every append expects it, which fences out any other writer.
	ledgerSeq uint64

	// staged are records decided and folded into members and seen, not yet
	// in the ledger; pending is their ledger message. The next commit
	// appends them in one write, or they are dropped and the state re-read.
	staged  []stagedRecord
	pending []byte
	// encoded is the buffer each record is encoded into before it joins
	// pending, reused from input to input.
	encoded []byte
	// stale means the state may hold staged records that never reached the
	// ledger: it must be re-read from the ledger before the next input.
	stale bool
	// view is held while the state is ahead of the ledger (see
	// partitionView); it outlives re-reads of the state.
	view *partitionView
	// deadLetters are answers to dead-lettered inputs someone waits for,
	// delivered at the next commit (see answerDeadLetter).
	deadLetters []func()
}

// stagedRecord is what the metrics need of a staged record once committed.
type stagedRecord struct {
	eventType domain.EventType
	eventID   string
	memberID  string
	inputSeq  uint64
	facts     []domain.Fact
}

// eventKey is a fixed-size digest of an event id: ids may be 128 bytes, and
// the seen-set holds every event of the partition.
type eventKey [16]byte

type seenEvent struct {
	digest   uint64
	inputSeq uint64
	// typed: the record named its event's type, so the key is in the
	// namespace of its origin (seenKey).
	typed bool
}

// seenKey is the key of an event id in the partition's seen events. The
// input only the engine makes (domain.MadeByEngine: follow-ups, the clock)
// has ids of its own namespace: no client may publish those types, and a
// client's event that carries the same id, its own type allowed, must
// neither block the engine's nor be taken for it.
func seenKey(t domain.EventType, eventID string) eventKey {
	if domain.MadeByEngine(t) {
		return keyOf("\x00engine\x00" + eventID)
	}
	return keyOf(eventID)
}

// seenEvent returns what the partition applied under the id of an event of
// type t. A record written before records named their type is in the plain
// namespace, and counts for events of either origin.
func (p *partition) seenEvent(t domain.EventType, eventID string) (seenEvent, bool) {
	if s, ok := p.seen[seenKey(t, eventID)]; ok {
		return s, true
	}
	if domain.MadeByEngine(t) {
		if s, ok := p.seen[keyOf(eventID)]; ok && !s.typed {
			return s, true
		}
	}
	return seenEvent{}, false
}

func keyOf(eventID string) eventKey {
	// Hashed from a buffer on the stack: []byte(eventID) would allocate
	// for any id longer than 32 bytes, a UUID's 36 among them.
	var buf [128]byte
	sum := sha256.Sum256(append(buf[:0], eventID...))
	var k eventKey
	copy(k[:], sum[:16])
	return k
}

func newPartition(id int) *partition {
	return &partition{id: id, ledgerSubject: streams.LedgerSubject(id), members: map[string]*domain.Member{}, seen: map[eventKey]seenEvent{},
		view: &partitionView{}}
}

// member returns the member's state, or a new member (not yet stored).
func (p *partition) member(id string) *domain.Member {
	if m := p.members[id]; m != nil {
		return m
	}
	return domain.NewMember(id)
}

// fold applies a ledger record to the state: used both when rebuilding from
// the ledger and when staging a record, so both paths give the same state.
// It leaves ledgerSeq to the caller, who knows the record's message.
func (p *partition) fold(r streams.LedgerRecord) {
	m := p.members[r.MemberID]
	if m == nil {
		m = domain.NewMember(r.MemberID)
		p.members[r.MemberID] = m
	}
	for _, f := range r.Facts {
		m.Evolve(f)
	}
	if r.EventType == "" {
		p.seen[keyOf(r.EventID)] = seenEvent{digest: r.EventDigest, inputSeq: r.InputSeq}
		return
	}
	p.seen[seenKey(r.EventType, r.EventID)] = seenEvent{digest: r.EventDigest, inputSeq: r.InputSeq, typed: true}
}

// stage folds a decided record into the state and adds it to the pending
// ledger message; encoded is its EncodeLedgerRecord form, copied (the
// caller reuses it).
func (p *partition) stage(t domain.EventType, r streams.LedgerRecord, encoded []byte) {
	p.beginStaging()
	p.fold(r)
	p.pending = streams.AppendLedgerLine(p.pending, encoded)
	p.staged = append(p.staged, stagedRecord{eventType: t, eventID: r.EventID, memberID: r.MemberID, inputSeq: r.InputSeq, facts: r.Facts})
}

// replaceState takes fresh's state (a re-read of the ledger) but keeps the
// partition's view, which readers on other goroutines hold on to: p.view is
// never written after the partition is made. Its callers have dropped the
// staged records and held-back answers already (fresh has none), so their
// buffers are kept for reuse.
func (p *partition) replaceState(fresh *partition) {
	p.members, p.seen, p.ledgerSeq = fresh.members, fresh.seen, fresh.ledgerSeq
	p.stale = false
}

// clearStaged forgets the staged records (committed, or dropped).
func (p *partition) clearStaged() {
	p.staged, p.pending = p.staged[:0], p.pending[:0]
}
