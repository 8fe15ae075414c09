package handlers_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/handlers"
	"github.com/pointsledger/loyalty/handlers/keyindex"
	"github.com/pointsledger/loyalty/streams"
	"github.com/pointsledger/loyalty/streams/natstest"
)

// With room for no member in memory, every member is dropped at each
// snapshot and read back from its row when next needed, across clean
// restarts of the engine on its store: the decisions are those of a fold
// of every member's whole history, the service answers what the ledger
// holds, each transfer reaches its recipient once, and the members metric
// counts every member once.
func TestMembersBeyondTheBudgetAreReadFromTheirSnapshots(t *testing.T) {
	env := natstest.Start(t)
	cfg := handlers.EngineConfig{KeyIndexDir: t.TempDir(), MemberCacheBytes: 1, SnapshotEvery: time.Nanosecond}
	rng := rand.New(rand.NewPCG(7, 23))
	w := snapshotWorkload{rng: rng, at: day0}
	var all []domain.Event
	for round := range 3 {
		stop, _, reg := runEngineWith(t, env.JS, cfg)
		waitRunning(t, reg)
		events := w.events(round, 400)
		all = append(all, events...)
		publish(t, env.JS, events...)
		// The reference is the fold of the input as stored: a transfer's
		// credit is stored after the input already there when its
		// transfer was appended, which depends on timing.
		want := waitForStoredInputFold(t, env.JS, len(all))

		got, ledger := foldLedger(t, env.JS)
		compareMembers(t, got, want.members)
		assertNoDoubleCredit(t, ledger)
		for id, m := range got {
			var bal handlers.BalanceReply
			if code, desc := call(t, env.Conn, handlers.BalanceSubject, handlers.BalanceRequest{MemberID: id}, &bal); code != "" {
				t.Fatalf("balance of %s: %s %s", id, code, desc)
			}
			if bal.Balance != m.Balance {
				t.Errorf("round %d: service says %s has %d points, the ledger %d", round, id, bal.Balance, m.Balance)
			}
		}
		if n := metricValue(t, reg, "loyalty_engine_members"); n != float64(len(got)) {
			t.Errorf("round %d: loyalty_engine_members = %v, want the ledger's %d", round, n, len(got))
		}
		if round > 0 && metricValue(t, reg, "loyalty_member_snapshot_reads_total") == 0 {
			t.Errorf("round %d: no member was read from a snapshot", round)
		}
		if metricValue(t, reg, "loyalty_member_snapshot_writes_total") == 0 {
			t.Errorf("round %d: no snapshot was written", round)
		}
		stop()
	}
}

// snapshotWorkload makes purchases, refunds, visits, redemptions and
// transfers of a few dozen members, in time order.
type snapshotWorkload struct {
	rng    *rand.Rand
	at     time.Time
	orders []struct{ member, id string }
}

func (w *snapshotWorkload) events(round, n int) []domain.Event {
	member := func() string { return fmt.Sprintf("snap-%d", w.rng.IntN(40)) }
	var out []domain.Event
	for i := range n {
		w.at = w.at.Add(time.Duration(w.rng.IntN(180)) * time.Minute)
		id := fmt.Sprintf("s-%d-%d", round, i)
		m := member()
		switch k := w.rng.IntN(10); {
		case k < 4:
			order := fmt.Sprintf("o-%d-%d", round, i)
			if len(w.orders) > 0 && w.rng.IntN(10) == 0 { // a repeated order id
				o := w.orders[w.rng.IntN(len(w.orders))]
				m, order = o.member, o.id
			}
			w.orders = append(w.orders, struct{ member, id string }{m, order})
			out = append(out, purchase(id, m, order, int64(500+w.rng.IntN(40_000)), w.at))
		case k < 5 && len(w.orders) > 0:
			o := w.orders[w.rng.IntN(len(w.orders))]
			out = append(out, refund(id, o.member, o.id, int64(100+w.rng.IntN(5_000)), w.at))
		case k < 7:
			out = append(out, visit(id, m, w.at))
		case k < 8:
			out = append(out, domain.Event{ID: id, Type: domain.TypeRedemption, Source: "test", MemberID: m, OccurredAt: w.at,
				Body: domain.RedeemRequest{RequestID: fmt.Sprint("r-", w.rng.IntN(50)), Points: int64(1 + w.rng.IntN(80))}})
		default:
			to := member()
			if to == m {
				continue
			}
			out = append(out, transferEvent(id, m, to, fmt.Sprint("t-", w.rng.IntN(50)), int64(1+w.rng.IntN(60)), w.at))
		}
	}
	return out
}

type referenceFold struct {
	members map[string]*domain.Member
	records int
}

// waitForStoredInputFold waits until the ledger holds a record for each
// input the fold of the stored input applies, the published events and the
// engine's follow-ups among them, and returns that fold.
func waitForStoredInputFold(t *testing.T, js jetstream.JetStream, published int) referenceFold {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var events []domain.Event
		for _, m := range readAll(t, js, streams.InputStream) {
			ev, err := streams.DecodeEvent(m.Data)
			if err != nil {
				t.Fatalf("input seq %d: %v", m.Sequence, err)
			}
			events = append(events, ev)
		}
		ref := referenceFold{members: map[string]*domain.Member{}}
		for _, e := range events {
			m := ref.members[e.MemberID]
			if m == nil {
				m = domain.NewMember(e.MemberID)
			}
			if _, err := domain.Apply(m, e, testProgram()); err == nil {
				ref.members[e.MemberID] = m
				ref.records++
			}
		}
		_, records := foldLedger(t, js)
		if len(events) >= published && len(records) == ref.records && followUpsStored(records, events) {
			return ref
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %d records, the fold of the %d stored inputs %d", streams.LedgerStream, len(records), len(events), ref.records)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// followUpsStored tells whether the input holds the follow-up event of
// every fact of the records that implies one.
func followUpsStored(records []streams.LedgerRecord, input []domain.Event) bool {
	stored := map[string]bool{}
	for _, ev := range input {
		stored[ev.ID] = true
	}
	for _, r := range records {
		for _, f := range r.Facts {
			if ev, ok := domain.FollowUp(f); ok && !stored[ev.ID] {
				return false
			}
		}
	}
	return true
}

// A flood of events for members nobody knows, each refused by the rules,
// does not fill the engine's memory: members read for refused events are
// dropped as soon as the budget is passed, not only at the next snapshot
// (which a partition that appends nothing never takes).
func TestRefusedEventsDoNotFillTheMemory(t *testing.T) {
	env := natstest.Start(t)
	const budget = 256 << 10 // 4 KiB a partition: a few members each
	_, _, reg := runEngineWith(t, env.JS, handlers.EngineConfig{KeyIndexDir: t.TempDir(), MemberCacheBytes: budget})
	waitRunning(t, reg)
	var ghosts []domain.Event
	for i := range 3000 {
		ghosts = append(ghosts, refund(fmt.Sprint("ghost-refund-", i), fmt.Sprint("ghost-", i), "no-such-order", 100, day0))
	}
	publish(t, env.JS, ghosts...)
	waitForMsgs(t, env.JS, streams.DeadLetterStream, uint64(len(ghosts)))
	// Each partition may keep the member it read last past its share.
	limit := float64(budget + 64*2048)
	if got := metricValue(t, reg, "loyalty_member_memory_bytes"); got <= 0 || got > limit {
		t.Errorf("loyalty_member_memory_bytes = %v after %d refused events, want within (0, %v]", got, len(ghosts), limit)
	}
}

// A start reads only the ledger past the snapshots, and only of the
// partitions that have any: after a clean stop nothing, although one
// partition has been quiet since the ledger's first message (its snapshot
// is of that message); without the store, the whole ledger.
func TestAStartReadsOnlyTheLedgerPastTheSnapshots(t *testing.T) {
	env := natstest.Start(t)
	dir := t.TempDir()
	quiet, _ := membersOfPartition(5, 2)
	events := []domain.Event{visit("quiet-1", quiet, day0)}
	for i := range 300 {
		m := fmt.Sprint("busy-", i%40)
		if streams.PartitionOf(m) == 5 {
			continue
		}
		events = append(events, visit(fmt.Sprint("busy-visit-", i), m, day0.Add(time.Duration(i)*time.Minute)))
	}
	start := func() (stop func(), logs *lockedBuffer) {
		logs = &lockedBuffer{}
		cfg := handlers.EngineConfig{KeyIndexDir: dir, Logger: slog.New(slog.NewJSONHandler(logs, nil))}
		stop, _, reg := runEngineWith(t, env.JS, cfg)
		waitRunning(t, reg)
		return stop, logs
	}
	stop, _ := start()
	publish(t, env.JS, events...)
	waitForRecords(t, env.JS, len(events))
	stop()

	stop, logs := start()
	if read := startRead(t, logs); read != 0 {
		t.Errorf("a start after a clean stop read %d ledger messages, want none", read)
	}
	stop()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	stop, logs = start()
	defer stop()
	if read, all := startRead(t, logs), len(readAll(t, env.JS, streams.LedgerStream)); read != all {
		t.Errorf("a start without its store read %d ledger messages, want all %d", read, all)
	}
}

// startRead is the ledger_messages_read of the engine's start-up log line.
func startRead(t *testing.T, logs *lockedBuffer) int {
	t.Helper()
	for _, line := range strings.Split(logs.String(), "\n") {
		var rec struct {
			Msg  string `json:"msg"`
			Read *int   `json:"ledger_messages_read"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "engine state rebuilt from the ledger" && rec.Read != nil {
			return *rec.Read
		}
	}
	t.Fatalf("no start-up line with ledger_messages_read in the log:\n%s", logs.String())
	return 0
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A member id may be any bytes admission allows: none can take the store's
// own rows. The member "eta" once had the row key "meta", the store's
// identity: its first event stopped the engine at every start, and a
// balance read for it marked the store broken.
func TestMemberIDsCannotTakeTheStoresOwnRows(t *testing.T) {
	env := natstest.Start(t)
	dir := t.TempDir()
	ids := []string{"eta", "eta\u00e9", "", "c", "s", "f", "k"}
	var events []domain.Event
	for i, id := range ids {
		if id == "" {
			continue
		}
		events = append(events, visit(fmt.Sprint("own-rows-", i), id, day0))
	}
	stop, _, reg := runEngineWith(t, env.JS, handlers.EngineConfig{KeyIndexDir: dir, MemberCacheBytes: 1})
	waitRunning(t, reg)
	publish(t, env.JS, events...)
	waitForRecords(t, env.JS, len(events))
	want, _ := foldLedger(t, env.JS)
	check := func(when string) {
		for _, e := range events {
			var bal handlers.BalanceReply
			if code, desc := call(t, env.Conn, handlers.BalanceSubject, handlers.BalanceRequest{MemberID: e.MemberID}, &bal); code != "" {
				t.Fatalf("%s: balance of %q: %s %s", when, e.MemberID, code, desc)
			}
			if bal.Balance != want[e.MemberID].Balance {
				t.Errorf("%s: %q has %d points, the ledger %d", when, e.MemberID, bal.Balance, want[e.MemberID].Balance)
			}
		}
	}
	check("running")
	stop()
	logs := &lockedBuffer{}
	_, _, reg = runEngineWith(t, env.JS, handlers.EngineConfig{KeyIndexDir: dir, MemberCacheBytes: 1, Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	waitRunning(t, reg)
	if read := startRead(t, logs); read != 0 {
		t.Errorf("the start after a clean stop read %d ledger messages, want none: the store was emptied", read)
	}
	check("after a restart")
}

// A partition's checkpoint row damaged or lost while its member rows stay
// would make a start fold the ledger onto rows that hold it already (every
// point twice). The engine stops instead, and the next start folds the
// store again from the ledger: the balances are the ledger's.
func TestALostCheckpointIsFoldedAgainNotTwice(t *testing.T) {
	for _, damage := range []struct {
		name string
		do   func(db *pebble.DB, key []byte) error
	}{
		{"damaged", func(db *pebble.DB, key []byte) error { return db.Set(key, []byte{0, 0}, pebble.Sync) }},
		{"lost", func(db *pebble.DB, key []byte) error { return db.Delete(key, pebble.Sync) }},
	} {
		t.Run(damage.name, func(t *testing.T) {
			env := natstest.Start(t)
			dir := t.TempDir()
			member := "victim"
			stop, _, reg := runEngineWith(t, env.JS, handlers.EngineConfig{KeyIndexDir: dir})
			waitRunning(t, reg)
			publish(t, env.JS, purchase("p-1", member, "o-1", 10_000, day0), purchase("p-2", member, "o-2", 10_000, day0.Add(time.Hour)))
			waitForRecords(t, env.JS, 2)
			stop()

			db, err := pebble.Open(dir, &pebble.Options{Logger: quietPebble{}})
			if err != nil {
				t.Fatal(err)
			}
			if err := damage.do(db, binary.BigEndian.AppendUint16([]byte{'s'}, uint16(streams.PartitionOf(member)))); err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			// The damage is found at start (a checkpoint that does not
			// decode) or at the member's next event (a row past its
			// checkpoint): either way the engine stops.
			run := startEngine(t, env.JS, handlers.EngineConfig{KeyIndexDir: dir})
			publish(t, env.JS, visit("v-1", member, day0.Add(2*time.Hour)))
			if err := run.waitStopped(t, 30*time.Second); !errors.Is(err, keyindex.ErrBroken) {
				t.Fatalf("the engine on a damaged store: %v, want it stopped with keyindex.ErrBroken", err)
			}

			_, _, reg = runEngineWith(t, env.JS, handlers.EngineConfig{KeyIndexDir: dir})
			waitRunning(t, reg)
			waitForRecords(t, env.JS, 3)
			got, _ := foldLedger(t, env.JS)
			var bal handlers.BalanceReply
			if code, desc := call(t, env.Conn, handlers.BalanceSubject, handlers.BalanceRequest{MemberID: member}, &bal); code != "" {
				t.Fatalf("balance: %s %s", code, desc)
			}
			if bal.Balance != got[member].Balance {
				t.Errorf("service says %d points, the ledger %d", bal.Balance, got[member].Balance)
			}
		})
	}
}

// engineRun is an engine expected to stop by itself.
type engineRun struct{ done chan error }

func startEngine(t *testing.T, js jetstream.JetStream, cfg handlers.EngineConfig) engineRun {
	t.Helper()
	engine, _, _ := newEngine(t, js, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	r := engineRun{done: make(chan error, 1)}
	go func() { r.done <- engine.Run(ctx) }()
	t.Cleanup(cancel)
	return r
}

func (r engineRun) waitStopped(t *testing.T, within time.Duration) error {
	t.Helper()
	select {
	case err := <-r.done:
		return err
	case <-time.After(within):
		t.Fatalf("the engine still runs after %s", within)
		return nil
	}
}

type quietPebble struct{}

func (quietPebble) Infof(string, ...any)           {}
func (quietPebble) Errorf(string, ...any)          {}
func (quietPebble) Fatalf(format string, a ...any) { panic(fmt.Sprintf(format, a...)) }

// One member with a long history, larger than a partition's share of the
// memory, stays in memory while the engine's members as a whole fit: it is
// not written out and read back at every event.
func TestALongHistoryStaysInMemoryWhileTheWholeFits(t *testing.T) {
	env := natstest.Start(t)
	// 64 partitions: a share of 32 KiB each, less than the member takes.
	_, _, reg := runEngineWith(t, env.JS, handlers.EngineConfig{KeyIndexDir: t.TempDir(), MemberCacheBytes: 2 << 20})
	waitRunning(t, reg)
	var history []domain.Event
	for i := range 400 {
		history = append(history, purchase(fmt.Sprint("long-", i), "long-history", fmt.Sprint("o-", i), 1_000, day0.Add(time.Duration(i)*time.Hour)))
	}
	publish(t, env.JS, history...)
	waitForRecords(t, env.JS, len(history))
	reads := metricValue(t, reg, "loyalty_member_snapshot_reads_total")
	if got := metricValue(t, reg, "loyalty_member_memory_bytes"); got < 32<<10 {
		t.Fatalf("loyalty_member_memory_bytes = %v: the member is not larger than its partition's share, the test proves nothing", got)
	}
	for i := range 30 {
		publish(t, env.JS, purchase(fmt.Sprint("more-", i), "long-history", fmt.Sprint("more-o-", i), 1_000, day0.Add(time.Duration(400+i)*time.Hour)))
		waitForRecords(t, env.JS, len(history)+i+1)
	}
	if more := metricValue(t, reg, "loyalty_member_snapshot_reads_total") - reads; more > 0 {
		t.Errorf("the member was read back from its snapshot %v times for 30 events, want none", more)
	}
}

// A partition that has stopped receiving input still writes its snapshot:
// what a burst changed is not left to be folded again after a crash.
func TestAnIdlePartitionWritesItsSnapshot(t *testing.T) {
	env := natstest.Start(t)
	_, _, reg := runEngineWith(t, env.JS, handlers.EngineConfig{KeyIndexDir: t.TempDir(), SnapshotEvery: 2 * time.Second})
	waitRunning(t, reg)
	publish(t, env.JS, visit("idle-1", "idle-member", day0))
	waitForRecords(t, env.JS, 1)
	deadline := time.Now().Add(10 * time.Second)
	for metricValue(t, reg, "loyalty_member_snapshot_writes_total") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no snapshot written 10 s after the last input, with a 2 s interval")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
