package main_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pointsledger/loyalty/streams/natstest"
)

// binary is the loyalty binary built once for all end-to-end tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "loyalty-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "loyalty")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build loyalty:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// syncBuffer collects a process's output for the failure message.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// server is a running `loyalty serve`.
type server struct {
	cmd         *exec.Cmd
	log         *syncBuffer
	metricsAddr string
	// done is closed when the process has exited; waitErr is then set.
	done    chan struct{}
	waitErr error
}

// freeAddr is a loopback address whose port was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", natstest.FreePort(t))
}

// startServe runs `loyalty serve args...` and waits until /readyz says ready.
func startServe(t testing.TB, args ...string) *server {
	t.Helper()
	s := &server{log: &syncBuffer{}, metricsAddr: freeAddr(t), done: make(chan struct{})}
	s.cmd = exec.Command(binary, append([]string{"serve", "--metrics-addr", s.metricsAddr}, args...)...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.waitErr = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			// SIGTERM first: serve stops the PostgreSQL it manages.
			_ = s.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-s.done:
			case <-time.After(15 * time.Second):
				_ = s.cmd.Process.Kill()
				<-s.done
			}
		}
		if t.Failed() {
			t.Logf("serve log:\n%s", s.log.String())
		}
	})
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := http.Get("http://" + s.metricsAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case <-s.done:
			t.Fatalf("serve exited before ready: %v\n%s", s.waitErr, s.log.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not ready after 90 s\n%s", s.log.String())
		}
	}
}

// stop sends SIGTERM and requires a clean exit within 10 s.
func (s *server) stop(t testing.TB) {
	t.Helper()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		if s.waitErr != nil {
			t.Errorf("serve exited with %v after SIGTERM\n%s", s.waitErr, s.log.String())
		}
	case <-time.After(10 * time.Second):
		t.Errorf("serve did not exit within 10 s of SIGTERM")
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// kill ends serve with SIGKILL: nothing it holds is written out.
func (s *server) kill(t testing.TB) {
	t.Helper()
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-s.done
}

// loyalty runs a one-shot command and returns its stdout and stderr.
func loyalty(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

func mustLoyalty(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := loyalty(t, args...)
	if err != nil {
		t.Fatalf("loyalty %v: %v\n%s%s", args, err, out, errOut)
	}
	return out
}
