package main_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain/simulate"
	"github.com/pointsledger/loyalty/streams"
	"github.com/pointsledger/loyalty/streams/natstest"
)

// nodeTools is the directory of the npm packages the contract checks use
// (.ci/node): an independent Standard Webhooks implementation and the
// AsyncAPI parser. Without Node.js and `npm ci` there, the checks fail in
// CI and are skipped elsewhere, saying how to run them.
func nodeTools(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../../.ci/node")
	if err != nil {
		t.Fatal(err)
	}
	_, nodeErr := exec.LookPath("node")
	_, modErr := os.Stat(filepath.Join(dir, "node_modules", "standardwebhooks"))
	if nodeErr != nil || modErr != nil {
		msg := "needs Node.js and the npm packages of .ci/node: run `npm ci --prefix .ci/node` (make test does when npm is installed)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return dir
}

// verifier checks webhook signatures with the npm standardwebhooks package,
// one delivery at a time, in a Node.js process of its own.
type verifier struct {
	mu  sync.Mutex
	in  io.WriteCloser
	out *bufio.Scanner
}

func startVerifier(t *testing.T, secret string) *verifier {
	t.Helper()
	dir := nodeTools(t)
	cmd := exec.Command("node", filepath.Join(dir, "verify-webhooks.mjs"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "WEBHOOK_SECRET="+secret)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(); _ = cmd.Wait() })
	return &verifier{in: in, out: bufio.NewScanner(out)}
}

// verify returns "" for a delivery the package accepts, else why not.
func (v *verifier) verify(id, timestamp, signature string, body []byte) string {
	line, _ := json.Marshal(map[string]string{"id": id, "timestamp": timestamp, "signature": signature, "body": string(body)})
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, err := v.in.Write(append(line, '\n')); err != nil {
		return "verifier: " + err.Error()
	}
	if !v.out.Scan() {
		return "verifier ended"
	}
	if answer := v.out.Text(); answer != "ok" {
		return answer
	}
	return ""
}

// flakyReceiver is a webhook endpoint on a fixed address that can go away
// (its listener closed: connections refused) and come back, and that
// answers 500 to every tenth request while failing is on.
type flakyReceiver struct {
	t      *testing.T
	addr   string
	verify *verifier

	mu       sync.Mutex
	srv      *http.Server
	failing  bool
	requests int
	accepted []acceptedWebhook
	bad      []string
}

type acceptedWebhook struct{ id, subject string }

func newFlakyReceiver(t *testing.T, v *verifier) *flakyReceiver {
	r := &flakyReceiver{t: t, addr: freeAddr(t), verify: v}
	r.up()
	t.Cleanup(r.down)
	return r
}

func (r *flakyReceiver) up() {
	var l net.Listener
	var err error
	for range 50 { // the port may linger a moment after down
		if l, err = net.Listen("tcp", r.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		r.t.Errorf("receiver cannot listen again on %s: %v", r.addr, err)
		return
	}
	srv := &http.Server{Handler: r}
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
	go func() { _ = srv.Serve(l) }()
}

func (r *flakyReceiver) down() {
	r.mu.Lock()
	srv := r.srv
	r.srv = nil
	r.mu.Unlock()
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}
}

func (r *flakyReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	id := req.Header.Get("webhook-id")
	if why := r.verify.verify(id, req.Header.Get("webhook-timestamp"), req.Header.Get("webhook-signature"), body); why != "" {
		r.mu.Lock()
		r.bad = append(r.bad, id+": "+why)
		r.mu.Unlock()
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var ce struct{ Subject string }
	_ = json.Unmarshal(body, &ce)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	if r.failing && r.requests%10 == 0 {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	r.accepted = append(r.accepted, acceptedWebhook{id: id, subject: ce.Subject})
	w.WriteHeader(http.StatusNoContent)
}

func (r *flakyReceiver) distinct() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]bool{}
	for _, a := range r.accepted {
		seen[a.id] = true
	}
	return len(seen)
}

func TestWebhooksDeliverASimulatedLoadThroughOutagesAndAKill(t *testing.T) {
	secret := "whsec_" + "dGhlLWUyZS10ZXN0LXNlY3JldC1vZi0zMi1ieXRlcyE="
	v := startVerifier(t, secret)
	rec := newFlakyReceiver(t, v)
	t.Setenv("LOYALTY_TEST_WEBHOOK_SECRET", secret)
	hooks := filepath.Join(t.TempDir(), "webhooks.yaml")
	if err := os.WriteFile(hooks, []byte(`endpoints:
  - id: crm
    url: http://`+rec.addr+`/hooks/loyalty
    events: ["*"]
    secrets: ["env:LOYALTY_TEST_WEBHOOK_SECRET"]
    timeout: 2s
    from: all
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := simulate.Config{Members: 300, Days: 120, Seed: 7, Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	run := serveSimulationStarted(t, "--webhooks", hooks, "--clock-interval", "0")
	srv := run.srv
	events := simulateThrough(t, run.natsURL, cfg)

	// Up for a while; then gone for 60 s; then back, failing one request
	// in ten; and the engine killed while it delivers, and started again.
	waitForAccepted(t, rec, 200)
	rec.down()
	time.Sleep(60 * time.Second)
	rec.mu.Lock()
	rec.failing = true
	rec.mu.Unlock()
	rec.up()
	waitForAccepted(t, rec, rec.distinct()+300)
	srv.kill(t)
	startServe(t, run.serveArgs...)

	waitCaughtUp(t, run.env.JS, run.db.Pool, uint64(len(events)))
	want := natstest.OutboundOfLedger(t, run.env.JS)
	deadline := time.Now().Add(5 * time.Minute)
	for rec.distinct() < len(want) && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}

	rec.mu.Lock()
	accepted, bad := append([]acceptedWebhook(nil), rec.accepted...), append([]string(nil), rec.bad...)
	rec.mu.Unlock()
	if len(bad) > 0 {
		t.Errorf("%d deliveries the standardwebhooks package refused, such as %s", len(bad), bad[0])
	}
	position := map[string]int{}
	for i, ev := range want {
		position[ev.ID] = i
	}
	// Each event accepted at least once, none with an id the ledger does
	// not give, and each member's in ledger order.
	seen := map[string]bool{}
	lastOf := map[string]int{}
	repeats := 0
	for _, a := range accepted {
		p, ok := position[a.id]
		if !ok {
			t.Fatalf("the receiver accepted %q, which is no outbound event of the ledger", a.id)
		}
		if seen[a.id] {
			repeats++
			continue
		}
		seen[a.id] = true
		if q, ok := lastOf[a.subject]; ok && p < q {
			t.Errorf("member %q: %s accepted after a later event of theirs", a.subject, a.id)
		}
		lastOf[a.subject] = p
	}
	missing := 0
	for _, ev := range want {
		if !seen[ev.ID] {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d outbound events never accepted", missing, len(want))
	}
	// The outbound stream holds each event once: the kill made no copy
	// with a new id.
	out := natstest.Messages(t, run.env.JS, streams.OutboundStream)
	for i, m := range out {
		if i < len(want) && (m.Header.Get("Nats-Msg-Id") != want[i].ID || m.Subject != want[i].Subject) {
			t.Fatalf("outbound message %d is %s on %s, the ledger gives %s on %s", i, m.Header.Get("Nats-Msg-Id"), m.Subject, want[i].ID, want[i].Subject)
		}
	}
	if len(out) != len(want) {
		t.Errorf("the outbound stream holds %d events, the ledger gives %d", len(out), len(want))
	}
	t.Logf("%d events, %d outbound events, %d deliveries accepted (%d again after a retry or the kill), %d requests",
		len(events), len(want), len(accepted), repeats, rec.requests)
}

func waitForAccepted(t *testing.T, rec *flakyReceiver, n int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for rec.distinct() < n {
		if time.Now().After(deadline) {
			t.Fatalf("the receiver accepted %d events in 3 minutes, want %d", rec.distinct(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
