package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/handlers"
	"github.com/pointsledger/loyalty/projections"
	"github.com/pointsledger/loyalty/streams"
)

// Sandbox schemas of a backtest; one backtest runs at a time per database.
const (
	backtestLive      = "loyalty_backtest_live"
	backtestCandidate = "loyalty_backtest_candidate"
)

type backtestOptions struct {
	program, liveProgram string
	from, to             string
	asJSON, keep, quiet  bool
}

func newBacktestCommand(g *globals) *cobra.Command {
	o := &backtestOptions{}
	cmd := &cobra.Command{
		Use:   "backtest --program NEW",
		Short: "Replay the recorded history through a candidate program and compare it with the live one",
		Long: `Replay every input event in LOYALTY_IN through the candidate program, and
through the live program, each into a schema of its own shaped like the read
models (loyalty_backtest_candidate, loyalty_backtest_live), deciding each event
exactly as the engine does, then print what differs: points issued, reversed
and expired, outstanding points, members per tier, members who end in another
tier, points per rule. The live tables and the streams are not touched.
--from/--to bound the points counted (event times; --to also ends the replay).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return backtest(cmd.Context(), g, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.program, "program", "", "the candidate program file or directory (required)")
	f.StringVar(&o.liveProgram, "live-program", g.getenv("LOYALTY_PROGRAM"), "the live program; empty: the built-in one (env LOYALTY_PROGRAM)")
	f.StringVar(&o.from, "from", "", "count points from this date (YYYY-MM-DD or RFC 3339)")
	f.StringVar(&o.to, "to", "", "replay and count up to this date, excluded")
	f.BoolVar(&o.asJSON, "json", false, "print JSON: each figure with live, candidate and diff")
	f.BoolVar(&o.keep, "keep", false, "keep the two schemas for queries of your own")
	f.BoolVar(&o.quiet, "quiet", false, "no progress bar")
	return cmd
}

func backtest(ctx context.Context, g *globals, o *backtestOptions) error {
	if o.program == "" {
		return errors.New("backtest: --program NEW is required (the candidate program file or directory)")
	}
	from, err := parseDay("--from", o.from)
	if err != nil {
		return err
	}
	to, err := parseDay("--to", o.to)
	if err != nil {
		return err
	}
	candidate, err := loadPrograms(o.program)
	if err != nil {
		return err
	}
	live, err := loadPrograms(o.liveProgram)
	if err != nil {
		return err
	}
	return g.withToolAndReadModels(ctx, "loyalty-backtest", func(t tool, pool *pgxpool.Pool) error {
		return compareReplays(ctx, g, o, pool, t.js, live, candidate, from, to)
	})
}

// compareReplays replays the input through the live and the candidate
// programs, each into a sandbox schema of its own, and prints how the two
// differ; the schemas are dropped afterwards unless --keep.
func compareReplays(ctx context.Context, g *globals, o *backtestOptions, pool *pgxpool.Pool, js jetstream.JetStream,
	live, candidate *domain.Programs, from, to time.Time) error {
	for _, side := range []struct {
		schema string
		ps     *domain.Programs
	}{{backtestLive, live}, {backtestCandidate, candidate}} {
		if err := replayInto(ctx, g, o, pool, js, side.schema, side.ps, to); err != nil {
			return err
		}
	}
	if !o.keep {
		defer func() {
			for _, s := range []string{backtestLive, backtestCandidate} {
				_, _ = pool.Exec(context.WithoutCancel(ctx), "drop schema if exists "+s+" cascade")
			}
		}()
	}
	cmp, err := projections.Compare(ctx, pool, backtestLive, backtestCandidate, from, to)
	if err != nil {
		return err
	}
	if o.asJSON {
		return writeJSON(g.stdout, cmp)
	}
	return printComparison(g.stdout, cmp)
}

// replayInto replays the input through ps into a fresh sandbox schema.
func replayInto(ctx context.Context, g *globals, o *backtestOptions, pool *pgxpool.Pool, js jetstream.JetStream,
	schema string, ps *domain.Programs, to time.Time) error {
	box, err := projections.NewSandbox(ctx, pool, schema, projections.All()...)
	if err != nil {
		return err
	}
	in, err := js.Stream(ctx, streams.InputStream)
	if err != nil {
		return err
	}
	bar := newProgress(g, o.quiet, int64(in.CachedInfo().State.Msgs), "replaying into "+schema)
	var batch []streams.LedgerRecord
	closeAt := to
	if closeAt.IsZero() {
		closeAt = time.Now().UTC().Truncate(time.Second)
	}
	stats, err := handlers.ReplayInput(ctx, js, ps, to, closeAt, func(r streams.LedgerRecord) error {
		_ = bar.Add(1)
		batch = append(batch, r)
		if len(batch) < 5000 {
			return nil
		}
		err := box.Apply(ctx, batch)
		batch = batch[:0]
		return err
	})
	if err == nil {
		err = box.Apply(ctx, batch)
	}
	if err != nil {
		return fmt.Errorf("backtest %s: %w", schema, err)
	}
	_ = bar.Finish()
	dead := 0
	for _, n := range stats.DeadLetters {
		dead += n
	}
	fmt.Fprintf(g.stderr, "%s: %d inputs, %d applied (%d of them taken from the ledger: inputs the stream no longer holds), %d rejected, %d after --to\n",
		schema, stats.Inputs, stats.Applied, stats.Recorded, dead, stats.Skipped)
	return nil
}

func parseDay(flag, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q: want a date such as 2026-03-01 or an RFC 3339 time", flag, s)
	}
	return t.UTC(), nil
}

func printComparison(w io.Writer, c projections.Comparison) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	section := func(title string, fs []projections.Figure) {
		fmt.Fprintf(tw, "%s\tlive\tcandidate\tdiff\t\n", title)
		for _, f := range fs {
			name := f.Name
			if name == "" {
				name = "(none)"
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%+d\t\n", name, f.Live, f.Candidate, f.Diff)
		}
		fmt.Fprintln(tw, "\t\t\t\t")
	}
	section("TOTALS", c.Totals)
	section("MEMBERS PER TIER", c.Tiers)
	section("POINTS BY RULE", c.Rules)
	fmt.Fprintf(tw, "members in another tier\t%d\t\t\t\n", c.TierChanged)
	return tw.Flush()
}
