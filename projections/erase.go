package projections

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// personalColumns are the read models' columns of free text and dates a
// member gave: emptied for an erased member, as a rebuild from the ledger
// (whose sealed fields no longer open) writes them.
var personalColumns = []struct{ table, column string }{
	{"members", "birthday"}, {"feedback", "comment"}, {"adjustments", "note"},
}

// RenameErased gives every row of the members in renames (member id to
// erased id, streams.ErasedID) the erased id instead, in every text column
// of every table where the id appears (member_id, and the other member of
// a transfer in points_ledger.order_id), and empties their personal
// columns: the tables then hold what a rebuild from the ledger gives once
// the members' keys are erased. Tables are found in the schema, so one
// added later is covered too. All in one transaction.
func RenameErased(ctx context.Context, pool *pgxpool.Pool, renames map[string]string) error {
	if len(renames) == 0 {
		return nil
	}
	var ids, erased []string
	for id, to := range renames {
		ids, erased = append(ids, id), append(erased, to)
	}
	rows, err := pool.Query(ctx, `select c.table_name, c.column_name from information_schema.columns c
		join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name
		where c.table_schema = $1 and t.table_type = 'BASE TABLE' and c.data_type = 'text' order by 1, 2`, Schema)
	if err != nil {
		return fmt.Errorf("read models' columns: %w", err)
	}
	type column struct{ table, name string }
	columns, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (column, error) {
		var c column
		return c, r.Scan(&c.table, &c.name)
	})
	if err != nil {
		return fmt.Errorf("read models' columns: %w", err)
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for _, c := range columns {
			q := fmt.Sprintf(`update %s.%s t set %s = r.erased from unnest($1::text[], $2::text[]) r(id, erased) where t.%[3]s = r.id`,
				pgx.Identifier{Schema}.Sanitize(), pgx.Identifier{c.table}.Sanitize(), pgx.Identifier{c.name}.Sanitize())
			if _, err := tx.Exec(ctx, q, ids, erased); err != nil {
				return fmt.Errorf("rename erased members in %s.%s: %w", c.table, c.name, err)
			}
		}
		for _, p := range personalColumns {
			q := fmt.Sprintf(`update %s.%s set %s = null where member_id = any($1)`,
				pgx.Identifier{Schema}.Sanitize(), pgx.Identifier{p.table}.Sanitize(), pgx.Identifier{p.column}.Sanitize())
			if _, err := tx.Exec(ctx, q, erased); err != nil {
				return fmt.Errorf("empty %s.%s of erased members: %w", p.table, p.column, err)
			}
		}
		return nil
	})
}
