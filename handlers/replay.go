package handlers

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/handlers/keyindex"
	"github.com/pointsledger/loyalty/streams"
)

// ReplayStats counts what a replay of the input did.
type ReplayStats struct {
	Inputs      int                   // read from the input stream
	Applied     int                   // gave a ledger record
	Recorded    int                   // of those, inputs the stream no longer holds, taken from the ledger
	Skipped     int                   // events at or after the replay's end
	DeadLetters map[domain.Reason]int // would have been dead-lettered, by reason
}

// ReplayInput folds the whole input stream, in stored order, through the
// program versions ps, deciding each input exactly as the engine does
// (decode, validation, the event ids already applied, the rules), and
// publishes nothing: for what-if runs such as `loyalty backtest`. The record
// of each applied input goes to apply, in order, with the input's sequence
// as its Seq. Events whose own time is at or after until (when until is not
// zero) are left out. It reads what the stream holds when it starts.
//
// With closeAt not zero, every member is then woken at closeAt, as the clock
// of a running engine would have woken those with points due: the input's
// clock events were chosen by the live program, and a candidate whose points
// expire sooner would otherwise keep them.
func ReplayInput(ctx context.Context, js jetstream.JetStream, ps *domain.Programs, until, closeAt time.Time,
	apply func(streams.LedgerRecord) error) (ReplayStats, error) {
	stats := ReplayStats{DeadLetters: map[domain.Reason]int{}}
	metrics, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		return stats, err
	}
	e, err := NewEngine(js, EngineConfig{Programs: ps, Metrics: metrics})
	if err != nil {
		return stats, err
	}
	// The deployment's key, when there is one, so that the replay mints the
	// live follow-up ids and voucher codes, and the vouchers the input uses
	// are the ones it issues.
	if key, err := ReadFollowUpIDKey(ctx, js); err == nil {
		e.idKey = key
		e.memberKeys = streams.ReadMemberKeysAs(js, key) // to refuse erased members as the engine does
	}
	stream, err := js.Stream(ctx, streams.InputStream)
	if err != nil {
		return stats, fmt.Errorf("replay: %w", err)
	}
	last := stream.CachedInfo().State.LastSeq
	if last == 0 {
		return stats, nil
	}
	cons, err := js.OrderedConsumer(ctx, streams.InputStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return stats, fmt.Errorf("replay: %w", err)
	}
	iter, err := cons.Messages(jetstream.PullMaxMessages(2000))
	if err != nil {
		return stats, fmt.Errorf("replay: %w", err)
	}
	defer iter.Stop()
	// On disk, not in memory: a backtest reads the whole input.
	dir, err := os.MkdirTemp("", "loyalty-replay-keys-")
	if err != nil {
		return stats, fmt.Errorf("replay: %w", err)
	}
	defer os.RemoveAll(dir)
	keys, err := keyindex.Open(dir, keyindex.Options{})
	if err != nil {
		return stats, fmt.Errorf("replay: %w", err)
	}
	defer keys.Close()
	parts := map[int]*partition{}
	unbounded := newMemoryBudget(0, 1)
	gone, err := readGoneInputs(ctx, js, stream, last)
	if err != nil {
		return stats, err
	}
	if stream.CachedInfo().State.Msgs == 0 { // every input gone: nothing to wait for
		if err := gone.before(last+1, keys, unbounded, parts, until, apply, &stats); err != nil {
			return stats, err
		}
		return stats, closeMembers(parts, ps, closeAt, last, apply)
	}
	for {
		msg, err := nextCtx(ctx, iter)
		if err != nil {
			return stats, fmt.Errorf("replay: %w", err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return stats, fmt.Errorf("replay: metadata: %w", err)
		}
		stats.Inputs++
		if err := gone.before(meta.Sequence.Stream, keys, unbounded, parts, until, apply, &stats); err != nil {
			return stats, err
		}
		if err := replayOne(e, keys, unbounded, parts, msg, meta, until, apply, &stats); err != nil {
			return stats, err
		}
		if meta.Sequence.Stream >= last || meta.NumPending == 0 {
			if err := gone.before(last+1, keys, unbounded, parts, until, apply, &stats); err != nil {
				return stats, err
			}
			return stats, closeMembers(parts, ps, closeAt, last, apply)
		}
	}
}

// closeMembers wakes every member of parts at closeAt (see ReplayInput), in
// partition and member order, so that the replay is the same every time.
func closeMembers(parts map[int]*partition, ps *domain.Programs, closeAt time.Time, lastSeq uint64, apply func(streams.LedgerRecord) error) error {
	if closeAt.IsZero() {
		return nil
	}
	seq := lastSeq
	for _, id := range slices.Sorted(maps.Keys(parts)) {
		p := parts[id]
		for _, memberID := range slices.Sorted(maps.Keys(p.cache.byID)) {
			if !p.cache.byID[memberID].m.ErasedAt.IsZero() {
				continue // nothing is decided for an erased member
			}
			ev := domain.Event{ID: "backtest-close-" + memberID, Type: domain.TypeMemberClock, MemberID: memberID,
				OccurredAt: closeAt, Body: domain.Clock{}}
			facts, err := domain.Decide(p.cache.byID[memberID].m, ev, ps.At(closeAt))
			if err != nil {
				return fmt.Errorf("replay: closing member %q: %w", memberID, err)
			}
			if len(facts) == 0 {
				continue
			}
			seq++
			if err := apply(streams.LedgerRecord{Partition: id, EventID: ev.ID, MemberID: memberID, Facts: facts,
				Seq: seq, Stored: closeAt}); err != nil {
				return err
			}
		}
	}
	return nil
}

func replayOne(e *Engine, keys *keyindex.Index, unbounded *memoryBudget, parts map[int]*partition, msg jetstream.Msg, meta *jetstream.MsgMetadata, until time.Time,
	apply func(streams.LedgerRecord) error, stats *ReplayStats) error {
	stored, err := streams.ParseStoredInput(msg.Subject())
	if err != nil {
		stats.DeadLetters[ReasonSubjectMismatch]++
		return nil
	}
	p := parts[stored.Partition]
	if p == nil {
		p = newPartition(stored.Partition, keys, unbounded) // closeMembers wakes every member
		parts[stored.Partition] = p
	}
	// Decided without changing the partition, so an event past until can
	// still be left out (an undecodable one has no time: it counts).
	ev, v := e.decide(p, inputOf(msg, stored, meta))
	if !until.IsZero() && !ev.OccurredAt.Before(until) {
		stats.Skipped++
		return nil
	}
	switch {
	case v.transient != nil:
		return fmt.Errorf("replay: input seq %d: %w", meta.Sequence.Stream, v.transient)
	case v.deadLetter != nil:
		stats.DeadLetters[v.deadLetter.Reason]++
	case v.record != nil:
		// One partition at a time: nothing else holds a key.
		if err := p.keys.Reserve(p.id, claimsOf(*v.record)); err != nil {
			return fmt.Errorf("replay: input seq %d: %w", meta.Sequence.Stream, err)
		}
		if err := p.keys.Commit(p.id, meta.Sequence.Stream); err != nil {
			return fmt.Errorf("replay: input seq %d: %w", meta.Sequence.Stream, err)
		}
		if err := p.fold(*v.record); err != nil {
			return fmt.Errorf("replay: input seq %d: %w", meta.Sequence.Stream, err)
		}
		rec := *v.record
		rec.Seq, rec.Stored = meta.Sequence.Stream, meta.Timestamp.UTC()
		stats.Applied++
		return apply(rec)
	}
	return nil
}
