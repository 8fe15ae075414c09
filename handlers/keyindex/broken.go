package keyindex

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
)

// ErrBroken means the store failed or is damaged (a torn or corrupted
// file, a full disk). The index is derived from the ledger, so the cure is
// to empty it and fold it again: the store is marked, and the next Open
// starts it afresh (OpenOrRebuild). Until then nothing it says is trusted.
var ErrBroken = errors.New("key index store failed")

// ErrClosed is returned by an index used after Close.
var ErrClosed = errors.New("key index is closed")

// brokenMark is the file that tells the next Open to start afresh.
const brokenMark = "BROKEN"

// broke marks the store broken and returns the error to report.
func (ix *Index) broke(cause any) error {
	if ix.closed.Load() {
		return fmt.Errorf("%w (%v)", ErrClosed, cause)
	}
	ix.counters.Broken.Add(1)
	if ix.dir != "" && ix.broken.CompareAndSwap(false, true) {
		_ = os.WriteFile(filepath.Join(ix.dir, brokenMark), []byte(fmt.Sprint(cause)+"\n"), 0o644)
	}
	return fmt.Errorf("%w: %v (it is emptied and folded again from the ledger at the next start)", ErrBroken, cause)
}

// Counters returns the index's counters.
func (ix *Index) Counters() *Counters { return ix.counters }

// Damaged marks the store broken for a cause its caller found (a row it
// cannot use): the next start empties it and folds it again.
func (ix *Index) Damaged(cause error) error { return ix.broke(cause) }

// guard turns a panic of the store (Pebble panics on corruption it finds
// while reading, and on use after close) into an error.
func (ix *Index) guard(err *error) {
	if r := recover(); r != nil {
		*err = ix.broke(r)
	}
}

// OpenOrRebuild opens the index in dir, starting it afresh when it was
// marked broken or cannot be opened (damaged files): it only ever holds
// what the ledger holds, and the caller folds the ledger into it. An index
// locked by a process still running is not touched.
func OpenOrRebuild(dir string, o Options) (*Index, error) {
	if dir == "" {
		return Open(dir, o)
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if mark, err := os.ReadFile(filepath.Join(dir, brokenMark)); err == nil {
		logger.Warn("key index was marked broken; it is emptied and folded again from the ledger",
			"dir", dir, "cause", strings.TrimSpace(string(mark)))
		if err := os.RemoveAll(dir); err != nil {
			return nil, fmt.Errorf("empty the broken key index %s: %w", dir, err)
		}
	}
	ix, err := openGuarded(dir, o)
	if err == nil || isLocked(err) {
		return ix, err
	}
	logger.Warn("key index cannot be opened; it is emptied and folded again from the ledger", "dir", dir, "err", err)
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("empty the damaged key index %s: %w", dir, err)
	}
	return openGuarded(dir, o)
}

func openGuarded(dir string, o Options) (ix *Index, err error) {
	defer func() {
		if r := recover(); r != nil {
			ix, err = nil, fmt.Errorf("%w: open: %v", ErrBroken, r)
		}
	}()
	return Open(dir, o)
}

// isLocked tells Pebble's refusal of a directory another process holds.
func isLocked(err error) bool {
	return err != nil && strings.Contains(err.Error(), "could not lock")
}

// Counters count the index's look-ups in its store: Filtered were told
// absent by the filter alone, Missed went on to the store and were absent
// there (the filter's false positives, which grow as the keys outgrow it),
// Found were in it. Broken counts failures of the store. MemberReads
// counts members the engine read from their snapshot rows to decide on
// (its caller counts them: the service's reads are not), MemberWrites the
// rows written.
type Counters struct {
	Filtered, Missed, Found, Broken atomic.Uint64
	MemberReads, MemberWrites       atomic.Uint64
}
