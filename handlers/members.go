package handlers

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/handlers/keyindex"
	"github.com/pointsledger/loyalty/streams"
)

// A partition keeps the members it has used lately in memory, up to a byte
// budget, and the rest in the key index's store as snapshots (decision
// 023). A member changed since the partition's last snapshot is dirty and
// stays in memory until the next one; any other member may be dropped and
// read again from its row. The snapshot is written only when the state
// matches the ledger (nothing staged), as of the partition's last ledger
// message, so a start folds only the ledger written since.

// memberBytes estimates a member's memory from the size of its row: the
// decoded state takes a few times the bytes of its varints, plus the
// Member struct itself. A member's estimate is renewed at each snapshot;
// in between, what is folded into it adds foldBytes.
func memberBytes(rowBytes int) int64 { return 600 + 4*int64(rowBytes) }

// foldBytes estimates what a record's facts add to its member's memory: an
// order (with its lines) is most of a member's state.
func foldBytes(facts []domain.Fact) int64 {
	var n int64
	for _, f := range facts {
		n += 48
		if p, ok := f.(domain.PurchaseRecorded); ok {
			n += 400 + 96*int64(len(p.Lines))
		}
	}
	return n
}

// memoryBudget is the memory the engine's partitions may give members,
// all together: a partition keeps more than its share only while the
// whole is within the limit, so one member with a long history does not
// have to be read back from its row at every event.
type memoryBudget struct {
	limit int64 // 0: unbounded
	share int64 // a partition's: limit over the partitions
	used  atomic.Int64
	// gauge, if set, shows used; mu keeps its updates in order.
	gauge prometheus.Gauge
	mu    sync.Mutex
}

func newMemoryBudget(limit int64, partitions int) *memoryBudget {
	return &memoryBudget{limit: limit, share: limit / int64(max(partitions, 1))}
}

func (b *memoryBudget) add(delta int64) {
	if b.gauge == nil {
		b.used.Add(delta)
		return
	}
	b.mu.Lock()
	b.gauge.Set(float64(b.used.Add(delta)))
	b.mu.Unlock()
}

// memberCache is a partition's members in memory, least recently used
// last. The partition's goroutine reads it freely and holds mu to change
// byID; readers on other goroutines hold mu for reading (and the view, so
// that no member is in the middle of a change).
type memberCache struct {
	mu     sync.RWMutex
	byID   map[string]*cachedMember
	ring   cachedMember // ring.next is the most recently used
	bytes  int64
	budget *memoryBudget
	dirty  []*cachedMember
}

// grow adds delta to the cache's bytes.
func (c *memberCache) grow(delta int64) {
	c.bytes += delta
	c.budget.add(delta)
}

// over tells whether the cache must give members back: the engine's
// members are over the limit, and this partition holds more than its share.
func (c *memberCache) over() bool {
	return c.budget.limit > 0 && c.budget.used.Load() > c.budget.limit && c.bytes > c.budget.share
}

// release gives the cache's bytes back to the budget (the cache is dropped).
func (c *memberCache) release() {
	c.budget.add(-c.bytes)
	c.bytes = 0
}

type cachedMember struct {
	m    *domain.Member
	size int64
	// dirty: changed since the last snapshot; counted: in the store or
	// counted in the partition's members since.
	dirty, counted bool
	prev, next     *cachedMember
}

func newMemberCache(budget *memoryBudget) *memberCache {
	c := &memberCache{byID: map[string]*cachedMember{}, budget: budget}
	c.ring.prev, c.ring.next = &c.ring, &c.ring
	return c
}

func (c *memberCache) unlink(e *cachedMember) {
	e.prev.next, e.next.prev = e.next, e.prev
}

func (c *memberCache) pushFront(e *cachedMember) {
	e.prev, e.next = &c.ring, c.ring.next
	c.ring.next.prev = e
	c.ring.next = e
}

// touch marks e the most recently used.
func (c *memberCache) touch(e *cachedMember) {
	if c.ring.next != e {
		c.unlink(e)
		c.pushFront(e)
	}
}

func (c *memberCache) insert(e *cachedMember) {
	c.mu.Lock()
	c.byID[e.m.ID] = e
	c.mu.Unlock()
	c.pushFront(e)
	c.grow(e.size)
}

// evict drops the least recently used clean members, but keep, while the
// cache is over (see over).
func (c *memberCache) evict(keep *cachedMember) {
	if !c.over() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for e := c.ring.prev; e != &c.ring && c.over(); {
		prev := e.prev
		if !e.dirty && e != keep {
			c.unlink(e)
			delete(c.byID, e.m.ID)
			c.grow(-e.size)
		}
		e = prev
	}
}

// entry returns the member's cache entry: cached, read from its row, or
// new (not counted until a fact is folded into it).
func (p *partition) entry(id string) (*cachedMember, error) {
	if e := p.cache.byID[id]; e != nil {
		p.cache.touch(e)
		return e, nil
	}
	m, size, err := p.keys.Member(id, p.saved.LedgerSeq)
	if err != nil {
		return nil, err
	}
	e := &cachedMember{m: m, size: memberBytes(size), counted: m != nil}
	if m == nil {
		e.m = domain.NewMember(id)
	} else {
		p.keys.Counters().MemberReads.Add(1)
	}
	p.cache.insert(e)
	// Members read for events that are then refused (unknown ids, say)
	// are clean: they go as soon as the cache is over, not at a snapshot.
	p.cache.evict(e)
	return e, nil
}

// member returns the member's state to decide on, or a new member.
func (p *partition) member(id string) (*domain.Member, error) {
	e, err := p.entry(id)
	if err != nil {
		return nil, err
	}
	return e.m, nil
}

// fold applies a ledger record to the state: used both when rebuilding from
// the ledger and when staging a record, so both paths give the same state.
// It leaves ledgerSeq to the caller, who knows the record's message.
func (p *partition) fold(r streams.LedgerRecord) error {
	e, err := p.entry(r.MemberID)
	if err != nil {
		return err
	}
	for _, f := range r.Facts {
		e.m.Evolve(f)
		if ev, ok := followUpOf(f); ok {
			p.followUps = append(p.followUps, ev)
		}
	}
	added := foldBytes(r.Facts)
	p.cache.grow(added)
	e.size += added
	if !e.counted {
		e.counted = true
		p.known++
	}
	if !e.dirty {
		e.dirty = true
		p.cache.dirty = append(p.cache.dirty, e)
	}
	return nil
}

// lookup returns the member's committed state for a reader on another
// goroutine holding the view, or nil for a member with no state. A member
// not in memory is decoded from its row, and not kept.
func (p *partition) lookup(id string) (*domain.Member, error) {
	p.cache.mu.RLock()
	e := p.cache.byID[id]
	p.cache.mu.RUnlock()
	if e != nil {
		return e.m, nil
	}
	// Read after the miss: a member dropped from memory was dropped after
	// the snapshot that wrote its row, and its checkpoint, were stored.
	m, _, err := p.keys.Member(id, p.savedSeq.Load())
	return m, err
}

// snapshotDue tells whether the partition should write a snapshot now.
func (p *partition) snapshotDue(every time.Duration) bool {
	if len(p.staged) > 0 || p.stale {
		return false
	}
	return len(p.cache.dirty) >= maxDirtyMembers || p.cache.over() ||
		(len(p.cache.dirty) > 0 && time.Since(p.savedAt) >= every)
}

// maxDirtyMembers bounds a snapshot's write.
const maxDirtyMembers = 20_000

// saveMembers writes the snapshot of the partition as of its last ledger
// message: its dirty members, the follow-ups of the records folded since
// the last one, and the checkpoint; then drops members over the budget.
// The state must match the ledger: nothing staged.
func (p *partition) saveMembers() error {
	if len(p.staged) > 0 || p.stale {
		return fmt.Errorf("partition %d: snapshot of a state ahead of the ledger", p.id)
	}
	p.savedAt = time.Now()
	cp := keyindex.MemberCheckpoint{LedgerSeq: p.ledgerSeq, Members: p.known}
	stored := p.takeStored()
	if len(p.cache.dirty) > 0 || len(p.followUps) > 0 || len(stored) > 0 || cp != p.saved {
		s := p.keys.NewSnapshot(p.id)
		for _, e := range p.cache.dirty {
			n, err := s.Member(e.m, cp.LedgerSeq)
			if err != nil {
				s.Abort()
				return fmt.Errorf("partition %d: snapshot of member %q: %w", p.id, e.m.ID, err)
			}
			p.cache.grow(memberBytes(n) - e.size)
			e.size = memberBytes(n)
		}
		if err := p.followUpRows(s, stored); err != nil {
			s.Abort()
			p.keepStored(stored)
			return err
		}
		if err := s.Commit(cp); err != nil {
			p.keepStored(stored)
			return err
		}
		for _, e := range p.cache.dirty {
			e.dirty = false
		}
		p.cache.dirty, p.followUps = p.cache.dirty[:0], p.followUps[:0]
		p.setSaved(cp)
	}
	p.cache.evict(p.cache.ring.next) // the member used last stays
	return nil
}

// followUpRows adds to a snapshot the follow-ups of the records folded
// since the last one that JetStream has not stored yet, and drops the rows
// of those an earlier snapshot kept that it has stored since.
func (p *partition) followUpRows(s *keyindex.Snapshot, stored map[domain.Key]struct{}) error {
	inThis := map[domain.Key]bool{}
	for _, ev := range p.followUps {
		k := domain.EventKey(ev.Type, ev.ID)
		if _, ok := stored[k]; ok {
			inThis[k] = true
			continue
		}
		enc, err := streams.EncodeEvent(ev)
		if err == nil {
			err = s.FollowUp(ev, enc)
		}
		if err != nil {
			return fmt.Errorf("partition %d: snapshot of follow-up %q: %w", p.id, ev.ID, err)
		}
	}
	for k := range stored {
		if !inThis[k] {
			if err := s.ForgetFollowUp(k); err != nil {
				return err
			}
		}
	}
	return nil
}

// keepStored gives back follow-ups a failed snapshot did not account for.
func (p *partition) keepStored(stored map[domain.Key]struct{}) {
	for k := range stored {
		p.published(k)
	}
}

// saveAll writes the snapshot of every partition whose state matches the
// ledger; the others (a commit failed) are folded from their last one.
func saveAll(parts map[int]*partition) error {
	var errs []error
	for _, p := range parts {
		if len(p.staged) == 0 && !p.stale {
			errs = append(errs, p.saveMembers())
		}
	}
	return errors.Join(errs...)
}

// setSaved records the partition's last snapshot, for its readers too.
func (p *partition) setSaved(cp keyindex.MemberCheckpoint) {
	p.saved = cp
	p.savedSeq.Store(cp.LedgerSeq)
}
