package keyindex

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
)

// The filter is saved beside the store when the index closes, with the
// checkpoints it covers, so that the next start hashes only the ledger
// written since (Folder.Needs) instead of every record again. A filter
// that holds more keys than the store is harmless (its false positives go
// on to the store); one that holds fewer than its checkpoints say is not,
// which is why it is only saved by a clean close of a primed index, and
// removed whenever the store is emptied.
const (
	filterFile  = "filter"
	filterMagic = "loyalty-keyindex-filter-v1\n"
)

// saveFilter writes the filter and the checkpoints it covers, atomically.
func (ix *Index) saveFilter() error {
	if ix.dir == "" || !ix.primed.Load() {
		return nil
	}
	ix.mu.Lock()
	b := append([]byte(filterMagic), binary.AppendUvarint(nil, uint64(len(ix.checkpoints)))...)
	for part, seq := range ix.checkpoints {
		b = binary.AppendUvarint(b, uint64(part))
		b = binary.AppendUvarint(b, seq)
	}
	ix.mu.Unlock()
	b = binary.AppendUvarint(b, uint64(len(ix.filter.blocks)))
	words := make([]byte, 0, len(ix.filter.blocks)*8)
	for i := range ix.filter.blocks {
		words = binary.LittleEndian.AppendUint64(words, atomic.LoadUint64(&ix.filter.blocks[i]))
	}
	tmp := filepath.Join(ix.dir, filterFile+".tmp")
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		_, err = f.Write(words)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("key index: save filter: %w", err)
	}
	return os.Rename(tmp, filepath.Join(ix.dir, filterFile))
}

// loadFilter reads a saved filter of the same size, and removes the file:
// from now on the filter in memory is ahead of it, and a crash must not
// leave a stale one whose checkpoints promise keys it lacks. It returns
// the checkpoints the filter covers, none when there was no usable one.
func (ix *Index) loadFilter() (map[int]uint64, error) {
	if ix.dir == "" {
		return nil, nil
	}
	path := filepath.Join(ix.dir, filterFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("key index: read filter: %w", err)
	}
	if err := os.Remove(path); err != nil {
		return nil, fmt.Errorf("key index: remove the filter it read: %w", err)
	}
	through, words, ok := parseFilter(b, len(ix.filter.blocks))
	if !ok {
		return nil, nil // another size or version: folded again
	}
	for i := range ix.filter.blocks {
		ix.filter.blocks[i] = binary.LittleEndian.Uint64(words[8*i:])
	}
	return through, nil
}

func parseFilter(b []byte, wantWords int) (map[int]uint64, []byte, bool) {
	rest, ok := bytes.CutPrefix(b, []byte(filterMagic))
	if !ok {
		return nil, nil, false
	}
	r := varints{b: rest}
	n := r.uvarint()
	if r.failed || n > 1<<16 {
		return nil, nil, false
	}
	through := make(map[int]uint64, n)
	for range n {
		part, seq := r.uvarint(), r.uvarint()
		through[int(part)] = seq
	}
	words := r.uvarint()
	if r.failed || words != uint64(wantWords) || uint64(len(r.b)) != words*8 {
		return nil, nil, false
	}
	return through, r.b, true
}
