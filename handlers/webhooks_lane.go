package handlers

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pointsledger/loyalty/streams"
)

// heldEvent is an event the relay has taken from a stream and not yet
// delivered or dead-lettered.
type heldEvent struct {
	msg       jetstream.Msg
	key       string // stream and sequence: unique among held events
	seq       uint64 // its stream sequence
	id        string // the webhook id: the outbound event's
	subject   string // its outbound subject
	partition int
	stored    time.Time // when stored
	origin    string
	// settled is the last sequence its lane settled of its consumer's
	// (live events only: a lane settles them in order).
	settled *atomic.Uint64
}

// heldEventOf reads a delivery from the outbound stream, or a replay from
// the webhooks stream; false for a message that is neither.
func heldEventOf(msg jetstream.Msg, replay bool) (heldEvent, bool) {
	meta, err := msg.Metadata()
	if err != nil {
		return heldEvent{}, false
	}
	ev := heldEvent{msg: msg, stored: meta.Timestamp.UTC(), subject: msg.Subject(), origin: "out",
		key: meta.Stream + "/" + strconv.FormatUint(meta.Sequence.Stream, 10), seq: meta.Sequence.Stream}
	h := msg.Headers()
	if replay {
		ev.id, ev.subject, ev.origin = h.Get(HeaderWebhookID), h.Get(HeaderOriginalSubject), "replay-"+strconv.FormatUint(meta.Sequence.Stream, 10)
	} else {
		ev.id = h.Get(jetstream.MsgIDHeader)
	}
	if _, _, err := streams.ParseOutboundID(ev.id); err != nil {
		return heldEvent{}, false
	}
	partition, _, ok := streams.OutboundMember(ev.subject)
	ev.partition = partition
	return ev, ok
}

// heldEvents are an endpoint's held events, for keepHeld.
type heldEvents struct {
	mu     sync.Mutex
	events map[string]heldEvent
}

func newHeldEvents() *heldEvents { return &heldEvents{events: map[string]heldEvent{}} }

// add holds ev; false when it is held already (the stream offered it
// again).
func (h *heldEvents) add(ev heldEvent) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.events[ev.key]; ok {
		return false
	}
	h.events[ev.key] = ev
	return true
}

func (h *heldEvents) done(ev heldEvent) {
	h.mu.Lock()
	delete(h.events, ev.key)
	h.mu.Unlock()
}

// progress tells the stream every held event is being worked on, and
// returns when the oldest was stored (zero with none held).
func (h *heldEvents) progress() time.Time {
	h.mu.Lock()
	events := make([]heldEvent, 0, len(h.events))
	for _, ev := range h.events {
		events = append(events, ev)
	}
	h.mu.Unlock()
	var oldest time.Time
	for _, ev := range events {
		_ = ev.msg.InProgress()
		if oldest.IsZero() || ev.stored.Before(oldest) {
			oldest = ev.stored
		}
	}
	return oldest
}

// laneSubscriber is a watermill Subscriber over one lane of an endpoint:
// it hands the router one event at a time and waits for the handler's
// verdict before the next, so a member's events go in order. An event the
// handler acks (delivered, or dead-lettered) is acknowledged to its
// stream; one it nacks is offered again, unless the endpoint is gone.
type laneSubscriber struct {
	in       <-chan heldEvent
	held     *heldEvents
	metrics  *webhookMetrics
	endpoint string
	// gone stops the endpoint's delivery (a 410).
	gone context.CancelCauseFunc
	now  func() time.Time

	closeOnce sync.Once
	closed    chan struct{}
	mu        sync.Mutex
}

func (s *laneSubscriber) Subscribe(ctx context.Context, _ string) (<-chan *message.Message, error) {
	s.mu.Lock()
	if s.closed == nil {
		s.closed = make(chan struct{})
	}
	closed := s.closed
	s.mu.Unlock()
	out := make(chan *message.Message)
	go func() {
		defer close(out)
		for {
			var ev heldEvent
			select {
			case ev = <-s.in:
			case <-ctx.Done():
				return
			case <-closed:
				return
			}
			if !s.deliver(ctx, closed, out, ev) {
				return
			}
		}
	}()
	return out, nil
}

// deliver offers ev until the handler acks it; false when stopping.
func (s *laneSubscriber) deliver(ctx context.Context, closed <-chan struct{}, out chan<- *message.Message, ev heldEvent) bool {
	firstTry := s.now().UTC().Format(time.RFC3339Nano)
	for {
		msg := message.NewMessage(ev.id, ev.msg.Data())
		msg.Metadata.Set(metaSubject, ev.subject)
		msg.Metadata.Set(metaFirstTry, firstTry)
		msg.Metadata.Set(metaOrigin, ev.origin)
		msgCtx, cancel := context.WithCancel(ctx)
		msg.SetContext(msgCtx)
		select {
		case out <- msg:
		case <-ctx.Done():
			cancel()
			return false
		case <-closed:
			cancel()
			return false
		}
		select {
		case <-msg.Acked():
			cancel()
			outcome := "delivered"
			if msg.Metadata.Get(metaFailure) != "" {
				outcome = "dead_lettered"
			}
			if err := ev.msg.DoubleAck(ctx); err != nil && !errors.Is(err, context.Canceled) {
				// Not acknowledged: the stream offers it again, and
				// the receiver sees its id twice (at least once).
				s.metrics.ackFailures.WithLabelValues(s.endpoint).Inc()
			}
			s.held.done(ev)
			if ev.settled != nil {
				ev.settled.Store(ev.seq)
			}
			s.metrics.deliveries.WithLabelValues(s.endpoint, outcome).Inc()
			return true
		case <-msg.Nacked():
			cancel()
			if msg.Metadata.Get(metaGone) != "" {
				s.gone(errWebhookGone)
				return false
			}
			if !sleepCtx(ctx, time.Second) {
				return false
			}
		case <-ctx.Done():
			cancel()
			return false
		}
	}
}

// metaGone marks a delivery the endpoint answered with 410 Gone.
const metaGone = "webhook_gone"

func (s *laneSubscriber) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		if s.closed == nil {
			s.closed = make(chan struct{})
		}
		close(s.closed)
		s.mu.Unlock()
	})
	return nil
}

// webhookMetrics are the relay's metrics, by endpoint id (from the
// operator's file: bounded, never a member's).
type webhookMetrics struct {
	deliveries  *prometheus.CounterVec
	attempts    *prometheus.CounterVec
	retrying    *prometheus.GaugeVec
	oldest      *prometheus.GaugeVec
	disabled    *prometheus.GaugeVec
	seconds     *prometheus.HistogramVec
	ackFailures *prometheus.CounterVec
}

func newWebhookMetrics(reg prometheus.Registerer, endpoints []WebhookEndpoint) (*webhookMetrics, error) {
	m := &webhookMetrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "loyalty_webhook_deliveries_total",
			Help: "Webhook events settled, by endpoint and outcome (delivered: a 2xx answer; dead_lettered: refused, or out of retry time)."},
			[]string{"endpoint", "outcome"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "loyalty_webhook_attempts_total",
			Help: "Webhook delivery attempts, by endpoint and result (2xx, 3xx, 4xx, 5xx, error: no answer)."},
			[]string{"endpoint", "result"}),
		retrying: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "loyalty_webhook_retrying",
			Help: "Webhook events waiting for another attempt after a failed one."}, []string{"endpoint"}),
		oldest: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "loyalty_webhook_oldest_undelivered_seconds",
			Help: "Age of the oldest event the relay holds for the endpoint and has not delivered (0: none)."}, []string{"endpoint"}),
		disabled: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "loyalty_webhook_endpoint_disabled",
			Help: "1 while the endpoint is disabled (it answered 410 Gone)."}, []string{"endpoint"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "loyalty_webhook_attempt_seconds",
			Help: "Duration of webhook delivery attempts.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 9)}, []string{"endpoint"}),
		ackFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "loyalty_webhook_ack_failures_total",
			Help: "Settled webhook events whose acknowledgement the stream did not confirm: they are delivered again."}, []string{"endpoint"}),
	}
	for _, ep := range endpoints {
		for _, o := range []string{"delivered", "dead_lettered"} {
			m.deliveries.WithLabelValues(ep.ID, o)
		}
		for _, r := range []string{"2xx", "3xx", "4xx", "5xx", "error"} {
			m.attempts.WithLabelValues(ep.ID, r)
		}
		m.retrying.WithLabelValues(ep.ID)
		m.oldest.WithLabelValues(ep.ID)
		m.disabled.WithLabelValues(ep.ID)
		m.ackFailures.WithLabelValues(ep.ID)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.deliveries, m.attempts, m.retrying, m.oldest, m.disabled, m.seconds, m.ackFailures} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
