package main_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/domain/simulate"
	"github.com/pointsledger/loyalty/handlers"
	"github.com/pointsledger/loyalty/programs"
	"github.com/pointsledger/loyalty/projections/pgtest"
	"github.com/pointsledger/loyalty/streams"
	"github.com/pointsledger/loyalty/streams/natstest"
)

// referenceFold is what the read models must show: the same events folded
// straight through domain/, with what the rules reject left out.
func referenceFold(t *testing.T, events []domain.Event) (members map[string]*domain.Member, rejected int) {
	t.Helper()
	program, err := programs.LoadDefault()
	if err != nil {
		t.Fatal(err)
	}
	return referenceFoldWith(t, events, domain.OneVersion(program))
}

// referenceFoldWith is referenceFold with the given program versions.
func referenceFoldWith(t *testing.T, events []domain.Event, ps *domain.Programs) (members map[string]*domain.Member, rejected int) {
	t.Helper()
	members = map[string]*domain.Member{}
	for _, e := range events {
		if err := domain.Validate(e, e.OccurredAt); err != nil {
			rejected++
			continue
		}
		m := members[e.MemberID]
		if m == nil {
			m = domain.NewMember(e.MemberID)
		}
		if _, err := domain.Apply(m, e, ps.At(e.OccurredAt)); err != nil {
			if !errors.Is(err, domain.ErrRejected) {
				t.Fatal(err)
			}
			rejected++
			continue
		}
		members[e.MemberID] = m
	}
	return members, rejected
}

// waitCaughtUp waits until the engine has handled every input and both
// projections have committed the whole ledger.
func waitCaughtUp(t *testing.T, js jetstream.JetStream, pool *pgxpool.Pool, inputs uint64) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(5 * time.Minute)
	for ; time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		in, err := js.Stream(ctx, streams.InputStream)
		if err != nil || in.CachedInfo().State.Msgs < inputs {
			continue
		}
		if !enginesIdle(ctx, js) {
			continue
		}
		ledger, err := js.Stream(ctx, streams.LedgerStream)
		if err != nil {
			continue
		}
		last := ledger.CachedInfo().State.LastSeq
		// The runner creates every checkpoint row at 0 before it applies
		// anything, so rows that exist and none behind means caught up; no
		// rows yet means the runner has not started (the schema may still
		// be migrating), not that it is done.
		var rows, behind int
		err = pool.QueryRow(ctx, `select count(*), count(*) filter (where ledger_seq < $1)
			from loyalty.projection_checkpoints`, int64(last)).Scan(&rows, &behind)
		if err == nil && rows > 0 && behind == 0 {
			return
		}
	}
	t.Fatal("the pipeline did not catch up within 5 minutes")
}

// enginesIdle tells whether the running engines have acknowledged every
// input the stream holds: the consumers of the engines whose membership key
// is live (an engine that died leaves its consumer behind for a while). An
// unfiltered consumer's ack floor is compared with the stream's last
// sequence rather than trusting NumPending, which the server updates a
// moment after a publish is acknowledged.
func enginesIdle(ctx context.Context, js jetstream.JetStream) bool {
	in, err := js.Stream(ctx, streams.InputStream)
	if err != nil {
		return false
	}
	last := in.CachedInfo().State.LastSeq
	kv, err := js.KeyValue(ctx, handlers.LeaseBucket)
	if err != nil {
		return false
	}
	keys, err := kv.Keys(ctx)
	if err != nil {
		return false
	}
	var names []string
	for _, k := range keys {
		if id, ok := strings.CutPrefix(k, "engines."); ok {
			names = append(names, "engine-"+strings.ReplaceAll(id, "-", ""))
		} else if k == handlers.ConsumerName(nil) {
			names = append(names, k)
		}
	}
	for _, name := range names {
		c, err := js.Consumer(ctx, streams.InputStream, name)
		if err != nil {
			return false
		}
		info := c.CachedInfo()
		filtered := len(info.Config.FilterSubjects) > 0 || info.Config.FilterSubject != ""
		if info.NumAckPending > 0 || info.AckFloor.Stream < last && (!filtered || info.NumPending > 0) {
			return false
		}
	}
	return len(names) > 0
}

func TestEndToEndSimulatedMembersMatchTheReferenceFold(t *testing.T) {
	env := natstest.Start(t)
	db := pgtest.New(t)
	srv := startServe(t, "--nats-url", env.Server.ClientURL(), "--database-url", db.URL, "--data-dir", t.TempDir())

	cfg := simulate.Config{Members: 1000, Days: 180, Seed: 42, Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	out := mustLoyalty(t, "simulate", "--nats-url", env.Server.ClientURL(), "--members", "1000", "--days", "180",
		"--seed", "42", "--start", "2026-01-01", "--quiet")
	t.Log(strings.TrimSpace(out))
	events, err := simulate.All(cfg)
	if err != nil {
		t.Fatal(err)
	}
	waitCaughtUp(t, env.JS, db.Pool, uint64(len(events)))

	want, rejected := referenceFold(t, events)
	assertMembersEqual(t, db.Pool, want)
	assertLedgerInvariants(t, db.Pool)
	dlq, err := env.JS.Stream(context.Background(), streams.DeadLetterStream)
	if err != nil {
		t.Fatal(err)
	}
	if got := dlq.CachedInfo().State.Msgs; got != uint64(rejected) {
		t.Errorf("dead letters = %d, reference rejects %d events", got, rejected)
	}
	t.Logf("%d events, %d members, %d rejected by the rules", len(events), len(want), rejected)

	checkMemberShow(t, db.URL, want)
	checkLiveMetrics(t, srv.metricsAddr)
	srv.stop(t)
}

func assertMembersEqual(t *testing.T, pool *pgxpool.Pool, want map[string]*domain.Member) {
	t.Helper()
	rows, err := pool.Query(context.Background(), `select member_id, points_balance, lifetime_points, tier,
		purchases_count, qualifying_spend, points_redeemed, points_pending, tier_expires_at, coalesce(tier_floor, '') from loyalty.members`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := 0
	for rows.Next() {
		var id, tier string
		var balance, lifetime, purchases, spend, redeemed, pending int64
		var expires *time.Time
		var floor string
		if err := rows.Scan(&id, &balance, &lifetime, &tier, &purchases, &spend, &redeemed, &pending, &expires, &floor); err != nil {
			t.Fatal(err)
		}
		seen++
		w := want[id]
		if w == nil {
			t.Errorf("member %q is in the read model but not in the reference", id)
			continue
		}
		if balance != w.Balance || lifetime != w.Lifetime || tier != w.Tier || purchases != w.Purchases || spend != w.QualifyingSpend ||
			redeemed != w.Redeemed || pending != w.Pending || floor != w.TierFloor || (expires == nil) != w.TierExpires.IsZero() ||
			(expires != nil && !expires.Equal(w.TierExpires)) {
			t.Errorf("member %q: table balance %d lifetime %d tier %s (review %v, floor %q) purchases %d spend %d redeemed %d pending %d; reference %d %d %s (%v, %q) %d %d %d %d",
				id, balance, lifetime, tier, expires, floor, purchases, spend, redeemed, pending,
				w.Balance, w.Lifetime, w.Tier, w.TierExpires, w.TierFloor, w.Purchases, w.QualifyingSpend, w.Redeemed, w.Pending)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	members := 0 // a reward's stock is a member of the engine's, not of the read model
	for id := range want {
		if !strings.HasPrefix(id, domain.StockMemberPrefix) {
			members++
		}
	}
	if seen != members {
		t.Errorf("read model has %d members, reference %d", seen, members)
	}
}

func assertLedgerInvariants(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	var doubled, unbalanced int
	if err := pool.QueryRow(ctx, `select count(*) from (select source_event_id, rule from loyalty.points_ledger
		where kind = 'earned' group by 1, 2 having count(*) > 1) d`).Scan(&doubled); err != nil {
		t.Fatal(err)
	}
	if doubled != 0 {
		t.Errorf("%d (event, rule) pairs credited more than once", doubled)
	}
	if err := pool.QueryRow(ctx, `select count(*) from loyalty.members m where points_balance <>
		(select coalesce(sum(points), 0) from loyalty.points_ledger l where l.member_id = m.member_id and account = 'available')
		or points_pending <> (select coalesce(sum(points), 0) from loyalty.points_ledger l where l.member_id = m.member_id and account = 'pending')`).Scan(&unbalanced); err != nil {
		t.Fatal(err)
	}
	if unbalanced != 0 {
		t.Errorf("%d members' points_balance or points_pending differs from the sum of their points_ledger account", unbalanced)
	}
	// Every redeemed points_ledger row is an accepted redemption, or one
	// whose held points came back out of stock, and back.
	var unmatched int
	if err := pool.QueryRow(ctx, `select count(*) from (select * from loyalty.points_ledger where kind = 'redeemed') l
		full join (select * from loyalty.redemptions where status = 'accepted' or reason = 'out_of_stock') r using (ledger_seq, fact_index)
		where l.points is null or r.request_id is null or (r.status = 'accepted' and l.points <> -r.points)`).Scan(&unmatched); err != nil {
		t.Fatal(err)
	}
	if unmatched != 0 {
		t.Errorf("%d redeemed points_ledger rows and accepted redemptions do not match", unmatched)
	}
	assertRFMRecomputes(t, pool)
}

// assertRFMRecomputes: member_rfm, kept batch by batch while the events
// arrived, equals a full recompute from the purchases and refunds tables.
func assertRFMRecomputes(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	var differ, members int
	if err := pool.QueryRow(context.Background(), `
with orders as (
	select p.member_id, (p.occurred_at at time zone 'UTC')::date as day,
		p.qualifying_spend + coalesce((select sum(r.qualifying_spend) from loyalty.refunds r
			where r.member_id = p.member_id and r.order_id = p.order_id), 0) as spend
	from loyalty.purchases p
), days as (
	select member_id, day, count(*) as orders, sum(spend) as spend from orders group by 1, 2
), recomputed as (
	select member_id, min(day) as first_on, max(day) as last_on, count(*) - 1 as frequency, sum(orders) as orders, sum(spend) as revenue
	from days group by 1
)
select count(*) filter (where m.member_id is null or x.member_id is null or m.first_purchase_on <> x.first_on
		or m.last_purchase_on <> x.last_on or m.frequency <> x.frequency or m.orders <> x.orders or m.revenue <> x.revenue),
	count(*)
from recomputed x full join loyalty.member_rfm m using (member_id)`).Scan(&differ, &members); err != nil {
		t.Fatal(err)
	}
	if differ != 0 || members == 0 {
		t.Errorf("member_rfm: %d of %d members differ from a full recompute", differ, members)
	}
}

// checkMemberShow asks the CLI about an awkward member id.
func checkMemberShow(t *testing.T, dbURL string, want map[string]*domain.Member) {
	t.Helper()
	var id string
	for candidate := range want {
		if strings.ContainsAny(candidate, ". *>") || candidate > "\x7f" {
			id = candidate
			break
		}
	}
	if id == "" {
		t.Fatal("the simulation produced no awkward member ids")
	}
	out := mustLoyalty(t, "member", "show", id, "--json", "--database-url", dbURL)
	var shown struct {
		MemberID      string `json:"member_id"`
		PointsBalance int64  `json:"points_balance"`
		Tier          string `json:"tier"`
	}
	if err := json.Unmarshal([]byte(out), &shown); err != nil {
		t.Fatalf("member show --json: %v\n%s", err, out)
	}
	if shown.MemberID != id || shown.PointsBalance != want[id].Balance || shown.Tier != want[id].Tier {
		t.Errorf("member show %q = %+v, want balance %d tier %s", id, shown, want[id].Balance, want[id].Tier)
	}
	// A time the read models hold as NULL (no review due) is null, as the
	// service says, not the zero time.
	if strings.Contains(out, "0001-01-01") {
		t.Errorf("member show --json prints the zero time for a time that is not set:\n%s", out)
	}
	text := mustLoyalty(t, "member", "show", id, "--database-url", dbURL)
	if !strings.Contains(text, "recent ledger entries") {
		t.Errorf("member show text output lacks the ledger:\n%s", text)
	}
	if _, errOut, err := loyalty(t, "member", "show", "nobody-has-this-id", "--database-url", dbURL); err == nil || !strings.Contains(errOut, "not found") {
		t.Errorf("member show of an unknown id: err %v, stderr %q", err, errOut)
	}
}

// checkLiveMetrics scrapes the running engine and has promtool lint it.
func checkLiveMetrics(t *testing.T, addr string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"loyalty_events_total", "loyalty_dead_letters_total", "loyalty_event_to_table_seconds_bucket",
		"loyalty_projection_position", "loyalty_projection_lag_records", "loyalty_points_issued_total", "loyalty_input_pending_events"} {
		if !strings.Contains(string(body), name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool not found: CI must install it (apt-get install prometheus)")
		}
		t.Log("promtool not found; the live scrape is not linted")
		return
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(string(body))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// With no configuration at all, serve runs on an embedded NATS server and a
// PostgreSQL it manages in the data directory; the other commands find them
// there; data survives a restart.
func TestServeWithNoConfigurationManagesItsOwnServers(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	dir := traversableTempDir(t)
	srv := startServe(t, "--data-dir", dir, "--nats-port", "0")
	mustLoyalty(t, "simulate", "--data-dir", dir, "--members", "30", "--days", "20", "--seed", "3", "--quiet")
	dbURL, err := os.ReadFile(filepath.Join(dir, "database.url"))
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(context.Background(), strings.TrimSpace(string(dbURL)))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	members := waitForMembers(t, pool, 30)
	srv.stop(t)

	srv = startServe(t, "--data-dir", dir, "--nats-port", "0")
	out := mustLoyalty(t, "member", "show", members[0], "--data-dir", dir, "--json")
	if !strings.Contains(out, `"member_id"`) {
		t.Errorf("member show after restart: %s", out)
	}
	srv.stop(t)
}

// traversableTempDir is a temporary directory that the unprivileged user
// PostgreSQL runs as (when tests run as root) can reach; t.TempDir's parent
// is private to the test's user.
func traversableTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "loyalty-e2e-data-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "data")
}

func waitForMembers(t *testing.T, pool *pgxpool.Pool, want int) []string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for ; time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		var ids []string
		rows, err := pool.Query(context.Background(), `select member_id from loyalty.members order by member_id`)
		if err != nil {
			continue
		}
		for rows.Next() {
			var id string
			if rows.Scan(&id) == nil {
				ids = append(ids, id)
			}
		}
		rows.Close()
		if len(ids) >= want {
			return ids
		}
	}
	t.Fatalf("fewer than %d members reached the read model", want)
	return nil
}

// Upstream re-publishes 1,000 events that were applied long ago: half with
// their original message id after JetStream's duplicate window has passed,
// half with new message ids. The ledger and every balance stay as they were;
// each copy is a duplicate_event dead letter.
func TestRepublishedEventIDsAwardNothing(t *testing.T) {
	sys := serveSimulation(t, simulate.Config{Members: 300, Days: 60, Seed: 5, Start: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)})
	want, rejected := referenceFold(t, sys.events)
	before := pointsSnapshot(t, sys.db.Pool)
	ctx := context.Background()
	ledger, err := sys.env.JS.Stream(ctx, streams.LedgerStream)
	if err != nil {
		t.Fatal(err)
	}
	ledgerBefore := ledger.CachedInfo().State.Msgs

	// The window is shortened and left to pass, so that JetStream no longer
	// recognises the original ids.
	in, err := sys.env.JS.Stream(ctx, streams.InputStream)
	if err != nil {
		t.Fatal(err)
	}
	cfg := in.CachedInfo().Config
	cfg.Duplicates = time.Second
	if _, err := sys.env.JS.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	var again []domain.Event
	for _, e := range sys.events {
		if _, ok := want[e.MemberID]; ok && domain.Validate(e, e.OccurredAt) == nil && len(again) < 1000 {
			again = append(again, e)
		}
	}
	pub := streams.NewPublisher(sys.env.JS, nil)
	for i, e := range again {
		in := encodedInput(t, e)
		msgID := e.ID
		if i%2 == 1 {
			msgID = "republished-" + e.ID
		}
		if err := pub.PublishRaw(ctx, in.subject, msgID, in.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if got := pub.Acked(); got != len(again) {
		t.Fatalf("%d of %d re-published events were stored", got, len(again))
	}
	waitCaughtUp(t, sys.env.JS, sys.db.Pool, uint64(len(sys.events)+len(again)))

	after := pointsSnapshot(t, sys.db.Pool)
	if before != after {
		t.Errorf("points changed: before %+v, after %+v", before, after)
	}
	assertMembersEqual(t, sys.db.Pool, want)
	ledger, err = sys.env.JS.Stream(ctx, streams.LedgerStream)
	if err != nil {
		t.Fatal(err)
	}
	if got := ledger.CachedInfo().State.Msgs; got != ledgerBefore {
		t.Errorf("ledger messages %d after the re-publish, %d before", got, ledgerBefore)
	}
	dlq, err := sys.env.JS.Stream(ctx, streams.DeadLetterStream)
	if err != nil {
		t.Fatal(err)
	}
	subjects, err := dlq.Info(ctx, jetstream.WithSubjectFilter(streams.DeadLetterSubject(handlers.ReasonDuplicateEvent)))
	if err != nil {
		t.Fatal(err)
	}
	if got := subjects.State.Msgs; got != uint64(len(again)) {
		t.Errorf("%d duplicate_event dead letters, want %d", got, len(again))
	}
	t.Logf("%d events re-published (%d rejected in the first pass); points, members and ledger unchanged: %+v",
		len(again), rejected, after)
	sys.srv.stop(t)
}

// pointsTotals sums the points tables.
type pointsTotals struct {
	Balance, Lifetime, LedgerRows, LedgerSum int64
}

func pointsSnapshot(t *testing.T, pool *pgxpool.Pool) pointsTotals {
	t.Helper()
	var p pointsTotals
	err := pool.QueryRow(context.Background(), `select
		(select coalesce(sum(points_balance), 0) from loyalty.members),
		(select coalesce(sum(lifetime_points), 0) from loyalty.members),
		(select count(*) from loyalty.points_ledger),
		(select coalesce(sum(points), 0) from loyalty.points_ledger)`).Scan(&p.Balance, &p.Lifetime, &p.LedgerRows, &p.LedgerSum)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A rebuild of every projection, run next to the live engine, gives tables
// equal to the incrementally built ones; the live projections then go on
// from the rebuilt tables.
func TestRebuildEqualsIncremental(t *testing.T) {
	sys := serveSimulation(t, simulate.Config{Members: 300, Days: 90, Seed: 8, Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
	incremental := tableSnapshot(t, sys.db.Pool)

	out := mustLoyalty(t, "projections", "rebuild", "all", "--nats-url", sys.natsURL, "--database-url", sys.db.URL, "--quiet")
	t.Log(strings.TrimSpace(out))
	rebuilt := tableSnapshot(t, sys.db.Pool)
	for table, rows := range incremental {
		if !slices.Equal(rows, rebuilt[table]) {
			t.Errorf("loyalty.%s: %d rows built incrementally, %d rebuilt; they differ", table, len(rows), len(rebuilt[table]))
		} else if len(rows) == 0 {
			t.Errorf("loyalty.%s is empty: the comparison shows nothing", table)
		}
	}

	// A rebuild while more activity arrives: the live projection commits
	// during the rebuild, and after the swap it goes on from the rebuilt
	// tables.
	sim := exec.Command(binary, "simulate", "--nats-url", sys.natsURL, "--members", "300", "--days", "30", "--seed", "9",
		"--start", "2026-04-01", "--rate", "1500", "--quiet")
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	t.Log(strings.TrimSpace(mustLoyalty(t, "projections", "rebuild", "all", "--nats-url", sys.natsURL, "--database-url", sys.db.URL, "--quiet")))
	if err := sim.Wait(); err != nil {
		t.Fatalf("simulate: %v", err)
	}
	more, err := simulate.All(simulate.Config{Members: 300, Days: 30, Seed: 9, Start: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	all := append(sys.events, more...)
	waitCaughtUp(t, sys.env.JS, sys.db.Pool, uint64(len(all)))
	want, _ := referenceFold(t, all)
	assertMembersEqual(t, sys.db.Pool, want)
	assertLedgerInvariants(t, sys.db.Pool)
	live := tableSnapshot(t, sys.db.Pool)
	mustLoyalty(t, "projections", "rebuild", "all", "--nats-url", sys.natsURL, "--database-url", sys.db.URL, "--quiet")
	if again := tableSnapshot(t, sys.db.Pool); !maps.EqualFunc(live, again, slices.Equal) {
		t.Error("after a rebuild during activity, the tables differ from those a rebuild at rest gives")
	}
	if _, errOut, err := loyalty(t, "projections", "rebuild", "nope", "--nats-url", sys.natsURL, "--database-url", sys.db.URL); err == nil || !strings.Contains(errOut, "use one of activity, members") {
		t.Errorf("rebuild of an unknown projection: err %v, stderr %q", err, errOut)
	}
	sys.srv.stop(t)
}

// tableSnapshot is every row of every read model, as text, sorted.
func tableSnapshot(t *testing.T, pool *pgxpool.Pool) map[string][]string {
	t.Helper()
	snap := map[string][]string{}
	for _, table := range []string{"members", "points_ledger", "tier_changes", "purchases", "refunds", "visits", "feedback"} {
		rows, err := pool.Query(context.Background(), fmt.Sprintf("select t::text from loyalty.%s t order by 1", table))
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			snap[table] = append(snap[table], s)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return snap
}

// simulateThrough publishes cfg's activity through `loyalty simulate` and
// returns the same events, generated here for the reference.
// countsByKey runs query, which selects a key and a count per row, and
// returns the counts by key.
func countsByKey(t *testing.T, pool *pgxpool.Pool, query string) map[string]int64 {
	t.Helper()
	counts := map[string]int64{}
	rows, err := pool.Query(context.Background(), query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var n int64
		if err := rows.Scan(&k, &n); err != nil {
			t.Fatal(err)
		}
		counts[k] = n
	}
	return counts
}

// servedSimulation is a `loyalty serve` on NATS and PostgreSQL of its own
// that has applied a simulated load, with the projections caught up.
type servedSimulation struct {
	env     *natstest.Env
	db      *pgtest.Database
	natsURL string
	srv     *server
	events  []domain.Event
	// serveArgs are the arguments serve was started with.
	serveArgs []string
}

// serveSimulation starts NATS, PostgreSQL and serve (with serveArgs after the
// connection flags and a fresh data directory), publishes the load cfg
// describes and waits until the read models have caught up with it.
func serveSimulation(t *testing.T, cfg simulate.Config, serveArgs ...string) servedSimulation {
	t.Helper()
	s := serveSimulationStarted(t, serveArgs...)
	s.events = simulateThrough(t, s.natsURL, cfg)
	waitCaughtUp(t, s.env.JS, s.db.Pool, uint64(len(s.events)))
	return s
}

// serveSimulationStarted starts NATS, PostgreSQL and serve as
// serveSimulation does, and publishes nothing; serveArgs then holds every
// argument serve was given, to start it again.
func serveSimulationStarted(t *testing.T, serveArgs ...string) servedSimulation {
	t.Helper()
	env := natstest.Start(t)
	db := pgtest.New(t)
	natsURL := env.Server.ClientURL()
	args := append([]string{"--nats-url", natsURL, "--database-url", db.URL, "--data-dir", t.TempDir()}, serveArgs...)
	srv := startServe(t, args...)
	return servedSimulation{env: env, db: db, natsURL: natsURL, srv: srv, serveArgs: args}
}

// assertMatchesFold checks the read models against the reference fold of
// the simulated events through the program versions in programFile, and the
// ledger's invariants; it returns the folded members.
func (s servedSimulation) assertMatchesFold(t *testing.T, programFile string) map[string]*domain.Member {
	t.Helper()
	ps, err := programs.LoadVersions(programFile)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := referenceFoldWith(t, s.events, ps)
	assertMembersEqual(t, s.db.Pool, want)
	assertLedgerInvariants(t, s.db.Pool)
	return want
}

func simulateThrough(t *testing.T, natsURL string, cfg simulate.Config) []domain.Event {
	t.Helper()
	mustLoyalty(t, "simulate", "--nats-url", natsURL, "--members", strconv.Itoa(cfg.Members), "--days", strconv.Itoa(cfg.Days),
		"--seed", strconv.FormatUint(cfg.Seed, 10), "--start", cfg.Start.Format(time.DateOnly), "--quiet")
	events, err := simulate.All(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return events
}

// defaultProgramWith is the default program with settings added at the top
// of its earning section (indented by two spaces).
func defaultProgramWith(earning string) string {
	return strings.Replace(string(programs.DefaultYAML), "\nearning:\n", "\nearning:\n"+strings.TrimPrefix(earning, "\n"), 1)
}

// voucherLine is the voucher of programs/default.yaml, which withVoucherStock
// gives a stock.
const voucherLine = `{id: voucher-10, name: "10.00 EUR voucher", points: 1000, voucher: {valid_days: 90}}`

// withVoucherStock is program (the default one, or one made from it) with
// the stock given to its voucher.
func withVoucherStock(program string, stock int) string {
	out := strings.Replace(program, voucherLine, strings.TrimSuffix(voucherLine, "}")+", stock: "+strconv.Itoa(stock)+"}", 1)
	if out == program {
		panic("withVoucherStock: the program has no " + voucherLine)
	}
	return out
}

// writeProgram writes a program file and returns its path.
func writeProgram(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "program.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
