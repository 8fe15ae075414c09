package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/handlers"
	"github.com/pointsledger/loyalty/streams"
	"github.com/pointsledger/loyalty/streams/natstest"
)

// BenchmarkOutboundLag publishes simulated events at a steady 2,000/s for
// 30 s through the engine with the outbound relay running, and reports how
// long after its input was stored each outbound event was stored in
// LOYALTY_OUT, and after its ledger append.
func BenchmarkOutboundLag(b *testing.B) {
	const perSecond, seconds = 2000, 30
	load := simulatedLoad(b, perSecond*seconds)
	forEachSyncPolicy(b, func(b *testing.B, sync streams.SyncPolicy) { outboundLag(b, load, sync, perSecond) })
}

func outboundLag(b *testing.B, load load, sync streams.SyncPolicy, perSecond int) {
	for b.Loop() {
		p := startBenchPipeline(b, sync)
		reg := prometheus.NewRegistry()
		relay, err := handlers.NewOutbound(benchConn(b, p.env, p.log), handlers.OutboundConfig{Registerer: reg, Logger: p.log})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = relay.Run(ctx) }()
		start := time.Now()
		published := p.publish(b, load.generator(b), perSecond)
		p.waitLedger(b, published)
		waitRelayed(b, p.js, reg)
		elapsed := time.Since(start)
		cancel()
		<-done
		fromInput, fromLedger, n := outboundLags(b, p.js)
		b.ReportMetric(pct(fromInput, 0.5), "p50-ms")
		b.ReportMetric(pct(fromInput, 0.99), "p99-ms")
		b.ReportMetric(pct(fromInput, 1), "max-ms")
		b.ReportMetric(pct(fromLedger, 0.99), "append-to-out-p99-ms")
		b.Logf("%d events at %d/s gave %d outbound events in %s; input stored -> outbound stored p50 %.1f ms, p99 %.1f ms, max %.1f ms; "+
			"ledger append -> outbound stored p50 %.1f ms, p99 %.1f ms", published, perSecond, n, elapsed.Round(time.Millisecond),
			pct(fromInput, 0.5), pct(fromInput, 0.99), pct(fromInput, 1), pct(fromLedger, 0.5), pct(fromLedger, 0.99))
		p.stop()
	}
}

// waitRelayed waits until the relay has relayed the ledger's last message.
func waitRelayed(b *testing.B, js jetstream.JetStream, reg *prometheus.Registry) {
	b.Helper()
	s, err := js.Stream(context.Background(), streams.LedgerStream)
	if err != nil {
		b.Fatal(err)
	}
	last := s.CachedInfo().State.LastSeq
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		families, err := reg.Gather()
		if err != nil {
			b.Fatal(err)
		}
		for _, f := range families {
			if f.GetName() == "loyalty_outbound_ledger_seq" && uint64(f.GetMetric()[0].GetGauge().GetValue()) >= last {
				return
			}
		}
	}
	b.Fatalf("the relay did not reach ledger seq %d within 3 minutes", last)
}

// outboundLags reads both streams: for each outbound event, the time from
// its input's arrival (the earliest of its ledger message's records) and
// from its ledger append to its storing in LOYALTY_OUT.
func outboundLags(b *testing.B, js jetstream.JetStream) (fromInput, fromLedger []time.Duration, n int) {
	b.Helper()
	type times struct{ stored, input time.Time }
	ledger := map[uint64]times{}
	keys := streams.ReadMemberKeys(js)
	readStream(b, js, streams.LedgerStream, func(m jetstream.Msg, meta *jetstream.MsgMetadata) {
		recs, err := streams.DecodeLedgerMessageWith(m.Data(), keys)
		if err != nil {
			b.Fatal(err)
		}
		t := times{stored: meta.Timestamp}
		for _, r := range recs {
			if t.input.IsZero() || r.InputStored.Before(t.input) {
				t.input = r.InputStored
			}
		}
		ledger[meta.Sequence.Stream] = t
	})
	readStream(b, js, streams.OutboundStream, func(m jetstream.Msg, meta *jetstream.MsgMetadata) {
		seq, err := strconv.ParseUint(m.Headers().Get(handlers.HeaderLedgerSeq), 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		t := ledger[seq]
		fromInput = append(fromInput, meta.Timestamp.Sub(t.input))
		fromLedger = append(fromLedger, meta.Timestamp.Sub(t.stored))
		n++
	})
	slices.Sort(fromInput)
	slices.Sort(fromLedger)
	return fromInput, fromLedger, n
}

// readStream hands every message of the stream, in order, to f.
func readStream(b *testing.B, js jetstream.JetStream, name string, f func(jetstream.Msg, *jetstream.MsgMetadata)) {
	b.Helper()
	ctx := context.Background()
	s, err := js.Stream(ctx, name)
	if err != nil {
		b.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		b.Fatal(err)
	}
	c, err := js.OrderedConsumer(ctx, name, jetstream.OrderedConsumerConfig{})
	if err != nil {
		b.Fatal(err)
	}
	for read := uint64(0); read < info.State.Msgs; {
		batch, err := c.Fetch(1000, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			b.Fatal(err)
		}
		for m := range batch.Messages() {
			meta, err := m.Metadata()
			if err != nil {
				b.Fatal(err)
			}
			f(m, meta)
			read++
		}
		if batch.Error() != nil {
			b.Fatal(batch.Error())
		}
	}
}

func pct(d []time.Duration, q float64) float64 {
	if len(d) == 0 {
		return 0
	}
	return float64(d[min(int(q*float64(len(d))), len(d)-1)]) / float64(time.Millisecond)
}

// BenchmarkWebhookDeliveries delivers 20,000 outbound events (of 2,000
// members) to a receiver on this machine that answers 204 at once: the
// relay's own cost, signing and HTTP included, with 16 and 64 lanes.
func BenchmarkWebhookDeliveries(b *testing.B) {
	const events, members = 20_000, 2_000
	for _, lanes := range []int{16, 64} {
		b.Run(fmt.Sprintf("lanes=%d", lanes), func(b *testing.B) {
			for b.Loop() {
				env := natstest.Start(b)
				ctx := context.Background()
				if err := streams.EnsureStreams(ctx, env.JS, streams.StreamsConfig{}); err != nil {
					b.Fatal(err)
				}
				fillOutbound(b, env.JS, events, members)
				var got atomic.Int64
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					got.Add(1)
					w.WriteHeader(http.StatusNoContent)
				}))
				file, err := handlers.ParseWebhooks([]byte(fmt.Sprintf(
					"endpoints: [{id: bench, url: '%s', events: ['*'], secrets: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'], lanes: %d, from: all}]", srv.URL, lanes)),
					func(string) string { return "" })
				if err != nil {
					b.Fatal(err)
				}
				hooks, err := handlers.NewWebhooks(env.JS, handlers.WebhooksConfig{File: file})
				if err != nil {
					b.Fatal(err)
				}
				runCtx, cancel := context.WithCancel(ctx)
				done := make(chan struct{})
				start := time.Now()
				go func() { defer close(done); _ = hooks.Run(runCtx) }()
				for deadline := time.Now().Add(5 * time.Minute); got.Load() < events; time.Sleep(time.Millisecond) {
					if time.Now().After(deadline) {
						b.Fatalf("%d of %d delivered in 5 minutes", got.Load(), events)
					}
				}
				elapsed := time.Since(start)
				cancel()
				<-done
				srv.Close()
				b.ReportMetric(float64(events)/elapsed.Seconds(), "deliveries/s")
				b.Logf("%d deliveries with %d lanes in %s: %.0f/s", events, lanes, elapsed.Round(time.Millisecond), float64(events)/elapsed.Seconds())
			}
		})
	}
}

// fillOutbound publishes n outbound events of members members, as the
// relay would.
func fillOutbound(b *testing.B, js jetstream.JetStream, n, members int) {
	b.Helper()
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	for i := range n {
		id := fmt.Sprintf("m-%05d", i%members)
		meta := domain.FactMeta{MemberID: id, EventID: fmt.Sprintf("e-%d", i), OccurredAt: at}
		rec := streams.LedgerRecord{Seq: uint64(i + 1), MemberID: id, After: &domain.Standing{Balance: int64(i), Tier: "silver"},
			Facts: []domain.Fact{domain.PointsEarned{FactMeta: meta, Points: 10, Rule: domain.RuleBase, OrderID: "o"}}}
		evs, err := streams.OutboundOf(rec, streams.OutboundSource)
		if err != nil {
			b.Fatal(err)
		}
		msg := nats.NewMsg(evs[0].Subject)
		msg.Data = evs[0].Data
		if _, err := js.PublishMsgAsync(msg, jetstream.WithMsgID(evs[0].ID)); err != nil {
			b.Fatal(err)
		}
		if i%1000 == 999 || i == n-1 { // within the client's bound on publishes in flight
			select {
			case <-js.PublishAsyncComplete():
			case <-time.After(time.Minute):
				b.Fatal("outbound events not stored within a minute")
			}
		}
	}
}
