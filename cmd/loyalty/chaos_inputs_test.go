//go:build chaos

package main_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/handlers"
	"github.com/pointsledger/loyalty/streams"
)

// injector publishes invalid inputs next to the simulated load, each with
// the message id bad-N, and remembers the reason each must be dead-lettered
// with. Its members (chaos-bad-N) are not the simulator's.
type injector struct {
	t       *testing.T
	pub     *streams.Publisher
	rng     *rand.Rand
	cancel  context.CancelFunc
	ctx     context.Context
	done    chan struct{}
	mu      sync.Mutex
	expect  map[string]domain.Reason // message id -> reason
	publErr error
}

func newInjector(t *testing.T, url string, seed uint64) *injector {
	ctx, cancel := context.WithCancel(context.Background())
	return &injector{t: t, pub: streams.NewPublisher(connectChaos(t, url), nil), rng: rand.New(rand.NewPCG(seed, 2)),
		ctx: ctx, cancel: cancel, done: make(chan struct{}), expect: map[string]domain.Reason{}}
}

func (in *injector) run() {
	defer close(in.done)
	for n := 0; in.ctx.Err() == nil; n++ {
		subject, data, reason := badInput(in.t, n)
		id := fmt.Sprintf("bad-%06d", n)
		if err := in.pub.PublishRaw(in.ctx, subject, id, data); err != nil {
			if in.ctx.Err() == nil {
				in.mu.Lock()
				in.publErr = err
				in.mu.Unlock()
			}
			return
		}
		in.mu.Lock()
		in.expect[id] = reason
		in.mu.Unlock()
		select {
		case <-in.ctx.Done():
		case <-time.After(time.Duration(20+in.rng.IntN(60)) * time.Millisecond):
		}
	}
}

// stop ends the injection and returns what was published and acknowledged.
func (in *injector) stop(t *testing.T) map[string]domain.Reason {
	in.cancel()
	<-in.done
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := in.pub.Wait(ctx); err != nil {
		t.Fatalf("injected inputs not stored: %v", err)
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.publErr != nil {
		t.Fatalf("injecting: %v", in.publErr)
	}
	t.Logf("injected %d invalid inputs (%d published again after a failure)", len(in.expect), in.pub.Retried())
	return in.expect
}

// badInput is the n-th invalid input: the kinds of bad input take turns.
func badInput(t *testing.T, n int) (subject string, data []byte, reason domain.Reason) {
	member := fmt.Sprintf("chaos-bad-%d", n)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ev := domain.Event{ID: fmt.Sprintf("bad-event-%d", n), Type: domain.TypePurchaseCompleted, Source: "chaos",
		MemberID: member, OccurredAt: at,
		Body: domain.Purchase{OrderID: "o-1", Total: domain.Money{Minor: 1000, Currency: "EUR"}, Channel: "web"}}
	subject, err := streams.InputSubject(ev.Type, member)
	if err != nil {
		t.Fatal(err)
	}
	encode := func(e domain.Event) []byte {
		b, err := streams.EncodeEvent(e)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	switch n % 8 {
	case 0:
		return subject, []byte(`{"specversion":"1.0","id":`), streams.ReasonMalformedJSON
	case 1:
		return subject, []byte(`{"specversion":"1.0","id":"` + ev.ID + `","type":"loyalty.coupon.v1","time":"2026-03-02T10:00:00Z","data":{"member_id":"` + member + `"}}`), streams.ReasonUnknownType
	case 2:
		ev.ID = ""
		return subject, encode(ev), domain.ReasonMissingField
	case 3:
		ev.Body = domain.Purchase{OrderID: "o-1", Total: domain.Money{Minor: -5, Currency: "EUR"}}
		return subject, encode(ev), domain.ReasonInvalidAmount
	case 4:
		ev.Body = domain.Purchase{OrderID: "o-1", Total: domain.Money{Minor: 100, Currency: "XYZ"}}
		return subject, encode(ev), domain.ReasonUnknownCurrency
	case 5:
		ev.OccurredAt = time.Now().UTC().Add(72 * time.Hour)
		return subject, encode(ev), domain.ReasonFutureTimestamp
	case 6:
		return subject, append(encode(ev), bytes.Repeat([]byte(" "), streams.MaxEventBytes)...), streams.ReasonOversized
	default:
		other, err := streams.InputSubject(ev.Type, member+"-other")
		if err != nil {
			t.Fatal(err)
		}
		return other, encode(ev), handlers.ReasonSubjectMismatch
	}
}
