package projections

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pointsledger/loyalty/streams"
)

// ErrLedgerReplaced is returned by Run when the ledger stream is not the
// one the checkpoints count in: it is missing, was created at another time,
// or ends before a checkpoint. Resuming would skip the new stream's first
// records, or wait for ever for records that are gone. It is an incident
// for an operator (docs/operations.md, "A stream is missing"), not a
// condition to retry.
var ErrLedgerReplaced = errors.New("the ledger stream is not the one the projections were built from")

// checkLedger compares the ledger stream with what each projection's
// checkpoint was written against, and records the stream's creation time
// where none is recorded yet. Errors other than ErrLedgerReplaced are
// transient.
func (r *Runner) checkLedger(ctx context.Context, cps []uint64) error {
	s, err := r.js.Stream(ctx, streams.LedgerStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		for i, cp := range cps {
			if cp > 0 {
				return fmt.Errorf("%w: %s is missing, and projection %s has applied it up to sequence %d",
					ErrLedgerReplaced, streams.LedgerStream, r.ps[i].Name(), cp)
			}
		}
		return fmt.Errorf("look up %s: %w", streams.LedgerStream, err)
	}
	if err != nil {
		return fmt.Errorf("look up %s: %w", streams.LedgerStream, err)
	}
	info := s.CachedInfo()
	created := info.Created.UTC().Truncate(time.Microsecond) // PostgreSQL's precision
	for i, p := range r.ps {
		var recorded *time.Time
		err := r.pool.QueryRow(ctx, `select ledger_created from loyalty.projection_checkpoints where name = $1`, p.Name()).Scan(&recorded)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("read checkpoint %q: %w", p.Name(), err)
		}
		switch {
		case recorded != nil && !recorded.Equal(created):
			return fmt.Errorf("%w: %s was created at %s, but projection %s counts in one created at %s (up to sequence %d)",
				ErrLedgerReplaced, streams.LedgerStream, created.Format(time.RFC3339Nano), p.Name(),
				recorded.UTC().Format(time.RFC3339Nano), cps[i])
		case cps[i] > info.State.LastSeq:
			return fmt.Errorf("%w: %s ends at sequence %d, but projection %s has applied it up to %d",
				ErrLedgerReplaced, streams.LedgerStream, info.State.LastSeq, p.Name(), cps[i])
		case recorded == nil:
			if _, err := r.pool.Exec(ctx, `update loyalty.projection_checkpoints set ledger_created = $2 where name = $1 and ledger_created is null`,
				p.Name(), created); err != nil {
				return fmt.Errorf("record the ledger of checkpoint %q: %w", p.Name(), err)
			}
		}
	}
	return nil
}
