//go:build chaos

package main_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pointsledger/loyalty/domain/simulate"
	"github.com/pointsledger/loyalty/handlers"
	"github.com/pointsledger/loyalty/streams"
	"github.com/pointsledger/loyalty/streams/natstest"
)

// The cluster fault test (`make chaos-cluster`): three nats-server processes
// clustered on loopback, the streams at three replicas, three `loyalty
// serve` sharing the partitions, at least 100,000 simulated events. While
// they are published: one engine is killed with SIGKILL (and started again,
// as a supervisor would), another restarted cleanly, and the NATS server
// that leads the input stream killed with SIGKILL and brought back. Then
// every table, the ledger and the dead letters must be what a fold of the
// stored input gives, and no partition may have had two engines appending:
// the ledger names the engine of each append, and each change of writer of
// a partition must be a takeover the engines logged.
func TestChaosCluster(t *testing.T) {
	seed := chaosSeed(t)
	rng := rand.New(rand.NewPCG(seed, 2))
	ctx := context.Background()

	cluster := startNATSCluster(t, 3)
	url := cluster.urls()
	pg := startChaosPostgres(t)
	var engines []*engineSupervisor
	for range 3 {
		e := newEngineSupervisor(t, url, pg.url())
		e.start()
		engines = append(engines, e)
	}
	for _, e := range engines {
		e.waitUp()
	}

	const rate = 2000
	cfg := chaosLoad(t, 100_000)
	events, err := simulate.All(cfg)
	if err != nil {
		t.Fatal(err)
	}
	publishFor := time.Duration(len(events)) * time.Second / rate
	t.Logf("seed %d: %d simulated events for %d members at %d/s (about %s of publishing)",
		seed, len(events), cfg.Members, rate, publishFor.Round(time.Second))
	sim := startLoyalty(t, "simulate", "--nats-url", url, "--members", strconv.Itoa(cfg.Members),
		"--days", strconv.Itoa(cfg.Days), "--seed", strconv.FormatUint(cfg.Seed, 10), "--start", cfg.Start.Format(time.DateOnly),
		"--rate", strconv.Itoa(rate), "--quiet")
	injector := startInjector(t, url, rng.Uint64())

	js := connectChaos(t, url)
	began := time.Now()
	at := func(f float64) { time.Sleep(time.Until(began.Add(time.Duration(f * float64(publishFor))))) }
	killed, restarted := rng.IntN(3), 0
	restarted = (killed + 1 + rng.IntN(2)) % 3

	at(0.2 + 0.1*rng.Float64())
	engines[killed].kill()
	t.Logf("engine %d killed (SIGKILL) at %s", killed, time.Since(began).Round(100*time.Millisecond))
	time.Sleep(time.Duration(500+rng.IntN(1500)) * time.Millisecond)
	engines[killed].start()

	at(0.4 + 0.1*rng.Float64())
	engines[restarted].stopGently()
	t.Logf("engine %d stopped (SIGTERM) at %s", restarted, time.Since(began).Round(100*time.Millisecond))
	engines[restarted].start()

	at(0.6 + 0.1*rng.Float64())
	// The server that leads both the input and the ledger.
	leader := cluster.leaderOf(t, js, streams.InputStream)
	cluster.moveLeader(t, js, streams.LedgerStream, leader)
	cluster.servers[leader].kill(t)
	t.Logf("NATS server %s, leader of %s and %s, killed (SIGKILL) at %s", cluster.servers[leader].name,
		streams.InputStream, streams.LedgerStream, time.Since(began).Round(100*time.Millisecond))
	time.Sleep(5 * time.Second)
	cluster.servers[leader].launch(t)
	t.Logf("NATS server %s back at %s", cluster.servers[leader].name, time.Since(began).Round(100*time.Millisecond))

	if out, err := sim.wait(5 * time.Minute); err != nil {
		t.Fatalf("simulate: %v\n%s", err, out)
	} else {
		t.Logf("simulate: %s", tail(out, 1))
	}
	injected := injector.stop(t)
	pool := openChaosPool(t, pg.url())
	waitCaughtUp(t, js, pool, uint64(len(events)+len(injected)))

	verdict := checkAgainstStoredInput(t, ctx, js, pool, events, injected)
	t.Logf("%s", verdict)
	var logs []string
	for i, e := range engines {
		logs = append(logs, e.allLogs()...)
		t.Logf("engine %d warnings over all runs: %s", i, e.warnings())
	}
	t.Logf("%s", checkOneWriterPerPartition(t, readStream(t, js, streams.LedgerStream), logs))
	for _, e := range engines {
		e.stop()
	}
}

// checkOneWriterPerPartition checks, from the engine named on each ledger
// message, that every change of a partition's writer is a takeover an
// engine logged ("partitions taken over"), and that no append was refused
// by the ledger's fence (another engine had appended in between).
func checkOneWriterPerPartition(t *testing.T, ledger []storedMsg, logs []string) string {
	t.Helper()
	takeovers := map[string]map[int]int{} // engine -> partition -> times it took it
	fenced := 0
	joined := regexp.MustCompile(`msg="engine joined the engines sharing the partitions" engine=(\S+)`)
	taken := regexp.MustCompile(`msg="partitions taken over" partitions=(\S+)`)
	for _, l := range logs {
		engine := ""
		for _, line := range strings.Split(l, "\n") {
			if m := joined.FindStringSubmatch(line); m != nil {
				engine = m[1] // a restart on the same data directory keeps the id
				if takeovers[engine] == nil {
					takeovers[engine] = map[int]int{}
				}
			}
			if m := taken.FindStringSubmatch(line); m != nil && engine != "" {
				for _, p := range strings.Split(m[1], ",") {
					n, err := strconv.Atoi(p)
					if err != nil {
						t.Fatalf("takeover log line: %q", line)
					}
					takeovers[engine][n]++
				}
			}
			if strings.Contains(line, "appended by another writer") {
				fenced++
			}
		}
	}
	last := map[int]string{}
	changes := 0
	for _, m := range ledger {
		p, ok := streams.LedgerPartition(m.subject)
		if !ok {
			continue
		}
		writer := first(m.header[handlers.EngineHeader])
		if writer == "" {
			t.Errorf("ledger seq %d names no engine", m.seq)
			continue
		}
		if writer == last[p] {
			continue
		}
		last[p] = writer
		changes++
		if takeovers[writer][p] == 0 {
			t.Errorf("ledger seq %d: engine %s appended to partition %d more often than it took it over", m.seq, writer, p)
			continue
		}
		takeovers[writer][p]--
	}
	if fenced > 0 {
		t.Errorf("%d appends refused by the ledger's fence: two engines appended to one partition", fenced)
	}
	return fmt.Sprintf("one writer per partition: %d changes of writer, each a logged takeover; %d fenced appends", changes, fenced)
}

// stopGently stops the running engine with SIGTERM, as a rolling restart
// does, and keeps its log.
func (e *engineSupervisor) stopGently() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.proc.signal(syscall.SIGTERM, 20*time.Second); err != nil {
		e.t.Errorf("engine: %v", err)
	}
	e.logs = append(e.logs, e.proc.out.String())
}

// allLogs is the output of every run, the running one last.
func (e *engineSupervisor) allLogs() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append(append([]string{}, e.logs...), e.proc.out.String())
}

// natsCluster is nats-server processes clustered on loopback.
type natsCluster struct {
	servers []*natsProcess
}

func startNATSCluster(t *testing.T, n int) *natsCluster {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "nats-server")
	buildNATSServer(t, bin)
	c := &natsCluster{}
	var routes []string
	clusterPorts := make([]int, n)
	for i := range n {
		clusterPorts[i] = natstest.FreePort(t)
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", clusterPorts[i]))
	}
	for i := range n {
		s := &natsProcess{bin: bin, store: filepath.Join(t.TempDir(), "store"), port: natstest.FreePort(t), name: fmt.Sprintf("n%d", i+1)}
		s.url = fmt.Sprintf("nats://127.0.0.1:%d", s.port)
		s.extra = []string{"-n", s.name, "--cluster_name", "loyalty", "--cluster", routes[i], "--routes", strings.Join(routes, ",")}
		c.servers = append(c.servers, s)
	}
	for _, s := range c.servers {
		s.launch(t)
	}
	t.Cleanup(func() {
		for _, s := range c.servers {
			if s.proc != nil {
				_ = s.proc.signal(syscall.SIGTERM, 20*time.Second)
				if t.Failed() {
					t.Logf("nats-server %s log (tail):\n%s", s.name, tail(s.proc.out.String(), 30))
				}
			}
		}
	})
	return c
}

// urls is every server's URL, as --nats-url takes them.
func (c *natsCluster) urls() string {
	var out []string
	for _, s := range c.servers {
		out = append(out, s.url)
	}
	return strings.Join(out, ",")
}

// leaderOf is the index of the server leading a stream.
func (c *natsCluster) leaderOf(t *testing.T, js jetstream.JetStream, stream string) int {
	t.Helper()
	var name string
	for deadline := time.Now().Add(30 * time.Second); name == "" && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		name = c.leaderName(t, js, stream)
	}
	for i, srv := range c.servers {
		if srv.name == name {
			return i
		}
	}
	t.Fatalf("%s is led by %q, not one of the test's servers", stream, name)
	return 0
}

// leaderName is the name of the server leading a stream now, "" during an
// election.
func (c *natsCluster) leaderName(t *testing.T, js jetstream.JetStream, stream string) string {
	t.Helper()
	s, err := js.Stream(context.Background(), stream)
	if err != nil {
		return "" // no answer while the stream elects a leader
	}
	if info := s.CachedInfo(); info.Cluster != nil {
		return info.Cluster.Leader
	}
	t.Fatalf("%s has no cluster information", stream)
	return ""
}

// moveLeader makes server to the stream's leader (a leader step-down with
// it preferred), unless it leads it already.
func (c *natsCluster) moveLeader(t *testing.T, js jetstream.JetStream, stream string, to int) {
	t.Helper()
	// Between a step-down and the election the stream has no leader.
	for deadline := time.Now().Add(30 * time.Second); c.leaderName(t, js, stream) != c.servers[to].name; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s's leader did not move to %s within 30 s", stream, c.servers[to].name)
		}
		if c.leaderName(t, js, stream) == "" {
			continue // an election is under way
		}
		req := fmt.Sprintf(`{"placement":{"preferred":%q}}`, c.servers[to].name)
		if _, err := js.Conn().Request("$JS.API.STREAM.LEADER.STEPDOWN."+stream, []byte(req), 5*time.Second); err != nil {
			t.Logf("step down %s's leader: %v", stream, err)
		}
	}
}

// kill stops the server with SIGKILL.
func (n *natsProcess) kill(t *testing.T) {
	t.Helper()
	_ = n.proc.signal(syscall.SIGKILL, 5*time.Second)
}
