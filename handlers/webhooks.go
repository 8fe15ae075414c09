package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pointsledger/loyalty/streams"
)

// WebhooksLeaseKey is the lease of the webhook relay: one engine of a
// cluster delivers.
const WebhooksLeaseKey = "webhooks"

// WebhooksBucket keeps which endpoints are disabled (they answered 410)
// and where each endpoint's consumers are (see floorKey).
const WebhooksBucket = "LOYALTY_WEBHOOKS"

// WebhooksConfig configures the webhook relay.
type WebhooksConfig struct {
	File       *WebhooksFile
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Client makes the requests; nil: one that follows no redirects.
	Client *http.Client
	// AckWait is how long the outbound stream waits for an event's
	// acknowledgement before it offers the event again; the relay says it
	// is still working on held events every third of it.
	AckWait time.Duration
	// MaxInFlight bounds an endpoint's events held at once.
	MaxInFlight int
	// RetryInitial and RetryMax bound the backoff between attempts; each
	// wait is up to half longer or shorter (jitter).
	RetryInitial, RetryMax time.Duration
	// Agent is the User-Agent of the requests.
	Agent string
	// now is the clock (tests).
	now func() time.Time
}

func (c *WebhooksConfig) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Client == nil {
		c.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if c.AckWait <= 0 {
		c.AckWait = time.Minute
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 1000
	}
	if c.RetryInitial <= 0 {
		c.RetryInitial = time.Second
	}
	if c.RetryMax <= 0 {
		c.RetryMax = 10 * time.Minute
	}
	if c.Agent == "" {
		c.Agent = "loyalty-webhooks"
	}
	if c.now == nil {
		c.now = time.Now
	}
}

// Webhooks delivers outbound events to HTTP endpoints (docs/outbound.md):
// signed the Standard Webhooks way, in order per member, retried with
// backoff, dead-lettered when refused or out of time.
//
// Each lane of an endpoint has a durable consumer of the outbound stream
// (see laneConsumer); renaming an endpoint makes it a new one (see From).
type Webhooks struct {
	js      jetstream.JetStream
	cfg     WebhooksConfig
	metrics *webhookMetrics
}

// NewWebhooks makes the relay for cfg.File's endpoints.
func NewWebhooks(js jetstream.JetStream, cfg WebhooksConfig) (*Webhooks, error) {
	cfg.setDefaults()
	if cfg.File == nil || len(cfg.File.Endpoints) == 0 {
		return nil, errors.New("webhooks: no endpoints")
	}
	m, err := newWebhookMetrics(cfg.Registerer, cfg.File.Endpoints)
	if err != nil {
		return nil, err
	}
	return &Webhooks{js: js, cfg: cfg, metrics: m}, nil
}

// Run delivers until ctx ends, while this engine holds the webhooks lease.
func (w *Webhooks) Run(ctx context.Context) error {
	return untilDone(ctx, w.cfg.Logger, "webhook relay", time.Second, nil, w.leased)
}

func (w *Webhooks) leased(ctx context.Context) error {
	if err := ensureWebhooksStream(ctx, w.js); err != nil {
		return err
	}
	kv, err := streams.KeyValueBucket(ctx, w.js, jetstream.KeyValueConfig{Bucket: WebhooksBucket,
		Description: "Webhook endpoints disabled after a 410 Gone, and the positions of their consumers"})
	if err != nil {
		return err
	}
	return whileLeased(ctx, w.js, WebhooksLeaseKey, w.cfg.Logger, func(ctx context.Context) error {
		w.endpoints(ctx, kv)
		return nil
	})
}

// endpoints delivers to every endpoint until ctx ends.
func (w *Webhooks) endpoints(ctx context.Context, kv jetstream.KeyValue) {
	var wg sync.WaitGroup
	for i := range w.cfg.File.Endpoints {
		ep := &w.cfg.File.Endpoints[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.endpointLoop(ctx, kv, ep)
		}()
	}
	wg.Wait()
}

// endpointLoop runs one endpoint's delivery, again after failures, and
// waits while it is disabled.
func (w *Webhooks) endpointLoop(ctx context.Context, kv jetstream.KeyValue, ep *WebhookEndpoint) {
	log := w.cfg.Logger.With("endpoint", ep.ID)
	for ctx.Err() == nil {
		if _, err := kv.Get(ctx, disabledKey(ep.ID)); err == nil {
			w.metrics.disabled.WithLabelValues(ep.ID).Set(1)
			sleepCtx(ctx, 5*time.Second)
			continue
		}
		w.metrics.disabled.WithLabelValues(ep.ID).Set(0)
		err := w.runEndpoint(ctx, kv, ep)
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, errWebhookGone):
			log.Error("webhook endpoint answered 410 Gone: disabled; `loyalty webhooks enable " + ep.ID + "` turns it on again")
			if _, err := kv.Put(ctx, disabledKey(ep.ID), []byte(w.cfg.now().UTC().Format(time.RFC3339))); err != nil {
				log.Warn("webhook endpoint not marked disabled", "err", err)
			}
		default:
			log.Warn("webhook delivery stopped; starting again", "err", err)
			sleepCtx(ctx, time.Second)
		}
	}
}

func disabledKey(endpoint string) string { return "disabled." + endpoint }

// EnableWebhookEndpoint turns on an endpoint disabled after a 410.
func EnableWebhookEndpoint(ctx context.Context, js jetstream.JetStream, endpoint string) (bool, error) {
	kv, err := js.KeyValue(ctx, WebhooksBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if _, err := kv.Get(ctx, disabledKey(endpoint)); errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	return true, kv.Purge(ctx, disabledKey(endpoint))
}

// runEndpoint delivers an endpoint's events until ctx ends or something
// stops it (errWebhookGone when the endpoint is gone). Each lane has a
// consumer of its own, of its share of the member partitions: a lane
// waiting on a failing member holds up its own members only, and its
// consumer's window, never the other lanes'.
func (w *Webhooks) runEndpoint(ctx context.Context, kv jetstream.KeyValue, ep *WebhookEndpoint) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	starts, err := w.laneStarts(ctx, kv, ep)
	if err != nil {
		return err
	}
	consumers := map[string]jetstream.Consumer{}
	lanes := make([]chan heldEvent, ep.Lanes)
	for i := range lanes {
		lanes[i] = make(chan heldEvent, 1)
		c, err := w.consumer(ctx, kv, ep, laneConsumer(ep.ID, i), streams.OutboundStream, ep.filterSubjects(i), starts[i], ep.signature(i))
		if err != nil {
			return err
		}
		consumers[laneConsumer(ep.ID, i)] = c
	}
	forgetLanes(ctx, kv, ep)
	replayFrom, err := w.replayStart(ctx, kv, ep)
	if err != nil {
		return err
	}
	replays, err := w.consumer(ctx, kv, ep, replayConsumer(ep.ID), WebhooksStream, []string{WebhookReplaySubject(ep.ID)}, replayFrom, "")
	if err != nil {
		return err
	}
	consumers[replayConsumer(ep.ID)] = replays
	held := newHeldEvents()
	router, err := w.router(ep, lanes, held, cancel)
	if err != nil {
		return err
	}
	routerDone := make(chan error, 1)
	go func() { routerDone <- router.Run(ctx) }()
	defer func() {
		cancel(nil)
		_ = router.Close()
		<-routerDone
	}()
	go w.keepHeld(ctx, kv, ep, held, consumers)
	errs := make(chan error, len(consumers))
	for name, c := range consumers {
		go func() { errs <- w.fetch(ctx, c, ep, lanes, held, name == replayConsumer(ep.ID)) }()
	}
	select {
	case err := <-errs:
		return err
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// laneConsumer and replayConsumer name an endpoint's consumers: renaming an
// endpoint makes it a new one (see From); changing its lanes or events
// moves its lanes to where the slowest was (see laneStarts).
func laneConsumer(endpoint string, lane int) string {
	return "webhook_" + endpoint + "_" + strconv.Itoa(lane)
}
func replayConsumer(endpoint string) string { return "webhook_" + endpoint + "_replay" }

// floorKey keeps a consumer's acknowledgement floor in WebhooksBucket, so
// that a consumer lost (deleted, or never made again after a failed start)
// resumes where it was instead of at the stream's first event.
func floorKey(consumer string) string { return "floor." + consumer }

// consumer makes a durable consumer afresh, delivering after start (its
// position, see laneStarts), which is kept in kv first: events delivered
// out of their turn before a stop are delivered again, after the ones
// before them, so that a member's events keep their order across restarts.
func (w *Webhooks) consumer(ctx context.Context, kv jetstream.KeyValue, ep *WebhookEndpoint, name, stream string, filters []string, start uint64, sig string) (jetstream.Consumer, error) {
	cfg := jetstream.ConsumerConfig{Durable: name, AckPolicy: jetstream.AckExplicitPolicy, AckWait: w.cfg.AckWait,
		MaxAckPending: w.cfg.MaxInFlight, MaxDeliver: -1, FilterSubjects: filters,
		Description: "webhook relay for endpoint " + ep.ID}
	if err := keepFloor(ctx, kv, name, start, sig); err != nil {
		return nil, fmt.Errorf("webhook consumer %s: keep its position: %w", name, err)
	}
	if err := w.js.DeleteConsumer(ctx, stream, name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, fmt.Errorf("webhook consumer %s: %w", name, err)
	}
	if start > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, start+1
	}
	c, err := w.js.CreateConsumer(ctx, stream, cfg)
	if err != nil {
		return nil, fmt.Errorf("webhook consumer %s: %w", name, err)
	}
	return c, nil
}

// laneStarts decides, once per start of an endpoint, where each lane's
// consumer resumes. A lane whose consumer (or kept position) is of the same
// lanes and events resumes at its own acknowledgement floor; one whose
// share of the partitions changed (lanes or events changed) resumes at the
// lowest floor any lane of the endpoint had, so that nothing any lane had
// not delivered is skipped (what others had is delivered again, with the
// same ids); an endpoint with no position at all starts by its From.
func (w *Webhooks) laneStarts(ctx context.Context, kv jetstream.KeyValue, ep *WebhookEndpoint) ([]uint64, error) {
	type lanePos struct {
		floor    uint64
		same     bool // of the lanes and events the endpoint has now
		anything bool
	}
	var old [maxLanes]lanePos
	lowest, seen := uint64(0), false
	for n := range maxLanes {
		name := laneConsumer(ep.ID, n)
		p := &old[n]
		if kept, sig, found, err := keptFloor(ctx, kv, name); err != nil {
			return nil, err
		} else if found {
			p.floor, p.same, p.anything = kept, sig == ep.signature(n), true
		}
		c, err := w.js.Consumer(ctx, streams.OutboundStream, name)
		if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return nil, err
		}
		if err == nil {
			info, err := c.Info(ctx)
			if err != nil {
				return nil, err
			}
			same := n < ep.Lanes && slices.Equal(info.Config.FilterSubjects, ep.filterSubjects(n))
			if !p.anything || !p.same || !same {
				p.floor = info.AckFloor.Stream
			} else {
				p.floor = max(p.floor, info.AckFloor.Stream)
			}
			p.same, p.anything = same, true
		}
		if p.anything && (!seen || p.floor < lowest) {
			lowest, seen = p.floor, true
		}
	}
	var now uint64 // one cut for every lane of a new endpoint
	if !seen && ep.From == FromNew {
		s, err := w.js.Stream(ctx, streams.OutboundStream)
		if err != nil {
			return nil, err
		}
		now = s.CachedInfo().State.LastSeq
	}
	starts := make([]uint64, ep.Lanes)
	for n := range starts {
		switch {
		case old[n].anything && old[n].same:
			starts[n] = old[n].floor
		case seen:
			starts[n] = lowest
		default:
			starts[n] = now
		}
	}
	// Lanes the endpoint no longer has: their consumers go, and so do
	// their positions, once the lanes that replace them have theirs.
	for n := ep.Lanes; n < maxLanes; n++ {
		if old[n].anything {
			if err := w.js.DeleteConsumer(ctx, streams.OutboundStream, laneConsumer(ep.ID, n)); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
				return nil, err
			}
		}
	}
	return starts, nil
}

// forgetLanes drops the kept positions of lanes the endpoint no longer has.
func forgetLanes(ctx context.Context, kv jetstream.KeyValue, ep *WebhookEndpoint) {
	for n := ep.Lanes; n < maxLanes; n++ {
		_ = kv.Purge(ctx, floorKey(laneConsumer(ep.ID, n)))
	}
}

// replayStart is where the replay consumer resumes: its acknowledgement
// floor, or the one kept, or the stream's start.
func (w *Webhooks) replayStart(ctx context.Context, kv jetstream.KeyValue, ep *WebhookEndpoint) (uint64, error) {
	kept, _, _, err := keptFloor(ctx, kv, replayConsumer(ep.ID))
	if err != nil {
		return 0, err
	}
	c, err := w.js.Consumer(ctx, WebhooksStream, replayConsumer(ep.ID))
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return kept, nil
	}
	if err != nil {
		return 0, err
	}
	info, err := c.Info(ctx)
	if err != nil {
		return 0, err
	}
	return max(kept, info.AckFloor.Stream), nil
}

// keptFloor reads a consumer's kept position: its floor, and the signature
// of the lanes and events it was of.
func keptFloor(ctx context.Context, kv jetstream.KeyValue, name string) (uint64, string, bool, error) {
	e, err := kv.Get(ctx, floorKey(name))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, "", false, nil
	}
	if err != nil {
		return 0, "", false, err
	}
	n, sig, _ := strings.Cut(string(e.Value()), " ")
	floor, err := strconv.ParseUint(n, 10, 64)
	return floor, sig, err == nil, nil
}

// keepFloor writes a consumer's position with its signature.
func keepFloor(ctx context.Context, kv jetstream.KeyValue, name string, floor uint64, sig string) error {
	_, err := kv.Put(ctx, floorKey(name), []byte(strconv.FormatUint(floor, 10)+" "+sig))
	return err
}

// fetch hands a consumer's events to the lanes, a member's always to the
// same one, and waits while its lane is busy.
//
// A lane's consumer fetches a few events ahead; one that waited too long in
// the client's buffer is offered again by the stream after it was
// delivered, and is then acknowledged and passed over (settled holds the
// highest sequence the lane settled). Replays, of any lane, are handed to
// their lane without waiting, so that a lane held up by a failing member
// holds up no other lane's replays.
func (w *Webhooks) fetch(ctx context.Context, c jetstream.Consumer, ep *WebhookEndpoint, lanes []chan heldEvent, held *heldEvents, replay bool) error {
	iter, err := c.Messages(jetstream.PullMaxMessages(min(w.cfg.MaxInFlight, 10)))
	if err != nil {
		return err
	}
	defer iter.Stop()
	settled := new(atomic.Uint64)
	for {
		msg, err := iter.Next(jetstream.NextContext(ctx))
		if err != nil {
			return err
		}
		ev, ok := heldEventOf(msg, replay)
		if !ok {
			w.cfg.Logger.Warn("webhook relay: passing over a message it cannot deliver", "endpoint", ep.ID,
				"subject", strconv.Quote(msg.Subject()))
			_ = msg.Term()
			continue
		}
		if !replay && ev.seq <= settled.Load() {
			_ = msg.Ack() // delivered already: offered again from the client's buffer
			continue
		}
		if !held.add(ev) {
			continue // offered again while a lane still has it
		}
		lane := lanes[ev.partition%len(lanes)]
		if replay {
			go func() {
				select {
				case lane <- ev:
				case <-ctx.Done():
				}
			}()
			continue
		}
		ev.settled = settled
		select {
		case lane <- ev:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// keepHeld tells the stream the relay still works on the events it holds,
// so that it does not offer them again, updates the age of the oldest, and
// keeps the consumers' acknowledgement floors in kv.
func (w *Webhooks) keepHeld(ctx context.Context, kv jetstream.KeyValue, ep *WebhookEndpoint, held *heldEvents, consumers map[string]jetstream.Consumer) {
	sigs := map[string]string{}
	for n := range ep.Lanes {
		sigs[laneConsumer(ep.ID, n)] = ep.signature(n)
	}
	kept := map[string]uint64{}
	t := time.NewTicker(w.cfg.AckWait / 3)
	defer t.Stop()
	for {
		oldest := held.progress()
		age := 0.0
		if !oldest.IsZero() {
			age = w.cfg.now().Sub(oldest).Seconds()
		}
		w.metrics.oldest.WithLabelValues(ep.ID).Set(age)
		for name, c := range consumers {
			if info, err := c.Info(ctx); err == nil && info.AckFloor.Stream > kept[name] {
				if keepFloor(ctx, kv, name, info.AckFloor.Stream, sigs[name]) == nil {
					kept[name] = info.AckFloor.Stream
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// router is the endpoint's watermill router: a handler per lane, each
// through the middleware of the delivery policy (outermost first): poison
// queue (the dead letters), the failure's class, retry (backoff with
// jitter while the failure is retryable and within retry_for of the
// event's first attempt), throttle (rate_limit, for every attempt).
func (w *Webhooks) router(ep *WebhookEndpoint, lanes []chan heldEvent, held *heldEvents, stop context.CancelCauseFunc) (*message.Router, error) {
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 10 * time.Second}, newRouterLogger(w.cfg.Logger))
	if err != nil {
		return nil, err
	}
	d := &deliverer{ep: ep, client: w.cfg.Client, now: w.cfg.now, agent: w.cfg.Agent, metrics: w.metrics,
		log: w.cfg.Logger.With("endpoint", ep.ID)}
	poison, err := middleware.PoisonQueueWithFilter(deadLetterPublisher{js: w.js, endpoint: ep.ID}, WebhookDeadSubject(ep.ID), deadLettered)
	if err != nil {
		return nil, err
	}
	// The waits double: Retry takes a step of its backoff for ShouldRetry's
	// parameters and another for the wait, so each step multiplies by √2.
	// Failures are logged by the deliverer, a line a while per endpoint,
	// not one per attempt.
	retry := middleware.Retry{MaxRetries: math.MaxInt32, InitialInterval: w.cfg.RetryInitial, MaxInterval: w.cfg.RetryMax,
		Multiplier: math.Sqrt2, RandomizationFactor: 0.5}
	var throttle *middleware.Throttle
	if ep.RateLimit > 0 {
		throttle = middleware.NewThrottle(int64(ep.RateLimit), time.Second) // shared: the limit is the endpoint's
	}
	for i, lane := range lanes {
		sub := &laneSubscriber{in: lane, held: held, metrics: w.metrics, endpoint: ep.ID, gone: stop, now: w.cfg.now}
		var h message.HandlerFunc = func(msg *message.Message) ([]*message.Message, error) {
			return nil, d.deliver(msg)
		}
		if throttle != nil {
			h = throttle.Middleware(h) // every attempt, retries too
		}
		h = retryWith(retry, d)(h)
		h = classify(h)
		h = poison(h)
		router.AddConsumerHandler(fmt.Sprintf("webhook-%s-%03d", ep.ID, i), WebhookDeadSubject(ep.ID), sub,
			func(msg *message.Message) error { _, err := h(msg); return err })
	}
	return router, nil
}

// retryWith is retry with the deliverer's policy, counting the events
// waiting for another attempt.
func retryWith(retry middleware.Retry, d *deliverer) message.HandlerMiddleware {
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			r := retry
			retrying := false
			r.ShouldRetry = func(p middleware.RetryParams) bool {
				ok := d.shouldRetry(msg, p.Err)
				if ok && !retrying {
					retrying = true
					d.metrics.retrying.WithLabelValues(d.ep.ID).Inc()
				}
				return ok
			}
			out, err := r.Middleware(h)(msg)
			if retrying {
				d.metrics.retrying.WithLabelValues(d.ep.ID).Dec()
			}
			return out, err
		}
	}
}

// Metadata a failed delivery gets for its dead letter.
const (
	metaFailure = "webhook_failure" // WebhookRefused or WebhookExhausted
	metaStatus  = "webhook_status"
	metaOrigin  = "webhook_origin" // "out", or "replay-<seq>"
)

// classify notes, for the dead letter, how the delivery failed.
func classify(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		out, err := h(msg)
		var f *webhookFailure
		if errors.As(err, &f) {
			reason := WebhookRefused
			if f.retryable {
				reason = WebhookExhausted
			}
			msg.Metadata.Set(metaFailure, reason)
			if f.status != 0 {
				msg.Metadata.Set(metaStatus, strconv.Itoa(f.status))
			}
		}
		return out, err
	}
}
