package handlers_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pointsledger/loyalty/handlers"
	"github.com/pointsledger/loyalty/streams"
	"github.com/pointsledger/loyalty/streams/natstest"
)

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// receiver is an HTTP endpoint that checks each delivery's signature and
// answers what answer says.
type receiver struct {
	t      *testing.T
	mu     sync.Mutex
	answer func(id string, attempt int) int
	tries  map[string]int
	// accepted are the ids answered 2xx, in the order they came.
	accepted []string
	bad      []string
}

func newReceiver(t *testing.T, answer func(id string, attempt int) int) (*receiver, *httptest.Server) {
	r := &receiver{t: t, answer: answer, tries: map[string]int{}}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	id, ts, sig := req.Header.Get("webhook-id"), req.Header.Get("webhook-timestamp"), req.Header.Get("webhook-signature")
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(testSecret, "whsec_"))
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "." + string(body)))
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	r.mu.Lock()
	defer r.mu.Unlock()
	if !strings.Contains(" "+sig+" ", " "+want+" ") {
		r.bad = append(r.bad, id)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	r.tries[id]++
	code := r.answer(id, r.tries[id])
	if code/100 == 2 {
		r.accepted = append(r.accepted, id)
	}
	w.WriteHeader(code)
}

// distinct is how many events the receiver accepted at least once.
func (r *receiver) distinct() int {
	acc, _ := r.snapshot()
	seen := map[string]bool{}
	for _, id := range acc {
		seen[id] = true
	}
	return len(seen)
}

func (r *receiver) snapshot() (accepted []string, bad []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.accepted...), append([]string(nil), r.bad...)
}

func startWebhooks(t *testing.T, js jetstream.JetStream, file string) (*prometheus.Registry, func()) {
	t.Helper()
	f, err := handlers.ParseWebhooks([]byte(file), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	w, err := handlers.NewWebhooks(js, handlers.WebhooksConfig{File: f, Registerer: reg,
		RetryInitial: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond, AckWait: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return reg, stop
}

// checkMemberOrder fails unless the first acceptance of each member's
// events comes in ledger order.
func checkMemberOrder(t *testing.T, accepted []string, want []streams.OutboundEvent) {
	t.Helper()
	pos := map[string]int{}
	member := map[string]string{}
	for i, ev := range want {
		pos[ev.ID], member[ev.ID] = i, ev.MemberID
	}
	seen := map[string]bool{}
	last := map[string]int{}
	for _, id := range accepted {
		if seen[id] {
			continue
		}
		seen[id] = true
		m := member[id]
		if p, ok := last[m]; ok && pos[id] < p {
			t.Errorf("member %q: event %s accepted after a later one", m, id)
		}
		last[m] = pos[id]
	}
	for _, ev := range want {
		if !seen[ev.ID] {
			t.Errorf("event %s (%s) never accepted", ev.ID, ev.Name)
		}
	}
	if len(seen) != len(want) {
		t.Errorf("%d distinct events accepted, want %d", len(seen), len(want))
	}
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestWebhooksDeliverEveryEventInOrderThroughFailures(t *testing.T) {
	env := natstest.Start(t)
	runEngine(t, env.JS)
	startOutbound(t, env.JS, handlers.OutboundConfig{})
	events := outboundHistory(15, day0)
	publish(t, env.JS, events...)
	waitForRecords(t, env.JS, len(events))
	want := checkOutbound(t, env.JS)

	// Down for the first 40 requests, then a 500 to one request in three.
	var n int
	var mu sync.Mutex
	rec, srv := newReceiver(t, func(id string, attempt int) int {
		mu.Lock()
		defer mu.Unlock()
		n++
		if n <= 40 || n%3 == 0 {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	})
	startWebhooks(t, env.JS, `
endpoints:
  - id: crm
    url: `+srv.URL+`
    events: ["*"]
    secrets: ["`+testSecret+`"]
    lanes: 4
`)
	waitUntil(t, "every event accepted", func() bool { return rec.distinct() >= len(want) })
	accepted, bad := rec.snapshot()
	if len(bad) > 0 {
		t.Errorf("%d deliveries with a wrong signature: %v", len(bad), bad)
	}
	checkMemberOrder(t, accepted, want)
}

func TestWebhooksDeadLetterRefusalsAndStopAtGone(t *testing.T) {
	env := natstest.Start(t)
	runEngine(t, env.JS)
	startOutbound(t, env.JS, handlers.OutboundConfig{})
	events := outboundHistory(4, day0)
	publish(t, env.JS, events...)
	waitForRecords(t, env.JS, len(events))
	want := checkOutbound(t, env.JS)
	refused := want[3].ID
	var gone bool
	var mu sync.Mutex
	rec, srv := newReceiver(t, func(id string, attempt int) int {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case id == refused && refused != "":
			return http.StatusUnprocessableEntity
		case gone:
			return http.StatusGone
		}
		return http.StatusOK
	})
	_, stop := startWebhooks(t, env.JS, `
endpoints:
  - id: crm
    url: `+srv.URL+`
    events: [points_earned, tier_changed, points_reversed]
    secrets: ["whsec_c2hvcnQtYnV0LXZhbGlkLWtleS0xMjM0NTY3OA==", "`+testSecret+`"]
`)
	waitUntil(t, "all but the refused event accepted", func() bool {
		acc, _ := rec.snapshot()
		return len(acc) >= len(want)-1
	})
	waitForMsgs(t, env.JS, handlers.WebhooksStream, 1)
	dl := readAll(t, env.JS, handlers.WebhooksStream)[0]
	if dl.Header.Get("webhook-id") != refused || dl.Header.Get(handlers.HeaderWebhookReason) != handlers.WebhookRefused ||
		dl.Header.Get(handlers.HeaderWebhookStatus) != "422" || dl.Subject != handlers.WebhookDeadSubject("crm") {
		t.Errorf("dead letter %s %v, want %s refused with 422", dl.Subject, dl.Header, refused)
	}

	// The endpoint goes away: the relay stops at the first 410 and keeps
	// the rest for when it is enabled again.
	mu.Lock()
	gone = true
	mu.Unlock()
	more := laterHistory(2, day0.Add(48*time.Hour), "-more")
	publish(t, env.JS, more...)
	waitForRecords(t, env.JS, len(events)+len(more))
	all := checkOutbound(t, env.JS)
	ctx := context.Background()
	waitUntil(t, "the endpoint disabled", func() bool {
		kv, err := env.JS.KeyValue(ctx, handlers.WebhooksBucket)
		if err != nil {
			return false
		}
		_, err = kv.Get(ctx, "disabled.crm")
		return err == nil
	})
	stop()
	mu.Lock()
	gone = false
	mu.Unlock()
	if ok, err := handlers.EnableWebhookEndpoint(ctx, env.JS, "crm"); !ok || err != nil {
		t.Fatalf("enable: %v %v", ok, err)
	}
	startWebhooks(t, env.JS, `
endpoints:
  - id: crm
    url: `+srv.URL+`
    events: [points_earned, tier_changed, points_reversed]
    secrets: ["`+testSecret+`"]
`)
	waitUntil(t, "the rest accepted", func() bool { return rec.distinct() >= len(all)-1 })
	accepted, bad := rec.snapshot()
	if len(bad) > 0 {
		t.Errorf("wrong signatures: %v", bad)
	}
	var rest []streams.OutboundEvent
	for _, ev := range all {
		if ev.ID != refused {
			rest = append(rest, ev)
		}
	}
	checkMemberOrder(t, accepted, rest)

	// Sent again once the receiver takes it: delivered, and no longer
	// listed.
	listed, total, err := handlers.WebhookDeadLetters(ctx, env.JS, "crm", 0)
	if err != nil || total != 1 || len(listed) != 1 || listed[0].ID != refused || listed[0].Status != "422" {
		t.Fatalf("dead letters %+v (%d), %v; want %s", listed, total, err, refused)
	}
	mu.Lock()
	refusedAgain := refused
	refused = ""
	mu.Unlock()
	if _, err := handlers.ReplayWebhookDeadLetter(ctx, env.JS, listed[0].Seq); err != nil {
		t.Fatal(err)
	}
	if _, err := handlers.ReplayWebhookDeadLetter(ctx, env.JS, listed[0].Seq); !errors.Is(err, handlers.ErrNotWebhookDeadLetter) {
		t.Errorf("a second replay of one dead letter: %v, want ErrNotWebhookDeadLetter", err)
	}
	waitUntil(t, "the replay accepted", func() bool {
		acc, _ := rec.snapshot()
		return slices.Contains(acc, refusedAgain)
	})
	if _, total, _ := handlers.WebhookDeadLetters(ctx, env.JS, "", 0); total != 0 {
		t.Errorf("%d dead letters after the replay, want none", total)
	}
}

func TestParseWebhooksRefusesBadFiles(t *testing.T) {
	env := map[string]string{"GOOD": testSecret, "SHORT": "whsec_c2hvcnQ="}
	getenv := func(k string) string { return env[k] }
	for _, tc := range []struct{ name, file, want string }{
		{"no endpoints", "endpoints: []", "endpoints: none given"},
		{"unknown field", "endpoints:\n  - id: a\n    urll: http://x", "urll"},
		{"bad id", "endpoints:\n  - id: ../x\n    url: http://h\n    events: ['*']\n    secrets: ['env:GOOD']", "id:"},
		{"duplicate id", "endpoints:\n  - {id: a, url: 'http://h', events: ['*'], secrets: ['env:GOOD']}\n  - {id: a, url: 'http://h', events: ['*'], secrets: ['env:GOOD']}", "used twice"},
		{"scheme", "endpoints:\n  - {id: a, url: 'file:///etc/passwd', events: ['*'], secrets: ['env:GOOD']}", "url:"},
		{"credentials", "endpoints:\n  - {id: a, url: 'https://u:p@h/x', events: ['*'], secrets: ['env:GOOD']}", "url:"},
		{"unknown event", "endpoints:\n  - {id: a, url: 'http://h', events: ['points.earned'], secrets: ['env:GOOD']}", `"points.earned" is not an outbound event`},
		{"no secret", "endpoints:\n  - {id: a, url: 'http://h', events: ['*'], secrets: []}", "secrets: 0 given"},
		{"three secrets", "endpoints:\n  - {id: a, url: 'http://h', events: ['*'], secrets: ['env:GOOD', 'env:GOOD', 'env:GOOD']}", "secrets: 3 given"},
		{"unset env", "endpoints:\n  - {id: a, url: 'http://h', events: ['*'], secrets: ['env:NOPE']}", "NOPE is not set"},
		{"short secret", "endpoints:\n  - {id: a, url: 'http://h', events: ['*'], secrets: ['env:SHORT']}", "decodes to 5 bytes"},
		{"not whsec", "endpoints:\n  - {id: a, url: 'http://h', events: ['*'], secrets: ['hunter2hunter2hunter2hunter2']}", "not a whsec_ secret"},
		{"lanes", "endpoints:\n  - {id: a, url: 'http://h', events: ['*'], secrets: ['env:GOOD'], lanes: 100000}", "lanes:"},
		{"retry_for", "endpoints:\n  - {id: a, url: 'http://h', events: ['*'], secrets: ['env:GOOD'], retry_for: 1ms}", "retry_for:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := handlers.ParseWebhooks([]byte(tc.file), getenv)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "MfKQ9r8") {
				t.Errorf("the error quotes a secret: %v", err)
			}
		})
	}
}
