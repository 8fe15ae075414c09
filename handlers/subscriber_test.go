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

	"github.com/pointsledger/loyalty/streams"
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
func inputFor(m *fakeMsg) input {
	subject := "loyalty.in.07.purchase-completed." + streams.MemberKey("m-1")
	stored, _ := streams.ParseStoredInput(subject)
	return input{data: m.Data(), rawSubject: subject, subject: stored, seq: m.seq}
}

// progressLog is a test handler's progress through the runs it is given,
// which it reports as a partition does (partition.progress).
type progressLog struct {
	mu  sync.Mutex
	msg *message.Message
	run runProgress
}

func (l *progressLog) start(m *message.Message) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.run.msg != m {
		l.run = runProgress{msg: m}
	}
}

func (l *progressLog) handled(commitNow bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.run.handled++
	l.run.commitNow = l.run.commitNow || commitNow
}

func (l *progressLog) progress(m *message.Message) (int, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.run.msg != m {
		return 0, false
	}
	return l.run.handled, l.run.commitNow
}

// inputsOf reads a run message in a test.
func inputsOf(t *testing.T, m *message.Message) []input {
	t.Helper()
	ins, err := inputsOfMessage(m)
	if err != nil {
		t.Fatal(err)
	}
	return ins
}

func mustAdd(t *testing.T, b *batch, m *fakeMsg, now bool) {
	t.Helper()
	if err := b.addAll(context.Background(), []input{inputFor(m)}, now); err != nil {
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
	err := b.addAll(context.Background(), []input{inputFor(&fakeMsg{seq: 2, log: log})}, false)
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

// testSubscriber is the subscriber of partition id over queue, with a
// batch of batchEvery inputs and no time limit on it; it retries after a
// millisecond, commits with commit, logs "committed N" to log once a commit
// is through, and asks progress how far the handler got.
func testSubscriber(id int, queue chan input, batchEvery int, commit func(context.Context) error, log *settleLog, progress *progressLog) *partitionSubscriber {
	return &partitionSubscriber{id: id, queue: queue, logger: slog.New(slog.DiscardHandler), batchEvery: batchEvery,
		batchWithin: time.Hour, retryAfter: time.Millisecond, commit: commit,
		committed: func(upTo uint64) { log.add("committed " + itoa(upTo)) }, progress: progress.progress}
}

// runSubscriber runs a partitionSubscriber over queue whose handler handles
// each input of a run, logging "handle N", and fails the run at an input the
// first time for the sequences in failOnce; it stops the run early (asking
// for a commit at once) after the sequences in stopAfter.
func runSubscriber(t *testing.T, log *settleLog, queue chan input, commit func(context.Context) error, failOnce, stopAfter map[uint64]bool) (stop func()) {
	t.Helper()
	progress := &progressLog{}
	s := testSubscriber(7, queue, 100, commit, log, progress)
	ctx, cancel := context.WithCancel(context.Background())
	out, err := s.Subscribe(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	handle := func(m *message.Message) error {
		progress.start(m)
		ins := inputsOf(t, m)
		handled, _ := progress.progress(m)
		for _, in := range ins[handled:] {
			mu.Lock()
			fail := failOnce[in.seq]
			delete(failOnce, in.seq)
			mu.Unlock()
			if fail {
				log.add("fail " + itoa(in.seq))
				return errors.New("failed")
			}
			log.add("handle " + itoa(in.seq))
			progress.handled(stopAfter[in.seq])
			if stopAfter[in.seq] {
				return nil
			}
		}
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

// Input queued together goes to the handler in one run; a run stopped early
// (commitNow) is committed at once and its rest offered next, in order; a
// run that fails part-way resumes at the input that failed.
func TestPartitionSubscriberHandsOverRuns(t *testing.T) {
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

// A run holds no more input than the batch has room for.
func TestPartitionSubscriberRunsFitTheBatch(t *testing.T) {
	log := &settleLog{}
	queue := make(chan input, 10)
	for _, seq := range []uint64{1, 2, 3, 4, 5} {
		queue <- inputFor(&fakeMsg{seq: seq, log: log})
	}
	progress := &progressLog{}
	s := testSubscriber(3, queue, 2, func(context.Context) error { log.add("commit"); return nil }, log, progress)
	ctx, cancel := context.WithCancel(context.Background())
	out, _ := s.Subscribe(ctx, "")
	var sizes []int
	for range 3 {
		var m *message.Message
		select {
		case m = <-out:
		case <-time.After(5 * time.Second):
			t.Fatalf("after runs of %v inputs no run came (want runs of 2, 2 and 1)", sizes)
		}
		ins := inputsOf(t, m)
		sizes = append(sizes, len(ins))
		progress.start(m)
		for range ins {
			progress.handled(false)
		}
		m.Ack()
	}
	cancel()
	s.wait()
	if want := []int{2, 2, 1}; !slices.Equal(sizes, want) {
		t.Errorf("runs of %v inputs, want %v (batches of 2)", sizes, want)
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
	progress := &progressLog{}
	s := testSubscriber(1, queue, 100, commit, log, progress)
	ctx, cancel := context.WithCancel(context.Background())
	out, _ := s.Subscribe(ctx, "")
	queue <- inputFor(&fakeMsg{seq: 5, log: log})
	m := <-out
	cancel() // the handler is still at work
	progress.start(m)
	progress.handled(false)
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
