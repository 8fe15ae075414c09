package handlers_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/handlers"
	"github.com/pointsledger/loyalty/streams/natstest"
)

// Two engines started against the same streams: the second waits, owning
// nothing and handling nothing, while the first works; when the first stops
// the second takes over, and every input has one ledger record.
func TestSecondEngineWaitsForTheFirst(t *testing.T) {
	env := natstest.Start(t)
	stopFirst, _, first := runEngine(t, env.JS)
	waitRunning(t, first)
	_, _, second := runEngine(t, env.JS)

	batch := func(from, n int) []domain.Event {
		var evs []domain.Event
		for i := from; i < from+n; i++ {
			evs = append(evs, visit(fmt.Sprintf("v-%d", i), fmt.Sprintf("m-%d", i%7), day0.Add(time.Duration(i)*time.Minute)))
		}
		return evs
	}
	publish(t, env.JS, batch(0, 50)...)
	waitForRecords(t, env.JS, 50)
	if got := metricValue(t, second, "loyalty_engine_partitions_owned"); got != 0 {
		t.Errorf("the waiting engine owns %v partitions", got)
	}
	if got := metricValue(t, second, "loyalty_events_total"); got != 0 {
		t.Errorf("the waiting engine handled %v events", got)
	}

	stopFirst()
	waitRunning(t, second)
	publish(t, env.JS, batch(50, 50)...)
	waitForRecords(t, env.JS, 100)
	if got := metricValue(t, second, "loyalty_events_total"); got != 50 {
		t.Errorf("the engine that took over handled %v events, want the 50 published after", got)
	}
	_, records := foldLedger(t, env.JS)
	assertNoDoubleCredit(t, records)
	if len(records) != 100 {
		t.Errorf("%d ledger records, want 100", len(records))
	}
}

// An engine whose lease was taken by another (it stalled past the TTL and
// someone else got in) stops with ErrLeaseLost instead of working on.
func TestEngineStopsWhenItsLeaseIsTaken(t *testing.T) {
	env := natstest.Start(t)
	engine, _, reg := newEngine(t, env.JS, handlers.EngineConfig{})
	done := make(chan error, 1)
	go func() { done <- engine.Run(context.Background()) }()
	waitRunning(t, reg)

	kv, err := env.JS.KeyValue(context.Background(), handlers.LeaseBucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(context.Background(), handlers.ConsumerName(nil), []byte(`{"id":"someone-else"}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, handlers.ErrLeaseLost) {
			t.Errorf("Run returned %v, want ErrLeaseLost", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the engine kept running after its lease was taken")
	}
}
