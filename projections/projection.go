package projections

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/pointsledger/loyalty/streams"
)

// Projection turns ledger records into read-model rows. Implementations write
// only through the transaction they are given: the Runner commits it together
// with the projection's checkpoint, which is what makes each record count
// exactly once.
type Projection interface {
	// Name is the projection's checkpoint key in
	// loyalty.projection_checkpoints.
	//
	// WARNING: renaming a projection starts it from the beginning of the
	// ledger under the new name, on top of the rows the old name wrote:
	// its tables must be truncated first (a rebuild), or the append-only
	// tables reject the replay and the projection stops making progress.
	Name() string

	// Apply writes the rows for a batch of ledger records, given in ledger
	// order, none of them applied before. It must not commit or roll back
	// tx. An error aborts the whole batch, which is retried.
	//
	// It names its tables without a schema: the transaction's search_path
	// is the loyalty schema, or a rebuild's own (see Rebuild).
	Apply(ctx context.Context, tx pgx.Tx, batch []streams.LedgerRecord) error
}

// Rebuildable is a projection that Rebuild can rebuild: Tables are the
// tables its Apply writes (and only it writes).
type Rebuildable interface {
	Projection
	Tables() []string
}

// All is every projection the engine runs, in one list for `serve`,
// `projections rebuild` and `backtest`: a new projection is added here.
func All() []Rebuildable {
	return []Rebuildable{Members{}, Activity{}}
}

// AsProjections is ps as the runner takes them.
func AsProjections(ps []Rebuildable) []Projection {
	out := make([]Projection, len(ps))
	for i, p := range ps {
		out[i] = p
	}
	return out
}

// errNoCheckpoint means the checkpoint row vanished under a running
// projection (someone deleted it): the runner retries, and recreates it.
var errNoCheckpoint = errors.New("projection checkpoint row is missing")

// ensureCheckpoint creates the projection's checkpoint row at 0 if it has none.
func ensureCheckpoint(ctx context.Context, db execer, name string) error {
	_, err := db.Exec(ctx, `insert into loyalty.projection_checkpoints (name, ledger_seq, updated_at)
		values ($1, 0, now()) on conflict (name) do nothing`, name)
	if err != nil {
		return fmt.Errorf("create checkpoint %q: %w", name, err)
	}
	return nil
}

// readCheckpoint returns the last ledger sequence the projection applied.
func readCheckpoint(ctx context.Context, q Querier, name string) (uint64, error) {
	var seq int64
	err := q.QueryRow(ctx, `select ledger_seq from loyalty.projection_checkpoints where name = $1`, name).Scan(&seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read checkpoint %q: %w", name, err)
	}
	return uint64(seq), nil
}

// applyInTx applies a batch and moves the checkpoint in tx. It locks the
// checkpoint row first and drops every record at or below it: records that
// another runner of the same projection (or an earlier attempt whose commit
// was reported lost) already applied. So a batch is applied at most once
// even when it is delivered twice, and two runners of one projection
// serialise on the row instead of doubling balances. It returns the
// checkpoint after the batch and how many records it applied.
func applyInTx(ctx context.Context, tx pgx.Tx, p Projection, batch []streams.LedgerRecord) (checkpoint uint64, applied int, err error) {
	var seq int64
	err = tx.QueryRow(ctx, `select ledger_seq from loyalty.projection_checkpoints where name = $1 for update`, p.Name()).Scan(&seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, errNoCheckpoint
	}
	if err != nil {
		return 0, 0, fmt.Errorf("lock checkpoint: %w", err)
	}
	checkpoint = uint64(seq)
	fresh := batch
	for len(fresh) > 0 && fresh[0].Seq <= checkpoint {
		fresh = fresh[1:]
	}
	if len(fresh) == 0 {
		return checkpoint, 0, nil
	}
	if _, err := tx.Exec(ctx, "set local search_path = "+Schema); err != nil {
		return 0, 0, fmt.Errorf("set search_path: %w", err)
	}
	if err := p.Apply(ctx, tx, fresh); err != nil {
		return 0, 0, fmt.Errorf("apply ledger seq %d..%d: %w", fresh[0].Seq, fresh[len(fresh)-1].Seq, err)
	}
	last := fresh[len(fresh)-1].Seq
	if _, err := tx.Exec(ctx, `update loyalty.projection_checkpoints set ledger_seq = $2, updated_at = now() where name = $1`,
		p.Name(), int64(last)); err != nil {
		return 0, 0, fmt.Errorf("move checkpoint: %w", err)
	}
	return last, len(fresh), nil
}
