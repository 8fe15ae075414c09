package streams

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pointsledger/loyalty/domain"
)

// Publisher publishes input events the way upstream systems should: on the
// member's subject, with the event id as Nats-Msg-Id, and without waiting for
// each acknowledgement before sending the next.
//
// It keeps the acknowledgements it awaits in publish order and settles the
// older half whenever settleEvery are outstanding, on the publishing
// goroutine: a goroutine per message waiting on its future would make
// thousands of them contend for the JetStream context's lock, which slowed
// publishing several times over.
type Publisher struct {
	js jetstream.JetStream

	mu       sync.Mutex
	inflight []jetstream.PubAckFuture
	failures []error
	acked    int
}

// settleEvery is how many acknowledgements may be outstanding before the
// publisher waits for the older half; below nats.go's default async limit
// (4,000), so that publishing rarely stalls.
const settleEvery = 2048

// NewPublisher returns a publisher; js should be created with
// jetstream.WithPublishAsyncMaxPending to bound memory.
func NewPublisher(js jetstream.JetStream) *Publisher {
	return &Publisher{js: js}
}

// Publish sends one event. Failures to store it are reported by Wait.
func (p *Publisher) Publish(ctx context.Context, e domain.Event) error {
	data, err := EncodeEvent(e)
	if err != nil {
		return fmt.Errorf("publish event %q: %w", e.ID, err)
	}
	subject, err := InputSubject(e.Type, e.MemberID)
	if err != nil {
		return fmt.Errorf("publish event %q: %w", e.ID, err)
	}
	return p.PublishRaw(ctx, subject, e.ID, data)
}

// PublishRaw sends an already encoded message, for tests and replays.
func (p *Publisher) PublishRaw(ctx context.Context, subject, msgID string, data []byte) error {
	msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
	if msgID != "" {
		msg.Header.Set(jetstream.MsgIDHeader, msgID)
	}
	for {
		fut, err := p.js.PublishMsgAsync(msg)
		if errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
			if err := p.settle(ctx, p.outstanding()/2+1); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("publish to %s: %w", subject, err)
		}
		p.mu.Lock()
		p.inflight = append(p.inflight, fut)
		n := len(p.inflight)
		p.mu.Unlock()
		if n >= settleEvery {
			return p.settle(ctx, n/2)
		}
		return nil
	}
}

func (p *Publisher) outstanding() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.inflight)
}

// settle waits for the oldest n outstanding acknowledgements (fewer if fewer
// are outstanding) and records their outcome.
func (p *Publisher) settle(ctx context.Context, n int) error {
	p.mu.Lock()
	n = min(n, len(p.inflight))
	oldest := p.inflight[:n:n]
	p.inflight = p.inflight[n:]
	p.mu.Unlock()
	for i, fut := range oldest {
		select {
		case <-fut.Ok():
			p.mu.Lock()
			p.acked++
			p.mu.Unlock()
		case err := <-fut.Err():
			p.mu.Lock()
			p.failures = append(p.failures, fmt.Errorf("%s: %w", fut.Msg().Subject, err))
			p.mu.Unlock()
		case <-ctx.Done():
			p.mu.Lock()
			p.failures = append(p.failures, fmt.Errorf("%d acknowledgements not awaited: %w", len(oldest)-i, ctx.Err()))
			p.mu.Unlock()
			return ctx.Err()
		}
	}
	return nil
}

// Wait blocks until every published event is acknowledged or failed, and
// returns the failures (at most the first ten, and how many there were).
func (p *Publisher) Wait(ctx context.Context) error {
	if err := p.settle(ctx, p.outstanding()); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.failures) == 0 {
		return nil
	}
	shown := p.failures[:min(10, len(p.failures))]
	return fmt.Errorf("%d events were not stored: %w", len(p.failures), errors.Join(shown...))
}

// Acked is the number of events the server has acknowledged so far.
func (p *Publisher) Acked() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.acked
}
