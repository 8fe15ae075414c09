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
type Publisher struct {
	js jetstream.JetStream

	pending  sync.WaitGroup
	mu       sync.Mutex
	failures []error
	acked    int
}

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
	var opts []jetstream.PublishOpt
	if msgID != "" {
		opts = append(opts, jetstream.WithMsgID(msgID))
	}
	for {
		fut, err := p.js.PublishMsgAsync(msg, opts...)
		if errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
			if err := p.waitSome(ctx); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("publish to %s: %w", subject, err)
		}
		p.pending.Add(1)
		go p.settle(fut)
		return nil
	}
}

func (p *Publisher) settle(fut jetstream.PubAckFuture) {
	defer p.pending.Done()
	select {
	case <-fut.Ok():
		p.mu.Lock()
		p.acked++
		p.mu.Unlock()
	case err := <-fut.Err():
		p.mu.Lock()
		p.failures = append(p.failures, fmt.Errorf("%s: %w", fut.Msg().Subject, err))
		p.mu.Unlock()
	}
}

func (p *Publisher) waitSome(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-p.js.PublishAsyncComplete():
		return nil
	}
}

// Wait blocks until every published event is acknowledged or failed, and
// returns the failures (at most the first ten, and how many there were).
func (p *Publisher) Wait(ctx context.Context) error {
	settled := make(chan struct{})
	go func() { p.pending.Wait(); close(settled) }()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-settled:
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
