package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"
)

// fakeMsg is a jetstream.Msg that records how it was settled.
type fakeMsg struct {
	jetstream.Msg // nil: calling anything not overridden panics
	seq           uint64
	log           *settleLog
}

type settleLog struct {
	mu     sync.Mutex
	events []string
}

func (l *settleLog) add(e string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

func (l *settleLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.events...)
}

func (m *fakeMsg) Data() []byte { return []byte("data") }
func (m *fakeMsg) Ack() error   { m.log.add("ack " + itoa(m.seq)); return nil }
func (m *fakeMsg) DoubleAck(context.Context) error {
	m.log.add("double-ack " + itoa(m.seq))
	return nil
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// newBatch is a batch that logs its commits and reports.
func newBatch(log *settleLog, every int, within time.Duration, fail *bool) *batch {
	return &batch{every: every, within: within,
		commit: func(context.Context) error {
			if fail != nil && *fail {
				log.add("commit failed")
				return fmt.Errorf("%w: ledger unavailable", errUncommitted)
			}
			log.add("commit")
			return nil
		},
		committed: func(upTo uint64) { log.add("committed " + itoa(upTo)) }}
}

func TestBatchCommitsThenReportsTheLastMessage(t *testing.T) {
	log := &settleLog{}
	msg := func(seq uint64) *fakeMsg { return &fakeMsg{seq: seq, log: log} }
	ctx := context.Background()
	b := newBatch(log, 3, time.Hour, nil)

	mustAdd(t, b, msg(1), false)
	mustAdd(t, b, msg(4), false)
	if got := log.get(); len(got) != 0 {
		t.Fatalf("settled after 2 of 3 messages: %v, want nothing", got)
	}
	mustAdd(t, b, msg(9), false) // full
	mustAdd(t, b, msg(12), true) // a dead letter: at once
	mustAdd(t, b, msg(15), false)
	if err := b.flush(ctx); err != nil { // idle or stopping
		t.Fatal(err)
	}
	if err := b.flush(ctx); err != nil { // nothing pending: nothing done
		t.Fatal(err)
	}
	want := []string{"commit", "committed 9", "commit", "committed 12", "commit", "committed 15"}
	if got := log.get(); !slices.Equal(got, want) {
		t.Errorf("settled %v, want %v (every report after its commit)", got, want)
	}

	late := newBatch(log, 100, time.Millisecond, nil)
	mustAdd(t, late, msg(20), false)
	time.Sleep(5 * time.Millisecond)
	mustAdd(t, late, msg(21), false) // the batch is due
	if got, want := log.get()[len(want):], []string{"commit", "committed 21"}; !slices.Equal(got, want) {
		t.Errorf("settled a due batch %v, want %v", got, want)
	}
}

// inputFor is the input the intake makes of a message.
func inputFor(m *fakeMsg) input { return input{data: m.Data(), seq: m.seq} }

// seqOf is the input sequence a watermill message carries.
func seqOf(t *testing.T, m *message.Message) uint64 {
	seq, err := strconv.ParseUint(m.Metadata.Get(MetadataInputSeq), 10, 64)
	if err != nil {
		t.Errorf("message %s: %s = %q", m.UUID, MetadataInputSeq, m.Metadata.Get(MetadataInputSeq))
	}
	return seq
}

func mustAdd(t *testing.T, b *batch, m *fakeMsg, now bool) {
	t.Helper()
	if err := b.add(context.Background(), inputFor(m), now); err != nil {
		t.Fatal(err)
	}
}

// When the commit fails nothing is reported committed, and the error holds
// the batch's messages to be handled again.
func TestBatchReportsNothingWhenTheCommitFails(t *testing.T) {
	log := &settleLog{}
	fail := true
	b := newBatch(log, 2, time.Hour, &fail)
	mustAdd(t, b, &fakeMsg{seq: 1, log: log}, false)
	err := b.add(context.Background(), inputFor(&fakeMsg{seq: 2, log: log}), false)
	var failed *uncommittedBatch
	if !errors.As(err, &failed) || !errors.Is(err, errUncommitted) {
		t.Fatalf("add of a full batch whose commit fails = %v, want an *uncommittedBatch wrapping errUncommitted", err)
	}
	if len(failed.inputs) != 2 || failed.inputs[0].seq != 1 || failed.inputs[1].seq != 2 {
		t.Errorf("failed batch holds %v, want messages 1 and 2", failed.inputs)
	}
	if !b.empty() {
		t.Error("the failed batch is still pending")
	}
	if got, want := log.get(), []string{"commit failed"}; !slices.Equal(got, want) {
		t.Errorf("settled %v, want %v", got, want)
	}
}

// runSubscriber runs a partitionSubscriber over queue whose handler handles
// each input, logging "handle N", and fails it the first time for the
// sequences in failOnce; it asks for a commit at once (mustCommit) after the
// sequences in stopAfter.
func runSubscriber(t *testing.T, log *settleLog, queue chan input, commit func(context.Context) error, failOnce, stopAfter map[uint64]bool) (stop func()) {
	t.Helper()
	var commitNow bool // written by the handler before its ack, read after it
	s := &partitionSubscriber{id: 7, queue: queue, logger: slog.New(slog.DiscardHandler), batchEvery: 100,
		batchWithin: time.Hour, retryAfter: time.Millisecond, commit: commit,
		committed:  func(upTo uint64) { log.add("committed " + itoa(upTo)) },
		mustCommit: func() bool { now := commitNow; commitNow = false; return now }}
	ctx, cancel := context.WithCancel(context.Background())
	out, err := s.Subscribe(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	handle := func(m *message.Message) error {
		seq := seqOf(t, m)
		mu.Lock()
		fail := failOnce[seq]
		delete(failOnce, seq)
		mu.Unlock()
		if fail {
			log.add("fail " + itoa(seq))
			return errors.New("failed")
		}
		log.add("handle " + itoa(seq))
		commitNow = stopAfter[seq]
		return nil
	}
	go func() {
		for m := range out {
			if handle(m) != nil {
				m.Nack()
				continue
			}
			m.Ack()
		}
	}()
	return func() { cancel(); s.wait() }
}

// waitLog waits until the log has n entries.
func waitLog(t *testing.T, log *settleLog, n int) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(log.get()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("log %v, want %d entries", log.get(), n)
		}
		time.Sleep(time.Millisecond)
	}
	return log.get()
}

// A failed message is offered again, never skipped, after what was handled
// before it is committed; a failed commit offers the batch's messages again,
// in order, before anything newer.
func TestPartitionSubscriberRetriesMessagesAndBatches(t *testing.T) {
	log := &settleLog{}
	queue := make(chan input, 10)
	commits := 0
	commit := func(context.Context) error {
		commits++
		if commits == 2 {
			log.add("commit failed")
			return fmt.Errorf("%w: fenced", errUncommitted)
		}
		log.add("commit")
		return nil
	}
	stop := runSubscriber(t, log, queue, commit, map[uint64]bool{2: true}, nil)
	defer stop()
	for _, seq := range []uint64{1, 2, 3} {
		queue <- inputFor(&fakeMsg{seq: seq, log: log})
	}
	want := []string{
		"handle 1", "fail 2", "commit", "committed 1", // 1 is committed before 2 is retried
		"handle 2", "handle 3", "commit failed", // idle: commit 2 and 3, which fails
		"handle 2", "handle 3", "commit", "committed 3", // both again, in order
	}
	if got := waitLog(t, log, len(want)); !slices.Equal(got, want) {
		t.Errorf("log\n%v\nwant\n%v", got, want)
	}
}

// Input goes to the handler one message each, in order; input after which
// the partition must commit (mustCommit) is committed at once and the next
// offered after it; an input that fails is offered again, after what was
// handled before it is committed, and nothing before it is handled again.
func TestPartitionSubscriberHandsOverInputInOrder(t *testing.T) {
	log := &settleLog{}
	queue := make(chan input, 10)
	for _, seq := range []uint64{1, 2, 3, 4, 5, 6} {
		queue <- inputFor(&fakeMsg{seq: seq, log: log}) // queued before the subscriber starts
	}
	commit := func(context.Context) error { log.add("commit"); return nil }
	stop := runSubscriber(t, log, queue, commit, map[uint64]bool{5: true}, map[uint64]bool{2: true})
	defer stop()
	want := []string{
		"handle 1", "handle 2", "commit", "committed 2", // stopped after 2: committed before 3
		"handle 3", "handle 4", "fail 5", "commit", "committed 4", // 3 and 4 committed before 5 is retried
		"handle 5", "handle 6", "commit", "committed 6", // 1-4 not handled again
	}
	if got := waitLog(t, log, len(want)); !slices.Equal(got, want) {
		t.Errorf("log\n%v\nwant\n%v", got, want)
	}
}

// A batch holds no more input than batchEvery; each message carries one
// input, its payload the event and its sequence in the metadata.
func TestPartitionSubscriberBatchesFitBatchEvery(t *testing.T) {
	log := &settleLog{}
	queue := make(chan input, 10)
	for _, seq := range []uint64{1, 2, 3, 4, 5} {
		queue <- inputFor(&fakeMsg{seq: seq, log: log})
	}
	s := &partitionSubscriber{id: 3, queue: queue, logger: slog.New(slog.DiscardHandler), batchEvery: 2,
		batchWithin: time.Hour, retryAfter: time.Millisecond,
		commit:    func(context.Context) error { log.add("commit"); return nil },
		committed: func(upTo uint64) { log.add("committed " + itoa(upTo)) }}
	ctx, cancel := context.WithCancel(context.Background())
	out, _ := s.Subscribe(ctx, "")
	var seqs []uint64
	for range 5 {
		var m *message.Message
		select {
		case m = <-out:
		case <-time.After(5 * time.Second):
			t.Fatalf("after inputs %v no message came (want 1 to 5)", seqs)
		}
		seqs = append(seqs, seqOf(t, m))
		if string(m.Payload) != "data" {
			t.Errorf("message %s carries %q, want the input's data", m.UUID, m.Payload)
		}
		m.Ack()
	}
	// The fifth is committed once the queue has been idle for flushIdle.
	waitLog(t, log, 6)
	cancel()
	s.wait()
	if want := []uint64{1, 2, 3, 4, 5}; !slices.Equal(seqs, want) {
		t.Errorf("messages of inputs %v, want %v", seqs, want)
	}
	want := []string{"commit", "committed 2", "commit", "committed 4", "commit", "committed 5"}
	if got := log.get(); !slices.Equal(got, want) {
		t.Errorf("log %v, want %v", got, want)
	}
}

// At shutdown the subscriber commits what it handled.
func TestPartitionSubscriberCommitsAtShutdown(t *testing.T) {
	log := &settleLog{}
	queue := make(chan input, 10)
	commit := func(context.Context) error { log.add("commit"); return nil }
	s := &partitionSubscriber{id: 1, queue: queue, logger: slog.New(slog.DiscardHandler), batchEvery: 100,
		batchWithin: time.Hour, retryAfter: time.Millisecond, commit: commit,
		committed: func(upTo uint64) { log.add("committed " + itoa(upTo)) }}
	ctx, cancel := context.WithCancel(context.Background())
	out, _ := s.Subscribe(ctx, "")
	queue <- inputFor(&fakeMsg{seq: 5, log: log})
	m := <-out
	cancel() // the handler is still at work
	m.Ack()
	s.wait()
	if got, want := log.get(), []string{"commit", "committed 5"}; !slices.Equal(got, want) {
		t.Errorf("log %v, want %v", got, want)
	}
}

func TestRetryDelay(t *testing.T) {
	for _, c := range []struct {
		attempt int
		want    time.Duration
	}{{1, time.Second}, {2, 2 * time.Second}, {4, 8 * time.Second}, {7, time.Minute}, {50, time.Minute}} {
		if got := retryDelay(time.Second, c.attempt); got != c.want {
			t.Errorf("retryDelay(1s, %d) = %s, want %s", c.attempt, got, c.want)
		}
	}
}

func TestCheckServerVersion(t *testing.T) {
	for _, c := range []struct {
		version string
		ok      bool
	}{{"2.15.2", true}, {"2.14.0", true}, {"3.0.0", true}, {"", true}, {"2.12.1", false}, {"1.4.0", false}} {
		if err := checkServerVersion(c.version); (err == nil) != c.ok {
			t.Errorf("checkServerVersion(%q) = %v, want ok %v", c.version, err, c.ok)
		}
	}
}
