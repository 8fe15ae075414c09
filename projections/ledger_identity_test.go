package projections

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pointsledger/loyalty/streams"
)

// A ledger deleted and created again numbers other records with the same
// sequences. The projections resumed in it after their old checkpoint and
// skipped its first records without a word; now they refuse to start, saying
// why, whether the stream is missing, shorter than a checkpoint, or as long
// but created at another time. A rebuild starts them again.
func TestRunnerRefusesALedgerItWasNotBuiltFrom(t *testing.T) {
	pool, env := migratedWithNATS(t)
	ctx := context.Background()
	recs := publish(t, env.JS, newWorld(7, 5).records(20))
	last := recs[len(recs)-1].Seq
	projectMembers(t, pool, env.JS, recs)
	var recorded time.Time
	if err := pool.QueryRow(ctx, "select ledger_created from loyalty.projection_checkpoints where name = $1", MembersName).Scan(&recorded); err != nil {
		t.Fatalf("the ledger's creation time was not recorded: %v", err)
	}

	run := func() error {
		t.Helper()
		return runMembersFor(t, pool, env.JS, 30*time.Second)
	}
	if err := env.JS.DeleteStream(ctx, streams.LedgerStream); err != nil {
		t.Fatal(err)
	}
	if err := run(); !errors.Is(err, ErrLedgerReplaced) || !strings.Contains(err.Error(), "is missing") {
		t.Errorf("Run with the ledger deleted = %v, want ErrLedgerReplaced: missing", err)
	}
	if err := streams.EnsureStreams(ctx, env.JS, streams.StreamsConfig{RecreateMissing: true}); err != nil {
		t.Fatal(err)
	}
	if err := run(); !errors.Is(err, ErrLedgerReplaced) || !strings.Contains(err.Error(), "created at") {
		t.Errorf("Run on an empty new ledger = %v, want ErrLedgerReplaced: created at another time", err)
	}
	// A checkpoint written before the creation time was recorded.
	if _, err := pool.Exec(ctx, "update loyalty.projection_checkpoints set ledger_created = null"); err != nil {
		t.Fatal(err)
	}
	if err := run(); !errors.Is(err, ErrLedgerReplaced) || !strings.Contains(err.Error(), "ends at sequence 0") {
		t.Errorf("Run on an empty new ledger, no creation time recorded = %v, want ErrLedgerReplaced: shorter than the checkpoint", err)
	}
	again := publish(t, env.JS, newWorld(8, 5).records(40))
	if again[len(again)-1].Seq <= last {
		t.Fatalf("the new ledger ends at %d, want it past the old checkpoint %d", again[len(again)-1].Seq, last)
	}
	if _, err := pool.Exec(ctx, "update loyalty.projection_checkpoints set ledger_created = $1", recorded); err != nil {
		t.Fatal(err)
	}
	if err := run(); !errors.Is(err, ErrLedgerReplaced) || !strings.Contains(err.Error(), "created at") {
		t.Errorf("Run on a new ledger as long as the old = %v, want ErrLedgerReplaced: created at another time", err)
	}
	var members int
	if err := pool.QueryRow(ctx, "select count(*) from loyalty.members").Scan(&members); err != nil || members != 5 {
		t.Errorf("members = %d (%v), want the 5 of the old ledger: nothing of the new one applied on top", members, err)
	}

	if _, err := Rebuild(ctx, pool, env.JS, Members{}, RebuildConfig{}); err != nil {
		t.Fatalf("rebuild: %v", err)
	}
	projectMembers(t, pool, env.JS, again)
	assertMembersOfTheNewLedger(t, pool, again)
}

// The way out of a replaced ledger is a rebuild, also when the new ledger
// is shorter than the old checkpoint: the rebuild caught up with the live
// checkpoint first, waited for records the new ledger does not have, and
// failed, so the projections could start neither way.
func TestRebuildStartsTheProjectionsOnAReplacedLedger(t *testing.T) {
	for _, recorded := range []bool{true, false} {
		t.Run(map[bool]string{true: "creation time recorded", false: "checkpoint of before it was recorded"}[recorded], func(t *testing.T) {
			pool, env := migratedWithNATS(t)
			ctx := context.Background()
			old := publish(t, env.JS, newWorld(7, 5).records(30))
			projectMembers(t, pool, env.JS, old)
			if !recorded {
				if _, err := pool.Exec(ctx, "update loyalty.projection_checkpoints set ledger_created = null"); err != nil {
					t.Fatal(err)
				}
			}
			if err := env.JS.DeleteStream(ctx, streams.LedgerStream); err != nil {
				t.Fatal(err)
			}
			if err := streams.EnsureStreams(ctx, env.JS, streams.StreamsConfig{RecreateMissing: true}); err != nil {
				t.Fatal(err)
			}
			fresh := publish(t, env.JS, newWorld(9, 2).records(3))
			rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			if _, err := Rebuild(rctx, pool, env.JS, Members{}, RebuildConfig{}); err != nil {
				t.Fatalf("rebuild on a shorter new ledger: %v", err)
			}
			projectMembers(t, pool, env.JS, fresh)
			assertMembersOfTheNewLedger(t, pool, fresh)
		})
	}
}

// projectMembers runs the members projection until it has projected recs,
// and stops it.
func projectMembers(t *testing.T, pool *pgxpool.Pool, js jetstream.JetStream, recs []streams.LedgerRecord) {
	t.Helper()
	r := start(t, pool, js, Members{}, RunnerConfig{})
	waitFor(t, recs[len(recs)-1].Seq, r)
	r.stop(t)
}

// runMembersFor runs the members projection until it stops by itself or
// within has passed, and returns what Run returned.
func runMembersFor(t *testing.T, pool *pgxpool.Pool, js jetstream.JetStream, within time.Duration) error {
	t.Helper()
	r, err := NewRunner(pool, js, Members{}, RunnerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	return r.Run(ctx)
}

// assertMembersOfTheNewLedger checks, after a rebuild on a new ledger whose
// records are recs, that the members are those the records are about.
func assertMembersOfTheNewLedger(t *testing.T, pool *pgxpool.Pool, recs []streams.LedgerRecord) {
	t.Helper()
	want := map[string]bool{}
	for _, rec := range recs {
		want[rec.MemberID] = true
	}
	var members int
	if err := pool.QueryRow(context.Background(), "select count(*) from loyalty.members").Scan(&members); err != nil || members != len(want) {
		t.Errorf("members after the rebuild = %d (%v), want the %d of the new ledger", members, err, len(want))
	}
}
