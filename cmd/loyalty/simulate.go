package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/time/rate"

	"github.com/pointsledger/loyalty/domain/simulate"
	"github.com/pointsledger/loyalty/streams"
)

type simulateOptions struct {
	members int
	days    int
	seed    uint64
	rate    float64
	start   string
	quiet   bool
}

func (o *simulateOptions) register(f *pflag.FlagSet, prefix string) {
	f.IntVar(&o.members, prefix+"members", 1000, "number of simulated members")
	f.IntVar(&o.days, prefix+"days", 180, "days of activity to simulate")
	f.Uint64Var(&o.seed, prefix+"seed", 1, "random seed: the same seed gives the same events")
	f.Float64Var(&o.rate, prefix+"rate", 0, "events per second; 0 publishes as fast as the server acknowledges")
	f.StringVar(&o.start, prefix+"start", "2026-01-01", "first simulated day (YYYY-MM-DD, UTC)")
	f.BoolVar(&o.quiet, prefix+"quiet", false, "no progress bar")
}

func (o simulateOptions) config() (simulate.Config, error) {
	start, err := time.Parse(time.DateOnly, o.start)
	if err != nil {
		return simulate.Config{}, fmt.Errorf("--start %q: want a date like 2026-01-01", o.start)
	}
	if o.rate < 0 {
		return simulate.Config{}, fmt.Errorf("--rate %v: must be 0 (no limit) or more", o.rate)
	}
	return simulate.Config{Members: o.members, Days: o.days, Seed: o.seed, Start: start}, nil
}

func newSimulateCommand(g *globals) *cobra.Command {
	o := simulateOptions{}
	cmd := &cobra.Command{
		Use:   "simulate",
		Short: "Publish realistic simulated member activity to the input stream",
		Long: `Publish purchases, refunds, visits, feedback and enrolments of simulated
members. Members differ in how often they buy and when they stop (some churn);
basket values are skewed. The same --seed always gives the same events.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := g.connectTool("loyalty-simulate", jetstream.WithPublishAsyncMaxPending(4096), jetstream.WithPublishAsyncTimeout(streams.AckTimeout))
			if err != nil {
				return err
			}
			defer t.close()
			return simulateInto(cmd.Context(), g, t.js, t.log, o)
		},
	}
	o.register(cmd.Flags(), "")
	return cmd
}

// simulateInto generates the configured activity and publishes it.
func simulateInto(ctx context.Context, g *globals, js jetstream.JetStream, log *slog.Logger, o simulateOptions) error {
	cfg, err := o.config()
	if err != nil {
		return err
	}
	gen, err := simulate.New(cfg)
	if err != nil {
		return err
	}
	pub := streams.NewPublisher(js, log)
	bar := newProgress(g, o.quiet, int64(gen.EstimatedTotal()), "publishing")
	var limiter *rate.Limiter
	if o.rate > 0 {
		limiter = rate.NewLimiter(rate.Limit(o.rate), max(1, int(o.rate/10)))
	}
	started := time.Now()
	n := 0
	for ev, ok := gen.Next(); ok; ev, ok = gen.Next() {
		if limiter != nil {
			if err := limiter.Wait(ctx); err != nil {
				return err
			}
		}
		if err := pub.Publish(ctx, ev); err != nil {
			return err
		}
		n++
		_ = bar.Add(1)
	}
	if err := pub.Wait(ctx); err != nil {
		return err
	}
	_ = bar.Finish()
	took := time.Since(started)
	fmt.Fprintf(g.stdout, "published %d events for %d members over %d days in %s (%.0f events/s)",
		n, cfg.Members, cfg.Days, took.Round(time.Millisecond), float64(n)/took.Seconds())
	if r := pub.Retried(); r > 0 {
		fmt.Fprintf(g.stdout, "; %d published again after a failure", r)
	}
	fmt.Fprintln(g.stdout)
	return nil
}

func newProgress(g *globals, quiet bool, total int64, what string) *progressbar.ProgressBar {
	return newProgressOf(g, quiet, total, what, "events")
}

// newProgressOf is a progress bar counting units.
func newProgressOf(g *globals, quiet bool, total int64, what, units string) *progressbar.ProgressBar {
	if quiet {
		return progressbar.DefaultSilent(total, what)
	}
	return progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(g.stderr),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString(units),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(g.stderr) }),
	)
}
