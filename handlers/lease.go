package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pointsledger/loyalty/streams"
)

// LeaseBucket is the JetStream key-value bucket of engine leases: one key
// per input consumer, held by the one engine process that may consume it.
const LeaseBucket = "LOYALTY_LEASES"

// leaseTTL is how long a lease outlives its last renewal: an engine that
// dies without letting go (SIGKILL, a lost machine) is replaced this long
// after. Renewals come at a third of it.
const leaseTTL = 5 * time.Second

// ErrLeaseLost is returned by Run when another engine took the partitions
// over: this one could not renew its lease in time.
var ErrLeaseLost = errors.New("engine lease lost to another engine")

// leaseHolder is what a lease key says about its holder, for the operator
// looking at a waiting engine's log.
type leaseHolder struct {
	ID    string    `json:"id"`
	Host  string    `json:"host"`
	PID   int       `json:"pid"`
	Since time.Time `json:"since"`
}

// lease makes the engines of one consumer take turns: the first to create
// the key works, the others wait until it is gone, so that normally one
// engine consumes. Two can overlap when a holder cannot renew (stalled, or
// cut off from the lease bucket but not from the input) for longer than the
// TTL and another takes over; the ledger's expected-sequence fence then
// keeps the facts of each input single, at the cost of refused appends.
type lease struct {
	kv       jetstream.KeyValue
	key      string
	holder   leaseHolder
	value    []byte
	revision uint64
	log      *slog.Logger
}

func newLease(ctx context.Context, js jetstream.JetStream, key string, log *slog.Logger) (*lease, error) {
	kv, err := leaseBucket(ctx, js)
	if err != nil {
		return nil, err
	}
	h, value, err := newHolder("")
	if err != nil {
		return nil, err
	}
	return &lease{kv: kv, key: key, holder: h, value: value, log: log}, nil
}

// leaseBucket opens (creating) LeaseBucket: its keys lapse leaseTTL after
// their last write.
func leaseBucket(ctx context.Context, js jetstream.JetStream) (jetstream.KeyValue, error) {
	kv, err := streams.KeyValueBucket(ctx, js, jetstream.KeyValueConfig{
		Bucket:      LeaseBucket,
		Description: "Loyalty engine leases: which process consumes which input",
		History:     1,
		TTL:         leaseTTL,
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("lease bucket %s: %w", LeaseBucket, err)
	}
	return kv, nil
}

// newHolder describes this process as a lease holder under id (a new
// random one when ""), and encodes it as lease keys hold it.
func newHolder(id string) (leaseHolder, []byte, error) {
	if id == "" {
		id = uuid.NewString()
	}
	host, _ := os.Hostname()
	h := leaseHolder{ID: id, Host: host, PID: os.Getpid(), Since: time.Now().UTC()}
	value, err := json.Marshal(h)
	return h, value, err
}

// holderAt reads the holder a lease key names, with the key's revision.
// The holder is zero when the value is not a holder's.
func holderAt(ctx context.Context, kv jetstream.KeyValue, key string) (leaseHolder, uint64, []byte, error) {
	entry, err := kv.Get(ctx, key)
	if err != nil {
		return leaseHolder{}, 0, nil, err
	}
	var h leaseHolder
	if json.Unmarshal(entry.Value(), &h) != nil {
		h = leaseHolder{}
	}
	return h, entry.Revision(), entry.Value(), nil
}

// heldBy tells whether the key names the holder id, and its revision.
func heldBy(ctx context.Context, kv jetstream.KeyValue, key, id string) (uint64, bool) {
	h, rev, _, err := holderAt(ctx, kv, key)
	return rev, err == nil && h.ID == id
}

// acquire waits until this process holds the lease, or ctx ends.
func (l *lease) acquire(ctx context.Context) error {
	logged := false
	for {
		rev, err := l.kv.Create(ctx, l.key, l.value)
		if err == nil {
			l.revision = rev
			if logged {
				l.log.Info("engine lease acquired; this engine now does the work", "consumer", l.key)
			}
			return nil
		}
		if errors.Is(err, jetstream.ErrKeyExists) {
			if rev, mine := l.ours(ctx); mine {
				l.revision = rev // created, but the answer was lost
				return nil
			}
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			l.log.Warn("engine lease: cannot reach the lease bucket; trying again", "err", err)
		} else if !logged {
			l.log.Warn("another engine is consuming this input; this one waits until it stops (at most "+
				leaseTTL.String()+" after it dies)", "consumer", l.key, "holder", l.current(ctx))
			logged = true
		}
		if !sleepCtx(ctx, leaseTTL/5) {
			return ctx.Err()
		}
	}
}

// ours tells whether the key holds this process's lease, and its revision.
func (l *lease) ours(ctx context.Context) (uint64, bool) {
	return heldBy(ctx, l.kv, l.key, l.holder.ID)
}

// current describes the holder of the lease, for a log line.
func (l *lease) current(ctx context.Context) string {
	h, _, raw, err := holderAt(ctx, l.kv, l.key)
	switch {
	case err != nil:
		return "unknown (" + err.Error() + ")"
	case h.ID == "":
		return string(raw)
	}
	return fmt.Sprintf("pid %d on %s since %s", h.PID, h.Host, h.Since.Format(time.RFC3339))
}

// hold renews the lease until ctx ends (nil) or it is lost (ErrLeaseLost).
// A renewal that fails for a lost connection is tried again: if the lease
// lapsed meanwhile and nobody took it, it is taken again.
func (l *lease) hold(ctx context.Context) error {
	ticker := time.NewTicker(leaseTTL / 3)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
		rev, err := l.kv.Update(ctx, l.key, l.value, l.revision)
		if err == nil {
			l.revision = rev
			continue
		}
		if ctx.Err() != nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			l.log.Warn("engine lease: renewal failed; trying again", "err", err)
			continue
		}
		// An earlier renewal was stored but its answer lost; or the key
		// lapsed; or it is someone else's.
		if rev, mine := l.ours(ctx); mine {
			l.revision = rev
			continue
		}
		if rev, err := l.kv.Create(ctx, l.key, l.value); err == nil {
			l.revision = rev
			l.log.Warn("engine lease lapsed and was taken again", "consumer", l.key)
			continue
		}
		return fmt.Errorf("%w: now held by %s", ErrLeaseLost, l.current(ctx))
	}
}

// release lets the next engine start at once instead of after the TTL.
func (l *lease) release(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := l.kv.Delete(ctx, l.key, jetstream.LastRevision(l.revision)); err != nil {
		l.log.Warn("engine lease not released; the next engine waits for it to lapse", "err", err)
	}
}

// whileLeased runs work while this process holds the lease key: it waits
// for the lease, renews it while work runs, and lets it go after. work's
// context ends when the lease is lost (its cause is then ErrLeaseLost).
func whileLeased(ctx context.Context, js jetstream.JetStream, key string, log *slog.Logger, work func(context.Context) error) error {
	l, err := newLease(ctx, js, key, log)
	if err != nil {
		return err
	}
	if err := l.acquire(ctx); err != nil {
		return err
	}
	workCtx, cancel := context.WithCancelCause(ctx)
	held := make(chan struct{})
	go func() {
		defer close(held)
		if err := l.hold(workCtx); err != nil {
			cancel(err)
		}
	}()
	err = work(workCtx)
	cause := context.Cause(workCtx)
	cancel(nil)
	<-held // hold no longer touches the lease
	l.release(ctx)
	if cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return err
}

// untilDone runs run again after each failure, logged with what, after a
// pause, until ctx ends (then nil).
func untilDone(ctx context.Context, log *slog.Logger, what string, pause time.Duration, failed func(), run func(context.Context) error) error {
	for ctx.Err() == nil {
		err := run(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if failed != nil {
			failed()
		}
		log.Warn(what+" stopped; starting again", "err", err, "after", pause)
		sleepCtx(ctx, pause)
	}
	return nil
}
