package handlers

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/handlers/keyindex"
	"github.com/pointsledger/loyalty/streams"
)

// rebuild folds the ledger records of the given partitions into fresh state,
// reading the ledger up to its end at the time of the call, and the keys of
// those past the index's checkpoints into keys.
func rebuild(ctx context.Context, js jetstream.JetStream, ids []int, keys *keyindex.Index) (map[int]*partition, error) {
	quarantine, err := streams.LoadQuarantine(ctx, js)
	if err != nil {
		return nil, fmt.Errorf("rebuild: %w", err)
	}
	parts, _, err := rebuildWithFollowUps(ctx, js, ids, keys, quarantine)
	return parts, err
}

// rebuildWithFollowUps is rebuild that also returns the follow-up events
// (domain.FollowUp) of every fact it folded, for the engine to check that
// each was published.
func rebuildWithFollowUps(ctx context.Context, js jetstream.JetStream, ids []int, keys *keyindex.Index,
	quarantine streams.Quarantine) (map[int]*partition, []domain.Event, error) {
	var followUps []domain.Event
	parts := make(map[int]*partition, len(ids))
	subjects := make([]string, 0, len(ids))
	for _, id := range ids {
		parts[id] = newPartition(id, keys)
		subjects = append(subjects, streams.LedgerSubject(id))
	}
	stream, err := js.Stream(ctx, streams.LedgerStream)
	if err != nil {
		return nil, nil, fmt.Errorf("rebuild: ledger stream: %w", err)
	}
	if stream.CachedInfo().State.Msgs == 0 {
		return parts, followUps, nil
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: subjects})
	if err != nil {
		return nil, nil, fmt.Errorf("rebuild: ledger consumer: %w", err)
	}
	if cons.CachedInfo().NumPending == 0 {
		return parts, followUps, nil
	}
	iter, err := cons.Messages(jetstream.PullMaxMessages(2000))
	if err != nil {
		return nil, nil, fmt.Errorf("rebuild: ledger messages: %w", err)
	}
	defer iter.Stop()
	folder := keys.NewFolder(ids)
	defer folder.Abort()
	for {
		msg, err := nextCtx(ctx, iter)
		if err != nil {
			return nil, nil, fmt.Errorf("rebuild: %w", err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return nil, nil, fmt.Errorf("rebuild: metadata: %w", err)
		}
		seq := meta.Sequence.Stream
		recs, skipped, err := quarantine.Decode(seq, msg.Subject(), msg.Data())
		if err != nil {
			return nil, nil, fmt.Errorf("rebuild: ledger seq %d: %w", seq, err)
		}
		if p, ok := streams.LedgerPartition(msg.Subject()); skipped && ok && parts[p] != nil {
			// Skipped, but the partition's next append is fenced on it.
			parts[p].ledgerSeq = seq
			if err := folder.Add(p, seq, nil); err != nil {
				return nil, nil, fmt.Errorf("rebuild: %w", err)
			}
		}
		for _, rec := range recs {
			part := parts[rec.Partition]
			if part == nil || msg.Subject() != streams.LedgerSubject(rec.Partition) {
				return nil, nil, fmt.Errorf("rebuild: ledger seq %d on %s claims partition %d", seq, msg.Subject(), rec.Partition)
			}
			part.fold(rec)
			part.ledgerSeq = seq
			var claims []keyindex.Claim
			if folder.Needs(rec.Partition, seq) {
				claims = claimsOf(rec)
			}
			if err := folder.Add(rec.Partition, seq, claims); err != nil {
				return nil, nil, fmt.Errorf("rebuild: %w", err)
			}
			for _, f := range rec.Facts {
				if ev, ok := domain.FollowUp(f); ok {
					followUps = append(followUps, ev)
				}
			}
		}
		if meta.NumPending == 0 {
			if err := folder.Finish(); err != nil {
				return nil, nil, fmt.Errorf("rebuild: %w", err)
			}
			return parts, followUps, nil
		}
	}
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
	parts, err := rebuild(ctx, js, []int{id}, keys)
	if err != nil {
		return nil, nil, err
	}
	keys.Prime()
	m := parts[id].member(ev.MemberID)
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
