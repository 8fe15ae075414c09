package pgserver

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// maxSocketPath is the longest Unix socket path that works everywhere
// (sun_path is 104 bytes on macOS and the BSDs, 108 on Linux).
const maxSocketPath = 103

// prepareDirs creates the cluster directory and log file and, when we are
// root, hands them to the account PostgreSQL runs as. initdb accepts the
// empty directory we create; creating it ourselves means that account never
// needs write access to Config.Dir itself.
func (s *Server) prepareDirs() error {
	if s.runAs != nil {
		if err := checkReachable(s.dir, s.runAs, statPerm); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(s.dataDir, 0o700); err != nil {
		return fmt.Errorf("create cluster dir: %w", err)
	}
	f, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("create server log: %w", err)
	}
	f.Close()
	if s.runAs == nil {
		return nil
	}
	if err := s.runAs.chownTree(s.dataDir); err != nil {
		return fmt.Errorf("give %s to user %s: %w", s.dataDir, s.runAs.name, err)
	}
	if err := os.Lchown(s.logPath, int(s.runAs.uid), int(s.runAs.gid)); err != nil {
		return fmt.Errorf("give %s to user %s: %w", s.logPath, s.runAs.name, err)
	}
	return nil
}

// initdbIfNeeded creates the cluster on first use. The C locale keeps
// sorting byte-wise and, unlike libc locales, cannot change under us with an
// OS upgrade (which silently corrupts text indexes); it also exists on every
// machine, whatever the user's LANG.
func (s *Server) initdbIfNeeded(ctx context.Context, version string) error {
	if existing, err := clusterVersion(s.dataDir); err != nil || existing != "" {
		return err
	}
	began := time.Now()
	s.log.Info("creating PostgreSQL cluster", "data", s.dataDir, "version", version)
	if _, err := s.run(ctx, "initdb", "-D", s.dataDir, "-U", superuser,
		"--auth=trust", "--encoding=UTF8", "--locale=C"); err != nil {
		return fmt.Errorf("create cluster in %s: %w", s.dataDir, err)
	}
	s.log.Info("created PostgreSQL cluster", "took", time.Since(began).Round(time.Millisecond))
	return nil
}

// start runs pg_ctl start, which waits until the server reports itself
// ready. Settings go on the command line, where they override
// postgresql.conf and ALTER SYSTEM, so the server can never end up
// listening anywhere but 127.0.0.1 or with fsync off.
func (s *Server) start(ctx context.Context) error {
	socketDir := s.dataDir
	if len(socketDir)+len("/.s.PGSQL.65535") > maxSocketPath {
		// Too long for a Unix socket; we only connect over TCP anyway.
		s.log.Info("data dir path too long for a Unix socket; listening on TCP only", "data", s.dataDir)
		socketDir = ""
	}
	opts := strings.Join([]string{
		"-c listen_addresses=127.0.0.1",
		"-c port=" + strconv.Itoa(s.port),
		// pg_ctl runs postgres through /bin/sh, hence the shell quoting;
		// the inner double quotes let the directory contain spaces.
		"-c " + shellQuote("unix_socket_directories="+quoteIfSet(socketDir)),
		"-c fsync=on",
	}, " ")

	logStart := fileSize(s.logPath)
	pidBefore, _ := os.ReadFile(s.pidPath())
	began := time.Now()
	if _, err := s.run(ctx, "pg_ctl", "start", "-D", s.dataDir, "-l", s.logPath, "-w", "-t", "60", "-o", opts); err != nil {
		// A postmaster that wrote its own postmaster.pid may still be coming
		// up (say ctx ran out); stop it. An unchanged file is not ours: it
		// may name an unrelated process, which pg_ctl stop would signal.
		if pidAfter, err := os.ReadFile(s.pidPath()); err == nil && !bytes.Equal(pidAfter, pidBefore) {
			s.stopAfterFailure(ctx)
		}
		tail := readFrom(s.logPath, logStart)
		if strings.Contains(tail, "could not bind") || strings.Contains(tail, "already in use") {
			return portInUseError(s.port, "taken while starting", fmt.Errorf("%w\n%s", err, tail))
		}
		hint := ""
		if strings.Contains(tail, `lock file "postmaster.pid" already exists`) {
			hint = fmt.Sprintf("\nif no PostgreSQL is running on %s, remove %s", s.dataDir, s.pidPath())
		}
		return fmt.Errorf("start PostgreSQL (log %s): %w\n%s%s", s.logPath, err, tail, hint)
	}
	s.log.Info("PostgreSQL started", "port", s.port, "took", time.Since(began).Round(time.Millisecond))
	return nil
}

// run executes one of the server tools, as s.runAs when we are root, and
// returns its combined output, which also goes into the error.
func (s *Server) run(ctx context.Context, tool string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, tool), args...)
	cmd.Dir = s.dir // the tools chdir-check their cwd; ours may be unreadable to runAs
	cmd.Env = childEnv(os.Environ())
	cmd.WaitDelay = 5 * time.Second // in case a server child keeps our pipe open
	if s.runAs != nil {
		s.runAs.apply(cmd)
	}
	out, err := cmd.CombinedOutput()
	text := strings.TrimSpace(string(out))
	s.log.Debug(tool+" finished", "args", args, "output", text)
	if err != nil {
		return text, fmt.Errorf("%s: %w: %s", tool, err, text)
	}
	return text, nil
}

func (s *Server) pgCtl(ctx context.Context, args ...string) (string, error) {
	return s.run(ctx, "pg_ctl", args...)
}

// childEnv drops PG* variables, which would point the tools at another
// server or data directory, and the locale, so messages we match on (such as
// "could not bind") are in English.
func childEnv(env []string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "LC_") || strings.HasPrefix(kv, "LANG=") {
			continue
		}
		out = append(out, kv)
	}
	return append(out, "LC_ALL=C")
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func quoteIfSet(dir string) string {
	if dir == "" {
		return ""
	}
	return `"` + dir + `"`
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// readFrom returns what was appended to path after offset, at most the last
// 4 KiB, for error messages.
func readFrom(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if size := fileSize(path); size-offset > 4096 {
		offset = size - 4096
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return ""
	}
	b, _ := io.ReadAll(f)
	return strings.TrimSpace(string(b))
}
