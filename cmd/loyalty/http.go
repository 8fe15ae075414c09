package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pointsledger/loyalty/handlers"
	"github.com/pointsledger/loyalty/projections"
)

// defaultMetricsAddr is where serve answers /metrics, /healthz and /readyz
// unless told otherwise: this machine only, for metrics say much about the
// programme and its members' activity.
const defaultMetricsAddr = "127.0.0.1:9464"

func newMetrics() (*prometheus.Registry, *handlers.Metrics, *projections.Metrics, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	engine, err := handlers.NewMetrics(reg)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("engine metrics: %w", err)
	}
	proj, err := projections.NewMetrics(reg)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("projection metrics: %w", err)
	}
	return reg, engine, proj, nil
}

// health answers /healthz (the process is up) and /readyz (it is doing its
// job: pipeline running, NATS connected, PostgreSQL answering).
type health struct {
	ready atomic.Bool
	conns []*nats.Conn
	pool  *pgxpool.Pool
}

func newHealth(pool *pgxpool.Pool, conns ...*nats.Conn) *health {
	return &health{conns: conns, pool: pool}
}

func (h *health) setReady(v bool) { h.ready.Store(v) }

func (h *health) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	var problems []error
	if !h.ready.Load() {
		problems = append(problems, errors.New("pipeline not running"))
	}
	for _, nc := range h.conns {
		if !nc.IsConnected() {
			problems = append(problems, fmt.Errorf("NATS connection %s not connected", nc.Opts.Name))
		}
	}
	if err := h.pool.Ping(ctx); err != nil {
		problems = append(problems, fmt.Errorf("PostgreSQL: %w", err))
	}
	if err := errors.Join(problems...); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

// serveHTTP serves metrics and health checks; the returned func stops it.
func serveHTTP(addr string, reg *prometheus.Registry, h *health, log *slog.Logger) (func(), error) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", h.readyz)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics endpoint: %w (pick another with --metrics-addr)", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics endpoint stopped", "err", err)
		}
	}()
	log.Info("metrics endpoint listening", "addr", l.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}
