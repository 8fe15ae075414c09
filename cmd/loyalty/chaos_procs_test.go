//go:build chaos

package main_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// process is a child process with its output kept for the failure message.
type process struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

func spawn(t *testing.T, name string, args ...string) *process {
	t.Helper()
	p := &process{out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(name, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	return p
}

func (p *process) signal(sig syscall.Signal, wait time.Duration) error {
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return nil
	case <-time.After(wait):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("did not exit within %s of %s", wait, sig)
	}
}

// wait waits for the process to exit by itself.
func (p *process) wait(limit time.Duration) (string, error) {
	select {
	case <-p.done:
		return strings.TrimSpace(p.out.String()), p.err
	case <-time.After(limit):
		_ = p.cmd.Process.Kill()
		<-p.done
		return p.out.String(), fmt.Errorf("still running after %s", limit)
	}
}

// startLoyalty runs a loyalty command in the background.
func startLoyalty(t *testing.T, args ...string) *process {
	t.Helper()
	p := spawn(t, binary, args...)
	t.Cleanup(func() { _ = p.signal(syscall.SIGKILL, 5*time.Second) })
	return p
}

// natsProcess is a standalone nats-server (built from the nats-server
// module this repository pins) with its JetStream store on disk.
type natsProcess struct {
	bin, store string
	port       int
	url        string
	proc       *process
	// name and extra are a clustered server's name and cluster options.
	name  string
	extra []string
}

// buildNATSServer builds the nats-server of the pinned module into bin.
func buildNATSServer(t *testing.T, bin string) {
	t.Helper()
	build := exec.Command("go", "build", "-o", bin, "github.com/nats-io/nats-server/v2")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build nats-server: %v\n%s", err, out)
	}
}

func startNATSProcess(t *testing.T) *natsProcess {
	t.Helper()
	dir := t.TempDir()
	n := &natsProcess{bin: filepath.Join(dir, "nats-server"), store: filepath.Join(dir, "store")}
	buildNATSServer(t, n.bin)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	n.url = fmt.Sprintf("nats://127.0.0.1:%d", n.port)
	n.launch(t)
	t.Cleanup(func() {
		if err := n.proc.signal(syscall.SIGTERM, 20*time.Second); err != nil {
			t.Errorf("nats-server: %v", err)
		}
		if t.Failed() {
			t.Logf("nats-server log (tail):\n%s", tail(n.proc.out.String(), 40))
		}
	})
	return n
}

func (n *natsProcess) launch(t *testing.T) {
	t.Helper()
	n.proc = spawn(t, n.bin, append([]string{"-a", "127.0.0.1", "-p", fmt.Sprint(n.port), "-js", "-sd", n.store}, n.extra...)...)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", n.port)); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nats-server did not listen within 30 s:\n%s", n.proc.out.String())
}

// restart stops the server (SIGTERM: it shuts down cleanly), keeps it down
// for down, and starts it again on the same port and store.
func (n *natsProcess) restart(t *testing.T, down time.Duration) {
	t.Helper()
	if err := n.proc.signal(syscall.SIGTERM, 20*time.Second); err != nil {
		t.Errorf("nats-server: %v", err)
	}
	time.Sleep(down)
	n.launch(t)
}

// engineSupervisor runs `loyalty serve` against external servers and
// restarts it after each kill, as a process supervisor would.
type engineSupervisor struct {
	t                *testing.T
	natsURL, dbURL   string
	dataDir, metrics string
	program          string
	mu               sync.Mutex
	proc             *process
	logs             []string // output of killed runs
	kills            int
}

func newEngineSupervisor(t *testing.T, natsURL, dbURL string) *engineSupervisor {
	e := &engineSupervisor{t: t, natsURL: natsURL, dbURL: dbURL, dataDir: t.TempDir(), metrics: freeAddr(t)}
	e.program = filepath.Join(e.dataDir, "program.yaml")
	if err := os.WriteFile(e.program, []byte(chaosProgram), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.proc != nil {
			_ = e.proc.signal(syscall.SIGKILL, 5*time.Second)
		}
		if t.Failed() {
			for i, l := range e.logs {
				t.Logf("engine run %d log (tail):\n%s", i+1, tail(l, 30))
			}
			if e.proc != nil {
				t.Logf("last engine run log (tail):\n%s", tail(e.proc.out.String(), 60))
			}
		}
	})
	return e
}

func (e *engineSupervisor) start() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.proc = spawn(e.t, binary, "serve", "--nats-url", e.natsURL, "--database-url", e.dbURL, "--program", e.program,
		"--data-dir", e.dataDir, "--metrics-addr", e.metrics)
}

// waitUp waits for /healthz: the engine's HTTP side is up.
func (e *engineSupervisor) waitUp() {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + e.metrics + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.t.Fatalf("engine not ready within 60 s:\n%s", e.proc.out.String())
}

func (e *engineSupervisor) kill() {
	e.mu.Lock()
	defer e.mu.Unlock()
	select {
	case <-e.proc.done:
		e.t.Errorf("the engine had exited by itself before a kill: %v\n%s", e.proc.err, tail(e.proc.out.String(), 40))
	default:
	}
	_ = e.proc.signal(syscall.SIGKILL, 5*time.Second)
	e.logs = append(e.logs, e.proc.out.String())
	e.kills++
}

// warnings counts the warning and error messages of every run, by message:
// what the faults made the engine do.
func (e *engineSupervisor) warnings() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	counts := map[string]int{}
	for _, l := range append(slices.Clone(e.logs), e.proc.out.String()) {
		for _, line := range strings.Split(l, "\n") {
			if !strings.Contains(line, "level=WARN") && !strings.Contains(line, "level=ERROR") {
				continue
			}
			if _, msg, ok := strings.Cut(line, "msg="); ok {
				if strings.HasPrefix(msg, `"`) {
					msg, _, _ = strings.Cut(msg[1:], `"`)
				} else {
					msg, _, _ = strings.Cut(msg, " ")
				}
				counts[msg]++
			}
		}
	}
	var out []string
	for msg, n := range counts {
		out = append(out, fmt.Sprintf("%dx %q", n, msg))
	}
	slices.Sort(out)
	return strings.Join(out, "; ")
}

// stop ends the last run with SIGTERM, which must be clean and quick.
func (e *engineSupervisor) stop() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.proc.signal(syscall.SIGTERM, 10*time.Second); err != nil {
		e.t.Errorf("engine: %v", err)
	} else if e.proc.err != nil {
		e.t.Errorf("engine exited with %v after SIGTERM", e.proc.err)
	}
}

func connectChaos(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func openChaosPool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
