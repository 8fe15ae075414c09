package pgserver

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// portRecordName is the file in Config.Dir holding the port of the last
// successful run, so Port 0 gives the same URL every time.
const portRecordName = "port"

// choosePort returns the port to start on and checks nothing else listens
// there, so a clash is reported by port number before any slow work.
func choosePort(ctx context.Context, dir string, requested int, log *slog.Logger) (int, error) {
	port, origin := requested, "requested"
	if port == 0 {
		recorded, err := readPortRecord(dir)
		switch {
		case err == nil:
			port, origin = recorded, "recorded in "+filepath.Join(dir, portRecordName)+" by an earlier run; delete that file to pick a new one"
		case errors.Is(err, fs.ErrNotExist):
		default:
			log.Warn("ignoring unreadable port record", "err", err)
		}
	}
	if port == 0 {
		free, err := freePort(ctx)
		if err != nil {
			return 0, err
		}
		log.Info("picked a free port for PostgreSQL", "port", free)
		return free, nil
	}
	if err := checkPortFree(ctx, port); err != nil {
		return 0, portInUseError(port, origin, err)
	}
	return port, nil
}

func portInUseError(port int, origin string, cause error) error {
	return fmt.Errorf("port %d on 127.0.0.1 (%s) is already in use by another process; pick another port or stop that process: %w", port, origin, cause)
}

// freePort asks the kernel for an unused port on 127.0.0.1.
func freePort(ctx context.Context) (int, error) {
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port on 127.0.0.1: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func checkPortFree(ctx context.Context, port int) error {
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return err
	}
	return l.Close()
}

func readPortRecord(dir string) (int, error) {
	b, err := os.ReadFile(filepath.Join(dir, portRecordName))
	if err != nil {
		return 0, err
	}
	return parsePortRecord(b)
}

// parsePortRecord reads the port file: one decimal port, optionally
// surrounded by whitespace.
func parsePortRecord(b []byte) (int, error) {
	s := strings.TrimSpace(string(b))
	port, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("port record %q is not a number", s)
	}
	if port < 1 || port > 65535 {
		return 0, fmt.Errorf("port record %d is out of range", port)
	}
	return port, nil
}

func writePortRecord(dir string, port int) error {
	return os.WriteFile(filepath.Join(dir, portRecordName), []byte(strconv.Itoa(port)+"\n"), 0o644)
}

// parsePostmasterPID reads the PID (line 1) and port (line 4) from a
// postmaster.pid file, whose layout PostgreSQL has kept since 9.1.
func parsePostmasterPID(b []byte) (pid, port int, err error) {
	lines := strings.Split(string(b), "\n")
	if len(lines) < 4 {
		return 0, 0, errors.New("postmaster.pid is truncated")
	}
	if pid, err = strconv.Atoi(strings.TrimSpace(lines[0])); err != nil || pid <= 0 {
		return 0, 0, fmt.Errorf("postmaster.pid has a bad PID %q", lines[0])
	}
	if port, err = strconv.Atoi(strings.TrimSpace(lines[3])); err != nil || port <= 0 || port > 65535 {
		return 0, 0, fmt.Errorf("postmaster.pid has a bad port %q", lines[3])
	}
	return pid, port, nil
}

// runningPort reports the port of a postmaster an earlier run left running
// on our data directory, if it is alive and accepting connections. A
// postmaster.pid whose process is gone is left for PostgreSQL, which
// recognises and replaces stale lock files itself.
func (s *Server) runningPort(ctx context.Context) (int, bool) {
	b, err := os.ReadFile(s.pidPath())
	if err != nil {
		return 0, false
	}
	pid, port, err := parsePostmasterPID(b)
	if err != nil || !processAlive(pid) {
		return 0, false
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := ping(ctx, port); err != nil {
		s.log.Info("postmaster.pid names a live process that does not accept connections; starting normally", "pid", pid, "port", port, "err", err)
		return 0, false
	}
	return port, true
}

// postmasterAlive reports whether postmaster.pid names a live process.
func (s *Server) postmasterAlive() bool {
	b, err := os.ReadFile(s.pidPath())
	if err != nil {
		return false
	}
	pid, _, err := parsePostmasterPID(b)
	return err == nil && processAlive(pid)
}
