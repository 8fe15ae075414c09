package keyindex

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/pointsledger/loyalty/domain"
)

// Entry is what the index holds under a key: which input consumed it, and
// what the engine needs to answer a repeat.
type Entry struct {
	Partition int
	InputSeq  uint64
	// Digest of the event (streams.EventDigest), for event keys: a repeat
	// with the same body is a duplicate, another body a conflict.
	Digest uint64
	// Legacy: an event key of a record that did not name its event's type
	// (domain.LegacyEventKey); it counts for events of either origin.
	Legacy bool
	// Request is the outcome of a request key.
	Request *domain.RedemptionOutcome
	// Held: staged by a partition, not in the ledger yet.
	Held bool
}

// A Claim is a key a ledger record takes, with its entry. Shared: any
// partition may claim the key (an event id); a key that is not shared is a
// member's (an order or request id).
type Claim struct {
	Key    domain.Key
	Entry  Entry
	Shared bool
}

const (
	flagLegacy  = 1
	flagRequest = 2
)

// appendEntry encodes an entry for the store (Held is never stored).
func appendEntry(b []byte, e Entry) []byte {
	b = binary.AppendUvarint(b, uint64(e.Partition))
	b = binary.AppendUvarint(b, e.InputSeq)
	b = binary.AppendUvarint(b, e.Digest)
	var flags byte
	if e.Legacy {
		flags |= flagLegacy
	}
	if e.Request != nil {
		flags |= flagRequest
	}
	b = append(b, flags)
	if e.Request != nil {
		b = binary.AppendVarint(b, e.Request.At.UnixNano())
		b = binary.AppendVarint(b, e.Request.Points)
		b = binary.AppendUvarint(b, uint64(len(e.Request.Rejected)))
		b = append(b, e.Request.Rejected...)
	}
	return b
}

var errCorrupt = errors.New("key index entry cannot be decoded")

// decodeEntry decodes appendEntry's encoding.
func decodeEntry(b []byte) (Entry, error) {
	var e Entry
	u := func() uint64 {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			b = nil
			return 0
		}
		b = b[n:]
		return v
	}
	s := func() int64 {
		v, n := binary.Varint(b)
		if n <= 0 {
			b = nil
			return 0
		}
		b = b[n:]
		return v
	}
	e.Partition = int(u())
	e.InputSeq = u()
	e.Digest = u()
	if len(b) == 0 {
		return Entry{}, errCorrupt
	}
	flags := b[0]
	b = b[1:]
	e.Legacy = flags&flagLegacy != 0
	if flags&flagRequest != 0 {
		at, points := s(), s()
		n := u()
		if b == nil || uint64(len(b)) < n {
			return Entry{}, errCorrupt
		}
		e.Request = &domain.RedemptionOutcome{At: time.Unix(0, at).UTC(), Points: points, Rejected: domain.RedemptionReason(b[:n])}
	}
	return e, nil
}
