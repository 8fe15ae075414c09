package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/domain/simulate"
	"github.com/pointsledger/loyalty/handlers"
	"github.com/pointsledger/loyalty/programs"
	"github.com/pointsledger/loyalty/projections"
	"github.com/pointsledger/loyalty/projections/pgtest"
	"github.com/pointsledger/loyalty/streams"
	"github.com/pointsledger/loyalty/streams/natstest"
)

// benchEvents is the load of the throughput benchmark: simulated members
// over 180 days, enough of them for about 200,000 events.
const benchEvents = 200_000

// BenchmarkPipelineThroughput publishes about 200,000 simulated events as
// fast as it can and measures from the first publish until both projections
// have committed the last ledger record: events/s from publish to table.
// NATS (embedded), the engine, the projections and the publisher share this
// process; PostgreSQL is the machine's.
func BenchmarkPipelineThroughput(b *testing.B) {
	load := simulatedLoad(b, benchEvents)
	forEachSyncPolicy(b, func(b *testing.B, sync streams.SyncPolicy) {
		for b.Loop() {
			p := startBenchPipeline(b, sync)
			events := load.generator(b)
			start := time.Now()
			published := p.publish(b, events, 0)
			b.Logf("published and acknowledged after %s", time.Since(start).Round(time.Millisecond))
			p.waitLedger(b, published)
			b.Logf("engine appended every ledger record after %s, in %d appends", time.Since(start).Round(time.Millisecond), p.ledgerAppends(b))
			p.waitCaughtUp(b, published)
			elapsed := time.Since(start)
			b.ReportMetric(float64(published)/elapsed.Seconds(), "events/s")
			b.ReportMetric(p.percentile(0.50), "p50-ms")
			b.ReportMetric(p.percentile(0.99), "p99-ms")
			b.Logf("%d events published to table in %s (%.0f events/s); event-to-table p50 %.1f ms, p99 %.1f ms",
				published, elapsed.Round(time.Millisecond), float64(published)/elapsed.Seconds(), p.percentile(0.50), p.percentile(0.99))
			p.stop()
		}
	})
}

// forEachSyncPolicy runs the benchmark once per NATS store sync policy: the
// engine's default (every write flushed before its acknowledgement), every
// second, and JetStream's own default (every 2 minutes).
func forEachSyncPolicy(b *testing.B, run func(*testing.B, streams.SyncPolicy)) {
	for _, sync := range []streams.SyncPolicy{streams.SyncAlways, {Interval: time.Second}, {Interval: 2 * time.Minute}} {
		b.Run("sync="+sync.String(), func(b *testing.B) { run(b, sync) })
	}
}

// BenchmarkPipelineLatency publishes at a steady 2,000 events/s for 30 s and
// reports the event-to-table latency (input stored -> projection commit).
func BenchmarkPipelineLatency(b *testing.B) {
	const perSecond, seconds = 2000, 30
	load := simulatedLoad(b, perSecond*seconds)
	forEachSyncPolicy(b, func(b *testing.B, sync streams.SyncPolicy) {
		for b.Loop() {
			p := startBenchPipeline(b, sync)
			events := load.generator(b)
			published := p.publish(b, events, perSecond)
			p.waitCaughtUp(b, published)
			b.ReportMetric(p.percentile(0.50), "p50-ms")
			b.ReportMetric(p.percentile(0.99), "p99-ms")
			b.ReportMetric(p.percentile(1), "max-ms")
			b.Logf("%d events at %d/s in %d ledger appends: event-to-table p50 %.1f ms, p99 %.1f ms, max %.1f ms",
				published, perSecond, p.ledgerAppends(b), p.percentile(0.50), p.percentile(0.99), p.percentile(1))
			p.stop()
		}
	})
}

// load is the first n events of a simulation, generated while they are
// published, as loyalty simulate does: held in memory all at once, 200,000
// events were some 50 MB of pointers for the collector to mark, which the
// engine's process does not have to carry in production.
type load struct {
	cfg simulate.Config
	n   int
}

// simulatedLoad sizes a simulation of at least n events (and not many
// more) by the simulator's estimate.
func simulatedLoad(b *testing.B, n int) load {
	b.Helper()
	probe, err := simulate.New(simulate.Config{Members: 1000, Days: 180, Seed: 7})
	if err != nil {
		b.Fatal(err)
	}
	members := n*1100/probe.EstimatedTotal() + 100 // the estimate runs a few percent high
	return load{cfg: simulate.Config{Members: members, Days: 180, Seed: 7}, n: n}
}

// events is the load's next event, for each of its n events.
type events struct {
	gen  *simulate.Generator
	left int
}

// generator starts the simulation (it draws every member's traits, before
// the clock starts).
func (l load) generator(b *testing.B) *events {
	b.Helper()
	g, err := simulate.New(l.cfg)
	if err != nil {
		b.Fatal(err)
	}
	return &events{gen: g, left: l.n}
}

// next is the next event, or false after the n-th. A simulation with fewer
// than n events fails the benchmark.
func (e *events) next(b *testing.B) (domain.Event, bool) {
	if e.left == 0 {
		return domain.Event{}, false
	}
	ev, ok := e.gen.Next()
	if !ok {
		b.Fatalf("the simulation ended %d events short", e.left)
	}
	e.left--
	return ev, true
}

type benchPipeline struct {
	b      *testing.B
	env    *natstest.Env
	log    *slog.Logger
	js     jetstream.JetStream
	reg    *prometheus.Registry // the engine's metrics
	runs   []*projections.Runner
	cancel context.CancelFunc
	group  *errgroup.Group

	mu        sync.Mutex
	latencies map[string][]time.Duration // per projection
}

func startBenchPipeline(b *testing.B, sync streams.SyncPolicy) *benchPipeline {
	b.Helper()
	env := natstest.StartWithSync(b, sync)
	pool := pgtest.NewDatabase(b)
	program, err := programs.LoadDefault()
	if err != nil {
		b.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	engineMetrics, err := handlers.NewMetrics(reg)
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	// As serve runs them, and as upstream publishes: the engine, the
	// projections and the publisher each on a connection of their own.
	engineJS, projJS, pubJS := benchConn(b, env, log), benchConn(b, env, log), benchConn(b, env, log)
	engine, err := handlers.NewEngine(engineJS, handlers.EngineConfig{Programs: domain.OneVersion(program), Metrics: engineMetrics, Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	if err := migrate(context.Background(), pool, log); err != nil {
		b.Fatal(err)
	}
	p := &benchPipeline{b: b, env: env, log: log, js: pubJS, reg: reg, latencies: map[string][]time.Duration{}}
	// Wired as serve wires them: one runner for both projections.
	r, err := projections.NewSharedRunner(pool, projJS, []projections.Projection{projections.Members{}, projections.Activity{}},
		projections.RunnerConfig{Logger: log, Committed: p.record})
	if err != nil {
		b.Fatal(err)
	}
	p.runs = append(p.runs, r)
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.group, ctx = errgroup.WithContext(ctx)
	p.group.Go(func() error { return engine.Run(ctx) })
	for _, r := range p.runs {
		p.group.Go(func() error { return r.Run(ctx) })
	}
	b.Cleanup(p.stop)
	return p
}

// benchConn is a new client connection to the benchmark's server.
func benchConn(b *testing.B, env *natstest.Env, log *slog.Logger) jetstream.JetStream {
	b.Helper()
	nc, err := nats.Connect(env.Server.ClientURL(), nats.ErrorHandler(natsAsyncError(log)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		b.Fatal(err)
	}
	return js
}

func (p *benchPipeline) record(name string, applied []streams.LedgerRecord, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, rec := range applied {
		p.latencies[name] = append(p.latencies[name], at.Sub(rec.InputStored))
	}
}

// publish sends the events, at perSecond when it is above 0, and waits for
// every acknowledgement. It returns how many were stored.
func (p *benchPipeline) publish(b *testing.B, events *events, perSecond int) int {
	b.Helper()
	ctx := context.Background()
	pub := streams.NewPublisher(p.js, nil)
	var limiter *rate.Limiter
	if perSecond > 0 {
		limiter = rate.NewLimiter(rate.Limit(perSecond), max(perSecond/100, 1))
	}
	for e, ok := events.next(b); ok; e, ok = events.next(b) {
		if limiter != nil {
			if err := limiter.Wait(ctx); err != nil {
				b.Fatal(err)
			}
		}
		if err := pub.Publish(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
	if err := pub.Wait(ctx); err != nil {
		b.Fatal(err)
	}
	return pub.Acked()
}

// waitCaughtUp waits until every projection has committed one ledger record
// per published event.
func (p *benchPipeline) waitCaughtUp(b *testing.B, published int) {
	b.Helper()
	const patience = 3 * time.Minute
	deadline := time.Now().Add(patience)
	for last := time.Now(); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if p.committedEach() >= published {
			return
		}
		if time.Since(last) > 10*time.Second {
			b.Logf("waiting: projections have committed %d of %d records", p.committedEach(), published)
			last = time.Now()
		}
	}
	b.Fatalf("projections committed %d of %d records within %s", p.committedEach(), published, patience)
}

// waitLedger waits until the engine has appended a ledger record per
// published event.
func (p *benchPipeline) waitLedger(b *testing.B, published int) {
	b.Helper()
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if p.ledgerRecords(b) >= float64(published) {
			return
		}
	}
	b.Fatalf("the ledger did not reach %d records within 3 minutes", published)
}

// ledgerRecords reads loyalty_ledger_records_total.
func (p *benchPipeline) ledgerRecords(b *testing.B) float64 {
	if f := p.family(b, "loyalty_ledger_records_total"); f != nil {
		return f.GetMetric()[0].GetCounter().GetValue()
	}
	return 0
}

// ledgerAppends reads how many appends loyalty_ledger_append_records counted.
func (p *benchPipeline) ledgerAppends(b *testing.B) uint64 {
	if f := p.family(b, "loyalty_ledger_append_records"); f != nil {
		return f.GetMetric()[0].GetHistogram().GetSampleCount()
	}
	return 0
}

func (p *benchPipeline) family(b *testing.B, name string) *dto.MetricFamily {
	families, err := p.reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			return f
		}
	}
	return nil
}

// committedEach is the fewest records any projection has committed.
func (p *benchPipeline) committedEach() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	least := -1
	for _, name := range []string{projections.Members{}.Name(), projections.Activity{}.Name()} {
		if n := len(p.latencies[name]); least < 0 || n < least {
			least = n
		}
	}
	return least
}

// percentile is the q-quantile of event-to-table latency in milliseconds,
// over every projection's commits (an event is in a table once per
// projection).
func (p *benchPipeline) percentile(q float64) float64 {
	p.mu.Lock()
	var all []time.Duration
	for _, l := range p.latencies {
		all = append(all, l...)
	}
	p.mu.Unlock()
	if len(all) == 0 {
		return 0
	}
	slices.Sort(all)
	i := min(int(q*float64(len(all))), len(all)-1)
	return float64(all[i]) / float64(time.Millisecond)
}

func (p *benchPipeline) stop() {
	if p.cancel == nil {
		return
	}
	p.cancel()
	if err := p.group.Wait(); err != nil && !errors.Is(err, context.Canceled) {
		p.b.Errorf("pipeline stopped with %v", err)
	}
	p.cancel = nil
}
