package handlers

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pointsledger/loyalty/streams"
)

// clockSkewMargin covers the difference between the clocks of the servers
// leading the input and the dead-letter streams.
const clockSkewMargin = time.Minute

// deadLetteredAfter returns the input sequences above after that the
// dead-letter stream holds a dead letter of. Input delivered again after a
// crash or a move (everything past the last acknowledgement or recorded
// progress) was handled once already: one that was applied is recognised
// by the key index, one that was dead-lettered only here. Deciding it again
// would decide it on a later state, where a refund rejected for an order not
// yet known, say, would now be applied.
func deadLetteredAfter(ctx context.Context, js jetstream.JetStream, after uint64) (map[uint64]bool, error) {
	seen := map[uint64]bool{}
	in, err := js.Stream(ctx, streams.InputStream)
	if err != nil {
		return nil, fmt.Errorf("input stream: %w", err)
	}
	if after >= in.CachedInfo().State.LastSeq {
		return seen, nil
	}
	dlq, err := js.Stream(ctx, streams.DeadLetterStream)
	if err != nil {
		return nil, fmt.Errorf("dead-letter stream: %w", err)
	}
	if dlq.CachedInfo().State.Msgs == 0 {
		return seen, nil
	}
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
	// Dead letters are written after their input was stored: those of
	// input past after are no older than its first message.
	if first, err := in.GetMsg(ctx, after+1); err == nil {
		from := first.Time.Add(-clockSkewMargin)
		cfg = jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &from}
	} else if !errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, fmt.Errorf("input seq %d: %w", after+1, err)
	}
	cons, err := dlq.OrderedConsumer(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("dead-letter consumer: %w", err)
	}
	if cons.CachedInfo().NumPending == 0 {
		return seen, nil
	}
	iter, err := cons.Messages(jetstream.PullMaxMessages(1000))
	if err != nil {
		return nil, err
	}
	defer iter.Stop()
	for {
		msg, err := nextCtx(ctx, iter)
		if err != nil {
			return nil, fmt.Errorf("dead letters: %w", err)
		}
		if seq, err := strconv.ParseUint(msg.Headers().Get(HeaderInputSeq), 10, 64); err == nil && seq > after {
			seen[seq] = true
		}
		meta, err := msg.Metadata()
		if err != nil {
			return nil, err
		}
		if meta.NumPending == 0 {
			return seen, nil
		}
	}
}
