package projections

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pointsledger/loyalty/streams"
)

// Sandbox is a schema of tables shaped like the live read models, filled by
// the same projections, for what-if runs (`loyalty backtest`): the live
// tables are never touched.
type Sandbox struct {
	pool   *pgxpool.Pool
	schema string // quoted
	name   string
	ps     []Rebuildable
}

// NewSandbox creates (or empties) schema name with the tables of ps.
func NewSandbox(ctx context.Context, pool *pgxpool.Pool, name string, ps ...Rebuildable) (*Sandbox, error) {
	var tables []string
	for _, p := range ps {
		tables = append(tables, p.Tables()...)
	}
	schema := pgx.Identifier{name}.Sanitize()
	if err := createScratch(ctx, pool, schema, tables); err != nil {
		return nil, err
	}
	return &Sandbox{pool: pool, schema: schema, name: name, ps: ps}, nil
}

// Name is the sandbox's schema name.
func (s *Sandbox) Name() string { return s.name }

// Apply writes a batch to every projection of the sandbox, one transaction
// each.
func (s *Sandbox) Apply(ctx context.Context, batch []streams.LedgerRecord) error {
	if len(batch) == 0 {
		return nil
	}
	for _, p := range s.ps {
		if err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return applyInto(ctx, tx, s.schema, p, batch) }); err != nil {
			return fmt.Errorf("sandbox %s: %s: %w", s.name, p.Name(), err)
		}
	}
	return nil
}

// Drop removes the sandbox's schema.
func (s *Sandbox) Drop(ctx context.Context) error {
	_, err := s.pool.Exec(ctx, "drop schema if exists "+s.schema+" cascade")
	return err
}
