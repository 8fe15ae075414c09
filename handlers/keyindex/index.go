// Package keyindex is the engine's index of everything consumed once for
// ever: event ids, members' order ids and request ids (domain.Key). It is a
// fold of the ledger kept on local disk (Pebble), so its memory is bounded
// by a cache, not by history, and a key is durable exactly when the ledger
// record that took it is: after a crash the engine folds the ledger since
// each partition's checkpoint into it again (decision 022).
//
// Keys a partition has staged but not yet appended are held in memory,
// visible to every partition: one engine is exact across its partitions.
package keyindex

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/pointsledger/loyalty/domain"
)

// ErrHeld means another partition has taken a key first, in a record not
// in the ledger yet: decide again once it has been appended or dropped.
var ErrHeld = errors.New("key is held by another partition's unappended record")

// formatVersion is the layout of the store; another one is discarded and
// folded again from the ledger.
const formatVersion = 3

// Store key prefixes.
const (
	prefixKey        = 'k'
	prefixCheckpoint = 'c'
)

// metaKey is the store's identity (Bind). Its first byte is no row kind's:
// every row's key starts with its kind, and a member row's key goes on
// with any bytes a member id may hold.
var metaKey = []byte("\x00meta")

// Index is the key index. Its methods are safe for concurrent use.
type Index struct {
	db *pebble.DB

	mu sync.Mutex
	// held are the keys of staged records, by key and by partition.
	held   map[domain.Key]Entry
	byPart map[int][]domain.Key
	// checkpoints: the ledger sequence each partition's keys are folded up to.
	checkpoints map[int]uint64
	// commits counts the commits that stored keys; looked at records, per
	// partition, the count when its look-ups for the next record began, so
	// that Reserve reads the store again only when a commit came between.
	commits  uint64
	lookedAt map[int]uint64
	// filter holds every key the index has been given since it was
	// opened. It is used once primed: the store was empty, or the engine
	// has folded its whole ledger since (Prime).
	filter *filter
	primed atomic.Bool
	// filterThrough: the checkpoints a filter saved at the last clean
	// close covered; the fold gives the filter only what came after.
	filterThrough map[int]uint64
	// needsFill: the store holds keys the filter was not given (no saved
	// filter); Prime fills it from the store in the background.
	needsFill bool
	fill      sync.WaitGroup
	// emptiedBecause says why Bind emptied the store, for the log.
	emptiedBecause string
	logger         *slog.Logger
	dir            string
	counters       *Counters
	closed         atomic.Bool
	broken         atomic.Bool
}

// Options size the store.
type Options struct {
	// CacheBytes is Pebble's block cache (default 32 MiB).
	CacheBytes int64
	// MemTableBytes is the size of Pebble's memtables (default 4 MiB).
	MemTableBytes uint64
	// FilterBytes is the in-memory filter of the keys (default 64 MiB:
	// about 1 % of absent keys go on to the store up to 50 million keys).
	FilterBytes int
	// Counters, if set, counts the look-ups (for the engine's metrics).
	Counters *Counters
	Logger   *slog.Logger
}

// Open opens (creating) the index in dir, or in memory when dir is "".
func Open(dir string, o Options) (*Index, error) {
	if o.CacheBytes <= 0 {
		o.CacheBytes = 32 << 20
	}
	if o.FilterBytes <= 0 {
		o.FilterBytes = 64 << 20
	}
	if o.MemTableBytes == 0 {
		o.MemTableBytes = 4 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	cache := pebble.NewCache(o.CacheBytes)
	defer cache.Unref()
	opts := &pebble.Options{Cache: cache, MemTableSize: o.MemTableBytes, Logger: pebbleLogger{l: o.Logger, dir: dir}}
	for i := range opts.Levels {
		// Lookups of absent keys (nearly every event) stop at the filter.
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	if dir == "" {
		opts.FS = vfs.NewMem()
	}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("open key index %s: %w", dir, err)
	}
	ix := &Index{db: db, held: map[domain.Key]Entry{}, byPart: map[int][]domain.Key{}, checkpoints: map[int]uint64{},
		lookedAt: map[int]uint64{}, filter: newFilter(o.FilterBytes), dir: dir, counters: o.Counters, logger: o.Logger}
	if ix.counters == nil {
		ix.counters = &Counters{}
	}
	if err := ix.loadCheckpoints(); err != nil {
		_ = db.Close()
		return nil, err
	}
	empty, err := ix.noKeys()
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	ix.primed.Store(empty)
	if ix.filterThrough, err = ix.loadFilter(); err != nil {
		_ = db.Close()
		return nil, err
	}
	ix.needsFill = !empty && ix.filterThrough == nil
	return ix, nil
}

// FilterSaved tells whether the filter came from the last clean close, so
// that the start's fold hashes only the ledger written since.
func (ix *Index) FilterSaved() bool { return ix.filterThrough != nil }

// Empty tells whether no partition has a checkpoint: nothing was folded.
func (ix *Index) Empty() bool {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return len(ix.checkpoints) == 0
}

func (ix *Index) noKeys() (bool, error) {
	iter, err := ix.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixKey}, UpperBound: []byte{prefixKey + 1}})
	if err != nil {
		return false, err
	}
	defer iter.Close()
	return !iter.First(), iter.Error()
}

// Close saves the filter (see saveFilter) and closes the store.
func (ix *Index) Close() error {
	if ix.closed.Swap(true) {
		return nil
	}
	ix.fill.Wait()
	var serr error
	if !ix.broken.Load() {
		serr = ix.saveFilter()
	}
	return errors.Join(serr, ix.db.Close())
}

// Bind checks that the index was folded from this ledger (the stream's
// creation time) and not past its end (lastSeq), and from the same part of
// it (scope: which partitions, which messages set aside by quarantine), and
// empties it otherwise: a ledger replaced or cut short, a message
// quarantined since, or partitions given to another process must not leave
// keys behind that a fold of the ledger now would not give. It reports
// whether the index was emptied.
func (ix *Index) Bind(ledgerCreated time.Time, lastSeq uint64, scope string) (bool, error) {
	want := binary.AppendVarint([]byte{formatVersion, domain.StateVersion}, ledgerCreated.UnixNano())
	want = append(want, scope...)
	v, closer, err := ix.db.Get(metaKey)
	same, had := false, err == nil
	var got []byte
	if had {
		got = slices.Clone(v)
		same = string(got) == string(want)
		_ = closer.Close()
	} else if !errors.Is(err, pebble.ErrNotFound) {
		return false, fmt.Errorf("key index: read meta: %w", err)
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.emptiedBecause = "it was folded from another ledger, or another part of it (partitions, quarantine)"
	if had && (len(got) < 2 || got[0] != want[0] || got[1] != want[1]) || !had && len(ix.checkpoints) > 0 {
		ix.emptiedBecause = "its layout or the members' state version changed (another version of loyalty wrote it)"
	}
	for _, seq := range ix.checkpoints {
		if seq > lastSeq {
			same, ix.emptiedBecause = false, "it holds more of the ledger than the ledger has (a ledger cut short or replaced)"
		}
	}
	if same {
		return false, nil
	}
	had = had || len(ix.checkpoints) > 0
	b := ix.db.NewBatch()
	defer b.Close()
	if err := b.DeleteRange([]byte{0}, []byte{0xff}, nil); err != nil {
		return false, err
	}
	if err := b.Set(metaKey, want, nil); err != nil {
		return false, err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return false, ix.broke(fmt.Errorf("reset: %w", err))
	}
	clear(ix.checkpoints)
	clear(ix.filter.blocks)
	ix.filterThrough, ix.needsFill = nil, false
	ix.primed.Store(true) // empty, but for what it is given from now on
	return had, nil
}

// EmptiedBecause says why the last Bind emptied the store.
func (ix *Index) EmptiedBecause() string { return ix.emptiedBecause }

// Checkpoint is the ledger sequence the partition's keys are folded up to.
func (ix *Index) Checkpoint(part int) uint64 {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.checkpoints[part]
}

// Get returns the entry of a key: held (staged by a partition) or stored.
func (ix *Index) Get(k domain.Key) (Entry, bool, error) {
	ix.mu.Lock()
	e, ok := ix.held[k]
	ix.mu.Unlock()
	if ok {
		return e, true, nil
	}
	return ix.stored(k)
}

func (ix *Index) stored(k domain.Key) (e Entry, found bool, err error) {
	if ix.closed.Load() {
		return Entry{}, false, ErrClosed
	}
	if ix.primed.Load() && !ix.filter.mayContain(k) {
		ix.counters.Filtered.Add(1)
		return Entry{}, false, nil
	}
	defer ix.guard(&err)
	var buf [17]byte
	v, closer, err := ix.db.Get(storeKey(&buf, k))
	if errors.Is(err, pebble.ErrNotFound) {
		ix.counters.Missed.Add(1)
		return Entry{}, false, nil
	} else if err != nil {
		return Entry{}, false, ix.broke(fmt.Errorf("get: %w", err))
	}
	ix.counters.Found.Add(1)
	defer closer.Close()
	if e, err = decodeEntry(v); err != nil {
		return Entry{}, false, ix.broke(err)
	}
	return e, true, nil
}

// Begin marks the start of a partition's look-ups for its next record:
// Reserve then reads the store only if another commit came since.
func (ix *Index) Begin(part int) {
	ix.mu.Lock()
	ix.lookedAt[part] = ix.commits
	ix.mu.Unlock()
}

// Reserve holds a staged record's claims for its partition, or takes none
// and returns ErrHeld when another partition has any of its shared keys
// (Claim.Shared): held, or stored by a commit since the partition's Begin
// (taken between its look-up and now). Keys that are not shared belong to
// one member, whose partition alone decides on them.
func (ix *Index) Reserve(part int, claims []Claim) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	recheck := ix.commits != ix.lookedAt[part]
	for _, c := range claims {
		if !c.Shared {
			continue
		}
		if e, ok := ix.held[c.Key]; ok && e.Partition != part {
			return ErrHeld
		}
		if !recheck {
			continue
		}
		if e, ok, err := ix.stored(c.Key); err != nil {
			return err
		} else if ok && e.Partition != part {
			return ErrHeld
		}
	}
	for _, c := range claims {
		if _, ok := ix.held[c.Key]; !ok {
			ix.byPart[part] = append(ix.byPart[part], c.Key)
		}
		c.Entry.Partition, c.Entry.Held = part, true
		ix.held[c.Key] = c.Entry
		ix.filter.add(c.Key)
	}
	return nil
}

// Commit stores the partition's held keys, now in the ledger up to
// ledgerSeq, with its checkpoint, and lets go of them. Not synced: the
// ledger is the truth, and what a crash loses is folded again from it.
func (ix *Index) Commit(part int, ledgerSeq uint64) (err error) {
	if ix.closed.Load() {
		return ErrClosed
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	defer ix.guard(&err)
	b := ix.db.NewBatch()
	defer b.Close()
	var buf [17]byte
	var enc []byte
	// In key order, the memtable inserts each next to the one before.
	slices.SortFunc(ix.byPart[part], func(a, b domain.Key) int { return bytes.Compare(a[:], b[:]) })
	for _, k := range ix.byPart[part] {
		e := ix.held[k]
		enc = appendEntry(enc[:0], e)
		if err := b.Set(storeKey(&buf, k), enc, nil); err != nil {
			return err
		}
	}
	if err := ix.setCheckpoint(b, part, ledgerSeq); err != nil {
		return err
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return ix.broke(fmt.Errorf("commit: %w", err))
	}
	ix.checkpoints[part] = ledgerSeq
	if len(ix.byPart[part]) > 0 {
		ix.commits++
	}
	ix.releaseLocked(part)
	return nil
}

// Release drops the partition's held keys (its staged records were not
// appended).
func (ix *Index) Release(part int) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.releaseLocked(part)
}

func (ix *Index) releaseLocked(part int) {
	for _, k := range ix.byPart[part] {
		delete(ix.held, k)
	}
	ix.byPart[part] = ix.byPart[part][:0]
}

func (ix *Index) setCheckpoint(b *pebble.Batch, part int, seq uint64) error {
	var v [binary.MaxVarintLen64]byte
	return b.Set(checkpointKey(part), binary.AppendUvarint(v[:0], seq), nil)
}

func (ix *Index) loadCheckpoints() error {
	iter, err := ix.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixCheckpoint}, UpperBound: []byte{prefixCheckpoint + 1}})
	if err != nil {
		return err
	}
	defer iter.Close()
	for iter.First(); iter.Valid(); iter.Next() {
		k := iter.Key()
		seq, n := binary.Uvarint(iter.Value())
		if len(k) != 3 || n <= 0 {
			return fmt.Errorf("key index: checkpoint %x cannot be decoded", k)
		}
		ix.checkpoints[int(binary.BigEndian.Uint16(k[1:]))] = seq
	}
	return iter.Error()
}

func storeKey(buf *[17]byte, k domain.Key) []byte {
	buf[0] = prefixKey
	copy(buf[1:], k[:])
	return buf[:]
}

func checkpointKey(part int) []byte {
	return binary.BigEndian.AppendUint16([]byte{prefixCheckpoint}, uint16(part))
}

// pebbleLogger sends the store's own messages to the engine's log.
type pebbleLogger struct {
	l   *slog.Logger
	dir string
}

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug("key index: " + fmt.Sprintf(format, args...))
}
func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error("key index: " + fmt.Sprintf(format, args...))
}

// Fatalf is the store giving up (corruption found by a compaction, say):
// the mark makes the next start empty it and fold it again, instead of
// meeting the same damage for ever.
func (p pebbleLogger) Fatalf(format string, args ...any) {
	p.l.Error("key index: " + fmt.Sprintf(format, args...))
	if p.dir != "" {
		_ = os.WriteFile(filepath.Join(p.dir, brokenMark), []byte(fmt.Sprintf(format, args...)+"\n"), 0o644)
	}
	panic(fmt.Sprintf(format, args...))
}
