package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/pointsledger/loyalty/projections"
)

// rebuildable are the projections `projections rebuild` knows, by name.
var rebuildable = func() map[string]projections.Rebuildable {
	byName := map[string]projections.Rebuildable{}
	for _, p := range projections.All() {
		byName[p.Name()] = p
	}
	return byName
}()

func newProjectionsCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "projections", Short: "Manage the PostgreSQL read models"}
	var quiet bool
	rebuild := &cobra.Command{
		Use:   "rebuild NAME|all",
		Short: "Rebuild a projection's tables from the ledger and swap them in",
		Long: `Rebuild a projection's tables from the whole ledger into fresh tables, then
swap them in, in one transaction, with the projection's checkpoint: readers see
the old rows or the new ones. The engine may keep running; the live projection
waits during the swap. Names: ` + strings.Join(slices.Sorted(maps.Keys(rebuildable)), ", ") + `, or all.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			targets, err := rebuildTargets(args[0])
			if err != nil {
				return err
			}
			return g.withToolAndReadModels(cmd.Context(), "loyalty-rebuild", func(t tool, pool *pgxpool.Pool) error {
				for _, p := range targets {
					bar := newProgressOf(g, quiet, 0, "rebuilding "+p.Name(), "ledger records")
					res, err := projections.Rebuild(cmd.Context(), pool, t.js, p, projections.RebuildConfig{
						Progress: func(applied, total uint64) {
							bar.ChangeMax64(int64(total))
							_ = bar.Set64(int64(applied))
						},
					})
					if err != nil {
						return err
					}
					_ = bar.Finish()
					fmt.Fprintf(g.stdout, "%s rebuilt from %d ledger records in %s (swap %s), checkpoint %d:",
						p.Name(), res.Records, res.Took.Round(time.Millisecond), res.Swap.Round(time.Millisecond), res.Checkpoint)
					for _, t := range p.Tables() {
						fmt.Fprintf(g.stdout, " %s %d rows;", t, res.Rows[t])
					}
					fmt.Fprintln(g.stdout)
				}
				return nil
			})
		},
	}
	rebuild.Flags().BoolVar(&quiet, "quiet", false, "no progress bar")
	cmd.AddCommand(rebuild)
	return cmd
}

func rebuildTargets(name string) ([]projections.Rebuildable, error) {
	if name == "all" {
		var all []projections.Rebuildable
		for _, n := range slices.Sorted(maps.Keys(rebuildable)) {
			all = append(all, rebuildable[n])
		}
		return all, nil
	}
	if p, ok := rebuildable[name]; ok {
		return []projections.Rebuildable{p}, nil
	}
	return nil, fmt.Errorf("no projection %q: use one of %s, or all", name, strings.Join(slices.Sorted(maps.Keys(rebuildable)), ", "))
}
