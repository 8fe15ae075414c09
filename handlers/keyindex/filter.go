package keyindex

import (
	"encoding/binary"
	"sync/atomic"

	"github.com/pointsledger/loyalty/domain"
)

// filter is a blocked Bloom filter of the keys in the index, so that the
// look-up of an absent key, which is nearly every event's, does not search
// the store's memtables and tables. Its size is fixed: as history grows
// past about a tenth of its bits in keys, more look-ups go on to the store
// (false positives), and none is ever wrong. Each key's probes fall in one
// 64-byte block, one cache line. The keys are SHA-256 already, so their
// bytes are the hashes. Safe for concurrent use without a lock.
type filter struct {
	blocks []uint64 // 8 words a block
}

const (
	blockWords = 8
	probes     = 7
)

func newFilter(bytes int) *filter {
	n := max(bytes/(8*blockWords), 1)
	return &filter{blocks: make([]uint64, n*blockWords)}
}

// probe returns the key's block and the bit of each probe within it.
func (f *filter) probe(k domain.Key) (block int, bits uint64) {
	h1, h2 := binary.LittleEndian.Uint64(k[:8]), binary.LittleEndian.Uint64(k[8:])
	block = int(h1%uint64(len(f.blocks)/blockWords)) * blockWords
	return block, h2
}

func (f *filter) add(k domain.Key) {
	block, h := f.probe(k)
	for i := range probes {
		bit := (h >> (9 * i)) & 511
		atomic.OrUint64(&f.blocks[block+int(bit>>6)], 1<<(bit&63))
	}
}

func (f *filter) mayContain(k domain.Key) bool {
	block, h := f.probe(k)
	for i := range probes {
		bit := (h >> (9 * i)) & 511
		if atomic.LoadUint64(&f.blocks[block+int(bit>>6)])&(1<<(bit&63)) == 0 {
			return false
		}
	}
	return true
}
