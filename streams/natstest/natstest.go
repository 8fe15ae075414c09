// Package natstest starts the real NATS server in-process for tests: the
// embedded nats-server with JetStream, in a temporary directory.
package natstest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pointsledger/loyalty/streams"
)

// Env is a running server with a client connection and the engine's streams.
type Env struct {
	Server *streams.Server
	Conn   *nats.Conn
	JS     jetstream.JetStream
	// Dir is the server's store directory.
	Dir string
}

// Start starts a server on a free port, connects, creates the engine's
// streams and stops everything when the test ends. It skips under -short.
// The store is flushed every second: tests do not need the durability of
// flushing every write, and it would only slow them.
func Start(t testing.TB) *Env {
	t.Helper()
	return StartWithSync(t, streams.SyncPolicy{Interval: time.Second})
}

// StartWithSync is Start with the given store sync policy.
func StartWithSync(t testing.TB, sync streams.SyncPolicy) *Env {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs the embedded NATS server (run without -short)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	srv, err := streams.StartServer(ctx, streams.ServerConfig{Dir: dir, Port: -1, Sync: sync})
	if err != nil {
		t.Fatalf("start embedded nats: %v", err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatalf("connect to embedded nats: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	if err := streams.EnsureStreams(ctx, js, streams.StreamsConfig{}); err != nil {
		t.Fatalf("ensure streams: %v", err)
	}
	return &Env{Server: srv, Conn: nc, JS: js, Dir: dir}
}

// MessageCounts counts the messages of each of the engine's streams; a
// stream that is gone fails the test.
func MessageCounts(t testing.TB, js jetstream.JetStream) map[string]uint64 {
	t.Helper()
	counts := map[string]uint64{}
	for _, name := range []string{streams.InputStream, streams.LedgerStream, streams.DeadLetterStream} {
		s, err := js.Stream(context.Background(), name)
		if err != nil {
			t.Fatalf("stream %s: %v", name, err)
		}
		info, err := s.Info(context.Background())
		if err != nil {
			t.Fatalf("stream %s: %v", name, err)
		}
		counts[name] = info.State.Msgs
	}
	return counts
}

// Messages is every message a stream holds, by sequence.
func Messages(t testing.TB, js jetstream.JetStream, stream string) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx := context.Background()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []*jetstream.RawStreamMsg
	for seq := uint64(1); seq <= s.CachedInfo().State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// OutboundOfLedger is every outbound event the ledger gives, in ledger
// order, as the relay makes them with the default source.
func OutboundOfLedger(t testing.TB, js jetstream.JetStream) []streams.OutboundEvent {
	t.Helper()
	var out []streams.OutboundEvent
	keys := streams.ReadMemberKeys(js)
	for _, m := range Messages(t, js, streams.LedgerStream) {
		recs, err := streams.DecodeLedgerMessageWith(m.Data, keys)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			r.Seq = m.Sequence
			evs, err := streams.OutboundOf(r, streams.OutboundSource)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, evs...)
		}
	}
	return out
}
