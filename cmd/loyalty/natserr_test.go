package main

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/pointsledger/loyalty/streams/natstest"
)

// logLines hands each log line to the test as it is written, from whichever
// goroutine logs it. Lines past its capacity are dropped rather than block
// the client's callback goroutine after the test has stopped reading.
type logLines chan string

func (l logLines) Write(p []byte) (int, error) {
	select {
	case l <- string(p):
	default:
	}
	return len(p), nil
}

// A subscription that falls behind loses messages in the client; serve's
// connections say so in the log, with the subscription's subject.
func TestNATSAsyncErrorsAreLogged(t *testing.T) {
	env := natstest.Start(t)
	lines := make(logLines, 16)
	log := slog.New(slog.NewTextHandler(lines, nil))
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
	select {
	case line := <-lines:
		if !strings.Contains(line, "slow consumer") || !strings.Contains(line, "subject=test.behind") {
			t.Fatalf("log %q: want the slow consumer error with its subject", line)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("nothing logged: want the slow consumer error with its subject")
	}
}

// A subject the NATS user may not publish: the server drops the message and
// the publisher would only see a timeout; the log says it is a permission,
// at error level, and where the engine's permissions are listed.
func TestPermissionViolationsAreLoggedAsSuch(t *testing.T) {
	opts := &server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
		Users: []*server.User{{Username: "engine", Password: "secret", Permissions: &server.Permissions{
			Publish: &server.SubjectPermission{Allow: []string{">"}, Deny: []string{"forbidden.>"}}}}}}
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	defer srv.Shutdown()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	lines := make(logLines, 16)
	log := slog.New(slog.NewTextHandler(lines, nil))
	nc, err := nats.Connect(srv.ClientURL(), nats.UserInfo("engine", "secret"), nats.ErrorHandler(natsAsyncError(log)))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := nc.Publish("forbidden.subject", []byte("x")); err != nil {
		t.Fatal(err)
	}
	_ = nc.Flush()
	select {
	case line := <-lines:
		for _, want := range []string{"level=ERROR", "NATS refused this user a subject", "forbidden.subject", "permissions.conf"} {
			if !strings.Contains(line, want) {
				t.Errorf("log %q: want %q in it", line, want)
			}
		}
	case <-time.After(10 * time.Second):
		t.Fatal("nothing logged: want the permission violation")
	}
}
