package main

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pointsledger/loyalty/streams/natstest"
)

// lockedBuffer is a log sink the client's callback goroutine and the test
// can share.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// A subscription that falls behind loses messages in the client; serve's
// connections say so in the log, with the subscription's subject.
func TestNATSAsyncErrorsAreLogged(t *testing.T) {
	env := natstest.Start(t)
	out := &lockedBuffer{}
	log := slog.New(slog.NewTextHandler(out, nil))
	nc, err := nats.Connect(env.Server.ClientURL(), nats.ErrorHandler(natsAsyncError(log)))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	full := make(chan *nats.Msg, 1) // never read: the second message has nowhere to go
	if _, err := nc.ChanSubscribe("test.behind", full); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := nc.Publish("test.behind", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "slow consumer") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	logged := out.String()
	if !strings.Contains(logged, "slow consumer") || !strings.Contains(logged, "subject=test.behind") {
		t.Fatalf("log %q: want the slow consumer error with its subject", logged)
	}
}
