package streams_test

import (
	"context"
	"testing"
	"time"

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
	if len(got) != 3 {
		t.Errorf("streams = %v, want 3", got)
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
