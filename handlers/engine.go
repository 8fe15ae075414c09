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
	Prefetch int
	Logger   *slog.Logger
	Metrics  *Metrics
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

	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 10 * time.Second},
		watermill.NewSlogLoggerWithLevelMapping(e.cfg.Logger, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug}))
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
	for _, id := range e.cfg.Partitions {
		cons, err := e.js.CreateOrUpdateConsumer(ctx, streams.InputStream, inputConsumerConfig(id))
		if err != nil {
			return fmt.Errorf("engine: consumer for partition %d: %w", id, err)
		}
		sub := &consumerSubscriber{consumer: cons, logger: e.cfg.Logger, prefetch: e.cfg.Prefetch}
		router.AddConsumerHandler(ConsumerName(id), streams.PartitionFilter(id), sub, e.handlerFunc(parts[id]))
	}
	e.metrics.partitionsOwned.Set(float64(len(parts)))
	defer e.metrics.partitionsOwned.Set(0)
	go e.watchLag(ctx, lagInterval)
	if err := router.Run(ctx); err != nil && ctx.Err() == nil {
		return fmt.Errorf("engine: %w", err)
	}
	return nil
}

func inputConsumerConfig(partition int) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       ConsumerName(partition),
		Description:   fmt.Sprintf("Loyalty engine, member partition %d", partition),
		FilterSubject: streams.PartitionFilter(partition),
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       time.Minute,
		MaxAckPending: 1024,
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
		_, err = e.handle(msg.Context(), p, input{msg: jsMsg, subject: subject, seq: meta.Sequence.Stream, stored: meta.Timestamp})
		if err == nil {
			e.metrics.processing.Observe(time.Since(start).Seconds())
			e.metrics.members.Add(float64(len(p.members) - known))
		}
		return err
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
