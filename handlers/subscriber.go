package handlers

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

// partitionSubscriber is a watermill Subscriber over one partition's queue
// of input (filled by the intake, in stream order). It hands the input to
// the router as runs (see newRunMessage): one message carries every input
// queued at that moment, up to the room left in the batch, and the
// subscriber waits for the handler's verdict before the next run, so a
// partition's events are handled in order.
//
// It is not watermill-nats because the input is acknowledged to JetStream
// only once its effects are in the ledger, and in batches (decision 027):
// a run the handler acks has been decided and staged, not stored. So
// handled input is committed in batches: the subscriber calls commit,
// which appends the staged ledger records in one write, when the partition
// has had nothing to handle for flushIdle, after batchEvery inputs,
// batchWithin after the batch's first input, or when the partition says it
// must (a dead letter, a ledger message near its size limit, a key another
// partition holds); then it reports them committed (to the watermark,
// which the intake acknowledges). The partition says how far into a run it
// got (progress), so a run it stopped early or failed part-way is offered
// again from there, after a commit of what it handled. A run the handler
// nacks (it failed even after the router's retry middleware) is offered
// again at once, the middleware's backoff pacing the attempts. If commit
// fails, the partition state has been re-read from the ledger and the
// batch's input is offered again, in order, after a backoff: what the
// failed append had in fact stored is recognised as redelivered.
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
	// progress is asked, after the handler's verdict on msg, how many of
	// its inputs the handler handled and whether they must be committed
	// before the next input; (0, false) when the handler never saw msg.
	progress func(msg *message.Message) (handled int, commitNow bool)
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

// run is a run of input being delivered; handled counts the inputs the
// handler has handled, from the first.
type run struct {
	inputs  []input
	handled int
}

// rest is the input not handled.
func (r *run) rest() []input { return r.inputs[r.handled:] }

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
	var redo []input // input of a failed commit or the rest of a run, offered again first
	failures := 0
	for {
		r, ok, err := s.next(ctx, &redo, b)
		if err == nil && ok {
			var rest []input
			rest, err = s.deliver(ctx, out, r, b)
			redo = append(rest, redo...)
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

// next returns the next run: input of a failed batch first, then what the
// queue holds, up to the room left in the batch. While handled input waits
// for its commit it waits no longer than flushIdle (or the batch's deadline)
// for a first input and commits the batch when nothing arrived by then. ok is
// false when ctx ended; the error is an *uncommittedBatch.
func (s *partitionSubscriber) next(ctx context.Context, redo *[]input, b *batch) (*run, bool, error) {
	room := max(b.every-len(b.inputs), 1)
	if len(*redo) > 0 {
		n := min(len(*redo), room)
		r := &run{inputs: slices.Clone((*redo)[:n])}
		*redo = (*redo)[n:]
		return r, true, nil
	}
	first, ok, err := s.first(ctx, b)
	if !ok || err != nil {
		return nil, ok, err
	}
	r := &run{inputs: append(make([]input, 0, min(len(s.queue)+1, room)), first)}
drain:
	for len(r.inputs) < room {
		select {
		case in := <-s.queue:
			r.inputs = append(r.inputs, in)
		default:
			break drain
		}
	}
	return r, true, nil
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

// deliver passes a run to the router until the handler acks it, and adds
// what it handled to the batch; it returns the rest of the run (the input
// after an early stop), to be offered next. A nack (the handler failed even
// after the retry middleware) does not move the partition on: what the run
// handled is committed, and the input that failed is offered again at
// once, with the rest. It returns context.Canceled when ctx ended, and the
// *uncommittedBatch of a failed commit, whose input comes before the rest.
func (s *partitionSubscriber) deliver(ctx context.Context, out chan<- *message.Message, r *run, b *batch) ([]input, error) {
	for {
		msg := newRunMessage(ctx, r.rest())
		select {
		case out <- msg:
		case <-ctx.Done():
			return nil, context.Canceled
		}
		acked, stopped := s.verdict(ctx, msg)
		handled, commitNow := s.progress(msg)
		r.handled = min(r.handled+handled, len(r.inputs))
		switch {
		case acked && stopped:
			for _, in := range r.inputs[:r.handled] {
				b.hold(in) // committed by the last flush
			}
			return nil, context.Canceled
		case stopped:
			return nil, context.Canceled
		case acked:
			err := b.addAll(ctx, r.inputs[:r.handled], commitNow)
			return r.rest(), err
		}
		// Everything before the failed input was handled: commit it now.
		done := r.inputs[:r.handled]
		r = &run{inputs: r.rest()}
		if err := b.addAll(ctx, done, true); err != nil {
			return r.inputs, err
		}
		s.logger.Debug("input failed after the retry middleware; offering it again", "partition", s.id, "seq", r.inputs[0].seq)
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

// addAll adds handled input, in order, committing the batch (once) when it
// is full or due, or when now is set.
func (b *batch) addAll(ctx context.Context, ins []input, now bool) error {
	for _, in := range ins {
		b.hold(in)
	}
	if !b.empty() && (now || len(b.inputs) >= b.every || !time.Now().Before(b.due)) {
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
