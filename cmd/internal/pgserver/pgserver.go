// Package pgserver runs a PostgreSQL server that the loyalty program manages
// itself, in a data directory it owns, so `loyalty serve` works on a machine
// where nobody has set up a database.
//
// The server is private to this program: it listens on 127.0.0.1 only and
// trusts every local connection as the superuser "loyalty". Anything more
// (remote clients, passwords, replication) belongs to a separately run
// PostgreSQL that the program reaches through --database-url instead.
package pgserver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

const (
	// superuser is created by initdb; with trust auth it needs no password.
	superuser = "loyalty"
	// dbName is the database the program's projections live in.
	dbName = "loyalty"
)

// Config says where the cluster lives and which port it listens on.
type Config struct {
	// Dir is the root of everything this package writes: the cluster in
	// Dir/data, the server log in Dir/postgres.log, the port in Dir/port and,
	// if binaries had to be downloaded, Dir/runtime.
	Dir string
	// Port is the TCP port on 127.0.0.1. 0 reuses the port an earlier run
	// recorded in Dir, so the URL stays the same across restarts, and picks
	// a free one (and records it) the first time.
	Port int
	// RootFallback, when set, is where the cluster lives instead when we run
	// as root and the account PostgreSQL runs as cannot reach Dir (a data
	// directory under /root, say): RootFallback/postgres-<hash of Dir>. Empty
	// means Start fails with an error naming the blocking directory.
	RootFallback string
	// Logger receives lifecycle messages; nil discards them.
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	// pg_ctl and initdb run with Dir as their working directory, so a
	// relative path would be resolved twice; make it absolute once here.
	if c.Dir != "" {
		if abs, err := filepath.Abs(c.Dir); err == nil {
			c.Dir = abs
		}
	}
}

// Validate reports every problem with c at once.
func (c Config) Validate() error {
	var errs []error
	switch {
	case c.Dir == "":
		errs = append(errs, errors.New("Dir is required"))
	case !filepath.IsAbs(c.Dir):
		errs = append(errs, fmt.Errorf("Dir %q must be an absolute path", c.Dir))
	case strings.ContainsAny(c.Dir, "\"$`\\\n"):
		// pg_ctl hands the data directory and log path to /bin/sh inside
		// double quotes, where these characters would be interpreted.
		errs = append(errs, fmt.Errorf("Dir %q must not contain \", $, `, \\ or newlines (pg_ctl passes it through a shell)", c.Dir))
	}
	if c.Port < 0 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("Port %d is out of range (0 picks one, else 1-65535)", c.Port))
	}
	return errors.Join(errs...)
}

// Server is a running PostgreSQL cluster in Config.Dir.
type Server struct {
	dir     string
	dataDir string
	logPath string
	port    int
	bin     string   // directory holding initdb, pg_ctl and postgres
	runAs   *account // nil unless we are root and must drop privileges
	log     *slog.Logger

	mu      sync.Mutex
	stopped bool
}

// Start makes sure a PostgreSQL server for cfg.Dir is running and has the
// "loyalty" database: it initialises the cluster on first use, starts the
// server, or adopts one that an earlier run left running on the same
// directory (Stop then stops it too).
func Start(ctx context.Context, cfg Config) (*Server, error) {
	began := time.Now()
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("pgserver: invalid config: %w", err)
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("pgserver: create data dir: %w", err)
	}
	runAs, err := runAsAccount()
	if err != nil {
		return nil, fmt.Errorf("pgserver: %w", err)
	}
	if cfg.Dir, err = reachableDir(cfg, runAs); err != nil {
		return nil, fmt.Errorf("pgserver: %w", err)
	}
	s := &Server{
		dir:     cfg.Dir,
		dataDir: filepath.Join(cfg.Dir, "data"),
		logPath: filepath.Join(cfg.Dir, "postgres.log"),
		runAs:   runAs,
		log:     cfg.Logger,
	}

	running, reused := s.runningPort(ctx)
	if reused {
		if cfg.Port != 0 && cfg.Port != running {
			return nil, fmt.Errorf("pgserver: a PostgreSQL from an earlier run is still running on %s with port %d, but port %d was asked for; stop it with `pg_ctl stop -D %s` or ask for port %d",
				s.dataDir, running, cfg.Port, s.dataDir, running)
		}
		s.port = running
		s.log.Info("reusing PostgreSQL left running by an earlier run", "data", s.dataDir, "port", s.port)
	} else if s.port, err = choosePort(ctx, cfg.Dir, cfg.Port, s.log); err != nil {
		return nil, fmt.Errorf("pgserver: %w", err)
	}

	version, err := s.findBinaries(ctx)
	if err != nil {
		return nil, fmt.Errorf("pgserver: %w", err)
	}
	if !reused {
		if err := s.bootCluster(ctx, version); err != nil {
			return nil, fmt.Errorf("pgserver: %w", err)
		}
	}
	if err := s.ensureDatabase(ctx); err != nil {
		if !reused {
			s.stopAfterFailure(ctx)
		}
		return nil, fmt.Errorf("pgserver: %w", err)
	}
	if err := writePortRecord(cfg.Dir, s.port); err != nil {
		s.log.Warn("could not record port; the next run may pick another", "err", err)
	}
	s.log.Info("PostgreSQL ready", "url", s.URL(), "version", version, "bin", s.bin, "took", time.Since(began).Round(time.Millisecond))
	return s, nil
}

// bootCluster prepares directories, runs initdb on first use and starts the
// server.
func (s *Server) bootCluster(ctx context.Context, version string) error {
	if err := s.prepareDirs(); err != nil {
		return err
	}
	if err := s.initdbIfNeeded(ctx, version); err != nil {
		return err
	}
	return s.start(ctx)
}

// URL is the connection string for the "loyalty" database.
func (s *Server) URL() string {
	return connString(s.port, dbName)
}

// Stop shuts the server down with pg_ctl's fast mode: open sessions are
// ended and in-flight transactions rolled back, but nothing committed is
// lost. Calling it again, or on a server that is already down, returns nil.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil
	}
	if _, err := os.Stat(s.pidPath()); errors.Is(err, fs.ErrNotExist) {
		s.stopped = true
		return nil
	}
	if _, err := s.pgCtl(ctx, "stop", "-D", s.dataDir, "-m", "fast", "-w", "-t", "60"); err != nil {
		// pg_ctl fails on a postmaster.pid left by a crash; the server is
		// down all the same, which is what the caller asked for.
		if !s.postmasterAlive() {
			s.stopped = true
			return nil
		}
		return fmt.Errorf("pgserver: stop PostgreSQL in %s: %w", s.dataDir, err)
	}
	s.stopped = true
	s.log.Info("PostgreSQL stopped", "data", s.dataDir)
	return nil
}

// stopAfterFailure tears down a server Start brought up but cannot hand
// over. It must run even when ctx is what failed, so it detaches from ctx's
// cancellation but keeps its values and a deadline of its own.
func (s *Server) stopAfterFailure(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		s.log.Warn("could not stop PostgreSQL after a failed start", "err", err)
	}
}

func (s *Server) pidPath() string { return filepath.Join(s.dataDir, "postmaster.pid") }

// reachableDir is cfg.Dir, or its place under cfg.RootFallback when we are
// root and the PostgreSQL account cannot reach cfg.Dir. The fallback is
// named after cfg.Dir so each data directory keeps its own cluster, and
// cfg.Dir gets a note saying where the cluster went.
func reachableDir(cfg Config, runAs *account) (string, error) {
	if runAs == nil {
		return cfg.Dir, nil
	}
	blocked := checkReachable(cfg.Dir, runAs, statPerm)
	if blocked == nil || cfg.RootFallback == "" {
		return cfg.Dir, nil // prepareDirs reports blocked with the full story
	}
	sum := sha256.Sum256([]byte(cfg.Dir))
	dir := filepath.Join(cfg.RootFallback, "postgres-"+hex.EncodeToString(sum[:6]))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("%w; and the fallback %s cannot be created: %w", blocked, dir, err)
	}
	if err := checkReachable(dir, runAs, statPerm); err != nil {
		return "", fmt.Errorf("%w; nor can it reach the fallback: %w", blocked, err)
	}
	note := fmt.Sprintf("PostgreSQL runs as %s, which cannot reach this directory, so the cluster is kept in %s\n", runAs.name, dir)
	if err := os.WriteFile(filepath.Join(cfg.Dir, "CLUSTER-LOCATION"), []byte(note), 0o644); err != nil {
		return "", fmt.Errorf("write the cluster location note: %w", err)
	}
	cfg.Logger.Warn("the PostgreSQL account cannot reach the data directory; keeping the cluster elsewhere",
		"account", runAs.name, "data_dir", cfg.Dir, "cluster_dir", dir)
	return dir, nil
}
