package handlers

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pointsledger/loyalty/handlers/keyindex"
	"github.com/pointsledger/loyalty/streams"
)

// goneInputs are the ledger records of inputs the input stream no longer
// holds (an erased member's own input, other members' input that named
// them, or input the stream's limits dropped), by input sequence: a replay
// cannot decide them again, so it takes them as they were recorded, at
// their place in the input's order (decision 032).
type goneInputs struct {
	seqs    []uint64 // sorted
	records map[uint64][]streams.LedgerRecord
	next    int
}

// readGoneInputs finds the input sequences up to last the stream lacks
// and reads their records from the ledger; nothing when none is missing.
func readGoneInputs(ctx context.Context, js jetstream.JetStream, input jetstream.Stream, last uint64) (*goneInputs, error) {
	info, err := input.Info(ctx, jetstream.WithDeletedDetails(true))
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	deleted := map[uint64]bool{}
	for _, seq := range info.State.Deleted {
		deleted[seq] = true
	}
	first := info.State.FirstSeq
	gone := &goneInputs{records: map[uint64][]streams.LedgerRecord{}}
	if first <= 1 && len(deleted) == 0 {
		return gone, nil
	}
	reader, err := streams.NewLedgerReader(ctx, js, streams.LedgerReaderConfig{})
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	defer reader.Stop()
	for left := reader.Pending(); left > 0; {
		msg, err := reader.Next(ctx)
		if err != nil {
			return nil, fmt.Errorf("replay: %w", err)
		}
		left = msg.Pending
		recs, _, err := msg.Records()
		if err != nil {
			return nil, fmt.Errorf("replay: %w", err)
		}
		for _, r := range recs {
			if s := r.InputSeq; s > 0 && s <= last && (s < first || deleted[s]) {
				gone.records[s] = append(gone.records[s], r)
			}
		}
	}
	for s := range gone.records {
		gone.seqs = append(gone.seqs, s)
	}
	slices.Sort(gone.seqs)
	return gone, nil
}

// before applies, in input order, the recorded inputs before seq.
func (g *goneInputs) before(seq uint64, keys *keyindex.Index, unbounded *memoryBudget, parts map[int]*partition, until time.Time,
	apply func(streams.LedgerRecord) error, stats *ReplayStats) error {
	for ; g.next < len(g.seqs) && g.seqs[g.next] < seq; g.next++ {
		s := g.seqs[g.next]
		for _, r := range g.records[s] {
			if err := replayRecorded(r, keys, unbounded, parts, until, apply, stats); err != nil {
				return fmt.Errorf("replay: recorded input seq %d: %w", s, err)
			}
		}
	}
	return nil
}

// replayRecorded folds a recorded input's record into the replay as the
// engine folded it.
func replayRecorded(r streams.LedgerRecord, keys *keyindex.Index, unbounded *memoryBudget, parts map[int]*partition, until time.Time,
	apply func(streams.LedgerRecord) error, stats *ReplayStats) error {
	if len(r.Facts) > 0 && !until.IsZero() && !r.Facts[len(r.Facts)-1].Meta().OccurredAt.Before(until) {
		stats.Skipped++
		return nil
	}
	p := parts[r.Partition]
	if p == nil {
		p = newPartition(r.Partition, keys, unbounded)
		parts[r.Partition] = p
	}
	keys.Begin(p.id)
	if err := p.keys.Reserve(p.id, claimsOf(r)); err != nil {
		return err
	}
	if err := p.keys.Commit(p.id, r.InputSeq); err != nil {
		return err
	}
	if err := p.fold(r); err != nil {
		return err
	}
	r.Seq, r.FirstFact = r.InputSeq, 0
	stats.Applied++
	stats.Recorded++
	return apply(r)
}
