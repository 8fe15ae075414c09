package handlers

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"
)

// consumerSubscriber is a watermill Subscriber over one JetStream pull
// consumer. It hands messages to the router one at a time and waits for the
// handler's verdict before the next, so a partition's events are handled in
// stream order.
//
// It is not watermill-nats because the engine needs the JetStream message
// itself (sequence, arrival time, delivery count) and must never let a
// message it cannot decode sit unacknowledged: here every message reaches
// the handler, which dead-letters what it cannot use.
type consumerSubscriber struct {
	consumer jetstream.Consumer
	logger   *slog.Logger
	// prefetch bounds how many messages the client buffers ahead.
	prefetch int

	mu     sync.Mutex
	closed bool
	stops  []func()
}

type jsMsgKey struct{}

// jetStreamMsg returns the JetStream message a watermill message came from.
func jetStreamMsg(msg *message.Message) (jetstream.Msg, bool) {
	m, ok := msg.Context().Value(jsMsgKey{}).(jetstream.Msg)
	return m, ok
}

// Subscribe starts delivering; the topic is informational (the consumer's
// filter decides what arrives).
func (s *consumerSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	iter, err := s.consumer.Messages(jetstream.PullMaxMessages(s.prefetch))
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		iter.Stop()
		return nil, errors.New("subscriber closed")
	}
	s.stops = append(s.stops, iter.Stop)
	s.mu.Unlock()

	out := make(chan *message.Message)
	go func() {
		defer close(out)
		stop := context.AfterFunc(ctx, iter.Stop)
		defer stop()
		for {
			jsMsg, err := iter.Next()
			if err != nil {
				if !errors.Is(err, jetstream.ErrMsgIteratorClosed) && ctx.Err() == nil {
					s.logger.Error("consumer stopped", "topic", topic, "err", err)
				}
				return
			}
			if !s.deliver(ctx, out, jsMsg) {
				return
			}
		}
	}()
	return out, nil
}

// deliver passes one message to the router and settles it with JetStream
// according to the handler's verdict. It returns false when ctx ended.
func (s *consumerSubscriber) deliver(ctx context.Context, out chan<- *message.Message, jsMsg jetstream.Msg) bool {
	meta, err := jsMsg.Metadata()
	uuid := ""
	if err == nil {
		uuid = strconv.FormatUint(meta.Sequence.Stream, 10)
	}
	msg := message.NewMessage(uuid, jsMsg.Data())
	msg.SetContext(context.WithValue(ctx, jsMsgKey{}, jsMsg))
	select {
	case out <- msg:
	case <-ctx.Done():
		return false
	}
	select {
	case <-msg.Acked():
		if err := jsMsg.Ack(); err != nil {
			// The effect is in the ledger; a redelivery is recognised as
			// already applied, so a lost ack costs only work.
			s.logger.Warn("ack failed", "seq", uuid, "err", err)
		}
	case <-msg.Nacked():
		delay := nakDelay(meta)
		if err := jsMsg.NakWithDelay(delay); err != nil {
			s.logger.Warn("nak failed", "seq", uuid, "err", err)
		}
	case <-ctx.Done():
		return false
	}
	return true
}

// nakDelay backs off redeliveries so a failing message is never retried in
// a tight loop: 1 s, 2 s, 4 s ... up to a minute.
func nakDelay(meta *jetstream.MsgMetadata) time.Duration {
	delay := time.Second
	if meta == nil {
		return delay
	}
	for i := uint64(1); i < meta.NumDelivered && delay < time.Minute; i++ {
		delay *= 2
	}
	return min(delay, time.Minute)
}

// Close stops every subscription.
func (s *consumerSubscriber) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for _, stop := range s.stops {
		stop()
	}
	return nil
}
