package keyindex

import (
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Prime tells the index that the ledger past its checkpoints has been
// folded into it (Folder): from then on an absent key is told by the
// filter alone. When the filter was not saved at the last close (a crash),
// the store's keys are first read into it in the background; until that
// is done, look-ups go on to the store, which is slower but exact. A start
// after a crash therefore does not read the whole ledger again.
func (ix *Index) Prime() {
	if !ix.needsFill {
		ix.primed.Store(true)
		return
	}
	ix.needsFill = false
	ix.fill.Add(1)
	go func() {
		defer ix.fill.Done()
		start := time.Now()
		n, err := ix.fillFilter()
		switch {
		case err == nil:
			ix.primed.Store(true)
			ix.logger.Info("key index filter read back from the store", "keys", n, "took", time.Since(start).Round(time.Millisecond))
		case !ix.closed.Load():
			// Look-ups stay exact, at the store's speed; the mark
			// makes the next start fold the store again.
			ix.logger.Error("key index filter not read back from the store; look-ups go to the store", "err", ix.broke(err))
		}
	}()
}

// Filling tells whether the filter is still being filled from the store.
func (ix *Index) Filling() bool { return !ix.primed.Load() && !ix.closed.Load() }

// fillFilter gives the filter every key of the store. Keys stored after
// its iterator was opened were given to the filter when they were held.
func (ix *Index) fillFilter() (n int, err error) {
	defer ix.guard(&err)
	iter, err := ix.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixKey}, UpperBound: []byte{prefixKey + 1}})
	if err != nil {
		return 0, err
	}
	defer iter.Close()
	var k [16]byte
	for iter.First(); iter.Valid(); iter.Next() {
		if n++; n%4096 == 0 && ix.closed.Load() {
			return n, ErrClosed
		}
		if copy(k[:], iter.Key()[1:]) == len(k) {
			ix.filter.add(k)
		}
	}
	return n, iter.Error()
}
