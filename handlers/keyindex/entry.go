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
	r := varints{b: b}
	e := Entry{Partition: int(r.uvarint()), InputSeq: r.uvarint(), Digest: r.uvarint()}
	flags := r.next(1)
	if r.failed {
		return Entry{}, errCorrupt
	}
	e.Legacy = flags[0]&flagLegacy != 0
	if flags[0]&flagRequest != 0 {
		at, points := r.varint(), r.varint()
		rejected := r.next(r.uvarint())
		if r.failed {
			return Entry{}, errCorrupt
		}
		e.Request = &domain.RedemptionOutcome{At: time.Unix(0, at).UTC(), Points: points, Rejected: domain.RedemptionReason(rejected)}
	}
	return e, nil
}

// varints reads what binary.Append(U)varint wrote. A read past the end or
// of a malformed number sets failed, and every read after it gives zero.
type varints struct {
	b      []byte
	failed bool
}

func (r *varints) fail() {
	r.b, r.failed = nil, true
}

func (r *varints) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *varints) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

// next returns the next n bytes.
func (r *varints) next(n uint64) []byte {
	if r.failed || uint64(len(r.b)) < n {
		r.fail()
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}
