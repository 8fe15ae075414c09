package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"
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
			return simulateInto(cmd.Context(), g, t.js, t.log, o, nil)
		},
	}
	o.register(cmd.Flags(), "")
	return cmd
}

// load names the simulation these options make: the same load, the same
// events.
func (o simulateOptions) load() string {
	return fmt.Sprintf("members=%d days=%d seed=%d start=%s", o.members, o.days, o.seed, o.start)
}

// simulateInto generates the configured activity and publishes it. With
// progress it skips the events progress says are published and records
// how far it got as it goes.
func simulateInto(ctx context.Context, g *globals, js jetstream.JetStream, log *slog.Logger, o simulateOptions, progress *demoProgress) error {
	cfg, err := o.config()
	if err != nil {
		return err
	}
	gen, err := simulate.New(cfg)
	if err != nil {
		return err
	}
	skip := 0
	if progress != nil {
		skip = progress.Published
	}
	pub := streams.NewPublisher(js, log)
	var limiter *rate.Limiter
	if o.rate > 0 {
		limiter = rate.NewLimiter(rate.Limit(o.rate), max(1, int(o.rate/10)))
	}
	started := time.Now()
	var bar *progressbar.ProgressBar
	n, published := 0, 0
	for ev, ok := gen.Next(); ok; ev, ok = gen.Next() {
		if n++; n <= skip {
			continue
		}
		if bar == nil {
			bar = newProgress(g, o.quiet, int64(max(gen.EstimatedTotal()-skip, 1)), "publishing")
		}
		if limiter != nil {
			if err := limiter.Wait(ctx); err != nil {
				return err
			}
		}
		if err := pub.Publish(ctx, ev); err != nil {
			return err
		}
		published++
		_ = bar.Add(1)
		if progress != nil && published%demoProgressEvery == 0 {
			if err := pub.Wait(ctx); err != nil {
				return err
			}
			if err := progress.save(n); err != nil {
				return err
			}
		}
	}
	if err := pub.Wait(ctx); err != nil {
		return err
	}
	if progress != nil {
		if err := progress.save(n); err != nil {
			return err
		}
	}
	if bar != nil {
		bar.ChangeMax(published) // the simulation's count was an estimate
		_ = bar.Finish()
	}
	if skip > 0 && published == 0 {
		fmt.Fprintf(g.stdout, "demo load published before (%d events for %d members over %d days): nothing to publish; for a fresh demo, start with an empty --data-dir\n",
			n, cfg.Members, cfg.Days)
		return nil
	}
	took := time.Since(started)
	fmt.Fprintf(g.stdout, "published %d events for %d members over %d days in %s (%.0f events/s)",
		published, cfg.Members, cfg.Days, took.Round(time.Millisecond), float64(published)/took.Seconds())
	if skip > 0 {
		fmt.Fprintf(g.stdout, "; the first %d were published before", skip)
	}
	if r := pub.Retried(); r > 0 {
		fmt.Fprintf(g.stdout, "; %d published again after a failure", r)
	}
	fmt.Fprintln(g.stdout)
	return nil
}

func newProgress(g *globals, quiet bool, total int64, what string) *progressbar.ProgressBar {
	return newProgressOf(g, quiet, total, what, "events")
}

// newProgressOf is a progress bar of total units (bytes are shown as sizes)
// on stderr, drawn only when stderr is a terminal: in a file or a pipe its
// redraws are noise between the log lines. Only event bars show a rate:
// the others move in steps (a rebuild's batches, a fit's stages) and read
// "0 members/hr" between them.
func newProgressOf(g *globals, quiet bool, total int64, what, units string) *progressbar.ProgressBar {
	if quiet || !isTerminal(g.stderr) {
		return progressbar.DefaultSilent(total, what)
	}
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(g.stderr),
		progressbar.OptionSetDescription(what),
		progressbar.OptionThrottle(200 * time.Millisecond),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(g.stderr) }),
	}
	if units == "bytes" {
		opts = append(opts, progressbar.OptionShowBytes(true))
	} else {
		opts = append(opts, progressbar.OptionShowCount(), progressbar.OptionSetItsString(units))
	}
	if units == "events" {
		opts = append(opts, progressbar.OptionShowIts())
	}
	return progressbar.NewOptions64(total, opts...)
}

// isTerminal tells whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
