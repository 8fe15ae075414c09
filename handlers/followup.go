package handlers

import (
	"context"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/streams"
)

// Follow-ups are the input events the engine publishes itself for another
// member once a fact is in the ledger: the recipient's side of a transfer,
// a referrer's bonus (domain.FollowUp). The ledger is their outbox: each is
// published after its fact's append, retried until it is stored, and at
// start the engine publishes again those of the whole ledger whose member
// has not applied them. A follow-up's id and time come from its fact, so a
// second copy is recognised as the same event and applied once.
const followUpBuffer = 4096

// queueFollowUps hands the follow-ups of a committed batch to the publisher.
func (e *Engine) queueFollowUps(p *partition) {
	for _, r := range p.staged {
		for _, f := range r.facts {
			if ev, ok := domain.FollowUp(f); ok {
				e.outbox <- ev
			}
		}
	}
}

// reconcileFollowUps queues the ledger's follow-ups that their member has
// not applied. It runs before the partitions start, so it may read their
// state.
func (e *Engine) reconcileFollowUps(parts map[int]*partition, followUps []domain.Event) int {
	n := 0
	for _, ev := range followUps {
		target := parts[streams.PartitionOf(ev.MemberID)]
		if target == nil {
			continue // another engine's partition: it checks its own
		}
		if _, seen := target.seen[keyOf(ev.ID)]; seen {
			continue
		}
		e.outbox <- ev
		n++
	}
	return n
}

// publishFollowUps publishes queued follow-ups until ctx ends, retrying each
// until JetStream stores it; what is left at the end is published again at
// the next start.
func (e *Engine) publishFollowUps(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-e.outbox:
			for backoff := 100 * time.Millisecond; ; backoff = min(2*backoff, 5*time.Second) {
				err := e.publishFollowUp(ctx, ev)
				if err == nil || ctx.Err() != nil {
					break
				}
				e.cfg.Logger.Warn("follow-up event not published; retrying", "event", ev.ID, "type", ev.Type, "err", err)
				select {
				case <-ctx.Done():
					return
				case <-time.After(backoff):
				}
			}
		}
	}
}

func (e *Engine) publishFollowUp(ctx context.Context, ev domain.Event) error {
	data, err := streams.EncodeEvent(ev)
	if err != nil {
		return err
	}
	subject, err := streams.InputSubject(ev.Type, ev.MemberID)
	if err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err = e.js.PublishMsg(pctx, &nats.Msg{Subject: subject, Data: data, Header: nats.Header{jetstream.MsgIDHeader: {ev.ID}}})
	return err
}
