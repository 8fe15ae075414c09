package handlers

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/handlers/keyindex"
	"github.com/pointsledger/loyalty/streams"
)

// rebuild reads the given partitions' state: each from its last snapshot
// (members are read from their rows when first needed), with the ledger
// written since folded in, and the keys of the records past the index's
// checkpoints into keys. Their members in memory count in budget.
func rebuild(ctx context.Context, js jetstream.JetStream, ids []int, keys *keyindex.Index, budget *memoryBudget) (map[int]*partition, error) {
	quarantine, err := streams.LoadQuarantine(ctx, js)
	if err != nil {
		return nil, fmt.Errorf("rebuild: %w", err)
	}
	return rebuildFrom(ctx, js, ids, keys, quarantine, budget)
}

// rebuildFrom is rebuild with the quarantine read already. The follow-up
// events of the records it folds are in the partitions' followUps, for
// their next snapshot.
func rebuildFrom(ctx context.Context, js jetstream.JetStream, ids []int, keys *keyindex.Index,
	quarantine streams.Quarantine, budget *memoryBudget) (_ map[int]*partition, err error) {
	parts := make(map[int]*partition, len(ids))
	defer func() {
		if err != nil { // the members read so far leave the budget with the partitions
			for _, p := range parts {
				p.cache.release()
			}
		}
	}()
	folder := keys.NewFolder(ids)
	defer folder.Abort()
	stream, err := js.Stream(ctx, streams.LedgerStream)
	if err != nil {
		return nil, fmt.Errorf("rebuild: ledger stream: %w", err)
	}
	// Only the partitions with ledger messages past their snapshot and key
	// checkpoint are read, from the earliest of those: a quiet partition's
	// old snapshot does not make the start read the ledger since.
	var subjects []string
	from := uint64(math.MaxUint64)
	for _, id := range ids {
		p := newPartition(id, keys, budget)
		cp, err := keys.MembersCheckpoint(id)
		if err != nil {
			return nil, fmt.Errorf("rebuild: %w", err)
		}
		p.setSaved(cp)
		p.known, p.ledgerSeq = cp.Members, cp.LedgerSeq
		parts[id] = p
		last, err := lastLedgerSeq(ctx, stream, id)
		if err != nil {
			return nil, fmt.Errorf("rebuild: %w", err)
		}
		if last < cp.LedgerSeq {
			return nil, keys.Damaged(fmt.Errorf("partition %d's member snapshot is of ledger seq %d, past the partition's last ledger message %d", id, cp.LedgerSeq, last))
		}
		if upTo := min(cp.LedgerSeq, folder.From(id)); last > upTo {
			subjects = append(subjects, streams.LedgerSubject(id))
			from = min(from, upTo+1)
		}
	}
	if len(subjects) == 0 {
		return parts, folder.Finish()
	}
	reader, err := streams.NewLedgerReader(ctx, js, streams.LedgerReaderConfig{From: from, Subjects: subjects, Pull: 2000,
		Quarantine: &quarantine})
	if err != nil {
		return nil, fmt.Errorf("rebuild: %w", err)
	}
	defer reader.Stop()
	if reader.Pending() == 0 {
		return parts, folder.Finish()
	}
	for {
		msg, err := reader.Next(ctx)
		if err != nil {
			return nil, fmt.Errorf("rebuild: %w", err)
		}
		if err := foldMessage(parts, folder, msg); err != nil {
			return nil, fmt.Errorf("rebuild: %w", err)
		}
		if msg.Pending == 0 {
			return parts, folder.Finish()
		}
	}
}

// lastLedgerSeq is the sequence of the partition's last ledger message, 0
// when it has none.
func lastLedgerSeq(ctx context.Context, stream jetstream.Stream, part int) (uint64, error) {
	msg, err := stream.GetLastMsgForSubject(ctx, streams.LedgerSubject(part))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	} else if err != nil {
		return 0, fmt.Errorf("last ledger message of partition %d: %w", part, err)
	}
	return msg.Sequence, nil
}

// foldMessage folds one ledger message into the partitions' members (past
// their snapshot) and its keys into the fold of the index.
func foldMessage(parts map[int]*partition, folder *keyindex.Folder, msg streams.LedgerMessage) error {
	seq := msg.Seq
	if p, ok := streams.LedgerPartition(msg.Subject); ok && parts[p] != nil {
		parts[p].read++
		if seq <= parts[p].saved.LedgerSeq && !folder.Needs(p, seq) {
			return nil // in the snapshot and in the index: not even decoded
		}
	}
	recs, skipped, err := msg.Records()
	if err != nil {
		return err
	}
	if p, ok := streams.LedgerPartition(msg.Subject); skipped && ok && parts[p] != nil {
		// Skipped, but the partition's next append is fenced on it.
		parts[p].ledgerSeq = max(parts[p].ledgerSeq, seq)
		return folder.Add(p, seq, nil)
	}
	var part *partition
	for _, rec := range recs {
		part = parts[rec.Partition]
		if part == nil || msg.Subject != streams.LedgerSubject(rec.Partition) {
			return fmt.Errorf("ledger seq %d on %s claims partition %d", seq, msg.Subject, rec.Partition)
		}
		if seq > part.saved.LedgerSeq {
			if err := part.fold(rec); err != nil {
				return err
			}
			part.ledgerSeq = seq
		}
		var claims []keyindex.Claim
		if folder.Needs(rec.Partition, seq) {
			claims = claimsOf(rec)
		}
		if err := folder.Add(rec.Partition, seq, claims); err != nil {
			return err
		}
	}
	if part != nil && part.cache.over() {
		// The members read so far are as of seq: a snapshot keeps them,
		// and a fold of the whole ledger stays within the budget.
		return part.saveMembers()
	}
	return nil
}

// nextCtx is iter.Next that gives up when ctx ends.
func nextCtx(ctx context.Context, iter jetstream.MessagesContext) (jetstream.Msg, error) {
	stop := context.AfterFunc(ctx, iter.Stop)
	defer stop()
	msg, err := iter.Next()
	if err != nil && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return msg, err
}

// DryRun decides an event as the engine would now, without recording
// anything: on the member's state and the ids of the member's partition,
// folded from the ledger now (for `loyalty program evaluate`). An event id
// a member of another partition used is not seen. A rejection is returned
// as a *domain.RejectedError.
func DryRun(ctx context.Context, js jetstream.JetStream, ev domain.Event, p *domain.Program) (*domain.Member, []domain.Fact, error) {
	id := streams.PartitionOf(ev.MemberID)
	keys, err := keyindex.Open("", keyindex.Options{FilterBytes: 1 << 20})
	if err != nil {
		return nil, nil, err
	}
	defer keys.Close()
	parts, err := rebuild(ctx, js, []int{id}, keys, newMemoryBudget(0, 1))
	if err != nil {
		return nil, nil, err
	}
	keys.Prime()
	m, err := parts[id].member(ev.MemberID)
	if err != nil {
		return nil, nil, err
	}
	if seen, ok, err := eventEntry(keys, ev.Type, ev.ID); err != nil {
		return m, nil, err
	} else if ok {
		return m, nil, repeated(ev.ID, seen, streams.EventDigest(ev))
	}
	known, err := knownOf(keys, ev)
	if err != nil {
		return m, nil, err
	}
	facts, err := domain.DecideKnown(m, ev, p, known)
	return m, facts, err
}
