package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pointsledger/loyalty/streams"
)

// intake reads the engine's one input consumer, which delivers the input of
// every partition the process owns in stream order, and hands each message
// to its partition's queue. One consumer rather than one per partition:
// JetStream finds the next message of a filtered consumer by scanning, under
// the stream's block lock, and 64 of them on one stream cut its ingest rate by
// half on the benchmark machine (docs/decisions/007).
//
// The consumer's ack policy is AckAll. The intake acknowledges the watermark
// (see watermark) every ackInterval, so it never acknowledges a message some
// partition has not committed:
//   - every subscription starts by resetting the consumer to its ack floor,
//     so that what it delivered before (to an earlier process, maybe never
//     handled) comes again, in order, before anything new;
//   - it checks that the consumer's delivery sequence has no gap (a message
//     lost between server and client, a restarted server), and on a gap
//     acknowledges the watermark, resets the consumer to it and subscribes
//     again.
//
// What comes again that a partition had applied is recognised by the
// partition (partition.seen) as redelivered.
type intake struct {
	js       consumerResetter
	consumer jetstream.Consumer
	stream   string
	name     string
	logger   *slog.Logger
	// prefetch bounds how many messages the client buffers ahead.
	prefetch int
	// queues are the partitions' input, each read by one partitionSubscriber.
	queues map[int]chan input
	marks  *watermark
	// acks serialises acknowledgements with consumer resets.
	acks sync.Mutex
	// retryAfter is the first backoff before resubscribing fails again.
	retryAfter time.Duration
	// resumed counts interruptions by reason (loyalty_input_resumes_total).
	resumed *prometheus.CounterVec
	// handled is, per partition, the input sequence up to which an
	// earlier owner handled its input: what the consumer delivers at or
	// below it is acknowledged, not handed out. deadLettered are inputs
	// past that which were dead-lettered (deadLetteredAfter): handled too.
	handled      map[int]uint64
	deadLettered map[uint64]bool
	// others means the consumer delivers every partition's input, and
	// that of partitions the engine does not own is acknowledged unread.
	others bool
}

// consumerResetter is the part of jetstream.JetStream that resets a
// consumer to its ack floor (NATS server 2.14 or later).
type consumerResetter interface {
	ResetConsumer(ctx context.Context, stream, consumer string) (*jetstream.ConsumerResetResponse, error)
}

// pullExpiry is how long the intake's pull requests live.
const pullExpiry = 5 * time.Second

// pullHeartbeat is how often the server signals a pull request it holds and
// has nothing for; two missed in a row and the intake asks again. Rarely
// (a few runs in a hundred of the throughput benchmark) the client counts
// requests the server no longer holds and stops asking while input waits:
// the log shows waiting_pulls=0 with input pending. nats.go's default
// heartbeat, half the expiry, made each such stall 5 s long; with this it
// is 2 s.
const pullHeartbeat = time.Second

// ackInterval is how often the intake acknowledges the watermark: one ack
// covers every message below it.
const ackInterval = 20 * time.Millisecond

// errDeliveryGap means the consumer's delivery sequence skipped or went
// back: the intake must resume from the consumer's ack floor.
var errDeliveryGap = errors.New("gap in the consumer's delivery sequence")

// run delivers input until ctx ends, resubscribing (with backoff) whenever
// the subscription ends or skips. It returns once it has stopped handing out
// messages; acknowledging what the partitions commit after that is finish's
// work. Its error is the first subscription's: the consumer cannot be used.
func (in *intake) run(ctx context.Context) error {
	iter, err := in.start(ctx)
	if err != nil {
		return err
	}
	stopAcks := in.ackEvery(ctx, ackInterval)
	defer stopAcks()
	for fruitless := 0; ; {
		stop := context.AfterFunc(ctx, iter.Stop)
		dispatched, err := in.dispatchAll(ctx, iter)
		stop()
		iter.Stop()
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, errDeliveryGap) {
			in.resumed.WithLabelValues(resumeDeliveryGap).Inc()
		} else {
			// The subscription ended under us (a closed connection, a
			// deleted consumer): resume as after a gap.
			in.logger.Warn("input subscription ended; resuming from the last acknowledged input", "consumer", in.name, "err", err)
			in.resumed.WithLabelValues(resumeSubscriptionEnded).Inc()
		}
		// Resets that bring nothing new (another process on the same
		// consumer, say) back off instead of spinning.
		if dispatched > 0 {
			fruitless = 0
		} else if fruitless++; !sleepCtx(ctx, retryDelay(in.retryAfter, fruitless)) {
			return nil
		}
		// Nothing may be delivered to the old subscription after the
		// reset, and the reset must not overtake the acknowledgement of
		// what was committed.
		waitUnsubscribed(iter)
		if iter = in.restart(ctx); iter == nil {
			return nil
		}
	}
}

// restart acknowledges the watermark, then resets the consumer and
// subscribes again, retrying with backoff until it works or ctx ends (nil).
func (in *intake) restart(ctx context.Context) jetstream.MessagesContext {
	for attempt := 1; ; attempt++ {
		iter, err := in.start(ctx)
		if err == nil {
			return iter
		}
		if ctx.Err() != nil {
			return nil
		}
		d := retryDelay(in.retryAfter, attempt)
		in.logger.Warn("resuming the input consumer failed; retrying", "consumer", in.name, "err", err, "backoff", d)
		if !sleepCtx(ctx, d) {
			return nil
		}
	}
}

// start acknowledges the watermark, resets the consumer to its ack floor and
// opens a new pull subscription on it: the first message is the one after
// the last acknowledged, delivery sequence 1. The acks lock keeps the ticker's
// acknowledgements from crossing the reset.
func (in *intake) start(ctx context.Context) (jetstream.MessagesContext, error) {
	in.acks.Lock()
	defer in.acks.Unlock()
	in.ackSyncLocked(ctx)
	if _, err := in.js.ResetConsumer(ctx, in.stream, in.name); err != nil {
		return nil, fmt.Errorf("reset consumer %s to its ack floor (needs NATS server 2.14 or later): %w", in.name, err)
	}
	in.marks.newGeneration()
	// Pull requests expire, and their heartbeats are due, within seconds:
	// a subscription the server has stopped serving is noticed in 2 s,
	// not the 30 s of nats.go's default.
	iter, err := in.consumer.Messages(jetstream.PullMaxMessages(in.prefetch), jetstream.PullExpiry(pullExpiry),
		jetstream.PullHeartbeat(pullHeartbeat))
	if err != nil {
		return nil, fmt.Errorf("consume %s: %w", in.name, err)
	}
	return iter, nil
}

// dispatchAll hands new messages to their partitions' queues, parsed once
// into an input for everything downstream, and returns how many, with nil when ctx ended, errDeliveryGap when a delivery is missing,
// or the iterator's error.
func (in *intake) dispatchAll(ctx context.Context, iter jetstream.MessagesContext) (int, error) {
	expect := uint64(1) // after a reset the consumer numbers deliveries from 1
	dispatched := 0
	for {
		msg, err := iter.Next()
		if errors.Is(err, jetstream.ErrNoHeartbeat) {
			// The iterator has already asked again; anything lost in
			// between shows as a gap in the delivery sequence.
			in.logger.Warn("input consumer missed a heartbeat; pulling again", in.consumerState(ctx)...)
			in.resumed.WithLabelValues(resumeHeartbeatMissed).Inc()
			continue
		}
		if err != nil {
			return dispatched, err
		}
		meta, err := msg.Metadata()
		if err != nil {
			in.logger.Warn("message without JetStream metadata; resuming from the last acknowledged input",
				"subject", msg.Subject(), "err", err)
			return dispatched, errDeliveryGap
		}
		if meta.Sequence.Consumer != expect {
			// NATS dropped some to a pull that fell behind, or a reconnect
			// lost them: nothing is lost, they are read again.
			in.logger.Info("deliveries skipped (slow consumer or reconnect); reading again from the last acknowledged input, nothing is lost",
				"consumer", in.name, "expected_delivery", expect, "delivery", meta.Sequence.Consumer)
			return dispatched, errDeliveryGap
		}
		expect++
		stored, err := streams.ParseStoredInput(msg.Subject())
		queue := in.queues[stored.Partition]
		if err == nil && queue == nil && in.others {
			// Another engine's partition: it reads it from its own
			// consumer.
			if in.marks.track(-1, meta.Sequence.Stream, msg) {
				in.marks.committed(-1, meta.Sequence.Stream)
			}
			continue
		}
		if err != nil || queue == nil {
			// Not a subject the input stream's transform writes, or a
			// partition this process does not own: the consumer's
			// filter is wrong. Holding it would stall every partition.
			if in.marks.track(-1, meta.Sequence.Stream, msg) {
				in.logger.Error("input outside this engine's partitions; skipped", "subject", streams.LoggedSubject(msg.Subject()),
					"seq", meta.Sequence.Stream, "err", err)
				in.marks.committed(-1, meta.Sequence.Stream)
			}
			continue
		}
		if meta.Sequence.Stream <= in.handled[stored.Partition] || in.deadLettered[meta.Sequence.Stream] {
			if in.marks.track(-1, meta.Sequence.Stream, msg) {
				in.marks.committed(-1, meta.Sequence.Stream)
			}
			continue
		}
		if !in.marks.track(stored.Partition, meta.Sequence.Stream, msg) {
			continue // a redelivery: the partition has the first copy
		}
		select {
		case queue <- inputOf(msg, stored, meta):
			dispatched++
		case <-ctx.Done():
			return dispatched, nil
		}
	}
}

// consumerState describes the consumer as the server sees it, for a log
// line: whether it held a pull request from us (waiting) and had messages
// for it (pending) tells a stalled server from a client that stopped
// asking.
func (in *intake) consumerState(ctx context.Context) []any {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	attrs := []any{"consumer", in.name}
	info, err := in.consumer.Info(ctx)
	if err != nil {
		return append(attrs, "info_err", err)
	}
	return append(attrs, "waiting_pulls", info.NumWaiting, "pending", info.NumPending,
		"ack_pending", info.NumAckPending, "delivered_seq", info.Delivered.Stream, "ack_floor_seq", info.AckFloor.Stream)
}

// ackEvery acknowledges the watermark every interval until the returned stop
// is called.
func (in *intake) ackEvery(ctx context.Context, interval time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		onEveryTick(ctx, interval, func() {
			in.acks.Lock()
			in.ackSyncLocked(ctx)
			in.acks.Unlock()
		})
	}()
	return func() { cancel(); <-done }
}

// ackSyncLocked acknowledges the watermark and waits for the server to
// confirm: an ack still queued in the server could otherwise land after a
// reset. in.acks must be held.
func (in *intake) ackSyncLocked(ctx context.Context) {
	if m := in.marks.take(); m != nil {
		// Not cut short by shutdown: the ack is what it was waiting for.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalFlushTimeout)
		defer cancel()
		if err := m.DoubleAck(ctx); err != nil {
			// Committed already; what it covered comes again after a
			// crash and is recognised as applied.
			in.logger.Warn("ack failed", "consumer", in.name, "err", err)
		}
	}
}

// finish acknowledges what the partitions committed after run returned.
func (in *intake) finish(ctx context.Context) {
	in.acks.Lock()
	defer in.acks.Unlock()
	in.ackSyncLocked(ctx)
}

// waitUnsubscribed waits (up to 5 s) until a stopped iterator has
// unsubscribed: Stop only starts that. Until then the server may deliver to
// its pull requests, and what it delivered there after a reset would be
// another gap. (The iterator's Closed channel is closed only when the
// subscription is already gone at the call, so it is polled.)
func waitUnsubscribed(iter jetstream.MessagesContext) {
	c, ok := iter.(interface{ Closed() <-chan struct{} })
	if !ok {
		return
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		select {
		case <-c.Closed():
			return
		default:
		}
	}
}
