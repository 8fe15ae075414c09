package main_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/handlers"
	"github.com/pointsledger/loyalty/projections/pgtest"
	"github.com/pointsledger/loyalty/streams"
	"github.com/pointsledger/loyalty/streams/natstest"
)

// Order, request and event ids are consumed once for ever, whatever the
// member's state has forgotten and whichever partition repeats them: a
// purchase from 2022 sent again with a new event id after three years of
// later activity, a redemption and a transfer request id sent again 800 days
// on, and an event id of one member used for a member of another partition
// are all refused, after a clean restart, a kill -9, and a start without the
// engine's key index or on a damaged one (folded again from the ledger).
// Event ids raced by two partitions at once are applied once.
func TestKeysHoldForEverAndAcrossPartitions(t *testing.T) {
	env := natstest.Start(t)
	db := pgtest.New(t)
	dataDir := t.TempDir()
	// Room for no member in memory, snapshots at every commit: each member
	// is read back from its snapshot whenever it is needed.
	args := []string{"--nats-url", env.Server.ClientURL(), "--database-url", db.URL, "--data-dir", dataDir,
		"--program", writeProgram(t, defaultProgramWith("")+"\ntransfers: {allowed: true}\n"),
		"--member-memory", "1B", "--snapshot-interval", "1ms"}
	srv := startServe(t, args...)

	a, b := membersOfTwoPartitions()
	event := func(id, member string, at time.Time, body domain.EventBody) domain.Event {
		return domain.Event{ID: id, Type: body.EventType(), Source: "keys-test", MemberID: member, OccurredAt: at, Body: body}
	}
	eur := func(minor int64) domain.Money { return domain.Money{Minor: minor, Currency: "EUR"} }
	old := time.Date(2022, 5, 1, 10, 0, 0, 0, time.UTC)
	history := []domain.Event{
		event("k-enrol-a", a, old.Add(-time.Hour), domain.Enrolment{Channel: "app"}),
		event("k-enrol-b", b, old.Add(-time.Hour), domain.Enrolment{Channel: "app"}),
		event("k-buy", a, old, domain.Purchase{OrderID: "o-2022", Total: eur(40_00), Channel: "web"}),
		event("k-redeem", a, old.Add(time.Hour), domain.RedeemRequest{RequestID: "r-2022", Points: 100}),
		event("k-move", a, old.Add(2*time.Hour), domain.TransferRequest{RequestID: "t-2022", ToMemberID: b, Points: 5}),
	}
	for i := range 36 { // three years of a purchase a month
		at := old.AddDate(0, i+1, 0)
		history = append(history, event(fmt.Sprintf("k-later-%d", i), a, at,
			domain.Purchase{OrderID: fmt.Sprintf("o-later-%d", i), Total: eur(10_00), Channel: "web"}))
	}
	publishEvents(t, env, history)
	waitCaughtUp(t, env.JS, db.Pool, uint64(len(history)))

	want := map[string]domain.Reason{}
	published := len(history) + 1 // the transfer's credit to b
	later := old.AddDate(3, 2, 0)
	restarts := []struct {
		name   string
		before func()
	}{
		{"a clean restart", func() { srv.stop(t) }},
		{"kill -9", func() { srv.kill(t) }},
		{"a start without the key index", func() {
			srv.stop(t)
			if err := os.RemoveAll(filepath.Join(dataDir, "keys")); err != nil {
				t.Fatal(err)
			}
		}},
		{"a start on a damaged key index", func() {
			srv.kill(t)
			files, _ := filepath.Glob(filepath.Join(dataDir, "keys", "*"))
			for _, f := range files {
				if err := os.WriteFile(f, []byte("damaged"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}},
	}
	for i, r := range restarts {
		r.before()
		srv = startServe(t, args...)
		n := fmt.Sprint(i)
		repeats := []domain.Event{
			event("k-buy-again-"+n, a, later, domain.Purchase{OrderID: "o-2022", Total: eur(40_00), Channel: "web"}),
			event("k-redeem-again-"+n, a, old.AddDate(0, 0, 800), domain.RedeemRequest{RequestID: "r-2022", Points: 100}),
			event("k-move-again-"+n, a, old.AddDate(0, 0, 800), domain.TransferRequest{RequestID: "t-2022", ToMemberID: b, Points: 5}),
			event("k-buy", b, later, domain.Visit{Channel: "store"}), // a's purchase's event id, for b
		}
		want["k-buy-again-"+n] = domain.ReasonDuplicateOrder
		want["k-redeem-again-"+n] = domain.ReasonDuplicateRequest
		want["k-move-again-"+n] = domain.ReasonDuplicateRequest
		publishWithoutMsgIDs(t, env, repeats)
		published += len(repeats)
		waitEngineSettled(t, env.JS)
		t.Logf("after %s: %d inputs handled", r.name, published)
	}

	// Two partitions race for each id: both events are published before
	// either partition has appended.
	var raced []domain.Event
	for i := range 30 {
		id := fmt.Sprintf("k-race-%d", i)
		raced = append(raced, event(id, a, later, domain.Visit{Channel: "store"}), event(id, b, later, domain.Visit{Channel: "web"}))
	}
	publishWithoutMsgIDs(t, env, raced)
	published += len(raced)
	waitCaughtUp(t, env.JS, db.Pool, uint64(published))

	ledgered := map[string]int{}
	keys := streams.ReadMemberKeys(env.JS)
	for _, m := range streamMessages(t, env.JS, streams.LedgerStream) {
		recs, err := streams.DecodeLedgerMessageWith(m.Data(), keys)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			ledgered[r.EventID]++
		}
	}
	for id, n := range ledgered {
		if n != 1 {
			t.Errorf("event id %s has %d ledger records, want 1", id, n)
		}
	}
	for i := range 30 {
		if id := fmt.Sprintf("k-race-%d", i); ledgered[id] != 1 {
			t.Errorf("raced event id %s has %d ledger records, want 1", id, ledgered[id])
		}
	}
	got := map[string][]domain.Reason{}
	for _, m := range streamMessages(t, env.JS, streams.DeadLetterStream) {
		id := m.Headers().Get(handlers.HeaderEventID)
		got[id] = append(got[id], domain.Reason(m.Headers().Get(handlers.HeaderReason)))
	}
	for id, reason := range want {
		if len(got[id]) != 1 || got[id][0] != reason {
			t.Errorf("%s dead-lettered as %v, want once as %s", id, got[id], reason)
		}
	}
	if len(got["k-buy"]) != len(restarts) || got["k-buy"][0] != handlers.ReasonEventIDConflict {
		t.Errorf("a's purchase's event id for b: dead letters %v, want %d of %s", got["k-buy"], len(restarts), handlers.ReasonEventIDConflict)
	}
	if stalled := waitProjected(t, env.JS, db.Pool, time.Minute); stalled != "" {
		t.Fatalf("the projections stopped short of the ledger's end: %s", stalled)
	}
	assertEveryInputAccounted(t, env.JS)
	assertBalancesEqualLedger(t, env.JS, db.Pool)

	// The dry run of the rules says what the engine would.
	for _, c := range []struct {
		ev   domain.Event
		want domain.Reason
	}{
		{event("k-dry-buy", a, later, domain.Purchase{OrderID: "o-2022", Total: eur(40_00), Channel: "web"}), domain.ReasonDuplicateOrder},
		{event("k-dry-redeem", a, later, domain.RedeemRequest{RequestID: "r-2022", Points: 100}), domain.ReasonDuplicateRequest},
		{event("k-buy", a, later, domain.Visit{Channel: "store"}), handlers.ReasonEventIDConflict},
	} {
		data, err := streams.EncodeEvent(c.ev)
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(t.TempDir(), "event.json")
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		out, errOut, err := loyalty(t, "program", "evaluate", file, "--nats-url", env.Server.ClientURL())
		if err == nil || !strings.Contains(out, "rejected: "+string(c.want)) || !strings.Contains(errOut, "would dead-letter") {
			t.Errorf("program evaluate of %s: %v; want it %s, exit 1:\n%s%s", c.ev.ID, err, c.want, out, errOut)
		}
	}
	srv.stop(t)
}

// publishWithoutMsgIDs publishes events with no Nats-Msg-Id: a client that
// reuses an event id does not tell JetStream so, and the engine must not
// rely on JetStream's duplicate window.
func publishWithoutMsgIDs(t *testing.T, env *natstest.Env, events []domain.Event) {
	t.Helper()
	var inputs []rawInput
	for _, e := range events {
		inputs = append(inputs, encodedInput(t, e))
	}
	publishInputs(t, env.JS, inputs)
}

// membersOfTwoPartitions returns two member ids in different partitions.
func membersOfTwoPartitions() (string, string) {
	a := "keys-a"
	for i := 0; ; i++ {
		b := fmt.Sprintf("keys-b-%d", i)
		if streams.PartitionOf(b) != streams.PartitionOf(a) {
			return a, b
		}
	}
}

// A second serve on the data directory of a running one stops before it
// opens anything there (the embedded NATS store, the key index), saying
// which process holds it; the first one goes on serving.
func TestASecondServeOnTheSameDataDirectoryStopsAtOnce(t *testing.T) {
	env := natstest.Start(t)
	db := pgtest.New(t)
	dataDir := t.TempDir()
	args := []string{"--nats-url", env.Server.ClientURL(), "--database-url", db.URL, "--data-dir", dataDir}
	srv := startServe(t, args...)
	_, errOut, err := loyalty(t, append([]string{"serve", "--metrics-addr", "127.0.0.1:0"}, args...)...)
	if err == nil || !strings.Contains(errOut, "is in use by another loyalty serve (pid ") || !strings.Contains(errOut, "--data-dir") {
		t.Fatalf("second serve: err %v, stderr %q; want a refusal naming the holder and --data-dir", err, errOut)
	}
	if strings.Contains(errOut, "engine lease acquired") || strings.Contains(errOut, "key index") {
		t.Errorf("the second serve got as far as the engine before it stopped:\n%s", errOut)
	}
	publishEvents(t, env, []domain.Event{{ID: "lock-enrol", Type: domain.TypeMemberEnrolled, Source: "keys-test", MemberID: "lock-m",
		OccurredAt: time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC), Body: domain.Enrolment{Channel: "app"}}})
	waitServiceKnows(t, env.Conn, "lock-m")
	srv.stop(t)
}
