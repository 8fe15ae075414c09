package handlers

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/streams"
	"github.com/pointsledger/loyalty/streams/natstest"
)

// The line logged when the input consumer misses a heartbeat carries the
// server's view of the consumer, read from the real server.
func TestIntakeConsumerStateIsTheServers(t *testing.T) {
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var cfg EngineConfig
	cfg.setDefaults() // every partition, as the engine's own consumer
	cons, err := env.JS.CreateOrUpdateConsumer(ctx, streams.InputStream, inputConsumerConfig(cfg.Partitions))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		subject, err := streams.InputSubject(domain.TypeVisitRecorded, fmt.Sprintf("m-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := env.JS.Publish(ctx, subject, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	FetchUnacked(t, cons, 2)

	in := &intake{consumer: cons, name: "engine"}
	want := map[string]any{"consumer": "engine", "waiting_pulls": 0, "pending": uint64(3),
		"ack_pending": 2, "delivered_seq": uint64(2), "ack_floor_seq": uint64(0)}
	// The server counts a consumer's pending messages as it gets to them: on
	// a loaded machine the first look may be early.
	var got map[string]any
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		attrs := in.consumerState(ctx)
		got = map[string]any{}
		for i := 0; i+1 < len(attrs); i += 2 {
			got[attrs[i].(string)] = attrs[i+1]
		}
		if fmt.Sprint(got) == fmt.Sprint(want) || time.Now().After(deadline) {
			break
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("consumer state %v, want %v", got, want)
	}
}

// FetchUnacked takes n messages from cons and never acknowledges them, as a
// process that crashed after receiving them would; it fails the test unless
// all n came. Exported for the engine's tests in handlers_test.
func FetchUnacked(t testing.TB, cons jetstream.Consumer, n int) {
	t.Helper()
	batch, err := cons.Fetch(n, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	fetched := 0
	for range batch.Messages() {
		fetched++
	}
	if fetched != n {
		t.Fatalf("fetched %d messages, want %d", fetched, n)
	}
}
