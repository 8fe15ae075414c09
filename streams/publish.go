package streams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

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
//
// A message whose acknowledgement fails or times out (NATS restarting, a
// lost connection) is published again, with the same message id, until it is
// stored or the context ends: JetStream's duplicate window drops the second
// copy if the first was stored after all. Order is kept except around such a
// failure: a message published again is stored after those that were already
// on their way behind it.
type Publisher struct {
	js  jetstream.JetStream
	log *slog.Logger

	mu       sync.Mutex
	inflight []jetstream.PubAckFuture
	failures []error
	acked    int
	retried  int
}

// AckTimeout is how long a publish waits for its acknowledgement before it
// is published again. Pass it to jetstream.New with
// jetstream.WithPublishAsyncTimeout: without a timeout an acknowledgement lost
// with a connection is awaited for ever.
const AckTimeout = 5 * time.Second

// Retry delays for a publish that failed: doubling between these bounds.
const (
	minRetryDelay = 100 * time.Millisecond
	maxRetryDelay = 5 * time.Second
)

// settleEvery is how many acknowledgements may be outstanding before the
// publisher waits for the older half; below nats.go's default async limit
// (4,000), so that publishing rarely stalls.
const settleEvery = 2048

// NewPublisher returns a publisher; js should be created with
// jetstream.WithPublishAsyncMaxPending to bound memory and
// jetstream.WithPublishAsyncTimeout(AckTimeout). Retries are logged to log
// (nil: not logged).
func NewPublisher(js jetstream.JetStream, log *slog.Logger) *Publisher {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Publisher{js: js, log: log}
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
			// Not sent at all (the connection is down and its buffer
			// full, say): sent again once it is stored, in order.
			if err := p.republish(ctx, msg, err); err != nil {
				return err
			}
			return nil
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
			if err := p.republish(ctx, fut.Msg(), err); err != nil {
				p.mu.Lock()
				p.failures = append(p.failures, err)
				p.mu.Unlock()
				if ctx.Err() != nil {
					return ctx.Err()
				}
			}
		case <-ctx.Done():
			p.mu.Lock()
			p.failures = append(p.failures, fmt.Errorf("%d acknowledgements not awaited: %w", len(oldest)-i, ctx.Err()))
			p.mu.Unlock()
			return ctx.Err()
		}
	}
	return nil
}

// republish sends msg, whose first publish failed with cause, and waits
// for its acknowledgement, again and again with growing delays until it is
// stored, the error is one no retry mends (the stream refused the message),
// or ctx ends.
func (p *Publisher) republish(ctx context.Context, msg *nats.Msg, cause error) error {
	delay := minRetryDelay
	for attempt := 1; ; attempt++ {
		if permanent(cause) {
			return fmt.Errorf("%s: %w", LoggedSubject(msg.Subject), cause)
		}
		p.log.Warn("publish failed; publishing again", "subject", LoggedSubject(msg.Subject),
			"attempt", attempt, "err", redactSubject(cause, msg.Subject), "in", delay)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: %w (last error: %s)", LoggedSubject(msg.Subject), ctx.Err(), redactSubject(cause, msg.Subject))
		case <-t.C:
		}
		delay = min(2*delay, maxRetryDelay)
		attemptCtx, cancel := context.WithTimeout(ctx, AckTimeout)
		_, err := p.js.PublishMsg(attemptCtx, msg)
		cancel()
		if err == nil {
			p.mu.Lock()
			p.acked++
			p.retried++
			p.mu.Unlock()
			return nil
		}
		cause = err
	}
}

// permanent tells the errors a publish repeated unchanged would get again:
// the server refused the message (too large, say), as opposed to a
// connection lost or a server restarting (JetStream answers 503 until it has
// recovered its streams).
func permanent(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Code != http.StatusServiceUnavailable
	}
	return errors.Is(err, nats.ErrMaxPayload) || errors.Is(err, nats.ErrBadSubject)
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

// Retried is how many events were stored only after publishing them again.
func (p *Publisher) Retried() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.retried
}

// Acked is the number of events the server has acknowledged so far.
func (p *Publisher) Acked() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.acked
}

// redactSubject is err's text without the subject it may quote.
func redactSubject(err error, subject string) string {
	if err == nil {
		return ""
	}
	return strings.ReplaceAll(err.Error(), subject, LoggedSubject(subject))
}
