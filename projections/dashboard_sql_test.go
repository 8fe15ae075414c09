package projections

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// analystDashboard is the analysts' Grafana dashboard, on the PostgreSQL
// data source.
const analystDashboard = "../deploy/grafana/dashboards/programme.json"

// The analysts' dashboard reads the read models as loyalty_analyst, the role
// its Grafana login has: every panel's SQL runs under that role, read-only,
// on a projected simulation and a real fit, and returns rows.
func TestAnalystDashboardSQLRunsAsAnalyst(t *testing.T) {
	data, err := os.ReadFile(analystDashboard)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				RawSQL string `json:"rawSql"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Panels) < 7 {
		t.Fatalf("%s has %d panels; want the programme's seven at least", analystDashboard, len(d.Panels))
	}
	pool := migrated(t)
	ctx := context.Background()
	// As serve does after its migrations.
	if err := pool.AcquireFunc(ctx, func(c *pgxpool.Conn) error { return GrantAnalyst(ctx, c.Conn()) }); err != nil {
		t.Fatal(err)
	}
	projectAll(t, pool, newWorld(11, 80).records(4000), 0, Members{}, Activity{})
	seedPurchaseDays(t, pool, 500)
	if _, err := FitModels(ctx, pool, testFitConfig("command")); err != nil {
		t.Fatal(err)
	}
	if _, err := ValidateModels(ctx, pool, ValidateConfig{CalibrationEnd: fitAsOf.AddDate(0, 0, -91), HoldoutEnd: fitAsOf,
		TimeUnit: "week", Reason: "command"}); err != nil {
		t.Fatal(err)
	}
	// Grafana's macros, as it expands them for a range that holds the data.
	macros := strings.NewReplacer("$__timeFrom()", "'2000-01-01T00:00:00Z'::timestamptz", "$__timeTo()", "'2100-01-01T00:00:00Z'::timestamptz")
	for _, p := range d.Panels {
		for _, target := range p.Targets {
			if sql := macros.Replace(target.RawSQL); strings.Contains(sql, "$__") || strings.Contains(sql, "${") {
				t.Errorf("panel %q uses a Grafana macro or variable the test does not expand:\n%s", p.Title, sql)
			}
			var rows int
			err := pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, "set local role loyalty_analyst"); err != nil {
					return err
				}
				r, err := tx.Query(ctx, macros.Replace(target.RawSQL))
				if err != nil {
					return err
				}
				for r.Next() {
					rows++
				}
				return r.Err()
			})
			if err != nil {
				t.Errorf("panel %q: %v\n%s", p.Title, err, target.RawSQL)
			} else if rows == 0 {
				t.Errorf("panel %q returned no rows on a projected simulation and a fit", p.Title)
			}
		}
	}
}
