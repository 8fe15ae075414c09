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
func (m *fakeMsg) InProgress() error { m.log.add("in-progress " + itoa(m.seq)); return nil }

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

func TestAckBatchAcknowledgesTheLastHandledMessage(t *testing.T) {
	log := &settleLog{}
	msg := func(seq uint64) *fakeMsg { return &fakeMsg{seq: seq, log: log} }
	ctx := context.Background()
	commit := func(context.Context) error { log.add("commit"); return nil }
	a := &ackBatch{every: 3, within: time.Hour, commit: commit, logger: slog.New(slog.DiscardHandler)}

	mustAdd(t, a, msg(1), false)
	mustAdd(t, a, msg(4), false)
	if got := log.get(); len(got) != 0 {
		t.Fatalf("settled after 2 of 3 messages: %v, want nothing", got)
	}
	mustAdd(t, a, msg(9), false) // full: acknowledges 9 and, AckAll, 1 and 4
	mustAdd(t, a, msg(12), true) // a dead letter: at once
	mustAdd(t, a, msg(15), false)
	if err := a.flush(ctx); err != nil { // idle or stopping
		t.Fatal(err)
	}
	if err := a.flush(ctx); err != nil { // nothing pending: nothing sent
		t.Fatal(err)
	}
	want := []string{"commit", "ack 9", "commit", "ack 12", "commit", "ack 15"}
	if got := log.get(); !slices.Equal(got, want) {
		t.Errorf("settled %v, want %v (every ack after its commit)", got, want)
	}

	late := &ackBatch{every: 100, within: time.Millisecond, commit: commit, logger: slog.New(slog.DiscardHandler)}
	mustAdd(t, late, msg(20), false)
	time.Sleep(5 * time.Millisecond)
	mustAdd(t, late, msg(21), false) // the batch is due
	if got, want := log.get()[len(want):], []string{"commit", "ack 21"}; !slices.Equal(got, want) {
		t.Errorf("settled a due batch %v, want %v", got, want)
	}
}

func mustAdd(t *testing.T, a *ackBatch, m *fakeMsg, now bool) {
	t.Helper()
	if err := a.add(context.Background(), m, now); err != nil {
		t.Fatal(err)
	}
}

// When the commit fails, nothing of the batch is acknowledged (its input is
// delivered again) and the batch is forgotten.
func TestAckBatchAcknowledgesNothingWhenTheCommitFails(t *testing.T) {
	log := &settleLog{}
	fail := true
	a := &ackBatch{every: 2, within: time.Hour, logger: slog.New(slog.DiscardHandler),
		commit: func(context.Context) error {
			if fail {
				return fmt.Errorf("%w: ledger unavailable", errUncommitted)
			}
			return nil
		}}
	mustAdd(t, a, &fakeMsg{seq: 1, log: log}, false)
	if err := a.add(context.Background(), &fakeMsg{seq: 2, log: log}, false); !errors.Is(err, errUncommitted) {
		t.Fatalf("add of a full batch whose commit fails = %v, want errUncommitted", err)
	}
	fail = false
	if err := a.flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := log.get(); len(got) != 0 {
		t.Errorf("settled %v after a failed commit, want nothing", got)
	}
}

// A failed message is offered again, never skipped: with AckAll,
// acknowledging a later message would acknowledge it too.
func TestDeliverOffersAFailedMessageAgain(t *testing.T) {
	log := &settleLog{}
	s := &consumerSubscriber{logger: slog.New(slog.DiscardHandler), retryAfter: time.Millisecond}
	acks := &ackBatch{every: 100, within: time.Hour, logger: slog.New(slog.DiscardHandler)}
	mustAdd(t, acks, &fakeMsg{seq: 3, log: log}, false) // handled before
	out := make(chan *message.Message)
	done := make(chan bool, 1)
	failing := &fakeMsg{seq: 7, log: log}
	go func() {
		ok, err := s.deliver(context.Background(), out, failing, &jetstream.MsgMetadata{Sequence: jetstream.SequencePair{Stream: 7}}, acks)
		done <- ok && err == nil
	}()
	for attempt := 1; attempt <= 3; attempt++ {
		m := <-out
		if m.UUID != "7" {
			t.Fatalf("attempt %d got message %s, want 7", attempt, m.UUID)
		}
		if attempt < 3 {
			m.Nack()
		} else {
			m.Ack()
		}
	}
	if !<-done {
		t.Fatal("deliver returned false or an error")
	}
	want := []string{"ack 3", "in-progress 7", "in-progress 7"}
	if got := log.get(); !slices.Equal(got, want) {
		t.Errorf("settled %v, want %v", got, want)
	}
	if acks.last != failing || acks.count != 1 {
		t.Errorf("the message handled at the third attempt is not pending acknowledgement")
	}
}

func TestDeliverStopsWhenTheContextEnds(t *testing.T) {
	log := &settleLog{}
	s := &consumerSubscriber{logger: slog.New(slog.DiscardHandler), retryAfter: time.Hour}
	acks := &ackBatch{every: 100, within: time.Hour, logger: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan *message.Message)
	done := make(chan bool, 1)
	go func() {
		ok, _ := s.deliver(ctx, out, &fakeMsg{seq: 5, log: log}, &jetstream.MsgMetadata{Sequence: jetstream.SequencePair{Stream: 5}}, acks)
		done <- ok
	}()
	(<-out).Nack()
	cancel()
	if <-done {
		t.Error("deliver returned true after its context ended")
	}
	if acks.last != nil {
		t.Error("a message that was never handled is pending acknowledgement")
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
