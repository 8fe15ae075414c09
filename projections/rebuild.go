package projections

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pointsledger/loyalty/streams"
)

// RebuildConfig tunes Rebuild. The zero value is usable.
type RebuildConfig struct {
	// BatchSize is the most ledger records written in one transaction.
	// Default 5000.
	BatchSize int
	// Progress, when set, is called after each batch with the last ledger
	// sequence applied and the ledger's last sequence when the rebuild
	// began.
	Progress func(applied, total uint64)
}

// ErrRebuildRunning is returned by Rebuild when another rebuild of the same
// projection is running.
var ErrRebuildRunning = errors.New("another rebuild of this projection is running")

// rebuildLockSpace is the first key of rebuilds' advisory locks (the
// second is the projection name's hash).
const rebuildLockSpace = 0x4c4f5952 // "LOYR"

// RebuildResult says what a rebuild did.
type RebuildResult struct {
	Records    int            // ledger records applied
	Checkpoint uint64         // the projection's checkpoint after the swap
	Rows       map[string]int // rows per table after the swap
	Took       time.Duration  // all of it
	Swap       time.Duration  // the swap transaction: how long readers of the tables waited
}

// Rebuild rebuilds a projection's tables from the whole ledger: into fresh
// tables of a scratch schema (loyalty_rebuild_<name>, shaped like the live
// ones), batch by batch, while the live projection goes on; then, in one
// transaction that holds the projection's checkpoint row, it applies what
// the live projection committed meanwhile, replaces the live tables' rows
// with the rebuilt ones and sets the checkpoint to where the rebuild got
// to. Readers see the old rows or the new, never a mix; writers and
// readers that lock the tables wait for the swap (RebuildResult.Swap). A rebuild that fails or is interrupted leaves
// the live tables as they were, and the next one starts afresh.
func Rebuild(ctx context.Context, pool *pgxpool.Pool, js jetstream.JetStream, p Rebuildable, cfg RebuildConfig) (RebuildResult, error) {
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 5000
	}
	start := time.Now()
	// One rebuild of a projection at a time: they would share the scratch
	// schema. The lock is the session's, held on a connection of its own.
	lockConn, err := pool.Acquire(ctx)
	if err != nil {
		return RebuildResult{}, fmt.Errorf("rebuild %s: %w", p.Name(), err)
	}
	defer lockConn.Release()
	var locked bool
	if err := lockConn.QueryRow(ctx, "select pg_try_advisory_lock($1, hashtext($2))", rebuildLockSpace, p.Name()).Scan(&locked); err != nil {
		return RebuildResult{}, fmt.Errorf("rebuild %s: lock: %w", p.Name(), err)
	}
	if !locked {
		return RebuildResult{}, fmt.Errorf("rebuild %s: %w", p.Name(), ErrRebuildRunning)
	}
	defer lockConn.Exec(context.WithoutCancel(ctx), "select pg_advisory_unlock($1, hashtext($2))", rebuildLockSpace, p.Name())
	scratch := pgx.Identifier{"loyalty_rebuild_" + p.Name()}.Sanitize()
	if err := createScratch(ctx, pool, scratch, p.Tables()); err != nil {
		return RebuildResult{}, err
	}
	if err := ensureCheckpoint(ctx, pool, p.Name()); err != nil {
		return RebuildResult{}, err
	}
	ledger, err := js.Stream(ctx, streams.LedgerStream)
	if err != nil {
		return RebuildResult{}, fmt.Errorf("rebuild %s: %w", p.Name(), err)
	}
	last := ledger.CachedInfo().State.LastSeq
	created := ledger.CachedInfo().Created.UTC().Truncate(time.Microsecond)
	res := RebuildResult{Rows: map[string]int{}}
	err = readLedger(ctx, js, 1, last, cfg.BatchSize, func(batch []streams.LedgerRecord) error {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return applyInto(ctx, tx, scratch, p, batch) })
		if err != nil {
			return err
		}
		res.Records += len(batch)
		if cfg.Progress != nil {
			cfg.Progress(batch[len(batch)-1].Seq, last)
		}
		return nil
	})
	if err != nil {
		return RebuildResult{}, fmt.Errorf("rebuild %s: %w", p.Name(), err)
	}
	swapStart := time.Now()
	if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return swap(ctx, tx, js, scratch, p, last, created, &res) }); err != nil {
		return RebuildResult{}, fmt.Errorf("rebuild %s: swap: %w", p.Name(), err)
	}
	res.Swap, res.Took = time.Since(swapStart), time.Since(start)
	return res, nil
}

// createScratch makes an empty scratch schema with tables like the live
// ones (columns, defaults, constraints, indexes and comments).
func createScratch(ctx context.Context, pool *pgxpool.Pool, scratch string, tables []string) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		stmts := []string{"drop schema if exists " + scratch + " cascade", "create schema " + scratch}
		for _, t := range tables {
			stmts = append(stmts, fmt.Sprintf("create table %s.%s (like %s.%s including all)", scratch, t, Schema, t))
		}
		for _, s := range stmts {
			if _, err := tx.Exec(ctx, s); err != nil {
				return fmt.Errorf("rebuild: %s: %w", s, err)
			}
		}
		return nil
	})
}

// applyInto applies a batch to the tables of schema.
func applyInto(ctx context.Context, tx pgx.Tx, schema string, p Projection, batch []streams.LedgerRecord) error {
	if _, err := tx.Exec(ctx, "set local search_path = "+schema); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "set local synchronous_commit = off"); err != nil {
		return err
	}
	if err := p.Apply(ctx, tx, batch); err != nil {
		return fmt.Errorf("apply ledger seq %d..%d: %w", batch[0].Seq, batch[len(batch)-1].Seq, err)
	}
	return nil
}

// swap brings the scratch tables level with the live checkpoint, moves
// their rows into the live tables and drops the scratch schema. The
// checkpoint row lock keeps the live projection out until it commits.
//
// A live checkpoint that counts in another ledger (one deleted or replaced
// since: ErrLedgerReplaced) is not caught up with: its rows are of that
// ledger, and the rebuild replaces them whole.
func swap(ctx context.Context, tx pgx.Tx, js jetstream.JetStream, scratch string, p Rebuildable, rebuilt uint64, created time.Time, res *RebuildResult) error {
	var live int64
	var liveLedger *time.Time
	err := tx.QueryRow(ctx, `select ledger_seq, ledger_created from loyalty.projection_checkpoints where name = $1 for update`, p.Name()).
		Scan(&live, &liveLedger)
	if err != nil {
		return fmt.Errorf("lock checkpoint: %w", err)
	}
	if liveLedger != nil && !liveLedger.Equal(created) {
		live = 0
	}
	if ledger, err := js.Stream(ctx, streams.LedgerStream); err == nil && uint64(live) > ledger.CachedInfo().State.LastSeq {
		live = 0 // a checkpoint of before the creation time was kept, past this ledger's end
	}
	if uint64(live) > rebuilt {
		err := readLedger(ctx, js, rebuilt+1, uint64(live), 5000, func(batch []streams.LedgerRecord) error {
			res.Records += len(batch)
			return applyInto(ctx, tx, scratch, p, batch)
		})
		if err != nil {
			return fmt.Errorf("catch up to the live checkpoint %d: %w", live, err)
		}
		rebuilt = uint64(live)
	}
	// delete rather than truncate: truncate is not MVCC-safe, and a
	// reader whose snapshot predates the swap would see empty tables.
	for _, t := range p.Tables() {
		if _, err := tx.Exec(ctx, fmt.Sprintf("delete from %s.%s", Schema, t)); err != nil {
			return fmt.Errorf("clear %s: %w", t, err)
		}
	}
	for _, t := range p.Tables() {
		tag, err := tx.Exec(ctx, fmt.Sprintf("insert into %s.%s select * from %s.%s", Schema, t, scratch, t))
		if err != nil {
			return fmt.Errorf("copy %s: %w", t, err)
		}
		res.Rows[t] = int(tag.RowsAffected())
	}
	if _, err := tx.Exec(ctx, `update loyalty.projection_checkpoints set ledger_seq = $2, updated_at = now(), rebuilt_at = now(), ledger_created = null
		where name = $1`,
		p.Name(), int64(rebuilt)); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "drop schema "+scratch+" cascade"); err != nil {
		return err
	}
	res.Checkpoint = rebuilt
	return nil
}

// readLedger hands the ledger records of messages from..to (inclusive) to
// apply in batches of about size records, in order.
func readLedger(ctx context.Context, js jetstream.JetStream, from, to uint64, size int, apply func([]streams.LedgerRecord) error) error {
	if from > to {
		return nil
	}
	reader, err := streams.NewLedgerReader(ctx, js, streams.LedgerReaderConfig{From: from, Pull: min(2*size, 10_000)})
	if err != nil {
		return err
	}
	defer reader.Stop()
	batch := make([]streams.LedgerRecord, 0, size)
	for {
		// Bounded: the messages up to to exist (the ledger holds them, or
		// has lost them to a purge, which must not hang a swap holding the
		// checkpoint lock).
		wait, cancel := context.WithTimeout(ctx, 30*time.Second)
		msg, err := reader.Next(wait)
		cancel()
		if err != nil {
			if ctx.Err() == nil && wait.Err() != nil {
				return fmt.Errorf("%s: no message after seq %d within 30 s, expected up to %d", streams.LedgerStream, from, to)
			}
			return err
		}
		if msg.Seq > to {
			break // the ledger grew past to meanwhile
		}
		recs, _, err := msg.Records()
		if err != nil {
			return fmt.Errorf("%w: %w", ErrUndecodable, err)
		}
		batch = append(batch, recs...)
		// Done at to, or at the end of the ledger when to is gone.
		done := msg.Seq >= to || msg.Pending == 0
		if len(batch) >= size || done && len(batch) > 0 {
			if err := apply(batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
		if done {
			return nil
		}
	}
	if len(batch) > 0 {
		return apply(batch)
	}
	return nil
}
