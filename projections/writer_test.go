package projections

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// standby is a runner started as several engines start theirs.
type standby struct {
	r       *Runner
	metrics *Metrics
	cancel  context.CancelFunc
	done    chan error
}

func startWriter(t *testing.T, r *Runner, m *Metrics) *standby {
	ctx, cancel := context.WithCancel(context.Background())
	s := &standby{r: r, metrics: m, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- r.RunAsWriter(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(15 * time.Second):
			t.Error("a runner did not stop within 15s")
		}
	})
	return s
}

func (s *standby) writing() bool { return testutil.ToFloat64(s.metrics.writer) == 1 }

// Runners of several engines: one writes, the others stand by; when the
// writer stops one of them takes over within seconds, and every record is
// applied once.
func TestOneRunnerWritesAndAnotherTakesOver(t *testing.T) {
	pool, env := migratedWithNATS(t)
	w := newWorld(3, 30)
	recs := publish(t, env.JS, w.records(300))
	var runners []*standby
	for range 3 {
		m, err := NewMetrics(prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		r, err := NewSharedRunner(pool, env.JS, []Projection{Members{}, Activity{}}, RunnerConfig{Metrics: m, BatchSize: 40})
		if err != nil {
			t.Fatal(err)
		}
		runners = append(runners, startWriter(t, r, m))
	}
	writers := func() (n int, who *standby) {
		for _, s := range runners {
			if s.writing() {
				n, who = n+1, s
			}
		}
		return n, who
	}
	deadline := time.Now().Add(10 * time.Second)
	n, first := writers()
	for n != 1 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		n, first = writers()
	}
	if n != 1 {
		t.Fatalf("%d runners write, want 1", n)
	}
	waitFor(t, recs[len(recs)-1].Seq, &running{Runner: first.r})
	// Two more must stay standing by for a while, reporting the writer's
	// position and lag, not their own (nothing) that an alert would take
	// for a projection falling behind.
	lagCtx, stopLag := context.WithCancel(context.Background())
	defer stopLag()
	for _, s := range runners {
		go s.r.WatchLag(lagCtx)
	}
	time.Sleep(3 * writerPoll)
	if n, _ := writers(); n != 1 {
		t.Fatalf("%d runners write after a while, want 1", n)
	}
	for i, s := range runners {
		if s.writing() {
			continue // its lag is measured every lagInterval
		}
		pos := testutil.ToFloat64(s.metrics.position.WithLabelValues(Members{}.Name()))
		lag := testutil.ToFloat64(s.metrics.lag.WithLabelValues(Members{}.Name()))
		if pos != float64(recs[len(recs)-1].Seq) || lag != 0 {
			t.Errorf("standby runner %d reports position %v and lag %v, want the writer's %d and 0", i, pos, lag, recs[len(recs)-1].Seq)
		}
	}

	first.cancel()
	<-first.done
	first.done <- nil // for the cleanup
	more := publish(t, env.JS, w.records(200))
	recs = append(recs, more...)
	start := time.Now()
	var next *standby
	for next == nil || next == first {
		if time.Since(start) > 10*time.Second {
			t.Fatal("no runner took over within 10s of the writer's stop")
		}
		time.Sleep(20 * time.Millisecond)
		_, next = writers()
	}
	t.Logf("a standby writes %s after the writer stopped", time.Since(start).Round(time.Millisecond))
	waitFor(t, recs[len(recs)-1].Seq, &running{Runner: next.r})
	assertTablesMatch(t, pool, recs)
}
