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
// erased id, streams.ErasedID) the erased id instead, and empties their
// personal columns: the tables then hold what a rebuild from the ledger
// gives once the members' keys are erased. The columns renamed are those
// that name a member, never any text cell that happens to equal an id (a
// member "gold" must not rename a tier, nor "members" a checkpoint): every
// table's member_id, found in the schema so that a table added later is
// covered, and the other member of a transfer in points_ledger.order_id.
// All in one transaction.
func RenameErased(ctx context.Context, pool *pgxpool.Pool, renames map[string]string) error {
	if len(renames) == 0 {
		return nil
	}
	var ids, erased []string
	for id, to := range renames {
		ids, erased = append(ids, id), append(erased, to)
	}
	rows, err := pool.Query(ctx, `select c.table_name from information_schema.columns c
		join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name
		where c.table_schema = $1 and t.table_type = 'BASE TABLE' and c.column_name = 'member_id' order by 1`, Schema)
	if err != nil {
		return fmt.Errorf("read models' tables: %w", err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("read models' tables: %w", err)
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for _, table := range tables {
			q := fmt.Sprintf(`update %s.%s t set member_id = r.erased from unnest($1::text[], $2::text[]) r(id, erased) where t.member_id = r.id`,
				pgx.Identifier{Schema}.Sanitize(), pgx.Identifier{table}.Sanitize())
			if _, err := tx.Exec(ctx, q, ids, erased); err != nil {
				return fmt.Errorf("rename erased members in %s: %w", table, err)
			}
		}
		if _, err := tx.Exec(ctx, `update loyalty.points_ledger t set order_id = r.erased from unnest($1::text[], $2::text[]) r(id, erased)
			where t.kind in ('`+KindTransferred+`', '`+KindReceived+`') and t.order_id = r.id`, ids, erased); err != nil {
			return fmt.Errorf("rename erased members in points_ledger.order_id: %w", err)
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
