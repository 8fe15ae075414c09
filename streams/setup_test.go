package streams_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/streams"
	"github.com/pointsledger/loyalty/streams/natstest"
)

func TestEnsureStreamsIsIdempotent(t *testing.T) {
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 2 {
		if err := streams.EnsureStreams(ctx, env.JS, streams.StreamsConfig{}); err != nil {
			t.Fatalf("EnsureStreams again: %v", err)
		}
	}
	names := env.JS.StreamNames(ctx)
	var got []string
	for n := range names.Name() {
		got = append(got, n)
	}
	if len(got) != 4 {
		t.Errorf("streams = %v, want the input, ledger, dead-letter and outbound streams", got)
	}
}

// Engines started together on a new NATS system: each finds the streams
// another is creating half made, and none may take that for a loss.
func TestEnsureStreamsFromEnginesStartedTogether(t *testing.T) {
	c := natstest.StartCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for round := range 5 {
		for _, name := range []string{streams.InputStream, streams.LedgerStream, streams.DeadLetterStream} {
			if err := c.JS.DeleteStream(ctx, name); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
				t.Fatal(err)
			}
		}
		errs := make(chan error, 3)
		for range 3 {
			go func() { errs <- streams.EnsureStreams(ctx, c.JS, streams.StreamsConfig{}) }()
		}
		failed := false
		for range 3 {
			if err := <-errs; err != nil {
				t.Errorf("round %d: an engine started with the others: %v", round, err)
				failed = true
			}
		}
		if failed {
			return
		}
	}
}

// A stream deleted while the others live is an incident: EnsureStreams
// refuses to create an empty one in its place, naming it, unless told to.
func TestEnsureStreamsRefusesToRecreateAMissingStream(t *testing.T) {
	for _, gone := range []string{streams.LedgerStream, streams.InputStream, streams.DeadLetterStream} {
		t.Run(gone, func(t *testing.T) {
			env := natstest.Start(t)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := env.JS.DeleteStream(ctx, gone); err != nil {
				t.Fatal(err)
			}
			err := streams.EnsureStreams(ctx, env.JS, streams.StreamsConfig{})
			if !errors.Is(err, streams.ErrStreamMissing) || !strings.Contains(err.Error(), gone+" missing") ||
				!strings.Contains(err.Error(), "--recreate-missing-streams") {
				t.Fatalf("EnsureStreams with %s deleted: %v, want ErrStreamMissing naming it and the way out", gone, err)
			}
			if _, err := env.JS.Stream(ctx, gone); !errors.Is(err, jetstream.ErrStreamNotFound) {
				t.Errorf("stream %s after the refusal: %v, want it still missing", gone, err)
			}
			if err := streams.EnsureStreams(ctx, env.JS, streams.StreamsConfig{RecreateMissing: true}); err != nil {
				t.Fatalf("EnsureStreams told to recreate: %v", err)
			}
			if _, err := env.JS.Stream(ctx, gone); err != nil {
				t.Errorf("stream %s after recreating: %v", gone, err)
			}
		})
	}
}

// All three streams deleted looked like a first start: the engine began
// again on an empty ledger. The engine's buckets show it ran before.
func TestEnsureStreamsRefusesWhenAllAreGoneAfterUse(t *testing.T) {
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := env.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "LOYALTY_LEASES"}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{streams.InputStream, streams.LedgerStream, streams.DeadLetterStream} {
		if err := env.JS.DeleteStream(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	err := streams.EnsureStreams(ctx, env.JS, streams.StreamsConfig{})
	if !errors.Is(err, streams.ErrStreamMissing) || !strings.Contains(err.Error(), "KV_LOYALTY_LEASES present") {
		t.Fatalf("EnsureStreams with all three deleted after use: %v, want ErrStreamMissing naming the evidence", err)
	}
	if err := env.JS.DeleteKeyValue(ctx, "LOYALTY_LEASES"); err != nil {
		t.Fatal(err)
	}
	if err := streams.EnsureStreams(ctx, env.JS, streams.StreamsConfig{}); err != nil {
		t.Errorf("EnsureStreams on a server the engine never used: %v, want the streams made", err)
	}
}

// A limit set on the ledger by a user allowed to update streams drops its
// oldest messages though the stream denies delete and purge: the engine
// then folded what was left and forgot members. CheckLedgerWhole sees it.
func TestCheckLedgerWholeSeesLostRecords(t *testing.T) {
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := streams.CheckLedgerWhole(ctx, env.JS); err != nil {
		t.Fatalf("an empty ledger: %v", err)
	}
	for range 5 {
		if _, err := env.JS.Publish(ctx, streams.LedgerSubject(0), []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	if err := streams.CheckLedgerWhole(ctx, env.JS); err != nil {
		t.Fatalf("a whole ledger: %v", err)
	}
	cfg := streams.LedgerStreamConfig(streams.StreamsConfig{})
	cfg.MaxMsgs = 1
	if _, err := env.JS.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if err := streams.CheckLedgerWhole(ctx, env.JS); !errors.Is(err, streams.ErrLedgerTruncated) || !strings.Contains(err.Error(), "sequences 5 to 5") {
		t.Errorf("a ledger cut to its last message: %v, want ErrLedgerTruncated naming what is left", err)
	}
}

// Awkward member ids must each land on exactly one partition, the same one
// every time, and be recoverable from the stored subject.
func TestInputSubjectsArePartitionedAndReversible(t *testing.T) {
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ids := []string{"a.b", "*", ">", "x y", "jürgen.müller@example", "東京-42", "m-1", "a.b.>", "\t"}
	for round := range 2 {
		for _, id := range ids {
			subj, err := streams.InputSubject(domain.TypeVisitRecorded, id)
			if err != nil {
				t.Fatalf("InputSubject(%q): %v", id, err)
			}
			if _, err := env.JS.Publish(ctx, subj, []byte(`{}`)); err != nil {
				t.Fatalf("publish for %q (round %d): %v", id, round, err)
			}
		}
	}
	stream, err := env.JS.Stream(ctx, streams.InputStream)
	if err != nil {
		t.Fatal(err)
	}
	partitionOf := map[string]int{}
	for seq := uint64(1); seq <= uint64(2*len(ids)); seq++ {
		msg, err := stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("get %d: %v", seq, err)
		}
		in, err := streams.ParseStoredInput(msg.Subject)
		if err != nil {
			t.Fatalf("stored subject: %v", err)
		}
		id, err := streams.MemberIDFromKey(in.MemberKey)
		if err != nil {
			t.Fatal(err)
		}
		if want := ids[(seq-1)%uint64(len(ids))]; id != want {
			t.Errorf("seq %d: member %q, want %q", seq, id, want)
		}
		if p := streams.PartitionOf(id); p != in.Partition {
			t.Errorf("member %q: PartitionOf says %d, the server put it in %d", id, p, in.Partition)
		}
		if p, seen := partitionOf[id]; seen && p != in.Partition {
			t.Errorf("member %q on partitions %d and %d", id, p, in.Partition)
		}
		partitionOf[id] = in.Partition
		if in.TypeToken != "visit-recorded" {
			t.Errorf("type token %q", in.TypeToken)
		}
	}
}

// The outbound stream is written without a sync per message on one server.
// The server cannot change that, nor replicate such a stream: asked for
// three replicas, the stream is left as it is, not refused.
func TestOutboundStreamPersistsAsyncOnlyOnOneServer(t *testing.T) {
	c := natstest.StartCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	mode := func() jetstream.PersistModeType {
		s, err := c.JS.Stream(ctx, streams.OutboundStream)
		if err != nil {
			t.Fatal(err)
		}
		return s.CachedInfo().Config.PersistMode
	}
	if err := streams.EnsureStreams(ctx, c.JS, streams.StreamsConfig{Replicas: 1}); err != nil {
		t.Fatal(err)
	}
	if got := mode(); got != jetstream.AsyncPersistMode {
		t.Errorf("one replica: persist mode %v, want async", got)
	}
	if err := streams.EnsureStreams(ctx, c.JS, streams.StreamsConfig{Replicas: 3}); err != nil {
		t.Fatalf("raising the replicas: %v", err)
	}
	if got := mode(); got != jetstream.AsyncPersistMode {
		t.Errorf("asked for three replicas: persist mode %v, want async still", got)
	}
	if err := c.JS.DeleteStream(ctx, streams.OutboundStream); err != nil {
		t.Fatal(err)
	}
	if err := streams.EnsureStreams(ctx, c.JS, streams.StreamsConfig{Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	if got := mode(); got != jetstream.DefaultPersistMode {
		t.Errorf("made with three replicas: persist mode %v, want the default", got)
	}
}
