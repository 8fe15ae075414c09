package keyindex

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// foldBatchBytes bounds the memory of a fold's write batch.
const foldBatchBytes = 4 << 20

// Folder writes the claims of ledger records into the index as the ledger
// is read: into the filter all of them, into the store only those past
// their partition's checkpoint, which it holds already. The fold must be
// of the ledger past the checkpoints of the partitions the index serves,
// before any look-up: the store lacks those keys, and the filter too when
// it was saved at the last close (a filter not saved is filled from the
// store, see Prime). Finish moves the checkpoints; until then a crash
// leaves keys that a later fold writes again, the same.
type Folder struct {
	ix    *Index
	b     *pebble.Batch
	from  map[int]uint64
	upTo  map[int]uint64
	buf   [17]byte
	enc   []byte
	wrote int
	done  bool
	// from: the sequence up to which both the store and the filter hold
	// each partition's keys; store: up to which the store does.
	store map[int]uint64
}

// NewFolder starts a fold of the given partitions' ledger.
func (ix *Index) NewFolder(parts []int) *Folder {
	f := &Folder{ix: ix, b: ix.db.NewBatch(), from: map[int]uint64{}, store: map[int]uint64{}, upTo: map[int]uint64{}}
	ix.mu.Lock()
	for _, p := range parts {
		f.store[p] = ix.checkpoints[p]
		f.from[p] = ix.checkpoints[p]
		if ix.filterThrough != nil {
			f.from[p] = min(f.from[p], ix.filterThrough[p])
		}
	}
	ix.mu.Unlock()
	return f
}

// From is the sequence past which the fold needs the partition's ledger.
func (f *Folder) From(part int) uint64 { return f.from[part] }

// Needs tells whether the fold needs the claims of the partition's ledger
// message at seq: the filter or the store lacks them.
func (f *Folder) Needs(part int, seq uint64) bool { return seq > f.from[part] }

// Add folds the claims of a ledger message of the partition at seq (none
// for a message set aside by quarantine, which still moves the checkpoint,
// or one the fold does not need).
func (f *Folder) Add(part int, seq uint64, claims []Claim) error {
	f.upTo[part] = max(f.upTo[part], seq)
	for _, c := range claims {
		f.ix.filter.add(c.Key)
	}
	if seq <= f.store[part] {
		return nil
	}
	for _, c := range claims {
		c.Entry.Partition, c.Entry.Held = part, false
		f.enc = appendEntry(f.enc[:0], c.Entry)
		if err := f.b.Set(storeKey(&f.buf, c.Key), f.enc, nil); err != nil {
			return err
		}
		f.wrote++
	}
	if f.b.Len() < foldBatchBytes {
		return nil
	}
	if err := f.commit(); err != nil {
		return err
	}
	f.b.Reset()
	return nil
}

// Wrote is how many keys the fold wrote.
func (f *Folder) Wrote() int { return f.wrote }

// Abort drops what Finish has not written; after Finish it does nothing.
func (f *Folder) Abort() {
	if !f.done {
		f.done = true
		_ = f.b.Close()
	}
}

// Finish writes what is left and the partitions' checkpoints.
func (f *Folder) Finish() error {
	defer f.Abort()
	for part, seq := range f.upTo {
		if seq > f.store[part] {
			if err := f.ix.setCheckpoint(f.b, part, seq); err != nil {
				return err
			}
		}
	}
	if err := f.commit(); err != nil {
		return err
	}
	f.ix.mu.Lock()
	defer f.ix.mu.Unlock()
	for part, seq := range f.upTo {
		f.ix.checkpoints[part] = max(f.ix.checkpoints[part], seq)
	}
	return nil
}

// commit writes the batch; partitions looking keys up meanwhile read the
// store again before they reserve (see Begin).
func (f *Folder) commit() (err error) {
	if f.ix.closed.Load() {
		return ErrClosed
	}
	defer f.ix.guard(&err)
	if err := f.b.Commit(pebble.NoSync); err != nil {
		return f.ix.broke(fmt.Errorf("fold: %w", err))
	}
	f.ix.mu.Lock()
	f.ix.commits++
	f.ix.mu.Unlock()
	return nil
}
