package streams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// ServerConfig configures the in-process NATS server that `loyalty serve`
// starts when no --nats-url is given.
type ServerConfig struct {
	// Dir holds the JetStream store.
	Dir string
	// Host is the listen address; loopback by default so that only this
	// machine can publish.
	Host string
	// Port to listen on; -1 picks a free port.
	Port int
	// Sync is when JetStream writes its store to disk (see SyncPolicy).
	// The zero value is SyncAlways.
	Sync   SyncPolicy
	Logger *slog.Logger
}

// SyncPolicy is when the JetStream store is flushed to disk: on every write
// before it is acknowledged (Always), or every Interval. With an interval, a
// power failure or a crash of the machine (not of the process: the data is
// in the operating system's cache) loses what was acknowledged since the
// last flush; JetStream's own default is 2 minutes. The throughput each
// costs is in docs/benchmarks.md.
type SyncPolicy struct {
	Interval time.Duration // 0: always
}

// SyncAlways flushes every write before acknowledging it.
var SyncAlways = SyncPolicy{}

// Always tells whether every write is flushed before its acknowledgement.
func (p SyncPolicy) Always() bool { return p.Interval == 0 }

func (p SyncPolicy) String() string {
	if p.Always() {
		return "always"
	}
	return p.Interval.String()
}

// ParseSyncPolicy reads "always" or an interval such as "1s" or "2m".
func ParseSyncPolicy(s string) (SyncPolicy, error) {
	if s == "always" {
		return SyncAlways, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return SyncPolicy{}, fmt.Errorf("sync policy %q: want \"always\" or an interval such as 1s or 2m", s)
	}
	return SyncPolicy{Interval: d}, nil
}

func (c *ServerConfig) setDefaults() {
	if c.Host == "" {
		c.Host = "127.0.0.1"
	}
	if c.Port == 0 {
		c.Port = 4222
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports every problem with the configuration.
func (c ServerConfig) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("nats server: a store directory is required"))
	}
	if c.Port < -1 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("nats server: port %d is out of range (1-65535, or -1 for any free port)", c.Port))
	}
	return errors.Join(errs...)
}

// Server is an embedded NATS server with JetStream: the real server, run in
// this process.
type Server struct {
	ns *server.Server
}

// ErrPortTaken is returned when the embedded server's port is in use.
var ErrPortTaken = errors.New("port is taken")

// StartServer starts the embedded server and waits until it accepts clients.
func StartServer(ctx context.Context, cfg ServerConfig) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Port > 0 {
		if err := checkPortFree(cfg.Host, cfg.Port); err != nil {
			return nil, err
		}
	}
	opts := &server.Options{
		ServerName:   "loyalty-embedded",
		Host:         cfg.Host,
		Port:         cfg.Port,
		JetStream:    true,
		StoreDir:     cfg.Dir,
		SyncAlways:   cfg.Sync.Always(),
		SyncInterval: cfg.Sync.Interval,
		NoSigs:       true,
		MaxPayload:   1 << 20,
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("nats server: %w", err)
	}
	ns.SetLoggerV2(slogLogger{cfg.Logger.With("component", "nats-server")}, false, false, false)
	go ns.Start()
	deadline := 30 * time.Second
	if d, ok := ctx.Deadline(); ok {
		deadline = time.Until(d)
	}
	if !ns.ReadyForConnections(deadline) {
		ns.Shutdown()
		return nil, fmt.Errorf("nats server: not ready after %s (store %s)", deadline, cfg.Dir)
	}
	return &Server{ns: ns}, nil
}

func checkPortFree(host string, port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("nats server: %w: %s:%d is in use (another NATS server?): "+
			"pass --nats-port with a free port, or --nats-url to use the server already there: %v", ErrPortTaken, host, port, err)
	}
	return l.Close()
}

// ClientURL is the URL clients connect to.
func (s *Server) ClientURL() string { return s.ns.ClientURL() }

// Shutdown stops the server and waits until it has stopped.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}

// slogLogger adapts the server's logger interface to slog.
type slogLogger struct{ l *slog.Logger }

func (s slogLogger) Noticef(format string, v ...any) { s.l.Debug(fmt.Sprintf(format, v...)) }
func (s slogLogger) Warnf(format string, v ...any)   { s.l.Warn(fmt.Sprintf(format, v...)) }
func (s slogLogger) Fatalf(format string, v ...any)  { s.l.Error(fmt.Sprintf(format, v...)) }
func (s slogLogger) Errorf(format string, v ...any)  { s.l.Error(fmt.Sprintf(format, v...)) }
func (s slogLogger) Debugf(format string, v ...any)  { s.l.Debug(fmt.Sprintf(format, v...)) }
func (s slogLogger) Tracef(format string, v ...any)  {}
