package handlers_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pointsledger/loyalty/domain"
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

// crmFile is a webhooks file of one endpoint, crm, at url, for every
// event from the outbound stream's first; lanes 0 leaves the default.
func crmFile(url string, lanes int) string {
	f := fmt.Sprintf("endpoints:\n  - {id: crm, url: '%s', events: ['*'], secrets: ['%s'], from: all", url, testSecret)
	if lanes > 0 {
		f += fmt.Sprintf(", lanes: %d", lanes)
	}
	return f + "}\n"
}

// relayedHistory runs the engine and the outbound relay over the history of
// members members, and returns the outbound events the ledger gives, once
// the outbound stream holds them.
func relayedHistory(t *testing.T, members int) (*natstest.Env, []domain.Event, []streams.OutboundEvent) {
	t.Helper()
	env := natstest.Start(t)
	runEngine(t, env.JS)
	startOutbound(t, env.JS, handlers.OutboundConfig{})
	events := outboundHistory(members, day0)
	publish(t, env.JS, events...)
	waitForRecords(t, env.JS, len(events))
	return env, events, checkOutbound(t, env.JS)
}

func startWebhooks(t *testing.T, js jetstream.JetStream, file string) (*prometheus.Registry, func()) {
	t.Helper()
	return startWebhooksWith(t, js, file, handlers.WebhooksConfig{})
}

func startWebhooksWith(t *testing.T, js jetstream.JetStream, file string, cfg handlers.WebhooksConfig) (*prometheus.Registry, func()) {
	t.Helper()
	f, err := handlers.ParseWebhooks([]byte(file), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	cfg.File, cfg.Registerer = f, reg
	cfg.RetryInitial, cfg.RetryMax = 10*time.Millisecond, 50*time.Millisecond
	if cfg.AckWait == 0 {
		cfg.AckWait = 3 * time.Second
	}
	w, err := handlers.NewWebhooks(js, cfg)
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
	env, _, want := relayedHistory(t, 15)

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
	startWebhooks(t, env.JS, crmFile(srv.URL, 4))
	waitUntil(t, "every event accepted", func() bool { return rec.distinct() >= len(want) })
	accepted, bad := rec.snapshot()
	if len(bad) > 0 {
		t.Errorf("%d deliveries with a wrong signature: %v", len(bad), bad)
	}
	checkMemberOrder(t, accepted, want)
}

func TestWebhooksDeadLetterRefusalsAndStopAtGone(t *testing.T) {
	env, events, want := relayedHistory(t, 4)
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
    from: all
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
    from: all
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
		{"from", "endpoints:\n  - {id: a, url: 'http://h', events: ['*'], secrets: ['env:GOOD'], from: yesterday}", "from:"},
		{"password in the URL", "endpoints:\n  - {id: a, url: 'ftp://u:hunter2@h/x?token=hunter2', events: ['*'], secrets: ['env:GOOD']}", `url: "ftp://h/x?…"`},
		{"alias bomb", "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nendpoints: []", "anchors and aliases"},
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

// A member whose deliveries keep failing holds up its lane only: the other
// lane's members get everything, though the stream lets the relay hold far
// fewer events than wait behind the failing one.
func TestWebhooksAFailingMemberHoldsUpOnlyItsLane(t *testing.T) {
	env := natstest.Start(t)
	runEngine(t, env.JS)
	startOutbound(t, env.JS, handlers.OutboundConfig{})
	bad := outboundHistory(1, day0)
	publish(t, env.JS, bad...)
	waitForRecords(t, env.JS, len(bad))
	others := laterHistory(40, day0.Add(time.Hour), "-other")
	publish(t, env.JS, others...)
	waitForRecords(t, env.JS, len(bad)+len(others))
	all := checkOutbound(t, env.JS)
	badMember := bad[0].MemberID
	var badKey string
	for _, ev := range all {
		if ev.MemberID == badMember {
			badKey = ev.ID
			break
		}
	}
	rec, srv := newReceiver(t, func(id string, attempt int) int {
		if id == badKey {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	startWebhooksWith(t, env.JS, crmFile(srv.URL, 2), handlers.WebhooksConfig{MaxInFlight: 8})
	// Every event of the members who do not share the failing member's
	// lane, and none of the failing member's after its first.
	members := map[string]bool{}
	for _, ev := range all {
		members[ev.MemberID] = true
	}
	want := 0
	for _, ev := range all {
		if ev.MemberID != badMember {
			want++
		}
	}
	waitUntil(t, "the other members' events", func() bool { return rec.distinct() >= want/4 })
	time.Sleep(2 * time.Second)
	accepted, _ := rec.snapshot()
	seen := map[string]bool{}
	for _, id := range accepted {
		seen[id] = true
	}
	lanes := map[string]int{}
	for _, ev := range all {
		lanes[ev.MemberID] = streams.PartitionOf(ev.MemberID) % 2
	}
	missing := 0
	for _, ev := range all {
		switch {
		case ev.MemberID == badMember && seen[ev.ID]:
			t.Errorf("the failing member's event %s was accepted, after its first failed", ev.ID)
		case lanes[ev.MemberID] != lanes[badMember] && !seen[ev.ID]:
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d events of members in the other lane were not delivered: the failing member held them up", missing)
	}
}

// A consumer lost while the relay was stopped (deleted, or never made
// again after a failed start) resumes from the position kept in the
// bucket, not at the stream's first event.
func TestWebhooksResumeWhereTheyWereWithoutTheirConsumer(t *testing.T) {
	env, events, want := relayedHistory(t, 5)
	var mu sync.Mutex
	requests := 0
	rec, srv := newReceiver(t, func(string, int) int {
		mu.Lock()
		defer mu.Unlock()
		requests++
		return http.StatusOK
	})
	file := crmFile(srv.URL, 0)
	_, stop := startWebhooks(t, env.JS, file)
	waitUntil(t, "every event", func() bool { return rec.distinct() >= len(want) })
	time.Sleep(1500 * time.Millisecond) // the acknowledgements settle
	stop()
	ctx := context.Background()
	for lane := range 16 { // the default lanes
		if err := env.JS.DeleteConsumer(ctx, streams.OutboundStream, fmt.Sprintf("webhook_crm_%d", lane)); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	before := requests
	mu.Unlock()
	more := laterHistory(2, day0.Add(time.Hour), "-more")
	publish(t, env.JS, more...)
	waitForRecords(t, env.JS, len(events)+len(more))
	all := checkOutbound(t, env.JS)
	startWebhooks(t, env.JS, file)
	waitUntil(t, "the new events", func() bool { return rec.distinct() >= len(all) })
	time.Sleep(500 * time.Millisecond)
	mu.Lock()
	again := requests - before
	mu.Unlock()
	if newOnes := len(all) - len(want); again > newOnes+len(want)/4 {
		t.Errorf("%d requests after the restart for %d new events: the history was sent again", again, newOnes)
	}
}

// A dead letter that is not the relay's (its endpoint header differs from
// its subject), or one of an endpoint no engine serves, is not replayed.
func TestWebhookReplayRefusesForgedDeadLetters(t *testing.T) {
	env := natstest.Start(t)
	ctx := context.Background()
	if _, err := env.JS.CreateStream(ctx, handlers.WebhooksStreamConfig(1)); err != nil {
		t.Fatal(err)
	}
	forged := nats.NewMsg(handlers.WebhookDeadSubject("crm"))
	forged.Data = []byte(`{"id":"1-0"}`)
	forged.Header.Set("webhook-id", "1-0")
	forged.Header.Set(handlers.HeaderWebhookEndpoint, "billing")
	unserved := nats.NewMsg(handlers.WebhookDeadSubject("gone"))
	unserved.Data = []byte(`{"id":"2-0"}`)
	unserved.Header.Set("webhook-id", "2-0")
	unserved.Header.Set(handlers.HeaderWebhookEndpoint, "gone")
	for _, m := range []*nats.Msg{forged, unserved} {
		ack, err := env.JS.PublishMsg(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := handlers.ReplayWebhookDeadLetter(ctx, env.JS, ack.Sequence); err == nil {
			t.Errorf("dead letter %d (%s, endpoint header %s) was replayed", ack.Sequence, m.Subject, m.Header.Get(handlers.HeaderWebhookEndpoint))
		}
	}
	if _, total, _ := handlers.WebhookDeadLetters(ctx, env.JS, "", 0); total != 2 {
		t.Errorf("%d dead letters left, want both kept", total)
	}
}

// Lanes changed between starts: a member whose events one lane had not
// delivered gets them all, whichever lane its partition moves to.
func TestWebhooksChangingLanesSkipsNothing(t *testing.T) {
	env, events, all := relayedHistory(t, 24)
	// A member whose lane of 16 is not its lane of 4: lane n of 4 was lane
	// n of 16, whose position is not this member's.
	failing := ""
	for _, e := range events {
		if streams.PartitionOf(e.MemberID)%16 >= 4 {
			failing = e.MemberID
			break
		}
	}
	if failing == "" {
		t.Fatal("no member of the history has a partition past the first 4 lanes of 16")
	}
	var mu sync.Mutex
	healed := false
	rec, srv := newReceiver(t, func(id string, attempt int) int {
		mu.Lock()
		defer mu.Unlock()
		for _, ev := range all {
			if ev.ID == id && ev.MemberID == failing && !healed {
				return http.StatusServiceUnavailable
			}
		}
		return http.StatusOK
	})
	file := func(lanes int) string { return crmFile(srv.URL, lanes) }
	var others int // events of members not in the failing member's lane of 16
	for _, ev := range all {
		if streams.PartitionOf(ev.MemberID)%16 != streams.PartitionOf(failing)%16 {
			others++
		}
	}
	_, stop := startWebhooksWith(t, env.JS, file(16), handlers.WebhooksConfig{})
	waitUntil(t, "the others' events", func() bool { return rec.distinct() >= others })
	time.Sleep(1500 * time.Millisecond) // positions kept (a third of AckWait)
	stop()
	_, stop = startWebhooks(t, env.JS, file(4)) // still failing: its lane of 4 goes nowhere
	time.Sleep(1500 * time.Millisecond)
	stop()
	mu.Lock()
	healed = true
	mu.Unlock()
	startWebhooks(t, env.JS, file(4))
	waitUntil(t, "every event, the failing member's too", func() bool { return rec.distinct() >= len(all) })
}

// A receiver slower than the stream's patience gets each event once: the
// events a lane fetched ahead and the stream offered again are passed over.
func TestWebhooksASlowReceiverGetsEachEventOnce(t *testing.T) {
	env, _, want := relayedHistory(t, 3)
	rec, srv := newReceiver(t, func(string, int) int {
		time.Sleep(150 * time.Millisecond)
		return http.StatusOK
	})
	startWebhooksWith(t, env.JS, crmFile(srv.URL, 1), handlers.WebhooksConfig{AckWait: time.Second})
	waitUntil(t, "every event", func() bool { return rec.distinct() >= len(want) })
	time.Sleep(time.Second)
	if accepted, _ := rec.snapshot(); len(accepted) != len(want) {
		t.Errorf("%d deliveries of %d events to a receiver that never failed", len(accepted), len(want))
	}
}

// An endpoint that refuses with a huge answer full of terminal controls
// and a URL secret gets a short, clean excerpt in the dead letter: the
// answer is read up to a bound, and its controls replaced.
func TestWebhooksKeepAShortCleanExcerptOfARefusal(t *testing.T) {
	env, _, want := relayedHistory(t, 1)
	answer := strings.Repeat("\x1b[31mno\r\n\u202e", 100_000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	startWebhooks(t, env.JS, crmFile(srv.URL+"/hook?token=TOPSECRET", 0))
	ctx := context.Background()
	waitUntil(t, "the dead letters", func() bool {
		_, total, err := handlers.WebhookDeadLetters(ctx, env.JS, "crm", 0)
		return err == nil && total == len(want)
	})
	for _, dl := range readAll(t, env.JS, handlers.WebhooksStream) {
		detail := dl.Header.Get(handlers.HeaderWebhookDetail)
		if len(detail) > 300 || strings.ContainsAny(detail, "\x1b\r\n") || strings.Contains(detail, "TOPSECRET") {
			t.Fatalf("dead letter detail %q: want at most 256 bytes of the answer, no controls, no URL", detail)
		}
		if !strings.Contains(detail, "no") || dl.Header.Get(handlers.HeaderWebhookStatus) != "400" {
			t.Errorf("dead letter %v: want status 400 and the answer's start", dl.Header)
		}
	}
}
