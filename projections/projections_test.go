package projections

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pointsledger/loyalty/projections/pgtest"
	"github.com/pointsledger/loyalty/streams"
)

// acquire takes a connection of pool for the rest of the test.
func acquire(t *testing.T, pool *pgxpool.Pool) *pgxpool.Conn {
	t.Helper()
	c, err := pool.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Release)
	return c
}

func TestMigrateTwice(t *testing.T) {
	pool := pgtest.NewDatabase(t)
	ctx := context.Background()
	c := acquire(t, pool)
	latest := SchemaVersion()
	if latest < 1 {
		t.Fatalf("SchemaVersion() = %d, want >= 1", latest)
	}
	for i, want := range [][2]int32{{0, latest}, {latest, latest}} {
		from, to, err := Migrate(ctx, c.Conn())
		if err != nil {
			t.Fatalf("Migrate #%d: %v", i+1, err)
		}
		if from != want[0] || to != want[1] {
			t.Errorf("Migrate #%d = %d -> %d, want %d -> %d", i+1, from, to, want[0], want[1])
		}
	}
	// The advisory lock is released: another session can take it at once.
	var locked bool
	if err := pool.QueryRow(ctx, "select pg_try_advisory_lock($1)", migrateLockKey).Scan(&locked); err != nil || !locked {
		t.Errorf("migrate lock still held after Migrate (try lock = %v, %v)", locked, err)
	}
}

func TestMigrateConcurrently(t *testing.T) {
	db := pgtest.New(t)
	ctx := context.Background()
	const n = 4
	type result struct {
		from, to int32
		err      error
	}
	results := make(chan result, n)
	for range n {
		go func() {
			conn, err := pgx.Connect(ctx, db.URL)
			if err != nil {
				results <- result{err: err}
				return
			}
			defer conn.Close(ctx)
			from, to, err := Migrate(ctx, conn)
			results <- result{from, to, err}
		}()
	}
	latest, firsts := SchemaVersion(), 0
	for range n {
		r := <-results
		if r.err != nil {
			t.Errorf("concurrent Migrate: %v", r.err)
			continue
		}
		if r.to != latest {
			t.Errorf("concurrent Migrate ended at %d, want %d", r.to, latest)
		}
		if r.from == 0 {
			firsts++
		}
	}
	if firsts != 1 {
		t.Errorf("%d of %d concurrent migrations started from version 0, want exactly 1", firsts, n)
	}
}

func TestMigrateRefusesNewerSchema(t *testing.T) {
	pool := migrated(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, "update loyalty.schema_version set version = 999"); err != nil {
		t.Fatal(err)
	}
	c := acquire(t, pool)
	if _, _, err := Migrate(ctx, c.Conn()); !errors.Is(err, ErrSchemaTooNew) {
		t.Errorf("Migrate on a newer schema = %v, want ErrSchemaTooNew", err)
	}
}

// Analysts read the documentation in the database: every table and column
// of the schema has a comment.
func TestEveryTableAndColumnIsDocumented(t *testing.T) {
	pool := migrated(t)
	missing := collect(t, pool, `
		select c.relname || coalesce('.' || a.attname, '')
		from pg_class c
		join pg_namespace n on n.oid = c.relnamespace and n.nspname = 'loyalty'
		left join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
		where c.relkind in ('r', 'v', 'm', 'p')
		  and (obj_description(c.oid, 'pg_class') is null
		       or (a.attname is not null and col_description(c.oid, a.attnum) is null))
		order by 1`, pgx.RowTo[string])
	if len(missing) > 0 {
		t.Errorf("tables or columns without COMMENT: %s", strings.Join(missing, ", "))
	}
}

func TestNewRunnerValidates(t *testing.T) {
	_, err := NewRunner(nil, nil, nil, RunnerConfig{BatchSize: -1, MaxWait: -time.Second})
	if err == nil {
		t.Fatal("NewRunner accepted nil pool, nil JetStream, nil projection and a bad config")
	}
	for _, want := range []string{"pool", "JetStream", "projection", "BatchSize", "MaxWait"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("NewRunner error %q does not mention %s", err, want)
		}
	}
}

func TestBackoffBounds(t *testing.T) {
	for attempt := range 40 {
		d := backoff(attempt)
		if d < minBackoff || d > maxBackoff {
			t.Errorf("backoff(%d) = %s, outside [%s, %s]", attempt, d, minBackoff, maxBackoff)
		}
	}
	if d := backoff(0); d > 2*minBackoff {
		t.Errorf("backoff(0) = %s, want about %s", d, minBackoff)
	}
	if d := backoff(30); d < maxBackoff*3/4 {
		t.Errorf("backoff(30) = %s, want about %s", d, maxBackoff)
	}
}

// The core property: the tables equal a fold of the ledger through the
// domain, after a first run, and after a restart that resumes from the
// checkpoint while more records arrive.
func TestProjectionsEqualFoldAcrossRestart(t *testing.T) {
	pool, env := migratedWithNATS(t)
	w := newWorld(1, 40)
	recs := publish(t, env.JS, append(handBuilt(), w.records(500)...))

	// Small batches, so that a run spans many transactions.
	cfg := RunnerConfig{BatchSize: 37, MaxWait: 20 * time.Millisecond}
	members := start(t, pool, env.JS, Members{}, cfg)
	activity := start(t, pool, env.JS, Activity{}, cfg)
	waitFor(t, recs[len(recs)-1].Seq, members, activity)
	assertTablesMatch(t, pool, recs)

	members.stop(t)
	activity.stop(t)
	more := publish(t, env.JS, w.records(150))
	recs = append(recs, more...)

	// New runners resume from the checkpoint; more records arrive while
	// they run.
	members = start(t, pool, env.JS, Members{}, RunnerConfig{})
	activity = start(t, pool, env.JS, Activity{}, RunnerConfig{})
	waitFor(t, more[len(more)-1].Seq, members, activity)
	live := publish(t, env.JS, w.records(100))
	recs = append(recs, live...)
	waitFor(t, live[len(live)-1].Seq, members, activity)
	assertTablesMatch(t, pool, recs)
}

// Two runners of the same projection (a second process started by mistake,
// or a redelivery) do not double anything: the checkpoint row lock makes
// each record apply once.
func TestTwoRunnersOfOneProjection(t *testing.T) {
	pool, env := migratedWithNATS(t)
	w := newWorld(2, 25)
	recs := publish(t, env.JS, w.records(400))
	cfg := RunnerConfig{BatchSize: 50, MaxWait: 5 * time.Millisecond}
	var rs []*running
	for range 2 {
		rs = append(rs, start(t, pool, env.JS, Members{}, cfg), start(t, pool, env.JS, Activity{}, cfg))
	}
	waitFor(t, recs[len(recs)-1].Seq, rs...)
	more := publish(t, env.JS, w.records(100))
	recs = append(recs, more...)
	waitFor(t, recs[len(recs)-1].Seq, rs...)
	// Let both runners of each projection see the end: the loser's batches
	// must be dropped, not applied again.
	for _, r := range rs {
		r.stop(t)
	}
	assertTablesMatch(t, pool, recs)
}

// A PostgreSQL error mid-run is retried, counted, never skipped: a
// constraint that rejects every write to members and purchases stops both
// projections in place; dropping it lets them finish with exact tables.
// Then the runners' connections are killed under them.
func TestRunnerRetriesPostgresErrors(t *testing.T) {
	pool, env := migratedWithNATS(t)
	ctx := context.Background()
	metrics, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld(3, 20)
	recs := publish(t, env.JS, w.records(100))
	cfg := RunnerConfig{BatchSize: 20, MaxWait: 5 * time.Millisecond, Metrics: metrics}
	// The runners' connections, and only theirs, are dropped below: the
	// test's own queries must not meet a connection the server ended.
	runnerPool := namedPool(t, "projection-runners")
	members := start(t, runnerPool, env.JS, Members{}, cfg)
	activity := start(t, runnerPool, env.JS, Activity{}, cfg)
	waitFor(t, recs[len(recs)-1].Seq, members, activity)

	for _, sql := range []string{
		"alter table loyalty.members add constraint test_outage check (false) not valid",
		"alter table loyalty.purchases add constraint test_outage check (false) not valid",
		"alter table loyalty.visits add constraint test_outage check (false) not valid",
	} {
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	stuckAt := recs[len(recs)-1].Seq
	more := publish(t, env.JS, w.records(100))
	recs = append(recs, more...)
	deadline := time.Now().Add(30 * time.Second)
	for errorsCounted(t, metrics, MembersName) < 2 || errorsCounted(t, metrics, ActivityName) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("runners counted %v and %v errors, want >= 2 each while writes fail",
				errorsCounted(t, metrics, MembersName), errorsCounted(t, metrics, ActivityName))
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The lag shows what waits, measured while the writes fail.
	behind := float64(more[len(more)-1].Seq - stuckAt)
	for lagOf(t, metrics, MembersName) != behind {
		if time.Now().After(deadline) {
			t.Fatalf("loyalty_projection_lag_records is %v while writes fail, want %v", lagOf(t, metrics, MembersName), behind)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, r := range []*running{members, activity} {
		if pos, err := r.Position(ctx); err != nil || pos != stuckAt {
			t.Errorf("%s moved to %d (%v) while its writes fail, want it held at %d", r.name, pos, err, stuckAt)
		}
	}
	for _, table := range []string{"members", "purchases", "visits"} {
		if _, err := pool.Exec(ctx, "alter table loyalty."+table+" drop constraint test_outage"); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, recs[len(recs)-1].Seq, members, activity)
	assertTablesMatch(t, pool, recs)

	// Connections dropped by the server mid-run.
	more = publish(t, env.JS, w.records(200))
	recs = append(recs, more...)
	dropped := 0
	for range 5 {
		var n int
		if err := pool.QueryRow(ctx, `select count(*) filter (where pg_terminate_backend(pid)) from pg_stat_activity
			where datname = current_database() and application_name = 'projection-runners'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		dropped += n
		time.Sleep(20 * time.Millisecond)
	}
	if dropped == 0 {
		t.Fatal("no runner connection was there to drop")
	}
	waitFor(t, recs[len(recs)-1].Seq, members, activity)
	assertTablesMatch(t, pool, recs)
}

// namedPool is a second pool on t's database whose connections carry
// application_name name.
func namedPool(t *testing.T, name string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = name
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// A record that cannot be decoded is a bug: Run applies the records before
// it and stops with an error naming its sequence, without skipping it.
func TestRunnerStopsAtUndecodableRecord(t *testing.T) {
	pool, env := migratedWithNATS(t)
	ctx := context.Background()
	good := publish(t, env.JS, handBuilt())
	ack, err := env.JS.Publish(ctx, streams.LedgerSubject(0), []byte(`{"v":1,"facts":[{"type":"loyalty.nonsense.v9"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	publish(t, env.JS, newWorld(4, 3).records(5))

	r, err := NewRunner(pool, env.JS, Members{}, RunnerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	err = r.Run(rctx)
	if !errors.Is(err, ErrUndecodable) || !strings.Contains(err.Error(), fmt.Sprintf("seq %d", ack.Sequence)) {
		t.Fatalf("Run = %v, want ErrUndecodable naming seq %d", err, ack.Sequence)
	}
	if pos, err := r.Position(ctx); err != nil || pos != good[len(good)-1].Seq {
		t.Errorf("Position = %d (%v), want %d: the records before the bad one applied", pos, err, good[len(good)-1].Seq)
	}
	var members int
	if err := pool.QueryRow(ctx, "select count(*) from loyalty.members").Scan(&members); err != nil || members != 3 {
		t.Errorf("members = %d (%v), want the 3 of the good records", members, err)
	}
	if err := r.Run(rctx); !errors.Is(err, ErrUndecodable) {
		t.Errorf("second Run = %v, want it to stop at the same record", err)
	}
}

func TestRunnerReturnsWhenCancelled(t *testing.T) {
	pool, env := migratedWithNATS(t)
	r := start(t, pool, env.JS, Activity{}, RunnerConfig{})
	// Run got going once it created its checkpoint row.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		if err := pool.QueryRow(context.Background(), "select count(*) from loyalty.projection_checkpoints where name = $1", ActivityName).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the runner created no checkpoint row within 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.stop(t) // fails unless Run returns nil within 10s of cancel
}

func TestMemberSummary(t *testing.T) {
	pool, env := migratedWithNATS(t)
	recs := publish(t, env.JS, handBuilt())
	r := start(t, pool, env.JS, Members{}, RunnerConfig{})
	waitFor(t, recs[len(recs)-1].Seq, r)
	ctx := context.Background()
	// The records of the events e5, e6 and e12 (publish may put several
	// in one message).
	byEvent := map[string]streams.LedgerRecord{}
	for _, rec := range recs {
		byEvent[rec.EventID] = rec
	}
	e5, e6, e12 := byEvent["e5"], byEvent["e6"], byEvent["e12"]

	v, err := MemberSummary(ctx, pool, "alice", 3)
	if err != nil {
		t.Fatal(err)
	}
	at := func(h int) time.Time { return base.Add(time.Duration(h) * time.Hour) }
	want := MemberView{MemberID: "alice", Balance: 100 + 50 + 5 + 10 - 40 - 10, Lifetime: 165, Tier: "silver", TierSince: at(1),
		QualifyingSpend: 5000, EnrolledAt: at(0), FirstActivity: at(0), LastActivity: at(10), Purchases: 1,
		LastLedgerSeq: e12.Seq}
	recent := v.Recent
	v.Recent = nil
	if v.Balance != want.Balance || v.Lifetime != want.Lifetime || v.Tier != want.Tier || !v.TierSince.Equal(want.TierSince) ||
		v.QualifyingSpend != want.QualifyingSpend || !v.EnrolledAt.Equal(want.EnrolledAt) || !v.FirstActivity.Equal(want.FirstActivity) ||
		!v.LastActivity.Equal(want.LastActivity) || v.Purchases != want.Purchases || v.LastLedgerSeq != want.LastLedgerSeq {
		t.Errorf("MemberSummary(alice)\n got %+v\nwant %+v", v, want)
	}
	if got, want := len(recent), 3; got != want {
		t.Fatalf("recent rows = %d, want %d", got, want)
	}
	wantRecent := []LedgerEntry{
		{LedgerSeq: e12.Seq, FactIndex: e12.FirstFact + 1, Points: -10, Kind: KindReversed, Rule: "refund", SourceEventID: "e12", OrderID: "o-1", ProgramVersion: "2026-01", OccurredAt: at(10)},
		{LedgerSeq: e6.Seq, FactIndex: e6.FirstFact + 1, Points: -40, Kind: KindReversed, Rule: "refund", SourceEventID: "e6", OrderID: "o-1", ProgramVersion: "2026-01", OccurredAt: at(5)},
		{LedgerSeq: e5.Seq, FactIndex: e5.FirstFact + 1, Points: 10, Kind: KindEarned, Rule: "feedback_bonus", SourceEventID: "e5", OrderID: "o-1", ProgramVersion: "2026-01", OccurredAt: at(4)},
	}
	for i := range wantRecent {
		if recent[i] != wantRecent[i] {
			t.Errorf("recent[%d]\n got %+v\nwant %+v", i, recent[i], wantRecent[i])
		}
	}

	zoe, err := MemberSummary(ctx, pool, `zoë 🎉 "quoted"`, 10)
	if err != nil {
		t.Fatal(err)
	}
	// zoë's 5 visit points expired, which is not activity: her last is the visit after.
	if zoe.Balance != 0 || zoe.Lifetime != 5 || len(zoe.Recent) != 2 || zoe.Recent[0].Kind != KindExpired || zoe.Recent[0].Points != -5 ||
		!zoe.EnrolledAt.IsZero() || zoe.Tier != "bronze" || !zoe.LastActivity.Equal(at(12)) {
		t.Errorf("MemberSummary(zoë) = %+v, want 5 points earned and expired, not enrolled, bronze, last active at %v", zoe, at(12))
	}
	if _, err := MemberSummary(ctx, pool, "nobody", 5); !errors.Is(err, ErrMemberNotFound) {
		t.Errorf("MemberSummary(nobody) = %v, want ErrMemberNotFound", err)
	}
	// pgx.Conn and pgx.Tx are Queriers too.
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if v, err := MemberSummary(ctx, tx, "bob.smith*>", 0); err != nil || v.Balance != 0 || v.Purchases != 2 || v.Recent != nil {
		t.Errorf("MemberSummary(bob) in a tx = %+v, %v; want balance 0, 2 purchases, no recent rows", v, err)
	}
}

func TestNewSharedRunnerValidates(t *testing.T) {
	pool, js := &pgxpool.Pool{}, jetstream.JetStream(nil)
	for _, c := range []struct {
		ps   []Projection
		want string
	}{
		{nil, "projection is required"},
		{[]Projection{Members{}, nil}, "projection is required"},
		{[]Projection{Members{}, Activity{}, Members{}}, `"members" is given twice`},
	} {
		_, err := NewSharedRunner(pool, js, c.ps, RunnerConfig{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewSharedRunner(%v) = %v, want an error with %q", c.ps, err, c.want)
		}
	}
}

// One runner for both projections reads the ledger once from the lower
// checkpoint; each projection applies exactly the records after its own
// checkpoint, so one that is ahead (here: members, run alone first) skips
// what it has, and the tables equal the fold.
func TestSharedRunnerAppliesEachRecordOnceToEachProjection(t *testing.T) {
	pool, env := migratedWithNATS(t)
	w := newWorld(3, 30)
	first := publish(t, env.JS, append(handBuilt(), w.records(300)...))
	members := start(t, pool, env.JS, Members{}, RunnerConfig{BatchSize: 50})
	waitFor(t, first[len(first)-1].Seq, members)
	members.stop(t)
	more := publish(t, env.JS, w.records(200))
	all := append(first, more...)

	var mu sync.Mutex
	applied := map[string][]uint64{}
	r, err := NewSharedRunner(pool, env.JS, []Projection{Members{}, Activity{}}, RunnerConfig{
		BatchSize: 64, MaxWait: 5 * time.Millisecond,
		Committed: func(projection string, recs []streams.LedgerRecord, _ time.Time) {
			mu.Lock()
			defer mu.Unlock()
			for _, rec := range recs {
				applied[projection] = append(applied[projection], rec.Seq)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	shared := &running{Runner: r, cancel: cancel, done: make(chan error, 1)}
	go func() { shared.done <- r.Run(ctx) }()
	t.Cleanup(func() { shared.stop(t) })
	waitFor(t, all[len(all)-1].Seq, shared)
	live := publish(t, env.JS, w.records(100))
	all = append(all, live...)
	waitFor(t, all[len(all)-1].Seq, shared)
	shared.stop(t)

	assertTablesMatch(t, pool, all)
	seqs := func(recs []streams.LedgerRecord) []uint64 {
		var s []uint64
		for _, rec := range recs {
			s = append(s, rec.Seq)
		}
		return s
	}
	mu.Lock()
	defer mu.Unlock()
	for name, want := range map[string][]uint64{
		MembersName:  seqs(append(append([]streams.LedgerRecord{}, more...), live...)),
		ActivityName: seqs(all),
	} {
		if got := applied[name]; !slices.Equal(got, want) {
			t.Errorf("%s applied %d records (%v...), want %d", name, len(got), got[:min(5, len(got))], len(want))
		}
		if cp, err := readCheckpoint(context.Background(), pool, name); err != nil || cp != all[len(all)-1].Seq {
			t.Errorf("%s checkpoint %d (%v), want %d", name, cp, err, all[len(all)-1].Seq)
		}
	}
}

// The analyst role reads every read model and changes none.
func TestAnalystRoleReadsAndCannotWrite(t *testing.T) {
	pool := pgtest.NewDatabase(t)
	ctx := context.Background()
	c := acquire(t, pool)
	if _, _, err := Migrate(ctx, c.Conn()); err != nil {
		t.Fatal(err)
	}
	if err := GrantAnalyst(ctx, c.Conn()); err != nil {
		t.Fatal(err)
	}
	conn := c.Conn()
	if _, err := conn.Exec(ctx, "set role "+AnalystRole); err != nil {
		t.Fatalf("set role %s: %v", AnalystRole, err)
	}
	defer conn.Exec(ctx, "reset role")
	for _, table := range []string{"members", "points_ledger", "tier_changes", "purchases", "refunds", "visits", "feedback", "projection_checkpoints"} {
		var n int
		if err := conn.QueryRow(ctx, "select count(*) from loyalty."+table).Scan(&n); err != nil {
			t.Errorf("%s cannot read loyalty.%s: %v", AnalystRole, table, err)
		}
	}
	for _, stmt := range []string{
		"insert into loyalty.members (member_id) values ('x')",
		"update loyalty.projection_checkpoints set ledger_seq = 0",
		"delete from loyalty.points_ledger",
		// A forged validation would steer the fits' --model best.
		"update loyalty.model_validations set best_model = 'pareto_nbd'",
		"create table loyalty.mine (x int)",
	} {
		_, err := conn.Exec(ctx, stmt)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42501" { // insufficient_privilege
			t.Errorf("%s: %s: err %v, want permission denied", AnalystRole, stmt, err)
		}
	}
}

// Engines starting together grant the analyst role together: every one of
// them succeeds (PostgreSQL refuses two GRANTs on one object at once, and
// an engine whose grant failed did not start).
func TestGrantAnalystFromEnginesStartingTogether(t *testing.T) {
	pool := migrated(t)
	ctx := context.Background()
	errs := make(chan error, 8*5)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := pool.Acquire(ctx)
			if err != nil {
				errs <- err
				return
			}
			defer c.Release()
			for range 5 {
				errs <- GrantAnalyst(ctx, c.Conn())
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("GrantAnalyst beside others: %v", err)
		}
	}
}
