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
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/streams"
)

// EngineConfig configures the engine.
type EngineConfig struct {
	Program *domain.Program
	// Partitions this process handles; all of them when empty.
	Partitions []int
	// Prefetch is how many input messages each partition buffers ahead.
	// Default 256.
	Prefetch int
	// AckEvery and AckWithin batch the acknowledgements of handled input:
	// a partition acknowledges its last handled message once AckEvery
	// messages are unacknowledged or AckWithin after the first of them, and
	// whenever it has nothing else to do. After a crash, what was handled but
	// not acknowledged is delivered again and recognised as already applied.
	// Defaults 128 and 100ms.
	AckEvery  int
	AckWithin time.Duration
	Logger    *slog.Logger
	Metrics   *Metrics
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
	if c.AckEvery == 0 {
		c.AckEvery = 128
	}
	if c.AckWithin == 0 {
		c.AckWithin = 100 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports every problem with the configuration.
func (c EngineConfig) Validate() error {
	var errs []error
	if c.Program == nil {
		errs = append(errs, errors.New("engine: a program is required"))
	}
	if c.Metrics == nil {
		errs = append(errs, errors.New("engine: metrics are required (handlers.NewMetrics)"))
	}
	if c.Prefetch < 1 || c.AckEvery < 1 || c.Prefetch+c.AckEvery > inputMaxAckPending {
		errs = append(errs, fmt.Errorf("engine: Prefetch (%d) and AckEvery (%d) must be at least 1 and together at most %d",
			c.Prefetch, c.AckEvery, inputMaxAckPending))
	}
	if c.AckWithin < 0 {
		errs = append(errs, fmt.Errorf("engine: AckWithin must not be negative, got %s", c.AckWithin))
	}
	for _, p := range c.Partitions {
		if p < 0 || p >= streams.Partitions {
			errs = append(errs, fmt.Errorf("engine: partition %d is out of range 0-%d", p, streams.Partitions-1))
		}
	}
	return errors.Join(errs...)
}

// Engine turns input events into ledger facts.
type Engine struct {
	js      jetstream.JetStream
	cfg     EngineConfig
	metrics *Metrics
	// maxPending is the size at which a partition's staged ledger message
	// is committed; set by Run from the server's payload limit.
	maxPending int
}

// NewEngine checks the configuration; Run does the work.
func NewEngine(js jetstream.JetStream, cfg EngineConfig) (*Engine, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Engine{js: js, cfg: cfg, metrics: cfg.Metrics}, nil
}

// ConsumerName is the durable input consumer of a partition.
//
// WARNING: renaming it makes the engine re-consume the whole input stream;
// the ledger's de-duplication keeps that harmless but slow.
func ConsumerName(partition int) string {
	return fmt.Sprintf("engine-p%02d", partition)
}

// Run rebuilds partition state from the ledger, then handles input until ctx
// ends.
func (e *Engine) Run(ctx context.Context) error {
	start := time.Now()
	parts, err := rebuild(ctx, e.js, e.cfg.Partitions)
	if err != nil {
		return err
	}
	members := 0
	for _, p := range parts {
		members += len(p.members)
	}
	e.metrics.members.Set(float64(members))
	e.cfg.Logger.Info("engine state rebuilt from the ledger", "partitions", len(parts), "members", members,
		"took", time.Since(start).Round(time.Millisecond))

	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 10 * time.Second}, newRouterLogger(e.cfg.Logger))
	if err != nil {
		return fmt.Errorf("engine: router: %w", err)
	}
	router.AddMiddleware(middleware.Retry{
		MaxRetries:      10,
		InitialInterval: 100 * time.Millisecond,
		MaxInterval:     10 * time.Second,
		Multiplier:      2,
		OnRetryHook:     func(int, time.Duration) { e.metrics.retries.Inc() },
	}.Middleware)
	if err := checkServerVersion(e.js.Conn().ConnectedServerVersion()); err != nil {
		return err
	}
	// A ledger message stays well under the server's payload limit.
	e.maxPending = min(maxLedgerMessageBytes, int(e.js.Conn().MaxPayload())/2)
	var subs []*consumerSubscriber
	for _, id := range e.cfg.Partitions {
		cons, err := e.ensureInputConsumer(ctx, id)
		if err != nil {
			return fmt.Errorf("engine: consumer for partition %d: %w", id, err)
		}
		p := parts[id]
		sub := &consumerSubscriber{js: e.js, consumer: cons, stream: streams.InputStream, name: ConsumerName(id),
			logger: e.cfg.Logger, prefetch: e.cfg.Prefetch, ackEvery: e.cfg.AckEvery, ackWithin: e.cfg.AckWithin,
			retryAfter: time.Second, commit: func(ctx context.Context) error { return e.commit(ctx, p) }}
		subs = append(subs, sub)
		router.AddConsumerHandler(ConsumerName(id), streams.PartitionFilter(id), sub, e.handlerFunc(parts[id]))
	}
	e.metrics.partitionsOwned.Set(float64(len(parts)))
	defer e.metrics.partitionsOwned.Set(0)
	go e.watchLag(ctx, lagInterval)
	err = router.Run(ctx)
	// What was handled is committed and acknowledged before Run returns.
	for _, sub := range subs {
		sub.wait()
	}
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("engine: %w", err)
	}
	return nil
}

// maxLedgerMessageBytes bounds a ledger message (the records of one append):
// a partition commits once its staged records reach it.
const maxLedgerMessageBytes = 256 << 10

// inputMaxAckPending bounds the messages a partition has been delivered and
// not acknowledged: those buffered ahead plus those handled since the last
// acknowledgement.
const inputMaxAckPending = 1024

// MinServerMajor and MinServerMinor are the oldest NATS server the engine
// runs against: it resets its consumers to their ack floor (see
// consumerSubscriber), an API that 2.14 introduced. docker-compose.yml's
// NATS image is checked against them.
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

// ensureInputConsumer creates or updates a partition's input consumer.
//
// Consumers of engines before acknowledgements were batched have the ack
// policy AckExplicit, which JetStream cannot change: such a consumer is
// replaced by one that starts after its ack floor. What it had delivered
// beyond the floor is delivered again; the engine recognises what it had
// applied (and JetStream's duplicate window what it had dead-lettered).
func (e *Engine) ensureInputConsumer(ctx context.Context, partition int) (jetstream.Consumer, error) {
	cfg := inputConsumerConfig(partition)
	old, err := e.js.Consumer(ctx, streams.InputStream, cfg.Durable)
	switch {
	case errors.Is(err, jetstream.ErrConsumerNotFound):
	case err != nil:
		return nil, err
	case old.CachedInfo().Config.AckPolicy != cfg.AckPolicy:
		info := old.CachedInfo()
		if err := e.js.DeleteConsumer(ctx, streams.InputStream, cfg.Durable); err != nil {
			return nil, fmt.Errorf("replace consumer %s (ack policy %s): %w", cfg.Durable, info.Config.AckPolicy, err)
		}
		if floor := info.AckFloor.Stream; floor > 0 {
			cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, floor+1
		}
		e.cfg.Logger.Warn("input consumer replaced to batch acknowledgements", "consumer", cfg.Durable,
			"old_ack_policy", info.Config.AckPolicy, "from_seq", info.AckFloor.Stream+1)
	default:
		// Fixed when the consumer was created (by a replacement above).
		cfg.DeliverPolicy, cfg.OptStartSeq = old.CachedInfo().Config.DeliverPolicy, old.CachedInfo().Config.OptStartSeq
	}
	return e.js.CreateOrUpdateConsumer(ctx, streams.InputStream, cfg)
}

func inputConsumerConfig(partition int) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       ConsumerName(partition),
		Description:   fmt.Sprintf("Loyalty engine, member partition %d", partition),
		FilterSubject: streams.PartitionFilter(partition),
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckAllPolicy,
		AckWait:       time.Minute,
		MaxAckPending: inputMaxAckPending,
		MaxDeliver:    -1,
	}
}

// handlerFunc adapts a partition's handling to a watermill handler. The
// router calls it for one message at a time per partition.
func (e *Engine) handlerFunc(p *partition) message.NoPublishHandlerFunc {
	return func(msg *message.Message) error {
		jsMsg, ok := jetStreamMsg(msg)
		if !ok {
			return errors.New("engine: message did not come from JetStream")
		}
		meta, err := jsMsg.Metadata()
		if err != nil {
			return fmt.Errorf("engine: message metadata: %w", err)
		}
		subject, err := streams.ParseStoredInput(jsMsg.Subject())
		if err != nil {
			return fmt.Errorf("engine: %w", err)
		}
		start := time.Now()
		known := len(p.members)
		outcome, err := e.handle(msg.Context(), p, input{msg: jsMsg, subject: subject, seq: meta.Sequence.Stream, stored: meta.Timestamp})
		if err != nil {
			return err
		}
		switch {
		case outcome == outcomeDeadLettered:
			// A dead letter is not recognised by the ledger when
			// redelivered (only by JetStream's duplicate window), so its
			// ack is not held back for a batch.
			ackNow(msg)
		case len(p.pending) >= e.maxPending:
			// The next record could take the ledger message past the
			// server's payload limit.
			ackNow(msg)
		}
		e.metrics.processing.Observe(time.Since(start).Seconds())
		e.metrics.members.Add(float64(len(p.members) - known))
		return nil
	}
}

// lagInterval is how often the input backlog is measured.
const lagInterval = 5 * time.Second

// watchLag keeps loyalty_input_pending_events current until ctx ends.
func (e *Engine) watchLag(ctx context.Context, every time.Duration) {
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		var pending uint64
		for _, id := range e.cfg.Partitions {
			cons, err := e.js.Consumer(ctx, streams.InputStream, ConsumerName(id))
			if err != nil {
				break
			}
			info := cons.CachedInfo()
			pending += info.NumPending + uint64(info.NumAckPending)
		}
		e.metrics.inputPending.Set(float64(pending))
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
