package handlers

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/handlers/keyindex"
	"github.com/pointsledger/loyalty/streams"
)

// partition is the in-memory state of one member partition: the members'
// rule state (the ids they consumed are in the engine's key index). It is
// owned by one
// goroutine (the partition's handler), so it needs no locks.
type partition struct {
	id int
	// run is how far the handler got in the message it was last given.
	run runProgress
	// cache holds the members in memory (see memberCache); known counts
	// the partition's members.
	cache *memberCache
	known uint64
	// saved is the last snapshot written (savedAt when), followUps the
	// follow-up events of the records folded since, which the next one
	// keeps for the ledger outbox.
	saved     keyindex.MemberCheckpoint
	savedSeq  atomic.Uint64 // saved.LedgerSeq, for readers on other goroutines
	savedAt   time.Time
	followUps []domain.Event
	// stored are follow-ups JetStream has stored since the last snapshot
	// (the publisher's goroutine adds them): the next one writes no row for
	// them, and drops the rows an earlier one wrote.
	storedMu sync.Mutex
	stored   map[domain.Key]struct{}
	// read counts the ledger messages the partition's rebuild read.
	read int
	// keys is the engine's index of consumed event, order and request ids,
	// shared by its partitions.
	keys *keyindex.Index
	// ledgerSeq is the sequence of the partition's last ledger message;
	// every append expects it, which fences out any other writer.
	ledgerSeq uint64

	// staged are records decided and folded into members, their keys held
	// in the index, not yet in the ledger; pending is their ledger message. The next commit
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

// published records that JetStream stored one of the partition's
// follow-ups; safe from any goroutine.
func (p *partition) published(k domain.Key) {
	p.storedMu.Lock()
	defer p.storedMu.Unlock()
	if p.stored == nil {
		p.stored = map[domain.Key]struct{}{}
	}
	p.stored[k] = struct{}{}
}

// takeStored returns the follow-ups stored since the last call.
func (p *partition) takeStored() map[domain.Key]struct{} {
	p.storedMu.Lock()
	defer p.storedMu.Unlock()
	s := p.stored
	p.stored = nil
	return s
}

// stagedRecord is what the metrics need of a staged record once committed.
type stagedRecord struct {
	eventType domain.EventType
	eventID   string
	memberID  string
	inputSeq  uint64
	facts     []domain.Fact
}

// eventEntry returns what the index holds under the id of an event of type
// t. A record written before records named their type is in the plain
// namespace, and counts for events of either origin.
func eventEntry(keys *keyindex.Index, t domain.EventType, eventID string) (keyindex.Entry, bool, error) {
	e, ok, err := keys.Get(domain.EventKey(t, eventID))
	if ok || err != nil || !domain.MadeByEngine(t) {
		return e, ok, err
	}
	e, ok, err = keys.Get(domain.LegacyEventKey(eventID))
	return e, ok && e.Legacy, err
}

// claimsOf returns the keys a ledger record takes: its event id, and the
// orders and requests of its facts.
func claimsOf(r streams.LedgerRecord) []keyindex.Claim {
	event := keyindex.Claim{Key: domain.EventKey(r.EventType, r.EventID), Shared: true,
		Entry: keyindex.Entry{InputSeq: r.InputSeq, Digest: r.EventDigest}}
	if r.EventType == "" {
		event.Key, event.Entry.Legacy = domain.LegacyEventKey(r.EventID), true
	}
	claims := []keyindex.Claim{event}
	for _, c := range domain.ClaimsOf(r.MemberID, r.Facts) {
		claims = append(claims, keyindex.Claim{Key: c.Key, Entry: keyindex.Entry{InputSeq: r.InputSeq, Request: c.Request}})
	}
	return claims
}

// newPartition makes a partition with no state, whose members in memory
// count in budget.
func newPartition(id int, keys *keyindex.Index, budget *memoryBudget) *partition {
	return &partition{id: id, cache: newMemberCache(budget), keys: keys,
		view: &partitionView{}, savedAt: time.Now()}
}

// stage folds a decided record into the state, holds its keys in the index
// and adds it to the pending ledger message; encoded is its
// EncodeLedgerRecord form, copied (the caller reuses it). It stages nothing
// and returns keyindex.ErrHeld when another partition holds one of its keys.
func (p *partition) stage(t domain.EventType, r streams.LedgerRecord, encoded []byte) error {
	if err := p.keys.Reserve(p.id, claimsOf(r)); err != nil {
		return err
	}
	p.beginStaging()
	if err := p.fold(r); err != nil {
		p.stale = true // the record may be half folded
		return err
	}
	p.pending = streams.AppendLedgerLine(p.pending, encoded)
	p.staged = append(p.staged, stagedRecord{eventType: t, eventID: r.EventID, memberID: r.MemberID, inputSeq: r.InputSeq, facts: r.Facts})
	return nil
}

// replaceState takes fresh's state (a re-read of the ledger) but keeps the
// partition's view, which readers on other goroutines hold on to: p.view is
// never written after the partition is made. Its callers have dropped the
// staged records and held-back answers already (fresh has none), so their
// buffers are kept for reuse.
func (p *partition) replaceState(fresh *partition) {
	p.cache.release()
	p.cache, p.known, p.ledgerSeq = fresh.cache, fresh.known, fresh.ledgerSeq
	p.setSaved(fresh.saved)
	p.savedAt, p.followUps = fresh.savedAt, fresh.followUps
	p.stale = false
}

// clearStaged forgets the staged records (committed, or dropped).
func (p *partition) clearStaged() {
	p.staged, p.pending = p.staged[:0], p.pending[:0]
}

// runProgress is how far the handler got in a run: the inputs it handled,
// from the first, and whether they must be committed before the next.
type runProgress struct {
	msg       *message.Message
	handled   int
	commitNow bool
}

// progress is the partition's answer to its subscriber, after the
// handler's verdict on msg, which orders this read after the handler's
// writes: how far the handler got in msg (nothing for a message it never
// saw).
func (p *partition) progress(msg *message.Message) (handled int, commitNow bool) {
	if p.run.msg != msg {
		return 0, false
	}
	return p.run.handled, p.run.commitNow
}
