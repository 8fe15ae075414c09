// Package handlers runs the engine: a watermill router whose handlers take
// input events from JetStream, pass them through the rules in domain/ and
// append the resulting facts to the ledger stream, dead-lettering what
// cannot be applied.
package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/handlers/keyindex"
	"github.com/pointsledger/loyalty/streams"
)

// EngineConfig configures the engine.
type EngineConfig struct {
	// Programs are the program's versions; an event's time picks the one
	// that applies. Engine.SetPrograms replaces them while running.
	Programs *domain.Programs
	// Partitions this process handles; all of them when empty.
	Partitions []int
	// Prefetch is how many input messages each partition queues ahead of
	// its handler. Default 256.
	Prefetch int
	// BatchEvery and BatchWithin bound a partition's batch of handled
	// input: its ledger records are appended in one write, and the input
	// acknowledged, once BatchEvery messages are handled or BatchWithin
	// after the first of them, and whenever the partition has nothing else
	// to do. After a crash, what was handled but not acknowledged is
	// delivered again and recognised as already applied. Defaults 128 and
	// 100ms.
	BatchEvery  int
	BatchWithin time.Duration
	Logger      *slog.Logger
	Metrics     *Metrics
	// NoService leaves out the request-reply service (loyalty.svc.*) that
	// the engine otherwise runs while it holds the lease; ServiceTimeout is
	// how long a redemption call waits for its decision. Default 5s.
	NoService      bool
	ServiceTimeout time.Duration
	// ServiceReplyPrefixes are the reply subjects the service answers; a
	// request whose reply subject starts with none of them is dropped and
	// counted. Default DefaultServiceReplyPrefixes.
	ServiceReplyPrefixes []string
	// KeyIndexDir is the directory of the engine's key index (see package
	// keyindex); "" keeps it in memory, folded again from the whole ledger
	// at every start.
	KeyIndexDir string
	// MemberCacheBytes bounds the members the engine keeps in memory, over
	// all its partitions (default 256 MiB); the others are read from their
	// snapshot in the key index's store when needed. SnapshotEvery is how
	// often a partition with changed members writes their snapshot (default
	// 10s; sooner when many changed): a start folds the ledger written
	// since the last one.
	MemberCacheBytes int64
	SnapshotEvery    time.Duration
	// Share makes the engine share the partitions with the other engines
	// of the same NATS system that share them: each takes its part, and
	// takes over those of an engine that stops (decision 025). Partitions
	// must then be empty. EngineID is its id among them (default: a new
	// random one): an engine restarted with the id it had is given the same
	// partitions back, whose snapshots and keys it holds, and takes over at
	// once the leases it held before a crash. Two running engines must never
	// have the same id. Letters, digits, '-' and '_', at most 64.
	Share    bool
	EngineID string
}

func (c *EngineConfig) setDefaults() {
	if len(c.Partitions) == 0 {
		for p := range streams.Partitions {
			c.Partitions = append(c.Partitions, p)
		}
	}
	if c.Prefetch == 0 {
		c.Prefetch = 256
	}
	if c.BatchEvery == 0 {
		c.BatchEvery = 128
	}
	if c.BatchWithin == 0 {
		c.BatchWithin = 100 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.ServiceTimeout == 0 {
		c.ServiceTimeout = 5 * time.Second
	}
	if len(c.ServiceReplyPrefixes) == 0 {
		c.ServiceReplyPrefixes = DefaultServiceReplyPrefixes()
	}
	if c.MemberCacheBytes == 0 {
		c.MemberCacheBytes = 256 << 20
	}
	if c.SnapshotEvery == 0 {
		c.SnapshotEvery = 10 * time.Second
	}
}

// Validate reports every problem with the configuration.
func (c EngineConfig) Validate() error {
	var errs []error
	if c.Programs == nil {
		errs = append(errs, errors.New("engine: a program is required"))
	}
	if c.Metrics == nil {
		errs = append(errs, errors.New("engine: metrics are required (handlers.NewMetrics)"))
	}
	if c.Prefetch < 1 || c.Prefetch > 4096 {
		errs = append(errs, fmt.Errorf("engine: Prefetch must be 1-4096, got %d", c.Prefetch))
	}
	if c.BatchEvery < 1 {
		errs = append(errs, fmt.Errorf("engine: BatchEvery must be at least 1, got %d", c.BatchEvery))
	}
	if c.BatchWithin < 0 {
		errs = append(errs, fmt.Errorf("engine: BatchWithin must not be negative, got %s", c.BatchWithin))
	}
	if c.MemberCacheBytes < 0 {
		errs = append(errs, fmt.Errorf("engine: MemberCacheBytes must not be negative, got %d", c.MemberCacheBytes))
	}
	if c.SnapshotEvery < 0 {
		errs = append(errs, fmt.Errorf("engine: SnapshotEvery must not be negative, got %s", c.SnapshotEvery))
	}
	errs = append(errs, validateReplyPrefixes(c.ServiceReplyPrefixes))
	if c.EngineID != "" && !validEngineID(c.EngineID) {
		errs = append(errs, fmt.Errorf("engine: EngineID %q must be 1-64 letters, digits, '-' or '_'", c.EngineID))
	}
	if c.Share && len(c.Partitions) > 0 && len(c.Partitions) < streams.Partitions {
		errs = append(errs, errors.New("engine: an engine that shares the partitions takes its own; Partitions must be empty"))
	}
	seen := map[int]bool{}
	for _, p := range c.Partitions {
		if p < 0 || p >= streams.Partitions {
			errs = append(errs, fmt.Errorf("engine: partition %d is out of range 0-%d", p, streams.Partitions-1))
		} else if seen[p] {
			errs = append(errs, fmt.Errorf("engine: partition %d is given twice", p))
		}
		seen[p] = true
	}
	return errors.Join(errs...)
}

// validEngineID tells whether id can name an engine in lease keys and
// consumer names.
func validEngineID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// Engine turns input events into ledger facts.
type Engine struct {
	// memory is what the partitions' members in memory may take.
	memory   *memoryBudget
	js       jetstream.JetStream
	cfg      EngineConfig
	metrics  *Metrics
	programs atomic.Pointer[domain.Programs]
	leading  atomic.Bool // holds the lease
	// parts is the partitions' state while Run owns it, for readMember.
	parts   atomic.Pointer[map[int]*partition]
	waiters waiters
	// outbox holds follow-up events to publish (see followup.go).
	outbox chan outgoing
	// maxPending is the size at which a partition's staged ledger message
	// is committed; set by Run from the server's payload limit.
	maxPending int
	// maxRecord is the largest ledger record one input may make: with
	// less than maxPending staged before it, the message stays under the
	// server's payload limit.
	maxRecord int
	// idKey is the deployment's key of follow-up ids (loadIDKey).
	idKey []byte
	// vouchers is the bucket of voucher codes (VouchersBucket), opened
	// with the engine.
	vouchers jetstream.KeyValue
	// memberKeys make the members' tokens and keys the ledger records are
	// sealed with (streams.MemberKeysBucket), opened with the engine.
	memberKeys *streams.MemberKeys
	// keysFailed stops Run when the key index store fails (keysBroken).
	keysFailed chan error
	// keys is the key index while Run has it open.
	keys *keyindex.Index
	// engineID is this engine's id among those sharing the partitions
	// ("" when it does not share them).
	engineID string
	id       atomic.Pointer[string] // engineID, for readers on other goroutines
	// internal answers requests other engines forward (service_forward.go).
	internal *internalEndpoints
}

// NewEngine checks the configuration; Run does the work.
func NewEngine(js jetstream.JetStream, cfg EngineConfig) (*Engine, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Engine{js: js, cfg: cfg, metrics: cfg.Metrics, outbox: make(chan outgoing, followUpBuffer), keysFailed: make(chan error, 1),
		memory: newMemoryBudget(cfg.MemberCacheBytes, len(cfg.Partitions))}
	e.memory.gauge = cfg.Metrics.memberBytes
	e.programs.Store(cfg.Programs)
	return e, nil
}

// Leading reports whether this engine holds its consumer's lease: the one
// process that does the work (and keeps the clock).
func (e *Engine) Leading() bool { return e.leading.Load() }

// Programs returns the program versions the engine runs now.
func (e *Engine) Programs() *domain.Programs { return e.programs.Load() }

// ReloadPrograms replaces the program versions with what load returns, for
// the inputs handled from now on (the facts in the ledger stay as they were
// decided), or keeps the running ones when load fails, and returns its
// error. Either way it is logged and counted in
// loyalty_program_reloads_total.
func (e *Engine) ReloadPrograms(why string, load func() (*domain.Programs, error)) error {
	ps, err := load()
	if err != nil {
		e.metrics.programReloads.WithLabelValues(reloadRefused).Inc()
		e.cfg.Logger.Error("program refused; the engine keeps the program it runs", "trigger", why, "err", err,
			"running", VersionNames(e.programs.Load()))
		return err
	}
	e.programs.Store(ps)
	e.metrics.programReloads.WithLabelValues(reloadApplied).Inc()
	e.cfg.Logger.Info("program reloaded", "trigger", why, "versions", VersionNames(ps))
	return nil
}

// VersionNames lists the versions of ps with their dates, for logs.
func VersionNames(ps *domain.Programs) string {
	var parts []string
	for _, p := range ps.Versions() {
		if p.EffectiveFrom.IsZero() {
			parts = append(parts, p.Version)
		} else {
			parts = append(parts, p.Version+" from "+p.EffectiveFrom.Format(time.RFC3339))
		}
	}
	return strings.Join(parts, ", ")
}

// ConsumerName is the durable input consumer of an engine handling the
// given partitions: "engine" for all of them, else "engine-" and the set as
// a 64-bit mask in hex.
//
// WARNING: renaming it makes the engine re-consume the whole input stream;
// the ledger's de-duplication keeps that harmless but slow.
func ConsumerName(partitions []int) string {
	if len(partitions) == 0 || len(partitions) == streams.Partitions {
		return "engine"
	}
	var mask uint64
	for _, p := range partitions {
		mask |= 1 << uint(p)
	}
	return fmt.Sprintf("engine-%016x", mask)
}

// Run rebuilds partition state from the ledger, then handles input until ctx
// ends. Before it returns, what was handled is committed and acknowledged.
//
// With Share set it shares the partitions with the other engines of the
// same NATS system (see runShared). Otherwise only one engine process
// consumes an input consumer at a time: Run first waits for the consumer's
// lease (see lease), and returns ErrLeaseLost if it ever loses it.
func (e *Engine) Run(ctx context.Context) error {
	if e.cfg.Share {
		return e.runShared(ctx)
	}
	owner, err := newLease(ctx, e.js, ConsumerName(e.cfg.Partitions), e.cfg.Logger)
	if err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	if err := owner.acquire(ctx); err != nil {
		return nil // ctx ended while waiting
	}
	e.leading.Store(true)
	defer e.leading.Store(false)
	// Renewed until the very end, past ctx: the final commits and acks
	// at shutdown are still this engine's work.
	holdCtx, stopHolding := context.WithCancel(context.WithoutCancel(ctx))
	leaseLost := make(chan error, 1)
	holding := make(chan struct{})
	go func() { defer close(holding); leaseLost <- owner.hold(holdCtx) }()
	defer func() { stopHolding(); <-holding; owner.release(ctx) }()

	start := time.Now()
	w, err := e.open(ctx)
	if err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	defer w.close()
	parts, err := e.loadPartitions(ctx, w, e.cfg.Partitions)
	if err != nil {
		return err
	}
	defer releaseAll(parts)
	w.keys.Prime()
	followCtx, stopFollowing := context.WithCancel(ctx)
	defer stopFollowing()
	go e.publishFollowUps(followCtx)
	if err := e.republishFollowUps(ctx, w.keys, parts); err != nil {
		return err
	}
	e.parts.Store(&parts)
	defer e.parts.Store(nil)
	stopService, err := e.serveRequests()
	if err != nil {
		return err
	}
	defer stopService()
	e.logRebuilt(parts, start)
	if err := e.checkServer(); err != nil {
		return err
	}
	cons, err := e.ensureInputConsumer(ctx)
	if err != nil {
		return fmt.Errorf("engine: input consumer: %w", err)
	}
	_, err = e.consume(ctx, parts, e.cfg.Partitions, cons, nil, leaseLost, nil)
	return err
}

// working is what a Run opens once, whichever partitions it handles.
type working struct {
	keys       *keyindex.Index
	quarantine streams.Quarantine
	log        *slog.Logger
}

// open reads the deployment's follow-up id key and the quarantine, and
// opens the key index.
func (e *Engine) open(ctx context.Context) (*working, error) {
	var err error
	if e.idKey, err = loadIDKey(ctx, e.js); err != nil {
		return nil, err
	}
	if e.vouchers, err = openVouchers(ctx, e.js); err != nil {
		return nil, err
	}
	if e.memberKeys, err = streams.OpenMemberKeys(ctx, e.js, e.idKey); err != nil {
		return nil, err
	}
	quarantine, err := streams.LoadQuarantine(ctx, e.js)
	if err != nil {
		return nil, err
	}
	keys, err := e.openKeyIndex(ctx, quarantine)
	if err != nil {
		return nil, err
	}
	if len(quarantine) > 0 {
		e.cfg.Logger.Warn("ledger messages set aside by quarantine are skipped: their facts are not in the members' state",
			"count", len(quarantine), "see", "loyalty ledger quarantined")
	}
	e.keys = keys
	return &working{keys: keys, quarantine: quarantine, log: e.cfg.Logger}, nil
}

func (w *working) close() {
	if err := w.keys.Close(); err != nil {
		w.log.Warn("key index not closed cleanly; the next start hashes the whole ledger again", "err", err)
	}
}

// loadPartitions rebuilds the given partitions from their snapshots and the
// ledger since, and keeps the fold at once, with its follow-ups (which
// republishFollowUps reads from the store).
func (e *Engine) loadPartitions(ctx context.Context, w *working, ids []int) (map[int]*partition, error) {
	parts, err := rebuildFrom(ctx, e.js, ids, w.keys, w.quarantine, e.memory)
	if err != nil {
		return nil, err
	}
	if err := saveAll(parts); err != nil {
		releaseAll(parts)
		return nil, fmt.Errorf("engine: %w", err)
	}
	return parts, nil
}

// releaseAll takes the partitions' members out of the memory budget.
func releaseAll(parts map[int]*partition) {
	for _, p := range parts {
		p.cache.release()
	}
}

// republishFollowUps queues the follow-ups the store kept (reconcile
// FollowUps) and logs how many.
func (e *Engine) republishFollowUps(ctx context.Context, keys *keyindex.Index, parts map[int]*partition) error {
	n, err := e.reconcileFollowUps(ctx, keys, parts)
	if err != nil {
		return fmt.Errorf("engine: follow-ups: %w", err)
	}
	if n > 0 {
		e.cfg.Logger.Info("follow-up events published again: their facts are in the ledger, JetStream had not confirmed storing the events", "events", n)
	}
	return nil
}

// logRebuilt logs what the rebuild of the partitions read and took.
func (e *Engine) logRebuilt(parts map[int]*partition, start time.Time) {
	var members uint64
	read := 0
	for _, p := range parts {
		members += p.known
		read += p.read
	}
	e.metrics.members.Set(float64(members))
	e.cfg.Logger.Info("engine state rebuilt from the ledger", "partitions", len(parts), "members", members,
		"ledger_messages_read", read, "member_memory_bytes", e.cfg.MemberCacheBytes, "snapshot_interval", e.cfg.SnapshotEvery,
		"took", time.Since(start).Round(time.Millisecond))
}

// checkServer refuses a server too old for the engine and sizes the ledger
// messages to its payload limit.
func (e *Engine) checkServer() error {
	if err := checkServerVersion(e.js.Conn().ConnectedServerVersion()); err != nil {
		return err
	}
	// A ledger message stays well under the server's payload limit.
	e.maxPending = min(maxLedgerMessageBytes, int(e.js.Conn().MaxPayload())/2)
	e.maxRecord = int(e.js.Conn().MaxPayload()) - e.maxPending - ledgerHeaderRoom
	return nil
}

// consume handles the partitions' input from the consumer cons until ctx
// ends or stop gives an error, commits and acknowledges what was handled,
// writes the partitions' snapshots, and returns the input sequence up to
// which every input the consumer delivered was committed. Input of
// partition p at or below handled[p] was handled before (by an earlier
// owner): it is acknowledged without being handled again. marks, if set,
// is given the intake's watermark while it runs.
func (e *Engine) consume(ctx context.Context, parts map[int]*partition, ids []int, cons jetstream.Consumer,
	handled map[int]uint64, stop <-chan error, marks func(*watermark)) (uint64, error) {
	// What the consumer delivers again that was dead-lettered is not
	// decided again.
	from := cons.CachedInfo().AckFloor.Stream
	if len(handled) > 0 {
		from = slices.Min(slices.Collect(maps.Values(handled)))
	}
	deadLettered, err := deadLetteredAfter(ctx, e.js, from)
	if err != nil {
		return 0, fmt.Errorf("engine: %w", err)
	}
	in := &intake{js: e.js, consumer: cons, stream: streams.InputStream, name: cons.CachedInfo().Name,
		logger: e.cfg.Logger, prefetch: 1024, queues: map[int]chan input{}, marks: newWatermark(),
		retryAfter: time.Second, resumed: e.metrics.inputResumes, handled: handled, deadLettered: deadLettered,
		others: len(ids) < streams.Partitions && len(cons.CachedInfo().Config.FilterSubjects) == 0}
	if marks != nil {
		marks(in.marks)
	}
	workersDone := make(chan struct{})
	defer close(workersDone)
	router, subs, err := e.newRouter(parts, ids, in, workersDone)
	if err != nil {
		return 0, err
	}
	e.metrics.partitionsOwned.Set(float64(len(parts)))
	lagCtx, stopLag := context.WithCancel(ctx)
	defer stopLag()
	go e.watchLag(lagCtx, in.name, lagInterval)

	group, gctx := errgroup.WithContext(ctx)
	group.Go(func() error {
		select {
		case err := <-stop:
			return err
		case err := <-e.keysFailed:
			return err
		case <-gctx.Done():
			return nil
		}
	})
	group.Go(func() error { return in.run(gctx) })
	group.Go(func() error { return router.Run(gctx) })
	err = group.Wait()
	for _, sub := range subs {
		sub.wait()
	}
	in.finish(ctx)
	if serr := saveAll(parts); serr != nil {
		e.cfg.Logger.Warn("member snapshots not written at stop; the next start folds the ledger since the last ones", "err", serr)
	}
	if err != nil && ctx.Err() == nil {
		return 0, fmt.Errorf("engine: %w", err)
	}
	return in.marks.through(), nil
}

// minIdleSnapshot is the shortest wait before a partition with no input
// writes its snapshot: shorter snapshot intervals apply after appends.
const minIdleSnapshot = time.Second

// newRouter makes the watermill router with one handler per partition, each
// fed by the partition's queue of the intake.
// Its handlers run on workers that end when done is closed.
func (e *Engine) newRouter(parts map[int]*partition, ids []int, in *intake, done <-chan struct{}) (*message.Router, []*partitionSubscriber, error) {
	logger := newRouterLogger(e.cfg.Logger)
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 10 * time.Second}, logger)
	if err != nil {
		return nil, nil, fmt.Errorf("engine: router: %w", err)
	}
	// The one retry policy (decision 010): what fails for want of
	// infrastructure is retried, 100 ms doubling to 10 s, for as long as
	// it fails (no MaxElapsedTime), until the engine stops.
	router.AddMiddleware(retryOnFailure(middleware.Retry{
		MaxRetries:      math.MaxInt32,
		InitialInterval: 100 * time.Millisecond,
		MaxInterval:     10 * time.Second,
		Multiplier:      2,
		OnRetryHook:     func(int, time.Duration) { e.metrics.retries.Inc() },
		// Each retry is logged: a partition waiting on one is otherwise
		// silent for as long as the backoff lasts.
		Logger: logger,
	}))
	var subs []*partitionSubscriber
	for _, id := range ids {
		p := parts[id]
		queue := make(chan input, e.cfg.Prefetch)
		in.queues[id] = queue
		sub := &partitionSubscriber{id: id, queue: queue, logger: e.cfg.Logger,
			batchEvery: e.cfg.BatchEvery, batchWithin: e.cfg.BatchWithin, retryAfter: time.Second,
			commit:    func(ctx context.Context) error { return e.commit(ctx, p) },
			committed: func(upTo uint64) { in.marks.committed(id, upTo) },
			progress:  p.progress,
			idle:      func() { e.snapshotIdle(p) }, idleEvery: max(e.cfg.SnapshotEvery, minIdleSnapshot)}
		subs = append(subs, sub)
		name := fmt.Sprintf("partition-%02d", id)
		router.AddConsumerHandler(name, streams.PartitionFilter(id), sub, onWorker(done, e.handlerFunc(p)))
	}
	return router, subs, nil
}

// retryOnFailure is the Retry middleware entered only after a first attempt
// failed: it sets up its backoff for every message it sees, a few
// microseconds a message, and nearly every message succeeds at once. Its first
// attempt is then immediate, the backoff starting with the second.
func retryOnFailure(retry middleware.Retry) message.HandlerMiddleware {
	return func(h message.HandlerFunc) message.HandlerFunc {
		withRetries := retry.Middleware(h)
		return func(msg *message.Message) ([]*message.Message, error) {
			out, err := h(msg)
			if err == nil {
				return out, nil
			}
			return withRetries(msg)
		}
	}
}

// onWorker runs h on a goroutine of its own, one message at a time, until
// done is closed. The router starts a fresh goroutine for each message, and
// handling an event on it grew (and copied) that goroutine's stack every
// time, some microseconds an event; the worker's stack grows once. The
// router hands a partition one message at a time, so one worker suffices.
func onWorker(done <-chan struct{}, h message.NoPublishHandlerFunc) message.NoPublishHandlerFunc {
	jobs, results := make(chan *message.Message), make(chan error)
	go func() {
		for {
			select {
			case msg := <-jobs:
				results <- h(msg)
			case <-done:
				return
			}
		}
	}()
	return func(msg *message.Message) error {
		select {
		case jobs <- msg:
			return <-results
		case <-done:
			return errEngineStopped
		}
	}
}

// errEngineStopped is the answer to a message delivered after the engine
// stopped handling.
var errEngineStopped = errors.New("engine stopped")

// maxLedgerMessageBytes bounds a ledger message (the records of one append):
// a partition commits once its staged records reach it.
const maxLedgerMessageBytes = 256 << 10

// ledgerHeaderRoom is room for a ledger message's headers within the
// server's payload limit.
const ledgerHeaderRoom = 4 << 10

// inputMaxAckPending bounds the input delivered and not acknowledged: what
// the partitions have queued and what they handled above the watermark. One
// partition stuck on a failing message holds the watermark, and when this
// many are pending the others wait too.
const inputMaxAckPending = 32768

// MinServerMajor and MinServerMinor are the oldest NATS server the engine
// runs against: it resets its consumer to its ack floor (see intake), an API
// that 2.14 introduced. docker-compose.yml's NATS image is checked against
// them.
const (
	MinServerMajor = 2
	MinServerMinor = 14
)

// checkServerVersion refuses NATS servers older than MinServerMajor.
// MinServerMinor. An unknown version is let through; the first reset then
// fails if it must.
func checkServerVersion(version string) error {
	var major, minor int
	if _, err := fmt.Sscanf(version, "%d.%d", &major, &minor); err != nil {
		return nil
	}
	if major < MinServerMajor || major == MinServerMajor && minor < MinServerMinor {
		return fmt.Errorf("engine: NATS server %s is too old: the engine needs %d.%d or later (it resets consumers to their ack floor)",
			version, MinServerMajor, MinServerMinor)
	}
	return nil
}

// legacyConsumerName is the per-partition input consumer of engines before
// one consumer served all partitions.
func legacyConsumerName(partition int) string {
	return fmt.Sprintf("engine-p%02d", partition)
}

// ensureInputConsumer creates or updates the engine's input consumer.
//
// Engines before it had a consumer per partition. When the consumer is new
// and such consumers exist, it starts after the lowest of their ack floors,
// and they are deleted once it exists: what they had delivered beyond that
// is delivered again, and the engine recognises what it had applied (and
// JetStream's duplicate window what it had dead-lettered).
func (e *Engine) ensureInputConsumer(ctx context.Context) (jetstream.Consumer, error) {
	legacy, err := e.legacyConsumers(ctx)
	if err != nil {
		return nil, err
	}
	cfg := inputConsumerConfig(e.cfg.Partitions)
	existing, err := e.js.Consumer(ctx, streams.InputStream, cfg.Durable)
	switch {
	case err == nil:
		// Fixed when the consumer was created.
		info := existing.CachedInfo()
		cfg.DeliverPolicy, cfg.OptStartSeq = info.Config.DeliverPolicy, info.Config.OptStartSeq
	case !errors.Is(err, jetstream.ErrConsumerNotFound):
		return nil, err
	case len(legacy) > 0:
		floor := legacy[0].AckFloor.Stream
		for _, info := range legacy[1:] {
			floor = min(floor, info.AckFloor.Stream)
		}
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, floor+1
		e.cfg.Logger.Warn("per-partition input consumers replaced by one", "consumer", cfg.Durable, "from_seq", floor+1)
	}
	cons, err := e.js.CreateOrUpdateConsumer(ctx, streams.InputStream, cfg)
	if err != nil {
		return nil, err
	}
	// Deleted only now: a crash before this point finds them again.
	for _, info := range legacy {
		err := e.js.DeleteConsumer(ctx, streams.InputStream, info.Name)
		if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return nil, fmt.Errorf("delete consumer %s: %w", info.Name, err)
		}
	}
	return cons, nil
}

// legacyConsumers lists the per-partition consumers of earlier engines for
// this engine's partitions, in one request.
func (e *Engine) legacyConsumers(ctx context.Context) ([]*jetstream.ConsumerInfo, error) {
	stream, err := e.js.Stream(ctx, streams.InputStream)
	if err != nil {
		return nil, err
	}
	ours := map[string]bool{}
	for _, p := range e.cfg.Partitions {
		ours[legacyConsumerName(p)] = true
	}
	var found []*jetstream.ConsumerInfo
	list := stream.ListConsumers(ctx)
	for info := range list.Info() {
		if ours[info.Name] {
			found = append(found, info)
		}
	}
	if err := list.Err(); err != nil {
		return nil, fmt.Errorf("list consumers of %s: %w", streams.InputStream, err)
	}
	return found, nil
}

func inputConsumerConfig(partitions []int) jetstream.ConsumerConfig {
	cfg := jetstream.ConsumerConfig{
		Durable:       ConsumerName(partitions),
		Description:   fmt.Sprintf("Loyalty engine, %d member partitions", len(partitions)),
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckAllPolicy,
		AckWait:       5 * time.Minute,
		MaxAckPending: inputMaxAckPending,
		MaxDeliver:    -1,
	}
	if len(partitions) < streams.Partitions {
		for _, p := range partitions {
			cfg.FilterSubjects = append(cfg.FilterSubjects, streams.PartitionFilter(p))
		}
	}
	return cfg
}

// handlerFunc adapts a partition's handling to a watermill handler. The
// router calls it for one message, a run of inputs, at a time per
// partition; the retry middleware may call it again with the same message,
// and it resumes where the last attempt failed (the partition's run).
func (e *Engine) handlerFunc(p *partition) message.NoPublishHandlerFunc {
	return func(msg *message.Message) error {
		inputs, err := inputsOfMessage(msg)
		if err != nil {
			return fmt.Errorf("engine: %w", err)
		}
		if p.run.msg != msg {
			p.run = runProgress{msg: msg}
		}
		for _, in := range inputs[min(p.run.handled, len(inputs)):] {
			start := time.Now()
			known := p.known
			outcome, err := e.handle(msg.Context(), p, in)
			if errors.Is(err, keyindex.ErrHeld) {
				e.yieldHeldKey(p)
				return nil
			}
			if err != nil {
				return err
			}
			p.run.handled++
			e.metrics.processing.Observe(time.Since(start).Seconds())
			e.metrics.members.Add(float64(int64(p.known) - int64(known)))
			// A dead letter is not recognised by the ledger when
			// redelivered (only by JetStream's duplicate window), so it is
			// not held back for a batch; and a ledger message near its size
			// limit must go before the next record takes it past the
			// server's. The rest of the run waits for that commit.
			if outcome == outcomeDeadLettered || len(p.pending) >= e.maxPending {
				p.run.commitNow = true
				return nil
			}
		}
		return nil
	}
}

// heldKeyWait is how long a partition with nothing staged waits before it
// offers again an input whose key another partition holds.
const heldKeyWait = 5 * time.Millisecond

// yieldHeldKey ends a run at an input one of whose keys another partition
// holds in a record it has not appended: what the run handled is committed
// now, which lets go of this partition's own keys (the other may be waiting
// for one of them), and the input is offered again with the rest of the
// run. Retrying inside the run instead would hold both partitions' keys
// until the retries ran out.
func (e *Engine) yieldHeldKey(p *partition) {
	e.metrics.keyHeld.Inc()
	if len(p.staged) == 0 {
		time.Sleep(heldKeyWait) // nothing of ours holds the other up
	}
	p.run.commitNow = true
}

// lagInterval is how often the input backlog is measured.
const lagInterval = 5 * time.Second

// watchLag keeps loyalty_input_pending_events current until ctx ends.
func (e *Engine) watchLag(ctx context.Context, consumer string, every time.Duration) {
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		if cons, err := e.js.Consumer(ctx, streams.InputStream, consumer); err == nil {
			info := cons.CachedInfo()
			e.metrics.inputPending.Set(float64(info.NumPending + uint64(info.NumAckPending)))
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// routerLogger is watermill's slog adapter (with watermill's info lines
// logged as debug) that skips the trace and debug lines when they would not
// be logged: the router writes two trace lines per message, and the adapter
// builds their fields before slog can drop them.
type routerLogger struct {
	watermill.LoggerAdapter
	logger *slog.Logger
}

func newRouterLogger(logger *slog.Logger) routerLogger {
	return routerLogger{
		LoggerAdapter: watermill.NewSlogLoggerWithLevelMapping(logger, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug}),
		logger:        logger,
	}
}

func (l routerLogger) Info(msg string, fields watermill.LogFields) {
	if l.logger.Enabled(context.Background(), slog.LevelDebug) {
		l.LoggerAdapter.Info(msg, fields)
	}
}

func (l routerLogger) Debug(msg string, fields watermill.LogFields) {
	if l.logger.Enabled(context.Background(), slog.LevelDebug) {
		l.LoggerAdapter.Debug(msg, fields)
	}
}

func (l routerLogger) Trace(msg string, fields watermill.LogFields) {
	if l.logger.Enabled(context.Background(), watermill.LevelTrace) {
		l.LoggerAdapter.Trace(msg, fields)
	}
}

func (l routerLogger) With(fields watermill.LogFields) watermill.LoggerAdapter {
	return routerLogger{LoggerAdapter: l.LoggerAdapter.With(fields), logger: l.logger}
}
