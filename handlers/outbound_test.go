package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/handlers"
	"github.com/pointsledger/loyalty/streams"
	"github.com/pointsledger/loyalty/streams/natstest"
)

// startOutbound runs a relay until the test ends or stop is called.
func startOutbound(t *testing.T, js jetstream.JetStream, cfg handlers.OutboundConfig) (stop func()) {
	t.Helper()
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	cfg.RetryAfter = 50 * time.Millisecond
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	}
	relay, err := handlers.NewOutbound(js, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = relay.Run(ctx) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	return stop
}

// derivedOutbound is every outbound event the ledger gives, in ledger order.
func derivedOutbound(t *testing.T, js jetstream.JetStream) []streams.OutboundEvent {
	t.Helper()
	return natstest.OutboundOfLedger(t, js)
}

// checkOutbound compares the outbound stream with what the ledger gives:
// every event once, with its id, subject and body, in ledger order.
func checkOutbound(t *testing.T, js jetstream.JetStream) []streams.OutboundEvent {
	t.Helper()
	want := derivedOutbound(t, js)
	waitForMsgs(t, js, streams.OutboundStream, uint64(len(want)))
	got := readAll(t, js, streams.OutboundStream)
	for i, m := range got {
		w := want[i]
		if id := m.Header.Get(jetstream.MsgIDHeader); id != w.ID || m.Subject != w.Subject || string(m.Data) != string(w.Data) {
			t.Fatalf("outbound message %d is %s on %s, want %s on %s\n got %s\nwant %s", i, id, m.Subject, w.ID, w.Subject, m.Data, w.Data)
		}
	}
	return want
}

func outboundHistory(members int, at time.Time) []domain.Event {
	var events []domain.Event
	for i := range members {
		m := fmt.Sprintf("member.%d > *", i) // not a subject token: the subject carries its key
		events = append(events,
			purchase(fmt.Sprintf("p1-%d", i), m, fmt.Sprintf("o1-%d", i), 30000, at),
			visit(fmt.Sprintf("v-%d", i), m, at.Add(time.Hour)),
			purchase(fmt.Sprintf("p2-%d", i), m, fmt.Sprintf("o2-%d", i), 30000, at.Add(2*time.Hour)), // silver
			refund(fmt.Sprintf("r-%d", i), m, fmt.Sprintf("o1-%d", i), 10000, at.Add(3*time.Hour)))
	}
	return events
}

// laterHistory is outboundHistory for other members and event ids, told
// apart by suffix.
func laterHistory(members int, at time.Time, suffix string) []domain.Event {
	events := outboundHistory(members, at)
	for i := range events {
		events[i].ID += suffix
		events[i].MemberID += suffix
	}
	return events
}

func TestOutboundRelaysEveryMemberFactOnceInOrder(t *testing.T) {
	env := natstest.Start(t)
	runEngine(t, env.JS)
	events := outboundHistory(20, day0)
	publish(t, env.JS, events...)
	startOutbound(t, env.JS, handlers.OutboundConfig{})
	waitForRecords(t, env.JS, len(events))
	want := checkOutbound(t, env.JS)

	// The last event of each member tells the balance and tier the ledger
	// folds to.
	members, _ := foldLedger(t, env.JS)
	last := map[string]streams.OutboundEvent{}
	names := map[string]int{}
	for _, ev := range want {
		last[ev.MemberID] = ev
		names[ev.Name]++
	}
	for id, m := range members {
		var ce struct {
			Data struct {
				Balance *int64  `json:"balance"`
				Tier    *string `json:"tier"`
			} `json:"data"`
		}
		if err := json.Unmarshal(last[id].Data, &ce); err != nil {
			t.Fatal(err)
		}
		if ce.Data.Balance == nil || *ce.Data.Balance != m.Balance || *ce.Data.Tier != m.Tier {
			t.Errorf("member %q: last outbound event tells %s, the ledger folds to balance %d, tier %s", id, last[id].Data, m.Balance, m.Tier)
		}
	}
	for _, name := range []string{streams.OutPointsEarned, streams.OutTierChanged, streams.OutPointsReversed} {
		if names[name] == 0 {
			t.Errorf("no %s event among %v", name, names)
		}
	}
}

func TestOutboundRestartsSendNothingTwice(t *testing.T) {
	env := natstest.Start(t)
	runEngine(t, env.JS)
	first := outboundHistory(30, day0)
	publish(t, env.JS, first...)
	waitForRecords(t, env.JS, len(first))

	// Relays stopped part-way, again and again, with two at once at times:
	// the stream ends up with each event once.
	ctx := context.Background()
	for round := range 6 {
		stop := startOutbound(t, env.JS, handlers.OutboundConfig{InFlight: 3})
		if round%2 == 1 { // a second relay, waiting for the lease or racing for it
			stopOther := startOutbound(t, env.JS, handlers.OutboundConfig{InFlight: 3})
			defer stopOther()
			stop = func(first func()) func() { return func() { first(); stopOther() } }(stop)
		}
		deadline := time.Now().Add(10 * time.Second)
		s, _ := env.JS.Stream(ctx, streams.OutboundStream)
		before := s.CachedInfo().State.Msgs
		for time.Now().Before(deadline) {
			info, err := s.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if info.State.Msgs > before+10 {
				break
			}
			time.Sleep(time.Millisecond)
		}
		stop()
	}
	more := laterHistory(5, day0.Add(24*time.Hour), "-late")
	publish(t, env.JS, more...)
	waitForRecords(t, env.JS, len(first)+len(more))
	startOutbound(t, env.JS, handlers.OutboundConfig{})
	checkOutbound(t, env.JS)
}

func TestOutboundPassesOverForeignMessages(t *testing.T) {
	env := natstest.Start(t)
	runEngine(t, env.JS)
	events := outboundHistory(3, day0)
	publish(t, env.JS, events[:4]...)
	waitForRecords(t, env.JS, 4)
	stop := startOutbound(t, env.JS, handlers.OutboundConfig{})
	want := len(derivedOutbound(t, env.JS))
	waitForMsgs(t, env.JS, streams.OutboundStream, uint64(want))
	stop()

	// Someone with the right to publish there writes junk, with and
	// without an id header that looks like the relay's.
	ctx := context.Background()
	for _, m := range []*nats.Msg{
		{Subject: "loyalty.out.points_earned.v1.x", Data: []byte("junk")},
		{Subject: "loyalty.out.points_earned.v1.y", Data: []byte("{}"), Header: nats.Header{jetstream.MsgIDHeader: []string{"not-an-id"}}},
		// An id far ahead of the ledger, and one of a fact that is there
		// with another body: neither moves where the relay resumes.
		{Subject: "loyalty.out.points_earned.v1.0.eA", Data: []byte("{}"), Header: nats.Header{jetstream.MsgIDHeader: []string{"999999-0"}}},
		{Subject: "loyalty.out.points_earned.v1.0.eA", Data: []byte("{}"), Header: nats.Header{jetstream.MsgIDHeader: []string{"2-9"}}},
	} {
		if _, err := env.JS.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	publish(t, env.JS, events[4:]...)
	waitForRecords(t, env.JS, len(events))
	startOutbound(t, env.JS, handlers.OutboundConfig{})
	all := derivedOutbound(t, env.JS)
	waitForMsgs(t, env.JS, streams.OutboundStream, uint64(len(all)+4))
	copies := map[string]int{}
	for _, m := range readAll(t, env.JS, streams.OutboundStream) {
		copies[m.Subject+" "+string(m.Data)]++
	}
	for _, ev := range all {
		if n := copies[ev.Subject+" "+string(ev.Data)]; n != 1 {
			t.Errorf("event %s is in the stream %d times", ev.ID, n)
		}
	}
}

// testWriter writes a relay's log to the test's.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// A relay started with another source (another deployment's name, or an
// upgrade that writes other bodies) resumes where the stream ends.
func TestOutboundResumesAfterTheSourceChanged(t *testing.T) {
	env := natstest.Start(t)
	runEngine(t, env.JS)
	first := outboundHistory(3, day0)
	publish(t, env.JS, first...)
	waitForRecords(t, env.JS, len(first))
	stop := startOutbound(t, env.JS, handlers.OutboundConfig{Source: "eu-1"})
	waitForMsgs(t, env.JS, streams.OutboundStream, uint64(len(derivedOutbound(t, env.JS))))
	stop()
	more := laterHistory(3, day0.Add(time.Hour), "-more")
	publish(t, env.JS, more...)
	waitForRecords(t, env.JS, len(first)+len(more))
	startOutbound(t, env.JS, handlers.OutboundConfig{Source: "eu-2"})
	all := derivedOutbound(t, env.JS)
	waitForMsgs(t, env.JS, streams.OutboundStream, uint64(len(all)))
	for i, m := range readAll(t, env.JS, streams.OutboundStream) {
		if id := m.Header.Get(jetstream.MsgIDHeader); id != all[i].ID {
			t.Fatalf("outbound message %d is %s, want %s", i, id, all[i].ID)
		}
	}
}
