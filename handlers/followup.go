package handlers

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/handlers/keyindex"
	"github.com/pointsledger/loyalty/streams"
)

// Follow-ups are the input events the engine publishes itself for another
// member once a fact is in the ledger: the recipient's side of a transfer,
// a referrer's bonus (domain.FollowUp). The ledger is their outbox: each is
// published after its fact's append and retried until JetStream stores it.
// One not stored by the time its partition writes a snapshot is kept there
// as a row until it is, and one a crash lost is folded again from the
// ledger since the snapshot; at the start of a run the engine publishes
// those rows again, whichever engine owns their member. A follow-up's id
// and time come from its fact, so a second copy is recognised as the same
// event and applied once.
const followUpBuffer = 4096

// outgoing is a follow-up to publish: from the partition whose commit made
// it, or (from nil) a row of the store found at the start of a run.
type outgoing struct {
	ev   domain.Event
	from *partition
}

// followUpOf is domain.FollowUp but for a member whose records read as
// erased (streams.ErasedID): a follow-up to them, made again from the
// ledger after their key was erased, cannot be published under an id no
// event may carry. One made before was published then; one that was not
// (a record appended and the engine stopped before it published, the
// member erased in between) is not delivered: the points stay with no one,
// the erased member being no one.
func followUpOf(f domain.Fact) (domain.Event, bool) {
	ev, ok := domain.FollowUp(f)
	if ok && strings.HasPrefix(ev.MemberID, domain.ErasedMemberPrefix) {
		return ev, false
	}
	return ev, ok
}

// followUpsOf is the follow-ups of a batch's records.
func followUpsOf(staged []stagedRecord) []domain.Event {
	var out []domain.Event
	for _, r := range staged {
		for _, f := range r.facts {
			if ev, ok := followUpOf(f); ok {
				out = append(out, ev)
			}
		}
	}
	return out
}

// queueFollowUps hands follow-ups to the publisher, waiting while its queue
// is full (NATS down) unless ctx ends: what is not queued then is published
// again at the next start, from the ledger. It returns how many it queued.
func (e *Engine) queueFollowUps(ctx context.Context, from *partition, events []domain.Event) int {
	for i, ev := range events {
		select {
		case e.outbox <- outgoing{ev: ev, from: from}:
		case <-ctx.Done():
			return i
		}
	}
	return len(events)
}

// reconcileFollowUps queues the follow-ups the store kept, not known to be
// stored by JetStream, and forgets those whose member has applied them. It
// runs before the partitions start, once every snapshot holds the
// follow-ups of the ledger folded.
//
// Whether a follow-up was applied is known only for a member of a
// partition this engine owns (its keys are in the index). One for another
// engine's member is published again: a copy within the input's duplicate
// window is dropped by JetStream, and a later one is recognised by the
// recipient's partition as an event it applied.
func (e *Engine) reconcileFollowUps(ctx context.Context, keys *keyindex.Index, parts map[int]*partition) (int, error) {
	var due []domain.Event
	err := keys.FollowUps(func(encoded []byte) (bool, error) {
		ev, err := streams.DecodeEvent(encoded)
		if err != nil {
			// The next start folds the whole ledger, which gives the
			// follow-ups again.
			return false, keys.Damaged(fmt.Errorf("a follow-up kept by a snapshot cannot be decoded: %w", err))
		}
		if parts[streams.PartitionOf(ev.MemberID)] != nil {
			entry, seen, err := eventEntry(keys, ev.Type, ev.ID)
			if err != nil {
				return false, err
			}
			if seen && !entry.Held {
				return true, nil
			}
		}
		due = append(due, ev)
		return false, nil
	})
	if err != nil {
		return 0, err
	}
	return e.queueFollowUps(ctx, nil, due), nil
}

// publishFollowUps publishes queued follow-ups until ctx ends, retrying each
// until JetStream stores it; what is left at the end is published again at
// the next start.
func (e *Engine) publishFollowUps(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case out := <-e.outbox:
			ev := out.ev
			for backoff := 100 * time.Millisecond; ; backoff = min(2*backoff, 5*time.Second) {
				err := e.publishFollowUp(ctx, ev)
				if err == nil {
					e.followUpStored(out)
					break
				}
				if ctx.Err() != nil {
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

// followUpStored lets the store forget a follow-up JetStream has stored:
// its partition's next snapshot does (it may hold it still, to write), or,
// for a row found at the start, the store at once.
func (e *Engine) followUpStored(out outgoing) {
	k := domain.EventKey(out.ev.Type, out.ev.ID)
	if out.from != nil {
		out.from.published(k)
		return
	}
	if err := e.keys.ForgetFollowUp(k); err != nil {
		e.cfg.Logger.Warn("follow-up stored, but its row not forgotten; it is published again at the next start", "event", out.ev.ID, "err", err)
		e.keysBroken(err)
	}
}

// preempted counts and logs a publish whose message id another had taken.
func (e *Engine) preempted() {
	e.metrics.preempted.Inc()
	e.cfg.Logger.Warn("an input the engine published had its message id taken by another message; published again under a new one")
}

func (e *Engine) publishFollowUp(ctx context.Context, ev domain.Event) error {
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return publishInput(pctx, e.js, ev, e.preempted)
}

// publishInput stores one input event the engine makes itself (a follow-up,
// a request the service was given), its id as the message id, and waits
// for JetStream's acknowledgement.
//
// JetStream acknowledges a message whose id it stored within its duplicate
// window as a duplicate, without storing it. That is success only when the
// stored message is this one (a retry of ours); anyone may publish with any
// message id, and a client that published first with ours would otherwise
// have the engine's event silently dropped (a transfer debited and never
// credited). So the stored message is read back and compared, and when it
// is another, the event is published again under a message id of its own;
// the event's id, which the rules de-duplicate on, stays the same.
func publishInput(ctx context.Context, js jetstream.JetStream, ev domain.Event, preempted func()) error {
	data, err := streams.EncodeEvent(ev)
	if err != nil {
		return err
	}
	subject, err := streams.InputSubject(ev.Type, ev.MemberID)
	if err != nil {
		return err
	}
	msgID := ev.ID
	for range 3 {
		ack, err := js.PublishMsg(ctx, &nats.Msg{Subject: subject, Data: data, Header: nats.Header{jetstream.MsgIDHeader: {msgID}}})
		if err != nil || !ack.Duplicate {
			return err
		}
		ours, err := storedIs(ctx, js, ack, subject, data)
		if err != nil || ours {
			return err
		}
		preempted()
		msgID = ev.ID + "~" + rand.Text()
	}
	return fmt.Errorf("event %s: its message id was taken three times", ev.ID)
}

// storedIs reports whether the message JetStream acknowledged as a
// duplicate is the one published on subject with data: a retry of ours. (A
// till's retry of a service request is another event, with an id of its
// own, so it never meets the first here.)
func storedIs(ctx context.Context, js jetstream.JetStream, ack *jetstream.PubAck, subject string, data []byte) (bool, error) {
	stream, err := js.Stream(ctx, ack.Stream)
	if err != nil {
		return false, fmt.Errorf("check a duplicate acknowledgement: %w", err)
	}
	stored, err := stream.GetMsg(ctx, ack.Sequence)
	if err != nil {
		return false, fmt.Errorf("check a duplicate acknowledgement (%s seq %d): %w", ack.Stream, ack.Sequence, err)
	}
	if in, err := streams.ParseStoredInput(stored.Subject); err != nil || in.PublishSubject() != subject {
		return false, nil
	}
	return bytes.Equal(stored.Data, data), nil
}
