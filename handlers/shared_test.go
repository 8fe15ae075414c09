package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/handlers"
	"github.com/pointsledger/loyalty/streams"
	"github.com/pointsledger/loyalty/streams/natstest"
)

// sharedEngine is an engine that shares the partitions, on a connection of
// its own so that a test can cut it off as a crash would.
type sharedEngine struct {
	reg  *prometheus.Registry
	nc   *nats.Conn
	stop context.CancelFunc
	done chan error
}

func startShared(t *testing.T, url string, cfg handlers.EngineConfig) *sharedEngine {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Share, cfg.KeyIndexDir = true, t.TempDir()
	engine, _, reg := newEngine(t, js, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	s := &sharedEngine{reg: reg, nc: nc, stop: cancel, done: make(chan error, 1)}
	go func() { s.done <- engine.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(20 * time.Second):
			t.Error("a sharing engine did not stop within 20s")
		}
		nc.Close()
	})
	return s
}

func (s *sharedEngine) owned(t *testing.T) int {
	return int(metricValue(t, s.reg, "loyalty_engine_partitions_owned"))
}

// waitShares waits until the engines own the given numbers of partitions
// (in any order), and returns how long that took.
func waitShares(t *testing.T, within time.Duration, engines []*sharedEngine, want ...int) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		var got []int
		match := map[int]int{}
		for _, w := range want {
			match[w]++
		}
		for _, e := range engines {
			n := e.owned(t)
			got = append(got, n)
			match[n]--
		}
		ok := true
		for _, v := range match {
			ok = ok && v == 0
		}
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("engines own %v partitions after %s, want %v", got, within, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func sharedLoad(from, n int) []domain.Event {
	var evs []domain.Event
	for i := from; i < from+n; i++ {
		member := fmt.Sprintf("m-%d", i%97)
		evs = append(evs, purchase(fmt.Sprintf("p-%d", i), member, fmt.Sprintf("o-%d", i), int64(100+i%50), day0.Add(time.Duration(i)*time.Minute)))
	}
	return evs
}

// Three engines share the 64 partitions 21/21/22; when one stops the other
// two own 32 each within 10 s, and when it comes back the shares even out
// again. Input published throughout is applied once, in order per member.
func TestEnginesShareThePartitions(t *testing.T) {
	env := natstest.Start(t)
	url := env.Server.ClientURL()
	engines := []*sharedEngine{startShared(t, url, handlers.EngineConfig{}), startShared(t, url, handlers.EngineConfig{}),
		startShared(t, url, handlers.EngineConfig{})}
	waitShares(t, 15*time.Second, engines, 21, 21, 22)

	load := &loadPublisher{t: t, js: env.JS}
	load.send(300)
	waitForRecords(t, env.JS, 300)

	// One stops while input arrives.
	engines[2].stop()
	load.send(300)
	took := waitShares(t, 10*time.Second, engines[:2], 32, 32)
	t.Logf("two engines own 32 partitions each %s after the third was told to stop", took)
	waitForRecords(t, env.JS, 600)

	// Another joins.
	engines[2] = startShared(t, url, handlers.EngineConfig{})
	load.send(300)
	took = waitShares(t, 15*time.Second, engines, 21, 21, 22)
	t.Logf("three engines own 21, 21 and 22 partitions %s after the third joined", took)
	waitForRecords(t, env.JS, 900)

	records := assertLedgerMatchesReference(t, env.JS, load.events)
	assertMemberOrder(t, records, load.events)
}

// A sharing engine that dies (its connection cut, so it cannot hand over)
// loses its partitions to the others once its leases lapse, and nothing it
// handled is applied twice.
func TestPartitionsMoveWhenAnEngineDies(t *testing.T) {
	env := natstest.Start(t)
	url := env.Server.ClientURL()
	engines := []*sharedEngine{startShared(t, url, handlers.EngineConfig{}), startShared(t, url, handlers.EngineConfig{})}
	waitShares(t, 15*time.Second, engines, 32, 32)
	load := &loadPublisher{t: t, js: env.JS}
	load.send(400)
	engines[1].nc.Close() // as a crash: nothing is handed over
	load.send(400)
	took := waitShares(t, 15*time.Second, engines[:1], 64)
	t.Logf("the survivor owns all 64 partitions %s after the other's connection was cut", took)
	waitForRecords(t, env.JS, 800)
	records := assertLedgerMatchesReference(t, env.JS, load.events)
	assertMemberOrder(t, records, load.events)
}

// loadPublisher publishes sharedLoad in parts, each part's events after
// the last part's, and keeps them all for comparing with the ledger.
type loadPublisher struct {
	t      *testing.T
	js     jetstream.JetStream
	events []domain.Event
}

func (p *loadPublisher) send(n int) {
	p.t.Helper()
	evs := sharedLoad(len(p.events), n)
	p.events = append(p.events, evs...)
	publish(p.t, p.js, evs...)
}

// assertLedgerMatchesReference checks that no event was credited twice and
// that the members folded from the ledger are those of the reference fold of
// events; it returns the ledger's records.
func assertLedgerMatchesReference(t *testing.T, js jetstream.JetStream, events []domain.Event) []streams.LedgerRecord {
	t.Helper()
	got, records := foldLedger(t, js)
	assertNoDoubleCredit(t, records)
	compareMembers(t, got, reference(t, events))
	return records
}

// assertMemberOrder checks that each member's records are in the order
// their events were published.
func assertMemberOrder(t *testing.T, records []streams.LedgerRecord, events []domain.Event) {
	t.Helper()
	rank := map[string]int{}
	for i, ev := range events {
		rank[ev.ID] = i
	}
	last := map[string]int{}
	for _, r := range records {
		i, ok := rank[r.EventID]
		if !ok {
			continue
		}
		if prev, seen := last[r.MemberID]; seen && prev > i {
			t.Errorf("member %s: event %s recorded after a later one", r.MemberID, r.EventID)
		}
		last[r.MemberID] = i
	}
}

// waitFor polls cond until it holds, or fails the test after within.
func waitFor(t *testing.T, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Progress an engine cannot trust (a value past the input's end, one of a
// stream made before this one, one that is not a progress value at all:
// written by hand, or by a client with the engine's rights) does not make
// an engine skip input: it reads the partition's input from the start.
func TestProgressThatCannotBeRightIsNotTrusted(t *testing.T) {
	env := natstest.Start(t)
	ctx := context.Background()
	events := sharedLoad(0, 200)
	publish(t, env.JS, events...)
	kv, err := env.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: handlers.ProgressBucket})
	if err != nil {
		t.Fatal(err)
	}
	in, err := env.JS.Stream(ctx, streams.InputStream)
	if err != nil {
		t.Fatal(err)
	}
	created := in.CachedInfo().Created.UTC().Format(time.RFC3339Nano)
	values := []string{
		`{"input_seq": 1000000, "input_created": "` + created + `"}`,
		`{"input_seq": 150, "input_created": "2020-01-01T00:00:00Z"}`,
		`not json`, `150`, `{"input_seq": -1}`,
	}
	for p := range streams.Partitions {
		if _, err := kv.PutString(ctx, fmt.Sprintf("partition.%d", p), values[p%len(values)]); err != nil {
			t.Fatal(err)
		}
	}
	startShared(t, env.Server.ClientURL(), handlers.EngineConfig{})
	waitForRecords(t, env.JS, len(events))
	assertLedgerMatchesReference(t, env.JS, events)
}

// A caller reaches whichever engine NATS picks: every engine answers for
// every member, a redemption is decided once whichever engine took it, a
// repeated request gets the first decision back, and balances are
// answered while partitions move to an engine that joins.
func TestServiceAnswersFromAnyEngine(t *testing.T) {
	env := natstest.Start(t)
	url := env.Server.ClientURL()
	engines := []*sharedEngine{startShared(t, url, handlers.EngineConfig{}), startShared(t, url, handlers.EngineConfig{})}
	waitShares(t, 15*time.Second, engines, 32, 32)
	var events []domain.Event
	members := 40
	for i := range members {
		events = append(events, purchase(fmt.Sprintf("p-%d", i), fmt.Sprintf("m-%d", i), fmt.Sprintf("o-%d", i), 5000, time.Now().UTC().Add(-time.Hour)))
	}
	publish(t, env.JS, events...)
	waitForRecords(t, env.JS, members)

	for i := range members {
		for range 3 { // the queue group spreads them over both engines
			var bal handlers.BalanceReply
			if code, desc := call(t, env.Conn, handlers.BalanceSubject, handlers.BalanceRequest{MemberID: fmt.Sprintf("m-%d", i)}, &bal); code != "" || bal.Balance != 150 {
				t.Fatalf("balance of m-%d: %s %s, %+v; want 150 points", i, code, desc, bal)
			}
		}
	}
	for i := range members {
		mug := handlers.RedeemRequestJSON{MemberID: fmt.Sprintf("m-%d", i), RequestID: "till-1", RewardID: "mug"}
		var first, again handlers.RedeemReply
		if code, desc := call(t, env.Conn, handlers.RedeemSubject, mug, &first); code != "" || first.Status != "accepted" || first.Balance != 90 {
			t.Fatalf("redeem for m-%d: %s %s, %+v; want accepted, 90 left", i, code, desc, first)
		}
		if code, desc := call(t, env.Conn, handlers.RedeemSubject, mug, &again); code != "" || !again.Repeated || again.Balance != 90 {
			t.Fatalf("repeated redeem for m-%d: %s %s, %+v; want the first decision", i, code, desc, again)
		}
	}

	// Balances asked without pause while a third engine joins and takes
	// its share.
	stop := make(chan struct{})
	failures := make(chan string, 1000)
	asked := make(chan int, 1)
	go func() {
		n := 0
		defer func() { asked <- n }()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			member := fmt.Sprintf("m-%d", i%members)
			data, _ := json.Marshal(handlers.BalanceRequest{MemberID: member})
			msg, err := env.Conn.Request(handlers.BalanceSubject, data, 10*time.Second)
			n++
			var bal handlers.BalanceReply
			switch {
			case err != nil:
				failures <- member + ": " + err.Error()
			case msg.Header.Get(micro.ErrorCodeHeader) != "":
				failures <- member + ": " + msg.Header.Get(micro.ErrorCodeHeader) + " " + msg.Header.Get(micro.ErrorHeader)
			case json.Unmarshal(msg.Data, &bal) != nil || bal.Balance != 90:
				failures <- fmt.Sprintf("%s: %s", member, msg.Data)
			}
		}
	}()
	engines = append(engines, startShared(t, url, handlers.EngineConfig{}))
	waitShares(t, 15*time.Second, engines, 21, 21, 22)
	time.Sleep(time.Second)
	close(stop)
	n := <-asked
	close(failures)
	for f := range failures {
		t.Errorf("balance while partitions moved: %s", f)
	}
	t.Logf("%d balance requests answered while a third engine joined", n)
	_, records := foldLedger(t, env.JS)
	if len(records) != 2*members {
		t.Errorf("%d ledger records, want %d (a purchase and one redemption per member)", len(records), 2*members)
	}
}

// stopAndWait stops a sharing engine and waits for Run to return (handing
// over), leaving the result for the cleanup.
func stopAndWait(t *testing.T, s *sharedEngine) {
	t.Helper()
	s.stop()
	select {
	case err := <-s.done:
		s.done <- err
	case <-time.After(20 * time.Second):
		t.Fatal("engine did not stop")
	}
}

// assertNotApplied fails the test when the ledger holds a record of the
// event.
func assertNotApplied(t *testing.T, js jetstream.JetStream, eventID, why string) {
	t.Helper()
	_, records := foldLedger(t, js)
	for _, r := range records {
		if r.EventID == eventID {
			t.Errorf("%s was applied (input seq %d, ledger seq %d): %s", eventID, r.InputSeq, r.Seq, why)
		}
	}
}

// An input dead-lettered before a crash is delivered again to the next
// owner (everything past the last recorded progress is): it must not be
// decided again on the state of now. A refund that came before its
// purchase (unknown_order) would otherwise be applied once the purchase is
// there.
func TestADeadLetteredInputIsNotDecidedAgainAfterACrash(t *testing.T) {
	env := natstest.Start(t)
	url := env.Server.ClientURL()
	member := "m-1"
	first := startShared(t, url, handlers.EngineConfig{NoService: true})
	waitShares(t, 15*time.Second, []*sharedEngine{first}, 64)
	publish(t, env.JS, purchase("p-0", member, "o-0", 100, day0))
	waitForRecords(t, env.JS, 1)
	time.Sleep(2 * time.Second) // progress written for it
	publish(t, env.JS,
		refund("r-1", member, "o-1", 2000, day0.Add(2*time.Hour)),
		purchase("p-1", member, "o-1", 5000, day0.Add(time.Hour)))
	waitForRecords(t, env.JS, 2)
	waitForMsgs(t, env.JS, streams.DeadLetterStream, 1)
	first.nc.Close() // a crash: nothing handed over, progress not written since
	second := startShared(t, url, handlers.EngineConfig{NoService: true})
	waitShares(t, 20*time.Second, []*sharedEngine{second}, 64)
	publish(t, env.JS, purchase("p-2", member, "o-2", 100, day0.Add(3*time.Hour))) // behind the input read again
	waitForRecords(t, env.JS, 3)
	assertNotApplied(t, env.JS, "r-1", "it was dead-lettered as unknown_order before the crash")
	waitForMsgs(t, env.JS, streams.DeadLetterStream, 1)
}

// The same when a partition's progress is lost and its input is read again
// from the start.
func TestADeadLetteredInputIsNotDecidedAgainWhenReadFromTheStart(t *testing.T) {
	env := natstest.Start(t)
	url := env.Server.ClientURL()
	member := "m-1"
	publish(t, env.JS,
		refund("r-1", member, "o-1", 2000, day0.Add(2*time.Hour)), // before its purchase: unknown_order
		purchase("p-1", member, "o-1", 5000, day0.Add(time.Hour)))
	first := startShared(t, url, handlers.EngineConfig{})
	waitForRecords(t, env.JS, 1)
	waitForMsgs(t, env.JS, streams.DeadLetterStream, 1)
	stopAndWait(t, first)
	kv, err := env.JS.KeyValue(context.Background(), handlers.ProgressBucket)
	if err != nil {
		t.Fatal(err)
	}
	for p := range streams.Partitions {
		if _, err := kv.PutString(context.Background(), fmt.Sprintf("partition.%d", p), "not json"); err != nil {
			t.Fatal(err)
		}
	}
	startShared(t, url, handlers.EngineConfig{})
	publish(t, env.JS, purchase("p-2", member, "o-2", 100, day0.Add(3*time.Hour)))
	waitForRecords(t, env.JS, 2)
	assertNotApplied(t, env.JS, "r-1", "it was dead-lettered as unknown_order before the progress was lost")
}

// An engine restarted with the id it had (serve keeps it in its data
// directory) after a crash takes its own leases back, and is given the
// same partitions: those whose snapshots it holds.
func TestAnEngineRestartedWithItsIDGetsItsPartitionsBack(t *testing.T) {
	env := natstest.Start(t)
	url := env.Server.ClientURL()
	engines := []*sharedEngine{startShared(t, url, handlers.EngineConfig{EngineID: "engine-a"}),
		startShared(t, url, handlers.EngineConfig{EngineID: "engine-b"})}
	waitShares(t, 15*time.Second, engines, 32, 32)
	before := heldBy(t, env.JS, "engine-b")
	publish(t, env.JS, sharedLoad(0, 200)...)
	waitForRecords(t, env.JS, 200)
	engines[1].nc.Close() // a crash
	engines[1] = startShared(t, url, handlers.EngineConfig{EngineID: "engine-b"})
	waitShares(t, 15*time.Second, engines, 32, 32)
	if after := heldBy(t, env.JS, "engine-b"); !slices.Equal(after, before) {
		t.Errorf("after its restart the engine holds partitions %v, before %v", after, before)
	}
	publish(t, env.JS, sharedLoad(200, 200)...)
	waitForRecords(t, env.JS, 400)
	assertLedgerMatchesReference(t, env.JS, sharedLoad(0, 400))
}

// heldBy lists the partitions whose lease names the engine.
func heldBy(t *testing.T, js jetstream.JetStream, id string) []int {
	t.Helper()
	kv, err := js.KeyValue(context.Background(), handlers.LeaseBucket)
	if err != nil {
		t.Fatal(err)
	}
	var held []int
	for p := range streams.Partitions {
		entry, err := kv.Get(context.Background(), fmt.Sprintf("partitions.%02d", p))
		if err == nil && strings.Contains(string(entry.Value()), `"id":"`+id+`"`) {
			held = append(held, p)
		}
	}
	return held
}

// pausableProxy forwards TCP to a NATS server and can stop forwarding both
// ways without closing: an engine that stalls (GC, SIGSTOP, a network
// hiccup) past the lease TTL and then resumes.
type pausableProxy struct {
	ln     net.Listener
	target string
	mu     sync.RWMutex
	paused bool
}

func startProxy(t *testing.T, target string) *pausableProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &pausableProxy{ln: ln, target: target}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			go p.pipe(c, s)
			go p.pipe(s, c)
		}
	}()
	return p
}

func (p *pausableProxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		for {
			p.mu.RLock()
			paused := p.paused
			p.mu.RUnlock()
			if !paused {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			_ = dst.Close()
			return
		}
	}
}

func (p *pausableProxy) pause(v bool) { p.mu.Lock(); p.paused = v; p.mu.Unlock() }

// An engine stalls 8 s (past the 5 s TTL) while input arrives, then
// resumes: for a while both engines believe they own its partitions (its
// leases were taken by the other). Nothing may be applied twice or lost:
// the ledger's fence refuses the stalled engine's appends, and it finds its
// leases gone.
func TestAnEngineThatStallsPastItsLeasesAppliesNothingTwice(t *testing.T) {
	env := natstest.Start(t)
	url := env.Server.ClientURL()
	proxy := startProxy(t, strings.TrimPrefix(url, "nats://"))
	a := startShared(t, "nats://"+proxy.ln.Addr().String(), handlers.EngineConfig{})
	b := startShared(t, url, handlers.EngineConfig{})
	waitShares(t, 15*time.Second, []*sharedEngine{a, b}, 32, 32)
	var events []domain.Event
	n := 0
	send := func(k int) {
		for range k {
			from, to := fmt.Sprintf("s-%d", n%50), fmt.Sprintf("s-%d", (n+7)%50)
			events = append(events, purchase(fmt.Sprintf("p-%d", n), from, fmt.Sprintf("o-%d", n), 5000, day0.Add(time.Duration(n)*time.Minute)))
			events = append(events, transferEvent(fmt.Sprintf("t-%d", n), from, to, fmt.Sprintf("g-%d", n), 10, day0.Add(time.Duration(n)*time.Minute+time.Second)))
			n++
		}
		publish(t, env.JS, events[len(events)-2*k:]...)
	}
	send(100)
	time.Sleep(300 * time.Millisecond)
	proxy.pause(true)
	for range 8 {
		send(20)
		time.Sleep(time.Second)
	}
	t.Logf("during the stall: a owns %d, b owns %d", a.owned(t), b.owned(t))
	proxy.pause(false)
	send(100)
	time.Sleep(8 * time.Second)
	t.Logf("after: a owns %d, b owns %d", a.owned(t), b.owned(t))
	got, records := foldLedger(t, env.JS)
	assertNoDoubleCredit(t, records)
	byEvent := map[string]int{}
	received := map[string]int{}
	for _, r := range records {
		byEvent[r.EventID]++
		for _, f := range r.Facts {
			if pr, ok := f.(domain.PointsReceived); ok {
				received[pr.FromMemberID+"/"+pr.RequestID]++
			}
		}
	}
	for _, ev := range events {
		if byEvent[ev.ID] != 1 {
			t.Errorf("event %s has %d records", ev.ID, byEvent[ev.ID])
		}
	}
	for k, c := range received {
		if c != 1 {
			t.Errorf("transfer %s credited %d times", k, c)
		}
	}
	if len(received) != n {
		t.Errorf("%d transfers credited, want %d", len(received), n)
	}
	var total int64
	for _, m := range got {
		total += m.Balance
	}
	ref := referenceWithFollowUps(t, events)
	for id, m := range ref.members {
		if got[id] == nil || got[id].Balance != m.Balance {
			t.Errorf("member %s: ledger balance %v, reference %d", id, got[id], m.Balance)
		}
	}
	t.Logf("%d records (reference %d), %d members, total balance %d", len(records), ref.records, len(got), total)
}

// referenceWithFollowUps is reference with each accepted event's follow-ups
// applied to their member right after it, and the ledger records counted.
func referenceWithFollowUps(t *testing.T, events []domain.Event) referenceFold {
	t.Helper()
	r := referenceFold{members: map[string]*domain.Member{}}
	queue := append([]domain.Event(nil), events...)
	for len(queue) > 0 {
		e := queue[0]
		queue = queue[1:]
		m := r.members[e.MemberID]
		if m == nil {
			m = domain.NewMember(e.MemberID)
		}
		facts, err := domain.Apply(m, e, testProgram())
		if err != nil {
			continue
		}
		r.members[e.MemberID] = m
		r.records++
		var follow []domain.Event
		for _, f := range facts {
			if ev, ok := domain.FollowUp(f); ok {
				follow = append(follow, ev)
			}
		}
		queue = append(follow, queue...)
	}
	return r
}
