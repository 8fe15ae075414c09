package streams_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pointsledger/loyalty/streams"
	"github.com/pointsledger/loyalty/streams/natstest"
)

// On a cluster of three, the engine creates its streams with three
// replicas. What an operator sets on them afterwards (more replicas, a
// retention limit on the input) outlives every later start, even one asked
// for fewer replicas, and each such setting is logged; what the engine owns
// (the duplicate window) is set back. A limit that would make the ledger
// drop records stops the start, naming it.
func TestStreamsKeepWhatAnOperatorSet(t *testing.T) {
	c := natstest.StartCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := streams.EnsureStreams(ctx, c.JS, streams.StreamsConfig{}); err != nil {
		t.Fatal(err)
	}
	if got := config(t, c.JS, streams.LedgerStream).Replicas; got != 3 {
		t.Fatalf("ledger created with %d replicas on a cluster of three, want 3", got)
	}

	in := config(t, c.JS, streams.InputStream)
	in.MaxAge, in.Duplicates = 90*24*time.Hour, 10*time.Minute
	if _, err := c.JS.UpdateStream(ctx, in); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	if err := streams.EnsureStreams(ctx, c.JS, streams.StreamsConfig{Replicas: 1, Logger: slog.New(slog.NewTextHandler(&logs, nil))}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{streams.InputStream, streams.LedgerStream, streams.DeadLetterStream} {
		if got := config(t, c.JS, name).Replicas; got != 3 {
			t.Errorf("%s has %d replicas after a start asking for 1, want the 3 it had", name, got)
		}
	}
	in = config(t, c.JS, streams.InputStream)
	if in.MaxAge != 90*24*time.Hour || in.Duplicates != 2*time.Minute {
		t.Errorf("input max age %v, duplicate window %v; want the operator's 2160h0m0s and the engine's 2m0s", in.MaxAge, in.Duplicates)
	}
	for _, want := range []string{"setting=replicas", "setting=max_age"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log does not say it left %s alone:\n%s", want, logs.String())
		}
	}

	ledger := config(t, c.JS, streams.LedgerStream)
	ledger.MaxMsgs = 1_000_000
	if _, err := c.JS.UpdateStream(ctx, ledger); err != nil {
		t.Fatal(err)
	}
	err := streams.EnsureStreams(ctx, c.JS, streams.StreamsConfig{})
	if !errors.Is(err, streams.ErrStreamIncompatible) || !strings.Contains(err.Error(), "max_msgs") {
		t.Fatalf("a ledger limited to 1,000,000 records: %v, want ErrStreamIncompatible naming max_msgs", err)
	}
}

func config(t *testing.T, js jetstream.JetStream, name string) jetstream.StreamConfig {
	t.Helper()
	s, err := js.Stream(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return s.CachedInfo().Config
}
