package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/pointsledger/loyalty/projections"
)

func newExperimentCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "experiment", Short: "Measure the program's experiments against their control groups"}
	var asOf string
	var asJSON bool
	cfg := projections.ReportConfig{}
	report := &cobra.Command{
		Use:   "report ID",
		Short: "Compare an experiment's arms with control: repeat purchases, spend, points cost and net value, with 95% intervals",
		Long: `Compares the arms of experiment ID (experiments[].id of the program file)
with its control group on what their members did after they met it: the
share who bought again within 30 and 90 days, spend, points cost and net
value (spend times --margin less points cost) per member in 90 days. Each
arm's difference to control comes with its 95% confidence interval, and
every measure with how many members each arm would need to see a change of
--min-effect. A member counts in a 30- or 90-day measure once that many
days have passed since they met the experiment, up to --as-of.
See docs/analytics.md, Experiments.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			day, err := time.Parse(time.DateOnly, asOf)
			if err != nil {
				return fmt.Errorf("--as-of %q: give a date as YYYY-MM-DD, such as %s", asOf, time.Now().UTC().Format(time.DateOnly))
			}
			cfg.Experiment, cfg.AsOf = args[0], day
			if err := cfg.Validate(); err != nil {
				return fmt.Errorf("report settings: %w", err)
			}
			return g.withDatabase(cmd.Context(), func(pool *pgxpool.Pool) error {
				r, err := projections.ExperimentReport(cmd.Context(), pool, cfg)
				if err != nil {
					return err
				}
				if asJSON {
					enc := json.NewEncoder(g.stdout)
					enc.SetIndent("", "  ")
					return enc.Encode(jsonSafe(r))
				}
				return printReport(g.stdout, r)
			})
		},
	}
	f := report.Flags()
	f.StringVar(&asOf, "as-of", time.Now().UTC().Format(time.DateOnly), "last UTC date whose purchases count (YYYY-MM-DD)")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	f.Float64Var(&cfg.Margin, "margin", 1, "share of spend counted as value (as analytics fit's --margin)")
	f.StringVar(&cfg.CostPerPoint, "cost-per-point", "1", "what one point costs, in minor units of the program currency (a decimal, e.g. 0.5)")
	f.Float64Var(&cfg.MinEffect, "min-effect", 0.1, "change relative to control the members needed are for (0.1: 10%)")
	cmd.AddCommand(report)
	return cmd
}

// jsonSafe replaces the NaN of a measure without members, which JSON
// cannot carry, by 0 with the members saying 0.
func jsonSafe(r projections.Report) projections.Report {
	for i := range r.Measures {
		for j := range r.Measures[i].Arms {
			a := &r.Measures[i].Arms[j]
			if math.IsNaN(a.Value) {
				a.Value = 0
			}
			if d := a.Difference; d != nil && (math.IsNaN(d.Low) || math.IsNaN(d.Value)) {
				a.Difference = nil
			}
		}
	}
	return r
}

func printReport(w io.Writer, r projections.Report) error {
	fmt.Fprintf(w, "experiment %s as of %s\n", r.Experiment, r.AsOf)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ARM\tMEMBERS\tMET FROM\tTO")
	for _, a := range r.Arms {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", a.Arm, a.Members, a.First.UTC().Format(time.DateOnly), a.Last.UTC().Format(time.DateOnly))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "MEASURE\tARM\tMEMBERS\tVALUE\tVS CONTROL (95%% CI)\tMEMBERS NEEDED PER ARM (%.0f%% CHANGE)\n", 100*r.MinEffect)
	for _, m := range r.Measures {
		for _, a := range m.Arms {
			diff := "-"
			if d := a.Difference; d != nil && !math.IsNaN(d.Low) {
				diff = fmt.Sprintf("%s (%s to %s)", measureValue(m.Measure, d.Value, true), measureValue(m.Measure, d.Low, true),
					measureValue(m.Measure, d.High, true))
			}
			needed := "-"
			if a.MembersNeeded > 0 {
				needed = fmt.Sprint(a.MembersNeeded)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", m.Measure, a.Arm, a.Members, measureValue(m.Measure, a.Value, false), diff, needed)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nshares in %, their differences in percentage points; money in minor units of the program currency per member;")
	fmt.Fprintln(w, "a member counts in a measure once its days have passed since they met the experiment")
	return nil
}

// measureValue shows a share as a percentage and money in minor units.
func measureValue(measure string, v float64, signed bool) string {
	if math.IsNaN(v) {
		return "-"
	}
	format := "%.1f"
	if signed {
		format = "%+.1f"
	}
	if strings.HasPrefix(measure, "purchase_") {
		return fmt.Sprintf(format+"%%", 100*v)
	}
	return fmt.Sprintf(format, v)
}
