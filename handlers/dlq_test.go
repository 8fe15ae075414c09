package handlers_test

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/pointsledger/loyalty/handlers"
	"github.com/pointsledger/loyalty/streams"
	"github.com/pointsledger/loyalty/streams/natstest"
)

// The dead-letter stream is lost and made again (serve
// --recreate-missing-streams): its messages are numbered from 1 again, and
// the record of the old stream's replays must not mark the new dead letters
// as replayed, which would keep them from being replayed at all.
func TestReplaysOfALostDeadLetterStreamDoNotCountForTheNewOne(t *testing.T) {
	env := natstest.Start(t)
	ctx := context.Background()
	stop, _, reg := runEngine(t, env.JS)
	waitRunning(t, reg)
	subject, err := streams.InputSubject("loyalty.visit.recorded.v1", "m-1")
	if err != nil {
		t.Fatal(err)
	}
	malformed := func(data string) {
		t.Helper()
		if _, err := env.JS.PublishMsg(ctx, &nats.Msg{Subject: subject, Data: []byte(data)}); err != nil {
			t.Fatal(err)
		}
	}
	malformed(`{"id":`)
	waitForMsgs(t, env.JS, streams.DeadLetterStream, 1)
	dlq, err := handlers.OpenDeadLetters(ctx, env.JS)
	if err != nil {
		t.Fatal(err)
	}
	if _, done, err := dlq.Replay(ctx, 1); err != nil || !done {
		t.Fatalf("first replay: done %v, %v", done, err)
	}
	waitForMsgs(t, env.JS, streams.DeadLetterStream, 2) // the replay, malformed still
	stop()

	if err := env.JS.DeleteStream(ctx, streams.DeadLetterStream); err != nil {
		t.Fatal(err)
	}
	if err := streams.EnsureStreams(ctx, env.JS, streams.StreamsConfig{RecreateMissing: true}); err != nil {
		t.Fatal(err)
	}
	runEngine(t, env.JS)
	malformed(`{"id": 1`)
	waitForMsgs(t, env.JS, streams.DeadLetterStream, 1)
	dl, err := dlq.Get(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if dl.Replayed != nil {
		t.Fatalf("the new stream's dead letter 1 shows the old one's replay: %+v", dl.Replayed)
	}
	before := inputCount(t, env)
	r, done, err := dlq.Replay(ctx, 1)
	if err != nil || !done {
		t.Fatalf("replay of the new dead letter 1: done %v, %v", done, err)
	}
	if after := inputCount(t, env); after != before+1 || r.InputSeq != after {
		t.Errorf("input stream holds %d messages after the replay, %d before; replayed as seq %d", after, before, r.InputSeq)
	}
}

func inputCount(t *testing.T, env *natstest.Env) uint64 {
	t.Helper()
	s, err := env.JS.Stream(context.Background(), streams.InputStream)
	if err != nil {
		t.Fatal(err)
	}
	return s.CachedInfo().State.LastSeq
}
