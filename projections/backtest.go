package projections

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Figure is one figure of a comparison, for the live program and for the
// candidate.
type Figure struct {
	Name      string `json:"name"`
	Live      int64  `json:"live"`
	Candidate int64  `json:"candidate"`
	Diff      int64  `json:"diff"` // Candidate - Live
}

// Comparison is what a backtest prints: the read models that two programs
// give from the same history.
type Comparison struct {
	// Points issued, reversed, expired and redeemed, and redemptions
	// refused, in the window; the outstanding
	// balance (the liability in points) and the members, at its end.
	Totals []Figure `json:"totals"`
	// Members per tier at the end.
	Tiers []Figure `json:"tiers"`
	// Points earned per rule in the window, by candidate points.
	Rules []Figure `json:"rules"`
	// TierChanged is how many members end in another tier.
	TierChanged int `json:"members_in_another_tier"`
}

// Compare computes the comparison of the read models in schema live with
// those in schema candidate, over points that moved in [from, to) (zero:
// unbounded).
func Compare(ctx context.Context, q Querier, live, candidate string, from, to time.Time) (Comparison, error) {
	lo, hi := "-infinity", "infinity"
	if !from.IsZero() {
		lo = from.UTC().Format(time.RFC3339Nano)
	}
	if !to.IsZero() {
		hi = to.UTC().Format(time.RFC3339Nano)
	}
	var c Comparison
	window := "occurred_at >= $1::timestamptz and occurred_at < $2::timestamptz"
	inWindow := []any{lo, hi}
	totals := []struct {
		name, sql string
		args      []any // the window's bounds, for the figures counted in it
	}{
		{"points issued", "select coalesce(sum(points), 0) from %s.points_ledger where kind = 'earned' and " + window, inWindow},
		{"points reversed", "select coalesce(-sum(points), 0) from %s.points_ledger where kind = 'reversed' and " + window, inWindow},
		{"points expired", "select coalesce(-sum(points), 0) from %s.points_ledger where kind = 'expired' and " + window, inWindow},
		{"points redeemed", "select coalesce(-sum(points), 0) from %s.points_ledger where kind = 'redeemed' and " + window, inWindow},
		{"redemptions refused", "select count(*) from %s.redemptions where status = 'rejected' and " + window, inWindow},
		{"offers made", "select count(*) from %s.offers where made_at >= $1::timestamptz and made_at < $2::timestamptz", inWindow},
		{"points outstanding", "select coalesce(sum(points_balance), 0) from %s.members", nil},
		{"points pending", "select coalesce(sum(points_pending), 0) from %s.members", nil},
		{"members", "select count(*) from %s.members", nil},
	}
	for _, t := range totals {
		f := Figure{Name: t.name}
		for _, side := range []struct {
			schema string
			dst    *int64
		}{{live, &f.Live}, {candidate, &f.Candidate}} {
			if err := q.QueryRow(ctx, fmt.Sprintf(t.sql, pgx.Identifier{side.schema}.Sanitize()), t.args...).Scan(side.dst); err != nil {
				return c, fmt.Errorf("compare %s: %w", t.name, err)
			}
		}
		f.Diff = f.Candidate - f.Live
		c.Totals = append(c.Totals, f)
	}
	l, k := pgx.Identifier{live}.Sanitize(), pgx.Identifier{candidate}.Sanitize()
	var err error
	if c.Tiers, err = figures(ctx, q, fmt.Sprintf(`
select coalesce(a.tier, b.tier), coalesce(a.n, 0), coalesce(b.n, 0) from
	(select coalesce(tier, '') as tier, count(*) as n from %s.members group by 1) a
	full join (select coalesce(tier, '') as tier, count(*) as n from %s.members group by 1) b on a.tier = b.tier
order by 1`, l, k)); err != nil {
		return c, fmt.Errorf("compare tiers: %w", err)
	}
	if c.Rules, err = figures(ctx, q, fmt.Sprintf(`
select coalesce(a.rule, b.rule), coalesce(a.n, 0), coalesce(b.n, 0) from
	(select rule, sum(points) as n from %s.points_ledger where kind = 'earned' and %s group by 1) a
	full join (select rule, sum(points) as n from %s.points_ledger where kind = 'earned' and %s group by 1) b on a.rule = b.rule
order by 3 desc, 1`, l, window, k, window), inWindow...); err != nil {
		return c, fmt.Errorf("compare rules: %w", err)
	}
	err = q.QueryRow(ctx, fmt.Sprintf(`select count(*) from %s.members a full join %s.members b on a.member_id = b.member_id
		where a.tier is distinct from b.tier`, l, k)).Scan(&c.TierChanged)
	if err != nil {
		return c, fmt.Errorf("compare members' tiers: %w", err)
	}
	return c, nil
}

func figures(ctx context.Context, q Querier, sql string, args ...any) ([]Figure, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Figure, error) {
		var f Figure
		err := row.Scan(&f.Name, &f.Live, &f.Candidate)
		f.Diff = f.Candidate - f.Live
		return f, err
	})
}
