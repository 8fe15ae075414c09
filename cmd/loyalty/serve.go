package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/pointsledger/loyalty/cmd/internal/pgserver"
	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/handlers"
	"github.com/pointsledger/loyalty/programs"
	"github.com/pointsledger/loyalty/projections"
	"github.com/pointsledger/loyalty/streams"
)

type serveOptions struct {
	metricsAddr string
	programPath string
	natsPort    int
	natsHost    string
	natsSync    string
	pgPort      int
	clockEvery  time.Duration
	demo        simulateOptions
	demoOn      bool
	refitEvery  time.Duration
	refitCheck  time.Duration
	analytics   analyticsFlags
	// memberMemory bounds the engine's members in memory; snapshotEvery
	// is how often their snapshots are written.
	memberMemory  byteSize
	snapshotEvery time.Duration
	// memoryEnvErr and intervalEnvErr: settings from the environment that
	// cannot be used, unless the flag overrides them.
	memoryEnvErr, intervalEnvErr error
	// replyPrefixes are the reply subjects the service answers.
	replyPrefixes   []string
	recreateStreams bool
	// replicas of the streams serve creates (0: streams.DefaultReplicas).
	replicas int
	// outbound turns the relay to the outbound stream on; outboundSource
	// is its events' CloudEvents source.
	outbound       bool
	outboundSource string
	// webhooksPath is the webhooks file; empty: no webhook relay.
	webhooksPath string
}

func newServeCommand(g *globals) *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the engine: input stream -> rules -> ledger -> PostgreSQL read models",
		Long: `Run the engine. With no --nats-url it starts an embedded NATS server with
JetStream (store in the data directory, listening on --nats-host:--nats-port);
with no --database-url it runs a PostgreSQL server of its own in the data
directory. Metrics, /healthz and /readyz are served on --metrics-addr.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("member-memory") {
				o.memoryEnvErr = nil // the flag overrides the environment
			}
			if cmd.Flags().Changed("snapshot-interval") {
				o.intervalEnvErr = nil
			}
			return serve(cmd.Context(), g, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.metricsAddr, "metrics-addr", envOr(g.getenv, "LOYALTY_METRICS_ADDR", defaultMetricsAddr),
		"address for /metrics, /healthz and /readyz; localhost only unless told otherwise (\":9464\": every interface) (env LOYALTY_METRICS_ADDR)")
	f.StringVar(&o.programPath, "program", g.getenv("LOYALTY_PROGRAM"),
		"program file (YAML, one or more versions) or directory of them; reloaded on change and on SIGHUP; empty: the built-in programs/default.yaml (env LOYALTY_PROGRAM)")
	f.IntVar(&o.natsPort, "nats-port", 4222, "port of the embedded NATS server; 0 picks a free one")
	f.StringVar(&o.natsHost, "nats-host", "127.0.0.1", "listen address of the embedded NATS server")
	f.StringVar(&o.natsSync, "nats-sync", envOr(g.getenv, "LOYALTY_NATS_SYNC", "always"),
		"when the embedded NATS server writes its store to disk: always (before each acknowledgement: nothing acknowledged is lost on power failure) "+
			"or an interval such as 1s (faster; a power failure loses up to that much); see docs/operations.md (env LOYALTY_NATS_SYNC)")
	f.IntVar(&o.pgPort, "pg-port", 0, "port of the managed PostgreSQL; 0 reuses the last one or picks a free one")
	f.DurationVar(&o.clockEvery, "clock-interval", time.Hour,
		"how often the clock wakes members whose points are due to expire, whose tier is due for review, whose birthday came or who lapsed into a rule on inactivity, without activity of their own (0: never)")
	f.DurationVar(&o.refitEvery, "refit-every", 24*time.Hour,
		"how often to refit the churn and lifetime-value models (also soon after a rebuild of the activity projection; 0: never); see docs/analytics.md")
	f.DurationVar(&o.refitCheck, "refit-check-interval", 10*time.Second, "how often to look whether a refit is due (one cheap query)")
	_ = f.MarkHidden("refit-check-interval")
	f.StringSliceVar(&o.replyPrefixes, "service-reply-prefixes", strings.Split(envOr(g.getenv, "LOYALTY_SERVICE_REPLY_PREFIXES",
		strings.Join(handlers.DefaultServiceReplyPrefixes(), ",")), ","),
		"reply subjects the loyalty service answers (comma-separated prefixes; replaces the default, so list _INBOX.,_INBOX_,_R_. too if you "+
			"add one); a request with any other reply subject is dropped and counted in loyalty_service_refused_total: see docs/service.md, "+
			"Reply subjects (env LOYALTY_SERVICE_REPLY_PREFIXES)")
	f.IntVar(&o.replicas, "replicas", 0,
		"replicas of the streams the engine creates (0: 3 when the NATS server is in a cluster of three or more, else 1); an existing stream's replicas are never lowered, and its limits, placement and storage are left as set: see docs/operations.md")
	f.BoolVar(&o.recreateStreams, "recreate-missing-streams", false,
		"create a stream that is missing while the engine's others exist, accepting that what it held is lost (serve otherwise refuses to start; see docs/operations.md)")
	o.memberMemory = 256 << 20
	if v := g.getenv("LOYALTY_MEMBER_MEMORY"); v != "" {
		if err := o.memberMemory.Set(v); err != nil {
			o.memoryEnvErr = fmt.Errorf("LOYALTY_MEMBER_MEMORY: %w", err)
		}
	}
	f.Var(&o.memberMemory, "member-memory",
		"memory for members' state (such as 256MiB or 1GiB); members beyond it are read from their snapshots in the data directory when needed: see docs/operations.md, Memory (env LOYALTY_MEMBER_MEMORY)")
	o.snapshotEvery = 10 * time.Second
	if v := g.getenv("LOYALTY_SNAPSHOT_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			o.intervalEnvErr = fmt.Errorf("LOYALTY_SNAPSHOT_INTERVAL %q: not a duration such as 10s", v)
		}
		o.snapshotEvery = d
	}
	f.DurationVar(&o.snapshotEvery, "snapshot-interval", o.snapshotEvery,
		"how often changed members' snapshots are written after appends (at least every second while idle); a start folds the ledger written since the last ones (env LOYALTY_SNAPSHOT_INTERVAL)")
	f.BoolVar(&o.outbound, "outbound", envOr(g.getenv, "LOYALTY_OUTBOUND", "true") != "false",
		"relay member-facing facts to the outbound stream (LOYALTY_OUT, loyalty.out.>) for CRM, e-mail and apps: see docs/outbound.md (env LOYALTY_OUTBOUND=false turns it off)")
	f.StringVar(&o.outboundSource, "outbound-source", envOr(g.getenv, "LOYALTY_OUTBOUND_SOURCE", streams.OutboundSource),
		"CloudEvents source of the outbound events; give each deployment its own when one consumer reads several (env LOYALTY_OUTBOUND_SOURCE)")
	f.StringVar(&o.webhooksPath, "webhooks", g.getenv("LOYALTY_WEBHOOKS"),
		"webhooks file: HTTP endpoints that get outbound events, signed and retried (see docs/outbound.md); empty: none (env LOYALTY_WEBHOOKS)")
	o.analytics.register(f)
	f.IntVar(&o.analytics.validateDays, "validate-holdout-days", 0,
		"before each refit, validate the models on the last N days as holdout (fitted to the purchases before them), so that --model best picks the one that predicted them best; 0: never")
	f.BoolVar(&o.demoOn, "demo", false, "also publish simulated member activity (see loyalty simulate) once running")
	o.demo.register(f, "demo-")
	return cmd
}

// loadPrograms reads the program's versions from a file or directory, or
// the built-in default.
func loadPrograms(path string) (*domain.Programs, error) {
	if path == "" {
		p, err := programs.LoadDefault()
		if err != nil {
			return nil, err
		}
		return domain.OneVersion(p), nil
	}
	return programs.LoadVersions(path)
}

func serve(ctx context.Context, g *globals, o *serveOptions) error {
	log, err := g.logger()
	if err != nil {
		return err
	}
	// Library code that has no logger of its own (waiting for a NATS
	// cluster to accept a bucket) logs as serve does.
	slog.SetDefault(log)
	program, err := loadPrograms(o.programPath)
	if err != nil {
		return err
	}
	if err := o.analytics.config(time.Now().UTC(), "schedule").Validate(); err != nil {
		return fmt.Errorf("analytics settings: %w", err)
	}
	if o.analytics.validateDays < 0 || o.analytics.validateDays > 3660 {
		return fmt.Errorf("--validate-holdout-days %d: give 0 (no validation) or a holdout of 1 to 3660 days", o.analytics.validateDays)
	}
	if err := errors.Join(o.memoryEnvErr, o.intervalEnvErr); err != nil {
		return err
	}
	if o.memberMemory < 16<<20 {
		log.Warn("--member-memory is small: most members will be read from their snapshots at each event (slower, not wrong)", "member_memory", o.memberMemory.String())
	}
	if o.replicas < 0 || o.replicas > 5 {
		return fmt.Errorf("--replicas %d: give 1 to 5, or 0 for the default (3 on a cluster of three or more servers, else 1)", o.replicas)
	}
	if o.snapshotEvery <= 0 {
		return fmt.Errorf("--snapshot-interval %v: must be above 0, such as 10s", o.snapshotEvery)
	}
	// Created here, before the embedded servers make their own
	// subdirectories with private modes: the managed PostgreSQL may run as
	// another user (when we are root) and must be able to pass through it.
	_, statErr := os.Stat(g.dataDir)
	if err := os.MkdirAll(g.dataDir, 0o755); err != nil {
		return fmt.Errorf("create data directory %s: %w (choose another with --data-dir)", g.dataDir, err)
	}
	if errors.Is(statErr, fs.ErrNotExist) {
		// Even with external NATS and PostgreSQL the engine keeps its key
		// index and member snapshots here: say where, once.
		abs, _ := filepath.Abs(g.dataDir)
		log.Info("data directory created for the engine's key index and member snapshots; keep it on a volume that outlives restarts (--data-dir, LOYALTY_DATA_DIR)",
			"dir", abs)
	}
	unlock, err := lockDataDir(g.dataDir)
	if err != nil {
		return err
	}
	defer unlock()
	id, err := engineID(g.dataDir, log)
	if err != nil {
		return err
	}
	natsURL, stopNATS, err := startNATS(ctx, g, o, log)
	if err != nil {
		return err
	}
	defer stopNATS()
	dbURL, stopDB, err := startDatabase(ctx, g, o, log)
	if err != nil {
		return err
	}
	defer stopDB()

	nc, js, err := g.connectJetStream(natsURL, "loyalty-serve", log, jetstream.WithPublishAsyncTimeout(streams.AckTimeout))
	if err != nil {
		return err
	}
	defer nc.Close()
	if o.recreateStreams {
		log.Warn("--recreate-missing-streams is set: a stream of the engine's that is missing is created empty, and what it held is lost; " +
			"remove the flag once the engine has started (docs/operations.md, \"A stream is missing\")")
	}
	if err := streams.EnsureStreams(ctx, js, streams.StreamsConfig{RecreateMissing: o.recreateStreams, Replicas: o.replicas, Logger: log}); err != nil {
		return err
	}
	if err := streams.CheckLedgerWhole(ctx, js); err != nil {
		return err
	}
	// The projections read the ledger on a connection of their own, so
	// that their deliveries and the engine's are parsed in parallel.
	projNC, projJS, err := g.connectJetStream(natsURL, "loyalty-projections", log)
	if err != nil {
		return err
	}
	defer projNC.Close()
	// Not waited for here: the engine runs while PostgreSQL is down, and the
	// projections wait for it (waitForDatabase).
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("database url: %w", err)
	}
	defer pool.Close()
	return runPipeline(ctx, g, o, pipeline{js: js, projJS: projJS, projNC: projNC, nc: nc, pool: pool, program: program, log: log, engineID: id})
}

type pipeline struct {
	js      jetstream.JetStream // the engine's
	projJS  jetstream.JetStream // the projections'
	projNC  *nats.Conn
	nc      *nats.Conn
	pool    *pgxpool.Pool
	program *domain.Programs
	log     *slog.Logger
	// engineID is the engine's id among those sharing the partitions.
	engineID string
}

// runPipeline runs the engine, the projections and the metrics endpoint
// until ctx ends or one of them fails.
func runPipeline(ctx context.Context, g *globals, o *serveOptions, p pipeline) error {
	reg, engineMetrics, projMetrics, err := newMetrics()
	if err != nil {
		return err
	}
	engine, err := handlers.NewEngine(p.js, handlers.EngineConfig{Programs: p.program, Logger: p.log, Metrics: engineMetrics,
		ServiceReplyPrefixes: o.replyPrefixes, KeyIndexDir: filepath.Join(g.dataDir, "keys"),
		MemberCacheBytes: int64(o.memberMemory), SnapshotEvery: o.snapshotEvery, Share: true, EngineID: p.engineID})
	if err != nil {
		return err
	}
	// One runner for every projection: the ledger is read and decoded once.
	runner, err := projections.NewSharedRunner(p.pool, p.projJS, projections.AsProjections(projections.All()),
		projections.RunnerConfig{Logger: p.log, Metrics: projMetrics})
	if err != nil {
		return err
	}
	var relay *handlers.Outbound
	if o.outbound {
		if relay, err = handlers.NewOutbound(p.js, handlers.OutboundConfig{Source: o.outboundSource, Logger: p.log, Registerer: reg}); err != nil {
			return err
		}
	}
	hooks, err := newWebhooks(g, o, p, reg)
	if err != nil {
		return err
	}
	health := newHealth(p.pool, p.nc, p.projNC)
	stopHTTP, err := serveHTTP(o.metricsAddr, reg, health, p.log)
	if err != nil {
		return err
	}
	defer stopHTTP()

	group, ctx := errgroup.WithContext(ctx)
	group.Go(func() error { return engine.Run(ctx) })
	if relay != nil {
		group.Go(func() error { return relay.Run(ctx) })
	}
	if hooks != nil {
		group.Go(func() error { return hooks.Run(ctx) })
	}
	group.Go(func() error {
		go runner.WatchLag(ctx)
		if err := waitForDatabase(ctx, p.pool, p.log); err != nil {
			return err
		}
		go engine.RunClock(ctx, o.clockEvery, projections.NewMembersDue(p.pool))
		go runRefits(ctx, p.pool, engine, o.analytics, o.refitEvery, o.refitCheck, o.refitAsOf(), p.log)
		// Several engines may share the partitions; one of them writes
		// the read models at a time, the others stand by.
		return runner.RunAsWriter(ctx)
	})
	health.setReady(true)
	p.log.Info("loyalty engine running", "version", buildVersion(), "metrics", o.metricsAddr, "program", handlers.VersionNames(p.program),
		"service_reply_prefixes", strings.Join(o.replyPrefixes, ","))
	group.Go(func() error {
		watchProgram(ctx, o.programPath, engine, p.log, programPollInterval)
		return nil
	})
	if o.demoOn {
		group.Go(func() error { return runDemo(ctx, g, o, p) })
	}
	err = group.Wait()
	health.setReady(false)
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	p.log.Info("loyalty engine stopped")
	return nil
}

// refitAsOf is the date serve's refits fit as of: today, or with --demo
// the demo's last day once it is past, so that its members are scored on
// their own history, not as if they had all stopped buying months ago.
func (o *serveOptions) refitAsOf() func(time.Time) time.Time {
	if !o.demoOn {
		return nil
	}
	cfg, err := o.demo.config()
	if err != nil {
		return nil // runDemo reports it
	}
	end := cfg.Start.AddDate(0, 0, cfg.Days-1)
	return func(now time.Time) time.Time {
		if end.Before(now) {
			return end
		}
		return now
	}
}

func runDemo(ctx context.Context, g *globals, o *serveOptions, p pipeline) error {
	progress, err := openDemoProgress(ctx, p.js, g.dataDir, o.demo.load())
	if err != nil {
		// Not knowing what was published, publishing it all again would
		// dead-letter every copy: the demo waits, the engine goes on.
		p.log.Warn("demo not published: its progress cannot be read; remove the file, or start with an empty --data-dir, to publish it",
			"err", err)
		return nil
	}
	if err := simulateInto(ctx, g, p.js, p.log, o.demo, progress); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("demo: %w", err)
	}
	p.log.Info("demo load in the input stream; the engine keeps running until interrupted")
	reportCatchUp(ctx, p, p.log)
	return nil
}

// startNATS returns the NATS URL to use, starting the embedded server when
// none is configured.
func startNATS(ctx context.Context, g *globals, o *serveOptions, log *slog.Logger) (string, func(), error) {
	if g.natsURL != "" {
		return g.natsURL, func() {}, nil
	}
	sync, err := streams.ParseSyncPolicy(o.natsSync)
	if err != nil {
		return "", nil, fmt.Errorf("--nats-sync: %w", err)
	}
	port := o.natsPort
	if port == 0 {
		port = -1
	}
	srv, err := streams.StartServer(ctx, streams.ServerConfig{
		Dir: filepath.Join(g.dataDir, "nats"), Host: o.natsHost, Port: port, Sync: sync, Logger: log,
	})
	if err != nil {
		return "", nil, err
	}
	url := srv.ClientURL()
	if err := g.record(natsURLFile, url); err != nil {
		srv.Shutdown()
		return "", nil, fmt.Errorf("record nats url in %s: %w", g.dataDir, err)
	}
	log.Info("embedded NATS server started", "url", url, "store", filepath.Join(g.dataDir, "nats"), "sync", sync)
	return url, func() { g.forget(natsURLFile); srv.Shutdown() }, nil
}

// startDatabase returns the PostgreSQL URL to use, starting a managed server
// in the data directory when none is configured.
func startDatabase(ctx context.Context, g *globals, o *serveOptions, log *slog.Logger) (string, func(), error) {
	if g.databaseURL != "" {
		return g.databaseURL, func() {}, nil
	}
	srv, err := pgserver.Start(ctx, pgserver.Config{
		Dir: filepath.Join(g.dataDir, "postgres"), Port: o.pgPort, Logger: log,
		// As root, PostgreSQL runs as another user, which cannot enter a
		// data directory under /root: the cluster then lives here.
		RootFallback: "/var/lib/loyalty",
	})
	if err != nil {
		return "", nil, fmt.Errorf("%w (or pass --database-url to use an existing PostgreSQL)", err)
	}
	if err := g.record(databaseURLFile, srv.URL()); err != nil {
		return "", nil, fmt.Errorf("record database url in %s: %w", g.dataDir, err)
	}
	log.Info("managed PostgreSQL started", "dir", filepath.Join(g.dataDir, "postgres"))
	stop := func() {
		g.forget(databaseURLFile)
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
		defer cancel()
		if err := srv.Stop(stopCtx); err != nil {
			log.Warn("stopping managed PostgreSQL", "err", err)
		}
	}
	return srv.URL(), stop, nil
}

// natsAsyncError logs what the NATS client reports outside any call: a
// subscription that dropped messages because it was behind (slow consumer),
// a permission the server refused. Without it nats.go keeps them to itself.
func natsAsyncError(log *slog.Logger) nats.ErrHandler {
	return func(_ *nats.Conn, sub *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrPermissionViolation) {
			// The server drops what the user may not publish, and the
			// publisher sees only a timeout: say what it is here.
			log.Error("NATS refused this user a subject; the publish or request that used it times out",
				"err", err, "fix", "give the user the subject (deploy/nats/permissions.conf lists what the engine needs)")
			return
		}
		switch {
		case errors.Is(err, nats.ErrSlowConsumer) && sub != nil && strings.HasPrefix(sub.Subject, handlers.ServiceSubjects+"."):
			log.Warn("NATS dropped service requests: the engine fell behind (slow consumer); their callers time out and retry",
				"subject", sub.Subject)
			return
		case errors.Is(err, nats.ErrSlowConsumer):
			// The input's pull and the ordered consumers behind the
			// engine's watchers notice the gap and read again from where
			// they are sure of.
			log.Info("NATS dropped messages to a subscription that fell behind (slow consumer); its JetStream reader notices the gap and reads them again, nothing is lost; if it repeats, the engine is short of CPU",
				"subject", subjectOf(sub))
			return
		case sub != nil:
			log.Warn("NATS error on a subscription", "subject", streams.LoggedSubject(sub.Subject), "err", err)
			return
		}
		log.Warn("NATS error", "err", err)
	}
}

func subjectOf(sub *nats.Subscription) string {
	if sub == nil {
		return ""
	}
	return sub.Subject
}

// connectNATS connects with reconnects forever: a NATS restart must not
// need an operator.
func (g *globals) connectNATS(url, name string, log *slog.Logger) (*nats.Conn, error) {
	auth, err := g.natsAuth.options(g.getenv)
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(url, append(auth,
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500*time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil: our own Close at shutdown
				log.Warn("NATS disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("NATS reconnected", "url", c.ConnectedUrlRedacted()) }),
		nats.ErrorHandler(natsAsyncError(log)),
	)...)
	if errors.Is(err, nats.ErrAuthorization) {
		return nil, fmt.Errorf("connect to NATS at %s: %w (check --nats-user and its password, the token, --nats-nkey or --nats-creds)", redactURLs(url), err)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w (is the server running? check --nats-url and the TLS settings)", redactURLs(url), err)
	}
	return nc, nil
}

// connectJetStream is connectNATS with a JetStream context on the
// connection; the caller closes the connection.
func (g *globals) connectJetStream(url, name string, log *slog.Logger, opts ...jetstream.JetStreamOpt) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := g.connectNATS(url, name, log)
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc, opts...)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("jetstream: %w", err)
	}
	return nc, js, nil
}

func openDatabase(ctx context.Context, url string) (*pgxpool.Pool, error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("database url: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to PostgreSQL: %w (check --database-url)", err)
	}
	return pool, nil
}

// waitForDatabase connects to PostgreSQL and migrates the schema, retrying
// with growing delays while the server cannot be reached or is starting or
// shutting down. It gives up on what waiting does not mend (a wrong password
// or database name, a schema newer than this program, a migration the server
// refuses) and when ctx ends.
func waitForDatabase(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	delay := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		pingCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err := pool.Ping(pingCtx)
		cancel()
		if err == nil {
			err = migrate(ctx, pool, log)
			if err == nil {
				return nil
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !worthWaiting(err) {
			return fmt.Errorf("PostgreSQL: %w (check --database-url and the database)", err)
		}
		log.Warn("PostgreSQL unavailable; the projections wait for it while the engine goes on",
			"err", err, "attempt", attempt, "retry_in", delay)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		delay = min(2*delay, 10*time.Second)
	}
}

// worthWaiting tells the database errors that may go away by themselves:
// the server unreachable (no answer from PostgreSQL at all), or answering
// that it is starting, shutting down or full.
func worthWaiting(err error) bool {
	if errors.Is(err, projections.ErrSchemaTooNew) {
		return false
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return true
	}
	switch pgErr.Code {
	case "57P01", "57P02", "57P03", "53300": // admin shutdown, crash shutdown, cannot connect now, too many connections
		return true
	}
	return strings.HasPrefix(pgErr.Code, "08") // connection exceptions
}

func migrate(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	from, to, err := projections.Migrate(ctx, conn.Conn())
	if err != nil {
		return err
	}
	if err := projections.GrantAnalyst(ctx, conn.Conn()); err != nil {
		return err
	}
	if from != to {
		log.Info("database schema migrated", "from", from, "to", to)
	}
	return nil
}
