package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/handlers"
	"github.com/pointsledger/loyalty/programs"
	"github.com/pointsledger/loyalty/projections"
	"github.com/pointsledger/loyalty/projections/pgtest"
	"github.com/pointsledger/loyalty/streams"
	"github.com/pointsledger/loyalty/streams/natstest"
)

// The cluster benchmarks (`make bench-cluster`): the pipeline on a single
// NATS server and on three clustered ones with the streams at three
// replicas, with one and with two engines sharing the partitions; the time
// from an engine's crash to the first append of its partitions elsewhere;
// and event-to-table latency while the engines are restarted one after the
// other. Everything runs in this process (engines each on connections of
// their own); PostgreSQL is the machine's.

// clusterPipeline is NATS (one server or a cluster), engines that share
// the partitions, and one projection runner.
type clusterPipeline struct {
	b       *testing.B
	urls    string
	js      jetstream.JetStream // the publisher's
	program *domain.Programs
	log     *slog.Logger
	engines []*benchEngine
	dirs    []string // each engine slot's key index, kept across its restarts
	cancel  context.CancelFunc
	done    chan error

	mu        sync.Mutex
	latencies []benchLatency
}

type benchLatency struct {
	at      time.Time // committed
	latency time.Duration
	name    string
}

type benchEngine struct {
	engine *handlers.Engine
	nc     *nats.Conn
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan error
}

func startClusterPipeline(b *testing.B, servers, engines int) *clusterPipeline {
	b.Helper()
	p := &clusterPipeline{b: b, log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))}
	if servers == 1 {
		env := natstest.StartWithSync(b, streams.SyncAlways)
		p.urls = env.Server.ClientURL()
	} else {
		c := natstest.StartCluster(b, servers)
		if err := streams.EnsureStreams(context.Background(), c.JS, streams.StreamsConfig{}); err != nil {
			b.Fatal(err)
		}
		p.urls = c.URLs()
	}
	program, err := programs.LoadDefault()
	if err != nil {
		b.Fatal(err)
	}
	p.program = domain.OneVersion(program)
	p.js = p.connect(b)
	pool := pgtest.NewDatabase(b)
	if err := migrate(context.Background(), pool, p.log); err != nil {
		b.Fatal(err)
	}
	r, err := projections.NewSharedRunner(pool, p.connect(b), []projections.Projection{projections.Members{}, projections.Activity{}},
		projections.RunnerConfig{Logger: p.log, Committed: p.record})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel, p.done = cancel, make(chan error, 1)
	go func() { p.done <- r.Run(ctx) }()
	for range engines {
		p.dirs = append(p.dirs, b.TempDir())
		p.engines = append(p.engines, p.startEngine(b, len(p.dirs)-1))
	}
	p.waitShares(b, engines)
	b.Cleanup(p.stop)
	return p
}

func (p *clusterPipeline) connect(b *testing.B) jetstream.JetStream {
	b.Helper()
	nc, err := nats.Connect(p.urls, nats.MaxReconnects(-1), nats.ErrorHandler(natsAsyncError(p.log)))
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

// startEngine starts an engine in slot i (its key index directory).
func (p *clusterPipeline) startEngine(b *testing.B, i int) *benchEngine {
	b.Helper()
	nc, err := nats.Connect(p.urls, nats.MaxReconnects(-1), nats.ErrorHandler(natsAsyncError(p.log)))
	if err != nil {
		b.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	metrics, err := handlers.NewMetrics(reg)
	if err != nil {
		b.Fatal(err)
	}
	engine, err := handlers.NewEngine(js, handlers.EngineConfig{Programs: p.program, Metrics: metrics, Logger: p.log,
		KeyIndexDir: p.dirs[i], Share: true, NoService: true})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &benchEngine{engine: engine, nc: nc, reg: reg, cancel: cancel, done: make(chan error, 1)}
	go func() { e.done <- engine.Run(ctx) }()
	return e
}

// stopEngine stops an engine cleanly (a rolling restart's SIGTERM).
func (e *benchEngine) stopEngine(b *testing.B) {
	e.cancel()
	if err := <-e.done; err != nil {
		b.Errorf("engine stopped with %v", err)
	}
	e.nc.Close()
}

// crash cuts the engine off as a SIGKILL would: it hands nothing over.
func (e *benchEngine) crash() {
	e.nc.Close()
	e.cancel()
	<-e.done
}

func (e *benchEngine) owned() int {
	families, _ := e.reg.Gather()
	for _, f := range families {
		if f.GetName() == "loyalty_engine_partitions_owned" {
			return int(f.GetMetric()[0].GetGauge().GetValue())
		}
	}
	return 0
}

// waitShares waits until the running engines own all 64 partitions, as
// evenly as they can.
func (p *clusterPipeline) waitShares(b *testing.B, engines int) {
	b.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		total, even := 0, true
		for _, e := range p.engines {
			n := e.owned()
			total += n
			even = even && (n == streams.Partitions/engines || n == streams.Partitions/engines+1)
		}
		if total == streams.Partitions && even {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("engines own %d partitions after 30 s", total)
		}
	}
}

func (p *clusterPipeline) record(name string, applied []streams.LedgerRecord, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, rec := range applied {
		p.latencies = append(p.latencies, benchLatency{at: at, latency: at.Sub(rec.InputStored), name: name})
	}
}

// committedEach is the fewest records a projection has committed.
func (p *clusterPipeline) committedEach() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	counts := map[string]int{}
	for _, l := range p.latencies {
		counts[l.name]++
	}
	return min(counts[projections.Members{}.Name()], counts[projections.Activity{}.Name()])
}

func (p *clusterPipeline) waitCaughtUp(b *testing.B, published int) {
	b.Helper()
	for deadline := time.Now().Add(5 * time.Minute); p.committedEach() < published; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("projections committed %d of %d records within 5 minutes", p.committedEach(), published)
		}
	}
}

// quantile is the q-quantile of event-to-table latency in milliseconds of
// the records committed from since on.
func (p *clusterPipeline) quantile(q float64, since time.Time) float64 {
	p.mu.Lock()
	var all []time.Duration
	for _, l := range p.latencies {
		if !l.at.Before(since) {
			all = append(all, l.latency)
		}
	}
	p.mu.Unlock()
	if len(all) == 0 {
		return 0
	}
	slices.Sort(all)
	return float64(all[min(int(q*float64(len(all))), len(all)-1)]) / float64(time.Millisecond)
}

func (p *clusterPipeline) stop() {
	for _, e := range p.engines {
		if e != nil {
			e.cancel()
			<-e.done
			e.done <- nil
			e.nc.Close()
		}
	}
	if p.cancel != nil {
		p.cancel()
		if err := <-p.done; err != nil && !errors.Is(err, context.Canceled) {
			p.b.Errorf("projections stopped with %v", err)
		}
		p.cancel = nil
	}
	p.engines = nil
}

// publish sends the events at perSecond (0: as fast as it can) and waits
// for every acknowledgement; it returns how many were stored.
func (p *clusterPipeline) publish(b *testing.B, events *events, perSecond int) int {
	bp := &benchPipeline{js: p.js}
	return bp.publish(b, events, perSecond)
}

// BenchmarkClusterThroughput publishes 100,000 simulated events as fast as
// it can and measures from the first publish until both projections have
// committed the last record, on one server with one engine, and on three
// servers (R3) with one and with two engines.
func BenchmarkClusterThroughput(b *testing.B) {
	load := simulatedLoad(b, 100_000)
	for _, c := range []struct{ servers, engines int }{{1, 1}, {3, 1}, {3, 2}} {
		b.Run(fmt.Sprintf("servers=%d/engines=%d", c.servers, c.engines), func(b *testing.B) {
			for b.Loop() {
				p := startClusterPipeline(b, c.servers, c.engines)
				start := time.Now()
				published := p.publish(b, load.generator(b), 0)
				p.waitCaughtUp(b, published)
				elapsed := time.Since(start)
				b.ReportMetric(float64(published)/elapsed.Seconds(), "events/s")
				b.ReportMetric(p.quantile(0.99, start), "p99-ms")
				b.Logf("%d events published to table in %s (%.0f events/s); event-to-table p50 %.0f ms, p99 %.0f ms",
					published, elapsed.Round(time.Millisecond), float64(published)/elapsed.Seconds(), p.quantile(0.5, start), p.quantile(0.99, start))
				p.stop()
			}
		})
	}
}

// BenchmarkClusterFailover: two engines on three servers under a steady
// load; ten times, one is crashed (its connection cut: it hands nothing
// over) and the time from the crash to the first append of one of its
// partitions by the other is measured; a replacement joins before the
// next.
func BenchmarkClusterFailover(b *testing.B) {
	const perSecond, kills = 1000, 10
	load := simulatedLoad(b, perSecond*150)
	for b.Loop() {
		p := startClusterPipeline(b, 3, 2)
		events := load.generator(b)
		published := make(chan int, 1)
		go func() { published <- p.publish(b, events, perSecond) }()
		watch := watchLedger(b, p.js)
		var took []time.Duration
		for i := range kills {
			victim := i % 2
			held := partitionsHeldBy(b, p.js, p.engines[victim])
			crashed := p.engines[victim].engine.ID()
			killed := time.Now()
			p.engines[victim].crash()
			took = append(took, watch.firstOtherAppend(b, held, crashed, killed))
			p.engines[victim] = p.startEngine(b, victim)
			p.waitShares(b, 2)
		}
		watch.stop()
		p.waitCaughtUp(b, <-published)
		slices.Sort(took)
		b.ReportMetric(float64(took[len(took)/2])/float64(time.Millisecond), "median-failover-ms")
		b.ReportMetric(float64(took[len(took)-1])/float64(time.Millisecond), "max-failover-ms")
		b.Logf("failover (crash to the first append of its partitions elsewhere) over %d kills: median %s, max %s; all: %v",
			kills, took[len(took)/2].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond), took)
		p.stop()
	}
}

// BenchmarkClusterRollingRestart: two engines on three servers at a steady
// 1,000 events/s; each engine in turn is stopped cleanly and started
// again, waiting for the partitions to even out in between, as an upgrade
// does. Event-to-table latency is measured over the whole run.
func BenchmarkClusterRollingRestart(b *testing.B) {
	const perSecond = 1000
	load := simulatedLoad(b, perSecond*40)
	for b.Loop() {
		p := startClusterPipeline(b, 3, 2)
		start := time.Now()
		published := make(chan int, 1)
		go func() { published <- p.publish(b, load.generator(b), perSecond) }()
		time.Sleep(5 * time.Second)
		for i := range p.engines {
			p.engines[i].stopEngine(b)
			p.engines[i] = p.startEngine(b, i)
			p.waitShares(b, 2)
			time.Sleep(3 * time.Second)
		}
		p.waitCaughtUp(b, <-published)
		b.ReportMetric(p.quantile(0.99, start), "p99-ms")
		b.ReportMetric(p.quantile(1, start), "max-ms")
		b.Logf("rolling restart of two engines at %d events/s: event-to-table p50 %.0f ms, p99 %.0f ms, max %.0f ms",
			perSecond, p.quantile(0.5, start), p.quantile(0.99, start), p.quantile(1, start))
		p.stop()
	}
}

// partitionsHeldBy lists the partitions whose lease the engine holds, from
// the lease bucket.
func partitionsHeldBy(b *testing.B, js jetstream.JetStream, e *benchEngine) map[int]bool {
	b.Helper()
	ctx := context.Background()
	kv, err := js.KeyValue(ctx, handlers.LeaseBucket)
	if err != nil {
		b.Fatal(err)
	}
	held := map[int]bool{}
	for p := range streams.Partitions {
		entry, err := kv.Get(ctx, fmt.Sprintf("partitions.%02d", p))
		if err != nil {
			continue
		}
		var h struct{ ID string }
		if json.Unmarshal(entry.Value(), &h) == nil && h.ID == e.engine.ID() {
			held[p] = true
		}
	}
	if len(held) == 0 {
		b.Fatal("the engine holds no partition's lease")
	}
	return held
}

// ledgerWatch sees the ledger's messages as they are appended.
type ledgerWatch struct {
	mu   sync.Mutex
	seen []ledgerAppend
	stop func()
}

type ledgerAppend struct {
	at        time.Time
	partition int
	engine    string
}

func watchLedger(b *testing.B, js jetstream.JetStream) *ledgerWatch {
	b.Helper()
	ctx := context.Background()
	s, err := js.Stream(ctx, streams.LedgerStream)
	if err != nil {
		b.Fatal(err)
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverNewPolicy})
	if err != nil {
		b.Fatal(err)
	}
	w := &ledgerWatch{}
	cc, err := cons.Consume(func(msg jetstream.Msg) {
		p, ok := streams.LedgerPartition(msg.Subject())
		if !ok {
			return
		}
		at := time.Now()
		if meta, err := msg.Metadata(); err == nil {
			at = meta.Timestamp // when the ledger stored it
		}
		w.mu.Lock()
		w.seen = append(w.seen, ledgerAppend{at: at, partition: p, engine: msg.Headers().Get(handlers.EngineHeader)})
		w.mu.Unlock()
	})
	if err != nil {
		b.Fatal(err)
	}
	w.stop = cc.Stop
	return w
}

// firstOtherAppend waits for the first append to one of the partitions by
// an engine other than the crashed one after since, and returns how long
// after since the ledger stored it.
func (w *ledgerWatch) firstOtherAppend(b *testing.B, partitions map[int]bool, crashed string, since time.Time) time.Duration {
	b.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		w.mu.Lock()
		for _, a := range w.seen {
			if a.at.After(since) && partitions[a.partition] && a.engine != crashed {
				w.mu.Unlock()
				return a.at.Sub(since)
			}
		}
		w.mu.Unlock()
	}
	b.Fatal("no append to the crashed engine's partitions within a minute")
	return 0
}
