package keyindex

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/cockroachdb/pebble/v2"

	"github.com/pointsledger/loyalty/domain"
)

// The store also keeps the engine's member snapshots (decision 023): one
// row per member with its state (domain.Member.AppendBinary), and per
// partition the ledger sequence the rows are folded up to with the count
// of the partition's members. A start folds only the ledger past that
// sequence, and members are read from their rows when first needed. Rows
// of the follow-up events (domain.FollowUp) of the records a snapshot
// covers keep what the ledger outbox needs: a start publishes those whose
// member has not applied them, without folding the records again.
const (
	prefixMember           = 'm'
	prefixMemberCheckpoint = 's'
	prefixFollowUp         = 'f'
)

// MemberCheckpoint is how far a partition's member rows are folded.
type MemberCheckpoint struct {
	// LedgerSeq: every record of the partition up to it is in the rows.
	LedgerSeq uint64
	// Members is how many members the partition has, as of LedgerSeq.
	Members uint64
}

// MembersCheckpoint returns the partition's member checkpoint (zero: no rows).
func (ix *Index) MembersCheckpoint(part int) (MemberCheckpoint, error) {
	var cp MemberCheckpoint
	v, closer, err := ix.db.Get(memberCheckpointKey(part))
	if errors.Is(err, pebble.ErrNotFound) {
		return cp, nil
	} else if err != nil {
		return cp, ix.broke(fmt.Errorf("member checkpoint: %w", err))
	}
	defer closer.Close()
	var ok bool
	if cp, ok = decodeCheckpoint(v); !ok {
		return cp, ix.broke(fmt.Errorf("member checkpoint of partition %d cannot be decoded", part))
	}
	return cp, nil
}

// A checkpoint row carries a checksum: a damaged one that still decoded
// would make a start fold again what the member rows hold already.
func encodeCheckpoint(cp MemberCheckpoint) []byte {
	v := binary.AppendUvarint(nil, cp.LedgerSeq)
	v = binary.AppendUvarint(v, cp.Members)
	return binary.BigEndian.AppendUint32(v, crc32.ChecksumIEEE(v))
}

func decodeCheckpoint(v []byte) (MemberCheckpoint, bool) {
	if len(v) < 4 {
		return MemberCheckpoint{}, false
	}
	body, sum := v[:len(v)-4], binary.BigEndian.Uint32(v[len(v)-4:])
	r := varints{b: body}
	cp := MemberCheckpoint{LedgerSeq: r.uvarint(), Members: r.uvarint()}
	return cp, !r.failed && len(r.b) == 0 && crc32.ChecksumIEEE(body) == sum
}

// Member decodes the member's row, or returns nil when there is none. The
// row must be of the partition's checkpoint (upTo) or earlier: a row newer
// than its checkpoint means the checkpoint was lost or damaged, and the
// store is marked broken rather than folding the ledger onto it again.
func (ix *Index) Member(id string, upTo uint64) (m *domain.Member, size int, err error) {
	if ix.closed.Load() {
		return nil, 0, ErrClosed
	}
	defer ix.guard(&err)
	v, closer, err := ix.db.Get(memberKey(id))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, 0, nil
	} else if err != nil {
		return nil, 0, ix.broke(fmt.Errorf("member row: %w", err))
	}
	defer closer.Close()
	seq, n := binary.Uvarint(v)
	if n <= 0 {
		return nil, 0, ix.broke(errors.New("a member row cannot be decoded"))
	}
	if seq > upTo {
		return nil, 0, ix.broke(fmt.Errorf("a member row is of ledger seq %d, past its partition's checkpoint %d", seq, upTo))
	}
	if m, err = domain.DecodeMember(v[n:]); err != nil {
		return nil, 0, ix.broke(err)
	}
	if m.ID != id {
		return nil, 0, ix.broke(errors.New("a member row holds another member"))
	}
	return m, len(v), nil
}

// Snapshot is one write of a partition's member rows, follow-ups and
// checkpoint.
type Snapshot struct {
	ix      *Index
	b       *pebble.Batch
	part    int
	enc     []byte
	members int
}

// NewSnapshot starts a write of the partition's snapshot.
func (ix *Index) NewSnapshot(part int) *Snapshot {
	return &Snapshot{ix: ix, b: ix.db.NewBatch(), part: part}
}

// Member adds the member's state, as of the ledger sequence the snapshot
// is committed at, and returns the size of its row.
func (s *Snapshot) Member(m *domain.Member, seq uint64) (int, error) {
	var err error
	if s.enc, err = m.AppendBinary(binary.AppendUvarint(s.enc[:0], seq)); err != nil {
		return 0, err
	}
	s.members++
	return len(s.enc), s.b.Set(memberKey(m.ID), s.enc, nil)
}

// FollowUp adds a follow-up event of a record the snapshot covers.
func (s *Snapshot) FollowUp(ev domain.Event, encoded []byte) error {
	return s.b.Set(followUpKey(domain.EventKey(ev.Type, ev.ID)), encoded, nil)
}

// ForgetFollowUp drops the row of a follow-up event JetStream has stored
// since an earlier snapshot kept it.
func (s *Snapshot) ForgetFollowUp(k domain.Key) error {
	return s.b.Delete(followUpKey(k), nil)
}

// ForgetFollowUp drops the row of a follow-up event JetStream has stored.
// Not synced: a row a crash brings back is published again, and its copy
// recognised.
func (ix *Index) ForgetFollowUp(k domain.Key) (err error) {
	if ix.closed.Load() {
		return ErrClosed
	}
	defer ix.guard(&err)
	if err := ix.db.Delete(followUpKey(k), pebble.NoSync); err != nil {
		return ix.broke(fmt.Errorf("forget follow-up: %w", err))
	}
	return nil
}

func followUpKey(k domain.Key) []byte { return append([]byte{prefixFollowUp}, k[:]...) }

// Commit writes the snapshot, as of the partition's ledger sequence. Not
// synced: what a crash loses is folded again from the ledger.
func (s *Snapshot) Commit(cp MemberCheckpoint) (err error) {
	defer s.b.Close()
	if s.ix.closed.Load() {
		return ErrClosed
	}
	defer s.ix.guard(&err)
	if err := s.b.Set(memberCheckpointKey(s.part), encodeCheckpoint(cp), nil); err != nil {
		return err
	}
	if err := s.b.Commit(pebble.NoSync); err != nil {
		return s.ix.broke(fmt.Errorf("snapshot: %w", err))
	}
	s.ix.counters.MemberWrites.Add(uint64(s.members))
	return nil
}

// Abort drops a snapshot not committed.
func (s *Snapshot) Abort() { _ = s.b.Close() }

// FollowUps calls fn with every follow-up row; those fn says are done
// (their member applied them) are deleted.
func (ix *Index) FollowUps(fn func(encoded []byte) (done bool, err error)) (err error) {
	if ix.closed.Load() {
		return ErrClosed
	}
	defer ix.guard(&err)
	iter, err := ix.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixFollowUp}, UpperBound: []byte{prefixFollowUp + 1}})
	if err != nil {
		return ix.broke(err)
	}
	defer iter.Close()
	b := ix.db.NewBatch()
	defer b.Close()
	for iter.First(); iter.Valid(); iter.Next() {
		done, err := fn(iter.Value())
		if err != nil {
			return err
		}
		if done {
			if err := b.Delete(iter.Key(), nil); err != nil {
				return err
			}
		}
	}
	if err := iter.Error(); err != nil {
		return ix.broke(err)
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return ix.broke(fmt.Errorf("follow-ups: %w", err))
	}
	return nil
}

func memberKey(id string) []byte {
	return append([]byte{prefixMember}, id...)
}

func memberCheckpointKey(part int) []byte {
	return binary.BigEndian.AppendUint16([]byte{prefixMemberCheckpoint}, uint16(part))
}
