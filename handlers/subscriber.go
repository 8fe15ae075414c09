package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// consumerSubscriber is a watermill Subscriber over one JetStream pull
// consumer. It hands messages to the router one at a time and waits for the
// handler's verdict before the next, so a partition's events are handled in
// stream order.
//
// It is not watermill-nats because the engine needs the JetStream message
// itself (sequence, arrival time, delivery count) and must never let a
// message it cannot decode sit unacknowledged: here every message reaches
// the handler, which dead-letters what it cannot use.
//
// The consumer's ack policy is AckAll: acknowledging a message acknowledges
// every message delivered before it. So the subscriber acknowledges in
// batches (see ackBatch), and it must never acknowledge past a message it
// has not handled:
//   - it handles messages in delivery order and does not move past one the
//     handler failed: it offers the same message again after a backoff;
//   - it starts every subscription by resetting the consumer to its ack
//     floor, so that what the consumer delivered before (to an earlier
//     process, maybe never handled) comes again, in order, before anything
//     new;
//   - it checks that the consumer's delivery sequence has no gap (a message
//     lost between server and client, a restarted server), and on a gap
//     acknowledges what it handled, resets the consumer to its ack floor
//     and subscribes again.
//
// Before it acknowledges, the subscriber calls commit, which makes the
// effects of the handled messages durable (the engine appends their staged
// ledger records in one write). Handling and acknowledging are thereby
// batched together: the batch ends when the partition has nothing more to
// handle for flushIdle, after ackEvery messages, ackWithin after its first
// message, or when the handler asks (ackNow). If commit fails, nothing of the
// batch is acknowledged and the subscriber resumes from the ack floor, as
// after a gap.
//
// Messages redelivered after a reset or a crash that were already applied
// are recognised by the handler (partition.seen); a dead letter is
// acknowledged at once, so it is not redelivered that way.
type consumerSubscriber struct {
	js       consumerResetter
	consumer jetstream.Consumer
	stream   string
	name     string
	logger   *slog.Logger
	// prefetch bounds how many messages the client buffers ahead.
	prefetch int
	// ackEvery and ackWithin bound how many handled messages, and for how
	// long, go uncommitted and unacknowledged.
	ackEvery  int
	ackWithin time.Duration
	// retryAfter is the first backoff before a failed message is offered
	// again; it doubles up to maxRetryAfter.
	retryAfter time.Duration
	// commit is called, on the subscriber's goroutine and never while the
	// handler runs, before handled messages are acknowledged. An error wraps
	// errUncommitted.
	commit func(context.Context) error

	mu     sync.Mutex
	closed bool
	iter   jetstream.MessagesContext
	done   chan struct{} // closed when the delivering goroutine has ended
}

// flushIdle is how long a partition waits for another message before it
// commits and acknowledges what it handled: long enough to batch a burst,
// short against the event-to-table latency.
const flushIdle = time.Millisecond

// finalFlushTimeout bounds the last commit and acknowledgement when the
// subscription ends.
const finalFlushTimeout = 5 * time.Second

// consumerResetter is the part of jetstream.JetStream that resets a
// consumer to its ack floor (NATS server 2.14 or later).
type consumerResetter interface {
	ResetConsumer(ctx context.Context, stream, consumer string) (*jetstream.ConsumerResetResponse, error)
}

type jsMsgKey struct{}

// jetStreamMsg returns the JetStream message a watermill message came from.
func jetStreamMsg(msg *message.Message) (jetstream.Msg, bool) {
	m, ok := msg.Context().Value(jsMsgKey{}).(jetstream.Msg)
	return m, ok
}

// metadataAckNow is the watermill metadata key by which a handler asks for
// its message to be committed and acknowledged without batching.
const metadataAckNow = "loyalty-ack-now"

// ackNow asks the subscriber to commit and acknowledge msg (and everything
// before it) as soon as it is acked, instead of with the next batch.
func ackNow(msg *message.Message) { msg.Metadata.Set(metadataAckNow, "1") }

// errDeliveryGap means the consumer's delivery sequence skipped or went
// back: the subscriber must resume from the consumer's ack floor.
var errDeliveryGap = errors.New("gap in the consumer's delivery sequence")

// errSubscriberClosed is returned by Subscribe after Close.
var errSubscriberClosed = errors.New("subscriber closed")

// maxRetryAfter bounds the backoff between attempts at a failing message;
// it is below the consumer's AckWait, and the message is marked in progress
// before each wait.
const maxRetryAfter = time.Minute

// Subscribe resets the consumer to its ack floor and starts delivering; the
// topic is informational (the consumer's filter decides what arrives).
func (s *consumerSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	iter, err := s.start(ctx)
	if err != nil {
		return nil, err
	}
	out := make(chan *message.Message)
	done := make(chan struct{})
	s.mu.Lock()
	s.done = done
	s.mu.Unlock()
	go func() {
		defer close(done)
		defer close(out)
		s.consume(ctx, out, topic, iter)
	}()
	return out, nil
}

// wait waits (boundedly) until the delivering goroutine has made its last
// commit and acknowledgement.
func (s *consumerSubscriber) wait() {
	s.mu.Lock()
	done := s.done
	s.mu.Unlock()
	if done == nil {
		return
	}
	select {
	case <-done:
	case <-time.After(finalFlushTimeout + time.Second):
		s.logger.Warn("subscriber did not finish its last commit", "consumer", s.name)
	}
}

// start resets the consumer to its ack floor and opens a new pull
// subscription on it: the first message is the one after the last
// acknowledged, delivery sequence 1.
func (s *consumerSubscriber) start(ctx context.Context) (jetstream.MessagesContext, error) {
	if s.isClosed() {
		return nil, errSubscriberClosed
	}
	if _, err := s.js.ResetConsumer(ctx, s.stream, s.name); err != nil {
		return nil, fmt.Errorf("reset consumer %s to its ack floor (needs NATS server 2.14 or later): %w", s.name, err)
	}
	iter, err := s.consumer.Messages(jetstream.PullMaxMessages(s.prefetch))
	if err != nil {
		return nil, fmt.Errorf("consume %s: %w", s.name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		iter.Stop()
		return nil, errSubscriberClosed
	}
	s.iter = iter
	return iter, nil
}

// consume delivers messages until ctx ends, the subscriber is closed or the
// consumer fails, resuming from the ack floor after every delivery gap and
// failed commit.
func (s *consumerSubscriber) consume(ctx context.Context, out chan<- *message.Message, topic string, iter jetstream.MessagesContext) {
	stop := context.AfterFunc(ctx, func() { s.stopIter() })
	defer stop()
	acks := &ackBatch{every: s.ackEvery, within: s.ackWithin, commit: s.commit, logger: s.logger}
	// Acks go through the connection, not the iterator: what was handled
	// is committed and acknowledged even when stopping.
	defer func() {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalFlushTimeout)
		defer cancel()
		if err := acks.flush(fctx); err != nil {
			s.logger.Warn("last commit failed; its input is delivered again at the next start", "consumer", s.name, "err", err)
		}
	}()
	for {
		err := s.deliverAll(ctx, out, iter, acks)
		iter.Stop()
		if !errors.Is(err, errDeliveryGap) && !errors.Is(err, errUncommitted) {
			if err != nil && !errors.Is(err, jetstream.ErrMsgIteratorClosed) && ctx.Err() == nil {
				s.logger.Error("consumer stopped", "topic", topic, "err", err)
			}
			return
		}
		if errors.Is(err, errUncommitted) {
			s.logger.Warn("ledger append failed; resuming from the last acknowledged input", "consumer", s.name, "err", err)
		}
		// Nothing may be delivered to the old subscription after the
		// reset, and the reset must not overtake the acknowledgement of
		// what was handled.
		waitUnsubscribed(iter)
		if err := acks.flushSync(ctx); err != nil {
			s.logger.Warn("ledger append failed; resuming from the last acknowledged input", "consumer", s.name, "err", err)
		}
		for attempt := 0; ; attempt++ {
			if iter, err = s.start(ctx); err == nil {
				break
			}
			if ctx.Err() != nil || s.isClosed() {
				return
			}
			d := retryDelay(s.retryAfter, attempt+1)
			s.logger.Warn("resuming the consumer failed; retrying", "topic", topic, "err", err, "backoff", d)
			if !sleepCtx(ctx, d) {
				return
			}
		}
	}
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

// deliverAll passes messages to the router one at a time. It returns nil
// when ctx ended, errDeliveryGap when a delivery is missing, an
// errUncommitted error when a commit failed, or the iterator's error.
func (s *consumerSubscriber) deliverAll(ctx context.Context, out chan<- *message.Message, iter jetstream.MessagesContext, acks *ackBatch) error {
	expect := uint64(1) // after a reset the consumer numbers deliveries from 1
	for {
		jsMsg, err := s.next(ctx, iter, acks)
		if err != nil {
			return err
		}
		meta, err := jsMsg.Metadata()
		if err != nil {
			s.logger.Warn("message without JetStream metadata; resuming from the last acknowledged input",
				"subject", jsMsg.Subject(), "err", err)
			return errDeliveryGap
		}
		if meta.Sequence.Consumer != expect {
			s.logger.Warn("deliveries are missing; resuming from the last acknowledged input",
				"consumer", s.name, "expected_delivery", expect, "delivery", meta.Sequence.Consumer)
			return errDeliveryGap
		}
		expect++
		if ok, err := s.deliver(ctx, out, jsMsg, meta, acks); !ok || err != nil {
			return err
		}
	}
}

// next waits for the next message. While handled messages wait for their
// commit it waits no longer than flushIdle (or their deadline), and commits
// and acknowledges them when nothing arrived by then.
func (s *consumerSubscriber) next(ctx context.Context, iter jetstream.MessagesContext, acks *ackBatch) (jetstream.Msg, error) {
	if acks.last != nil {
		if wait := min(time.Until(acks.due), flushIdle); wait > 0 {
			msg, err := iter.Next(jetstream.NextMaxWait(wait))
			if !errors.Is(err, nats.ErrTimeout) {
				return msg, err
			}
		}
		if err := acks.flush(ctx); err != nil {
			return nil, err
		}
	}
	return iter.Next()
}

// deliver passes one message to the router until the handler acks it, and
// records the ack. A nack (the handler failed even after the retry
// middleware) does not move the partition on: the same message is offered
// again after a backoff, because acknowledging any later message would
// acknowledge this one too. It returns false when ctx ended, and the error of
// a failed commit.
func (s *consumerSubscriber) deliver(ctx context.Context, out chan<- *message.Message, jsMsg jetstream.Msg, meta *jetstream.MsgMetadata, acks *ackBatch) (bool, error) {
	uuid := strconv.FormatUint(meta.Sequence.Stream, 10)
	for attempt := 1; ; attempt++ {
		msg := message.NewMessage(uuid, jsMsg.Data())
		msg.SetContext(context.WithValue(ctx, jsMsgKey{}, jsMsg))
		select {
		case out <- msg:
		case <-ctx.Done():
			return false, nil
		}
		acked, stopped := s.verdict(ctx, msg)
		switch {
		case acked && stopped:
			acks.hold(jsMsg) // committed and acknowledged by the last flush
			return false, nil
		case stopped:
			return false, nil
		case acked:
			return true, acks.add(ctx, jsMsg, msg.Metadata.Get(metadataAckNow) != "")
		}
		// Everything before this message was handled: commit and
		// acknowledge it now, and keep the server from redelivering this
		// one while we wait.
		if err := acks.flush(ctx); err != nil {
			return true, err
		}
		if err := jsMsg.InProgress(); err != nil {
			s.logger.Warn("in-progress ack failed", "seq", uuid, "err", err)
		}
		d := retryDelay(s.retryAfter, attempt)
		s.logger.Warn("input failed; offering it again", "seq", uuid, "attempt", attempt, "backoff", d)
		if !sleepCtx(ctx, d) {
			return false, nil
		}
	}
}

// verdict waits for the handler to ack (true) or nack (false) msg. When ctx
// ends first (stopped) it still waits a little for the handler, which sees
// ctx end too: the handler must be done with the partition before the last
// commit.
func (s *consumerSubscriber) verdict(ctx context.Context, msg *message.Message) (acked, stopped bool) {
	select {
	case <-msg.Acked():
		return true, false
	case <-msg.Nacked():
		return false, false
	case <-ctx.Done():
	}
	select {
	case <-msg.Acked():
		return true, true
	case <-msg.Nacked():
	case <-time.After(finalFlushTimeout):
		s.logger.Warn("handler still running at shutdown", "consumer", s.name, "seq", msg.UUID)
	}
	return false, true
}

// retryDelay is the wait before attempt number attempt+1: first, doubling
// up to maxRetryAfter, so a failing message is never retried in a tight
// loop.
func retryDelay(first time.Duration, attempt int) time.Duration {
	d := first
	for i := 1; i < attempt && d < maxRetryAfter; i++ {
		d *= 2
	}
	return min(d, maxRetryAfter)
}

// sleepCtx waits for d or until ctx ends (false).
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (s *consumerSubscriber) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *consumerSubscriber) stopIter() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.iter != nil {
		s.iter.Stop()
	}
}

// Close stops the subscription.
func (s *consumerSubscriber) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.iter != nil {
		s.iter.Stop()
	}
	return nil
}

// ackBatch is the last handled, not yet committed and acknowledged message
// of a partition. It is used by the partition's subscriber goroutine only.
type ackBatch struct {
	every  int
	within time.Duration
	// commit makes the handled messages' effects durable; they are
	// acknowledged only after it succeeded. nil: nothing to commit.
	commit func(context.Context) error
	logger *slog.Logger

	last  jetstream.Msg
	count int
	due   time.Time
}

// hold records a handled message without committing anything.
func (a *ackBatch) hold(m jetstream.Msg) {
	if a.last == nil {
		a.due = time.Now().Add(a.within)
	}
	a.last = m
	a.count++
}

// add records a handled message, committing and acknowledging the batch
// when it is full or due, or when now is set.
func (a *ackBatch) add(ctx context.Context, m jetstream.Msg, now bool) error {
	a.hold(m)
	if now || a.count >= a.every || !time.Now().Before(a.due) {
		return a.flush(ctx)
	}
	return nil
}

// flush commits the handled messages, then acknowledges the last of them
// and with it (AckAll) every message before it. When the commit fails
// nothing is acknowledged: the batch is forgotten, to be delivered again.
func (a *ackBatch) flush(ctx context.Context) error {
	last, err := a.take(ctx)
	if last == nil || err != nil {
		return err
	}
	if err := last.Ack(); err != nil {
		// The effects are in the ledger; a redelivery is recognised as
		// already applied, so a lost ack costs only work.
		a.logger.Warn("ack failed", "err", err)
	}
	return nil
}

// flushSync is flush that waits for the server to confirm the ack.
func (a *ackBatch) flushSync(ctx context.Context) error {
	last, err := a.take(ctx)
	if last == nil || err != nil {
		return err
	}
	if err := last.DoubleAck(ctx); err != nil {
		a.logger.Warn("ack failed", "err", err)
	}
	return nil
}

// take commits the batch and empties it, returning its last message, or
// nil with the commit's error.
func (a *ackBatch) take(ctx context.Context) (jetstream.Msg, error) {
	last := a.last
	a.last, a.count = nil, 0
	if last == nil {
		return nil, nil
	}
	if a.commit != nil {
		if err := a.commit(ctx); err != nil {
			return nil, err
		}
	}
	return last, nil
}
