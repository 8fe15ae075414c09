package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pointsledger/loyalty/streams"
)

// OutboundLeaseKey is the lease of the outbound relay: one engine of a
// cluster relays, the others wait.
const OutboundLeaseKey = "outbound"

// Headers of an outbound message naming the ledger fact it was made from;
// the relay resumes after the stream's last message by them.
const (
	HeaderLedgerSeq = "Loyalty-Ledger-Seq"
	HeaderFactIndex = "Loyalty-Fact-Index"
)

// OutboundConfig configures the relay from the ledger to the outbound
// stream.
type OutboundConfig struct {
	// Source is the CloudEvents source of the events (streams.OutboundSource
	// if empty).
	Source string
	// InFlight bounds the events published and not yet acknowledged.
	InFlight int
	// RetryAfter is the pause after a failure before the relay starts
	// again from the outbound stream's last message.
	RetryAfter time.Duration
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

func (c *OutboundConfig) setDefaults() {
	if c.Source == "" {
		c.Source = streams.OutboundSource
	}
	if c.InFlight <= 0 {
		c.InFlight = 512
	}
	if c.RetryAfter <= 0 {
		c.RetryAfter = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate says what is wrong with the configuration.
func (c OutboundConfig) Validate() error {
	if len(c.Source) > 256 {
		return fmt.Errorf("outbound source is %d bytes; at most 256", len(c.Source))
	}
	return nil
}

// Outbound relays the ledger's member-facing facts to the outbound stream
// (streams.OutboundOf), in ledger order, so in order per member.
//
// Exactly one copy of each event reaches the stream: every publish expects
// the stream's last sequence to be the one before it
// (Nats-Expected-Last-Sequence) and carries the event's id
// (Nats-Msg-Id). A relay that lost its lease, or whose publish timed out
// after the server stored it, is refused instead of writing a second copy;
// it then starts again after the stream's last message.
type Outbound struct {
	js      jetstream.JetStream
	cfg     OutboundConfig
	metrics outboundMetrics
}

type outboundMetrics struct {
	published *prometheus.CounterVec
	position  prometheus.Gauge
	lag       prometheus.Gauge
	restarts  prometheus.Counter
}

// NewOutbound makes the relay; Run starts it.
func NewOutbound(js jetstream.JetStream, cfg OutboundConfig) (*Outbound, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := outboundMetrics{
		published: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "loyalty_outbound_events_total",
			Help: "Outbound events published to the outbound stream, by type."}, []string{"type"}),
		position: prometheus.NewGauge(prometheus.GaugeOpts{Name: "loyalty_outbound_ledger_seq",
			Help: "Ledger sequence of the last message the outbound relay has relayed."}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{Name: "loyalty_outbound_lag_messages",
			Help: "Ledger messages not yet relayed to the outbound stream."}),
		restarts: prometheus.NewCounter(prometheus.CounterOpts{Name: "loyalty_outbound_restarts_total",
			Help: "Times the outbound relay started again from the outbound stream after a failure."}),
	}
	for _, name := range streams.OutboundTypes {
		m.published.WithLabelValues(name)
	}
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{m.published, m.position, m.lag, m.restarts} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("register outbound metrics: %w", err)
			}
		}
	}
	return &Outbound{js: js, cfg: cfg, metrics: m}, nil
}

// Run relays until ctx ends, holding the outbound lease while it does.
// Failures (NATS unreachable, a lost lease, a refused publish) are logged
// and the relay starts again; Run returns only ctx's end (nil).
func (o *Outbound) Run(ctx context.Context) error {
	return untilDone(ctx, o.cfg.Logger, "outbound relay", o.cfg.RetryAfter, o.metrics.restarts.Inc, o.leased)
}

// leased relays while this engine holds the outbound lease.
func (o *Outbound) leased(ctx context.Context) error {
	return whileLeased(ctx, o.js, OutboundLeaseKey, o.cfg.Logger, o.relay)
}

// position is the last ledger fact relayed: (0, -1) before the first.
type position struct {
	seq   uint64
	index int
	// streamSeq is the outbound stream's last sequence, which the next
	// publish expects.
	streamSeq uint64
}

func (p position) before(seq uint64, index int) bool {
	return p.seq < seq || p.seq == seq && p.index < index
}

// resume reads where the relay stopped from the outbound stream's last
// message.
func (o *Outbound) resume(ctx context.Context) (position, error) {
	s, err := o.js.Stream(ctx, streams.OutboundStream)
	if err != nil {
		return position{}, fmt.Errorf("open %s: %w", streams.OutboundStream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return position{}, fmt.Errorf("%s info: %w", streams.OutboundStream, err)
	}
	p := position{index: -1, streamSeq: info.State.LastSeq}
	if info.State.Msgs == 0 {
		if p.streamSeq > 0 {
			o.cfg.Logger.Warn("the outbound stream is empty but has held messages (purged, or aged out): relaying the ledger from its start, with the same ids as before",
				"stream_last_seq", p.streamSeq)
		}
		return p, nil
	}
	// The last message the relay wrote: normally the stream's last, but a
	// message someone else put there is passed over.
	// An event written by another version of the engine (another body) is
	// the relay's too when nothing newer is: its id and subject are the
	// ledger fact's.
	var plausible *position
	for seq, tries := info.State.LastSeq, 0; seq >= info.State.FirstSeq && seq > 0 && tries < maxResumeLookBack; seq, tries = seq-1, tries+1 {
		msg, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return position{}, fmt.Errorf("%s message %d: %w", streams.OutboundStream, seq, err)
		}
		fact, sameBody, err := o.relayed(ctx, msg)
		if err == nil && sameBody {
			p.seq, p.index = fact.seq, fact.index
			return p, nil
		}
		if err == nil && plausible == nil {
			q := p
			q.seq, q.index = fact.seq, fact.index
			plausible = &q
			continue
		}
		o.cfg.Logger.Warn("the outbound stream holds a message the relay did not write; passing over it",
			"stream_seq", seq, "subject", strconv.Quote(msg.Subject))
	}
	if plausible != nil {
		o.cfg.Logger.Warn("the outbound stream's last event differs from what this engine makes of its ledger fact (another version, or another --outbound-source); resuming after it",
			"after_ledger_seq", plausible.seq, "after_fact", plausible.index)
		return *plausible, nil
	}
	return position{}, fmt.Errorf("none of the last %d messages of %s was written by the relay: cannot tell where it stopped",
		maxResumeLookBack, streams.OutboundStream)
}

// relayed reads the ledger fact an outbound message names, and checks the
// message against the event the relay makes of it: the fact must exist and
// give an event on the message's subject (an id alone could be any
// publisher's, pointing anywhere in the ledger); sameBody tells whether the
// bodies are equal too (made with the message's own source).
func (o *Outbound) relayed(ctx context.Context, msg *jetstream.RawStreamMsg) (fact position, sameBody bool, err error) {
	seq, index, err := streams.ParseOutboundID(msg.Header.Get(jetstream.MsgIDHeader))
	if err != nil {
		return fact, false, err
	}
	ledger, err := o.js.Stream(ctx, streams.LedgerStream)
	if err != nil {
		return fact, false, err
	}
	m, err := ledger.GetMsg(ctx, seq)
	if err != nil {
		return fact, false, fmt.Errorf("ledger message %d: %w", seq, err)
	}
	keys := streams.ReadMemberKeys(o.js)
	recs, err := streams.DecodeLedgerMessageWith(m.Data, keys)
	if err != nil {
		return fact, false, err
	}
	var envelope struct {
		Source string `json:"source"`
	}
	_ = json.Unmarshal(msg.Data, &envelope)
	for _, r := range recs {
		r.Seq = seq
		events, err := streams.OutboundOf(r, envelope.Source)
		if err != nil {
			return fact, false, err
		}
		for _, ev := range events {
			if ev.Index == index && ev.Subject == msg.Subject {
				return position{seq: seq, index: index}, bytes.Equal(ev.Data, msg.Data), nil
			}
		}
	}
	return fact, false, fmt.Errorf("outbound message %d is not the event of ledger fact %d-%d", msg.Sequence, seq, index)
}

// maxResumeLookBack bounds how many foreign messages resume passes over.
const maxResumeLookBack = 1000

// relay publishes the outbound events of the ledger after the stream's
// last one, until ctx ends or something fails.
func (o *Outbound) relay(ctx context.Context) error {
	pos, err := o.resume(ctx)
	if err != nil {
		return err
	}
	o.cfg.Logger.Info("outbound relay started", "after_ledger_seq", pos.seq, "after_fact", pos.index)
	reader, err := streams.NewLedgerReader(ctx, o.js, streams.LedgerReaderConfig{From: max(pos.seq, 1)})
	if err != nil {
		return err
	}
	defer reader.Stop()
	acks := newAckWindow(o.cfg.InFlight)
	defer acks.abandon()
	for {
		// Wait briefly for the next message; while none comes, settle
		// what is in flight, so the position and lag are current.
		next, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		m, err := reader.Next(next)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			if err := acks.settle(ctx, 0); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		recs, _, err := m.Records()
		if err != nil {
			return err
		}
		for _, r := range recs {
			events, err := streams.OutboundOf(r, o.cfg.Source)
			if err != nil {
				return err
			}
			for _, ev := range events {
				if !pos.before(ev.Seq, ev.Index) {
					continue
				}
				if err := o.publish(ctx, acks, ev, pos.streamSeq); err != nil {
					return err
				}
				pos.seq, pos.index, pos.streamSeq = ev.Seq, ev.Index, pos.streamSeq+1
			}
		}
		o.metrics.position.Set(float64(m.Seq))
		o.metrics.lag.Set(float64(m.Pending))
	}
}

// publish sends ev expecting the stream's last sequence to be last.
func (o *Outbound) publish(ctx context.Context, acks *ackWindow, ev streams.OutboundEvent, last uint64) error {
	if err := acks.settle(ctx, o.cfg.InFlight-1); err != nil {
		return err
	}
	msg := nats.NewMsg(ev.Subject)
	msg.Data = ev.Data
	msg.Header.Set("Content-Type", streams.OutboundContentType)
	msg.Header.Set(HeaderLedgerSeq, strconv.FormatUint(ev.Seq, 10))
	msg.Header.Set(HeaderFactIndex, strconv.Itoa(ev.Index))
	f, err := o.js.PublishMsgAsync(msg, jetstream.WithMsgID(ev.ID), jetstream.WithExpectLastSequence(last))
	if err != nil {
		return fmt.Errorf("publish outbound event %s: %w", ev.ID, err)
	}
	acks.add(pendingAck{future: f, id: ev.ID, want: last + 1, name: ev.Name, count: o.metrics.published})
	return nil
}

// pendingAck is a publish awaiting its acknowledgement.
type pendingAck struct {
	future jetstream.PubAckFuture
	id     string
	want   uint64
	name   string
	count  *prometheus.CounterVec
}

// ackWindow holds the publishes in flight, oldest first.
type ackWindow struct {
	pending []pendingAck
}

func newAckWindow(size int) *ackWindow { return &ackWindow{pending: make([]pendingAck, 0, size)} }

func (w *ackWindow) add(p pendingAck) { w.pending = append(w.pending, p) }

// settle waits until at most keep publishes are in flight. An event stored
// anywhere but where it was expected (a duplicate, another relay's write)
// is an error: the relay starts again from what the stream holds.
func (w *ackWindow) settle(ctx context.Context, keep int) error {
	for len(w.pending) > keep {
		p := w.pending[0]
		select {
		case ack := <-p.future.Ok():
			if ack.Duplicate || ack.Sequence != p.want {
				return fmt.Errorf("outbound event %s stored at %d (duplicate %v), expected at %d",
					p.id, ack.Sequence, ack.Duplicate, p.want)
			}
			p.count.WithLabelValues(p.name).Inc()
		case err := <-p.future.Err():
			return fmt.Errorf("publish outbound event %s: %w", p.id, err)
		case <-ctx.Done():
			return ctx.Err()
		}
		w.pending[0] = pendingAck{}
		w.pending = w.pending[1:]
	}
	return nil
}

// abandon forgets what is in flight: the next run reads what was stored.
func (w *ackWindow) abandon() { w.pending = nil }
