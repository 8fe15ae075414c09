package handlers

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

// partitionSubscriber is a watermill Subscriber over one partition's queue
// of input (filled by the intake, in stream order): each input is a message
// of its own, its payload the event and its metadata what JetStream told of
// it (see newInputMessage). The subscriber waits for the handler's verdict
// on a message before it delivers the next, so a partition's events are
// handled in order.
//
// It is not watermill-nats because the input is acknowledged to JetStream
// only once its effects are in the ledger, and in batches (decision 027):
// a message the handler acks has been decided and staged, not stored. So
// handled messages are committed in batches: the subscriber calls commit,
// which appends their staged ledger records in one write, when the
// partition has had nothing to handle for flushIdle, after batchEvery
// messages, batchWithin after the batch's first message, or when the
// partition says it must (mustCommit: a dead letter, or a ledger message
// near its size limit); then it reports them committed (to the watermark,
// which the intake acknowledges). A message the handler nacks (it failed
// after the router's retry middleware, or yields to another partition
// holding one of its keys) is not skipped: what was handled before it is
// committed and it is delivered again. If commit fails, the partition state
// has been re-read from the ledger and the batch's input is delivered
// again, in order, after a backoff: what the failed append had in fact
// stored is recognised as redelivered.
type partitionSubscriber struct {
	id     int
	queue  <-chan input
	logger *slog.Logger
	// batchEvery and batchWithin bound how many handled messages, and for
	// how long, go uncommitted.
	batchEvery  int
	batchWithin time.Duration
	// retryAfter is the first backoff before the input of a failed commit
	// is handled again; it doubles up to maxRetryAfter.
	retryAfter time.Duration
	// commit is called, on the subscriber's goroutine and never while the
	// handler runs, before handled messages are reported committed.
	commit func(context.Context) error
	// committed reports every message up to a stream sequence committed.
	committed func(upTo uint64)
	// mustCommit, if set, is asked after each message the handler acks
	// whether what was handled must be committed before the next.
	mustCommit func() bool
	// idle, if set, is called like commit every idleEvery the partition
	// waits for input with nothing uncommitted (its members' snapshot).
	idle      func()
	idleEvery time.Duration

	mu   sync.Mutex
	done chan struct{} // closed when the delivering goroutine has ended
}

// flushIdle is how long a partition waits for another message before it
// commits what it handled: long enough to batch a burst, short against the
// event-to-table latency.
const flushIdle = time.Millisecond

// finalFlushTimeout bounds the last commit and acknowledgement at shutdown.
const finalFlushTimeout = 5 * time.Second

// maxRetryAfter bounds the backoff between attempts at a failing commit.
const maxRetryAfter = time.Minute

// Subscribe starts delivering the partition's queue; the topic is
// informational.
func (s *partitionSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	out := make(chan *message.Message)
	done := make(chan struct{})
	s.mu.Lock()
	s.done = done
	s.mu.Unlock()
	go func() {
		defer close(done)
		defer close(out)
		s.consume(ctx, out)
	}()
	return out, nil
}

// Close does nothing: the subscription ends with its context, after its
// last commit.
func (s *partitionSubscriber) Close() error { return nil }

// wait waits (boundedly) until the delivering goroutine has made its last
// commit.
func (s *partitionSubscriber) wait() {
	s.mu.Lock()
	done := s.done
	s.mu.Unlock()
	if done == nil {
		return
	}
	select {
	case <-done:
	case <-time.After(finalFlushTimeout + time.Second):
		s.logger.Warn("partition did not finish its last commit", "partition", s.id)
	}
}

// consume delivers messages until ctx ends, then commits what was handled.
func (s *partitionSubscriber) consume(ctx context.Context, out chan<- *message.Message) {
	b := &batch{every: s.batchEvery, within: s.batchWithin, commit: s.commit, committed: s.committed}
	defer func() {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalFlushTimeout)
		defer cancel()
		if err := b.flush(fctx); err != nil {
			s.logger.Warn("last commit failed; its input is delivered again at the next start", "partition", s.id, "err", err)
		}
	}()
	var redo []input // input of a failed commit, offered again first
	failures := 0
	for {
		in, ok, err := s.next(ctx, &redo, b)
		if err == nil && ok {
			var again []input
			again, err = s.deliver(ctx, out, in, b)
			redo = append(again, redo...)
			ok = !errors.Is(err, context.Canceled)
		}
		var failed *uncommittedBatch
		switch {
		case errors.As(err, &failed):
			failures++
			redo = append(failed.inputs, redo...)
			d := retryDelay(s.retryAfter, failures)
			s.logger.Warn("ledger append failed; handling its input again", "partition", s.id,
				"messages", len(failed.inputs), "err", err, "backoff", d)
			if !sleepCtx(ctx, d) {
				return
			}
		case !ok:
			return
		case b.empty():
			failures = 0
		}
	}
}

// next returns the next input: input of a failed batch first, then the
// queue's. While handled input waits for its commit it waits no longer than
// flushIdle (or the batch's deadline) for an input and commits the batch
// when nothing arrived by then. ok is false when ctx ended; the error is an
// *uncommittedBatch.
func (s *partitionSubscriber) next(ctx context.Context, redo *[]input, b *batch) (input, bool, error) {
	if len(*redo) > 0 {
		in := (*redo)[0]
		*redo = (*redo)[1:]
		return in, true, nil
	}
	return s.first(ctx, b)
}

// first waits for the queue's next input, committing the batch if it waits
// flushIdle (or past the batch's deadline).
func (s *partitionSubscriber) first(ctx context.Context, b *batch) (input, bool, error) {
	select { // under load the queue has input: no timer for it
	case in := <-s.queue:
		return in, true, nil
	default:
	}
	if !b.empty() {
		t := time.NewTimer(min(time.Until(b.due), flushIdle))
		select {
		case in := <-s.queue:
			t.Stop()
			return in, true, nil
		case <-ctx.Done():
			t.Stop()
			return input{}, false, nil
		case <-t.C:
		}
		if err := b.flush(ctx); err != nil {
			return input{}, false, err
		}
	}
	var tick <-chan time.Time
	if s.idle != nil {
		t := time.NewTicker(s.idleEvery)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case in := <-s.queue:
			return in, true, nil
		case <-ctx.Done():
			return input{}, false, nil
		case <-tick:
			s.idle()
		}
	}
}

// deliver passes in to the router until the handler acks it, and adds it
// to the batch. A nack (the handler failed even after the retry middleware,
// or yields a key another partition holds) does not move the partition on:
// what was handled before is committed, which lets go of the partition's
// own keys, and in is delivered again at once (the middleware's backoff
// paces the attempts). It returns context.Canceled when ctx ended, and the
// *uncommittedBatch of a failed commit with the input to offer again after
// the batch's.
func (s *partitionSubscriber) deliver(ctx context.Context, out chan<- *message.Message, in input, b *batch) ([]input, error) {
	for {
		msg := newInputMessage(ctx, in)
		select {
		case out <- msg:
		case <-ctx.Done():
			return nil, context.Canceled
		}
		acked, stopped := s.verdict(ctx, msg)
		switch {
		case acked && stopped:
			b.hold(in) // committed by the last flush
			return nil, context.Canceled
		case stopped:
			return nil, context.Canceled
		case acked:
			return nil, b.add(ctx, in, s.mustCommit != nil && s.mustCommit())
		}
		if err := b.flush(ctx); err != nil {
			return []input{in}, err
		}
		s.logger.Debug("input not handled; delivering it again", "partition", s.id, "seq", in.seq)
	}
}

// verdict waits for the handler to ack (true) or nack (false) msg. When ctx
// ends first (stopped) it still waits a little for the handler, which sees
// ctx end too: the handler must be done with the partition before the last
// commit.
func (s *partitionSubscriber) verdict(ctx context.Context, msg *message.Message) (acked, stopped bool) {
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
		s.logger.Warn("handler still running at shutdown", "partition", s.id, "seq", msg.UUID)
	}
	return false, true
}

// retryDelay is the wait before attempt number attempt+1: first, doubling
// up to maxRetryAfter, so a failing commit is never retried in a tight
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

// batch is a partition's handled input not yet committed. It is used by the
// partition's subscriber goroutine only.
type batch struct {
	every  int
	within time.Duration
	// commit makes the handled input's effects durable; nil: nothing to
	// commit. committed is told the highest committed stream sequence.
	commit    func(context.Context) error
	committed func(upTo uint64)

	inputs []input
	due    time.Time
}

// uncommittedBatch is the error of a failed commit, with the input whose
// effects it dropped.
type uncommittedBatch struct {
	inputs []input
	err    error
}

func (e *uncommittedBatch) Error() string { return e.err.Error() }
func (e *uncommittedBatch) Unwrap() error { return e.err }

func (b *batch) empty() bool { return len(b.inputs) == 0 }

// hold adds handled input without committing anything.
func (b *batch) hold(in input) {
	if len(b.inputs) == 0 {
		b.due = time.Now().Add(b.within)
	}
	b.inputs = append(b.inputs, in)
}

// add adds handled input, committing the batch when it is full or due, or
// when now is set.
func (b *batch) add(ctx context.Context, in input, now bool) error {
	b.hold(in)
	if now || len(b.inputs) >= b.every || !time.Now().Before(b.due) {
		return b.flush(ctx)
	}
	return nil
}

// flush commits the batch and reports it committed. When the commit fails
// the batch is emptied and its input is returned in an *uncommittedBatch.
func (b *batch) flush(ctx context.Context) error {
	if len(b.inputs) == 0 {
		return nil
	}
	inputs := b.inputs
	b.inputs = nil
	if b.commit != nil {
		// A commit is one append: shutdown lets it finish (boundedly)
		// rather than drop what was handled.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalFlushTimeout)
		err := b.commit(cctx)
		cancel()
		if err != nil {
			return &uncommittedBatch{inputs: inputs, err: err}
		}
	}
	if b.committed != nil {
		// The highest: after a failed commit a batch may hold input again
		// that is lower than what it handled before.
		var upTo uint64
		for _, in := range inputs {
			upTo = max(upTo, in.seq)
		}
		b.committed(upTo)
	}
	b.inputs = inputs[:0] // committed: nothing holds on to them
	return nil
}
