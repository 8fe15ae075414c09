package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pointsledger/loyalty/streams"
)

// ProgressBucket holds, per partition, the input sequence up to which its
// input has been handled: where the partition's next owner starts reading.
// It is kept without a TTL, unlike the leases, so that it outlives the
// engine that wrote it.
const ProgressBucket = "LOYALTY_PROGRESS"

// Keys of the lease bucket used by engines that share the partitions.
const (
	engineKeyPrefix    = "engines."
	partitionKeyPrefix = "partitions."
)

func partitionKey(p int) string { return fmt.Sprintf("%s%02d", partitionKeyPrefix, p) }

// ownership is one engine's part in sharing the partitions (decision 025):
// its membership key, the partition leases it holds, and the partitions'
// progress. Every engine renews engines.<id> in the lease bucket; all of
// them list those keys and compute the same assignment (assign); an engine
// takes a partition assigned to it by creating its key partitions.NN, which
// fails while another holds it, and renews what it holds by compare-and-set.
// A partition's key is deleted by its owner once it has handed the
// partition over, or lapses leaseTTL after the owner's last renewal.
//
// Its methods are safe for concurrent use: the engine renews the leases on a
// goroutine of their own, so that a long rebuild does not let them lapse.
type ownership struct {
	kv       jetstream.KeyValue
	progress jetstream.KeyValue
	holder   leaseHolder
	value    []byte
	mu       sync.Mutex
	// held is the partitions whose key this engine holds, with the key's
	// revision.
	held map[int]uint64
	log  *slog.Logger
}

func newOwnership(ctx context.Context, js jetstream.JetStream, id string, log *slog.Logger) (*ownership, error) {
	kv, err := leaseBucket(ctx, js)
	if err != nil {
		return nil, err
	}
	progress, err := streams.KeyValueBucket(ctx, js, jetstream.KeyValueConfig{
		Bucket:      ProgressBucket,
		Description: "Loyalty engine: the input handled, per partition, where its next owner starts",
		History:     1,
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("progress bucket %s: %w", ProgressBucket, err)
	}
	h, value, err := newHolder(id)
	if err != nil {
		return nil, err
	}
	return &ownership{kv: kv, progress: progress, holder: h, value: value, held: map[int]uint64{}, log: log}, nil
}

// id is this engine's id in the assignment.
func (o *ownership) id() string { return o.holder.ID }

// heartbeat renews this engine's membership key.
func (o *ownership) heartbeat(ctx context.Context) error {
	_, err := o.kv.Put(ctx, engineKeyPrefix+o.id(), o.value)
	return err
}

// leave deletes the membership key, so that the others take this engine's
// partitions without waiting for it to lapse.
func (o *ownership) leave(ctx context.Context) {
	if err := o.kv.Delete(ctx, engineKeyPrefix+o.id()); err != nil {
		o.log.Warn("engine membership key not deleted; the others wait for it to lapse", "err", err)
	}
}

// live lists the engines whose membership key has not lapsed. The list is
// complete or an error: a partial one would move partitions for nothing.
func (o *ownership) live(ctx context.Context) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	w, err := o.kv.Watch(ctx, engineKeyPrefix+"*", jetstream.IgnoreDeletes(), jetstream.MetaOnly())
	if err != nil {
		return nil, err
	}
	defer func() { _ = w.Stop() }()
	var ids []string
	for {
		select {
		case entry, ok := <-w.Updates():
			if !ok {
				return nil, errors.New("the list of engines ended before it was complete")
			}
			if entry == nil { // every current key was given
				return ids, nil
			}
			ids = append(ids, strings.TrimPrefix(entry.Key(), engineKeyPrefix))
		case <-ctx.Done():
			return nil, fmt.Errorf("list the engines: %w", ctx.Err())
		}
	}
}

// take tries to take partition p's lease: false, with no error, when
// another engine holds it.
func (o *ownership) take(ctx context.Context, p int) (bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	rev, err := o.kv.Create(ctx, partitionKey(p), o.value)
	if err == nil {
		o.held[p] = rev
		return true, nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return false, err
	}
	if rev, mine := o.ours(ctx, p); mine {
		o.held[p] = rev // created, but the answer was lost
		return true, nil
	}
	return false, nil
}

// ours tells whether partition p's key is this engine's, and its revision.
func (o *ownership) ours(ctx context.Context, p int) (uint64, bool) {
	return heldBy(ctx, o.kv, partitionKey(p), o.id())
}

// holderOf describes the engine holding partition p, for a log line.
func (o *ownership) holderOf(ctx context.Context, p int) string {
	h, _, raw, err := holderAt(ctx, o.kv, partitionKey(p))
	switch {
	case err != nil:
		return "none (" + err.Error() + ")"
	case h.ID == "":
		return string(raw)
	}
	return fmt.Sprintf("engine %s, pid %d on %s", h.ID, h.PID, h.Host)
}

// renew renews every lease held and returns the partitions whose lease was
// lost: it lapsed and another engine took it. A renewal that fails for
// another reason (NATS unreachable) keeps the partition until the next
// try; if it cannot be renewed within the TTL, another engine may take it,
// and the ledger's fence refuses the appends of the engine that lost it.
func (o *ownership) renew(ctx context.Context) (lost []int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for p, rev := range o.held {
		next, err := o.kv.Update(ctx, partitionKey(p), o.value, rev)
		if err == nil {
			o.held[p] = next
			continue
		}
		if ctx.Err() != nil {
			return lost
		}
		if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) && !errors.Is(err, jetstream.ErrKeyNotFound) {
			o.log.Warn("partition lease: renewal failed; trying again", "partition", p, "err", err)
			continue
		}
		// An earlier renewal was stored but its answer lost; or the key
		// lapsed; or it is someone else's.
		if rev, mine := o.ours(ctx, p); mine {
			o.held[p] = rev
			continue
		}
		if rev, err := o.kv.Create(ctx, partitionKey(p), o.value); err == nil {
			o.held[p] = rev
			o.log.Warn("partition lease lapsed and was taken again", "partition", p)
			continue
		}
		o.log.Error("partition lease lost: another engine took the partition after this one could not renew it in time; this engine stops handling it",
			"partition", p, "now_held_by", o.holderOf(ctx, p))
		delete(o.held, p)
		lost = append(lost, p)
	}
	return lost
}

// release lets go of partitions' leases, so that their next owner takes
// them at once.
func (o *ownership) release(ctx context.Context, parts []int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, p := range parts {
		rev, ok := o.held[p]
		if !ok {
			continue
		}
		delete(o.held, p)
		if err := o.kv.Delete(ctx, partitionKey(p), jetstream.LastRevision(rev)); err != nil {
			o.log.Warn("partition lease not released; its next owner waits for it to lapse", "partition", p, "err", err)
		}
	}
}

// holds lists the partitions whose lease this engine holds, in order.
func (o *ownership) holds() []int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Sorted(maps.Keys(o.held))
}

func progressKey(p int) string { return "partition." + strconv.Itoa(p) }

// progressValue is what the progress bucket holds for a partition: the
// input handled, and the input stream it counts in (its creation time), so
// that a stream made again does not inherit the old one's sequences.
type progressValue struct {
	InputSeq     uint64    `json:"input_seq"`
	InputCreated time.Time `json:"input_created"`
}

// handled returns the input sequence up to which partition p's input is
// handled in the input stream made at created and holding up to last
// (0: nothing known). A value that cannot be right (another stream's, past
// the stream's end, not a progress value) is logged and taken as nothing
// known: the partition's input is then read again from the start and
// recognised as applied, which is slow but loses nothing.
func (o *ownership) handled(ctx context.Context, p int, created time.Time, last uint64) (uint64, error) {
	entry, err := o.progress.Get(ctx, progressKey(p))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var v progressValue
	switch {
	case json.Unmarshal(entry.Value(), &v) != nil:
		o.log.Error("partition progress is not a progress value; the partition's input is read again from the start",
			"bucket", ProgressBucket, "key", progressKey(p), "value", string(entry.Value()))
	case !v.InputCreated.Equal(created):
		o.log.Warn("partition progress is of another input stream (made again since); the partition's input is read from the start",
			"partition", p, "progress_of_stream_made", v.InputCreated, "stream_made", created)
	case v.InputSeq > last:
		o.log.Error("partition progress is past the input stream's end; the partition's input is read again from the start",
			"partition", p, "progress", v.InputSeq, "last_input_seq", last)
	default:
		return v.InputSeq, nil
	}
	return 0, nil
}

// setHandled records that partition p's input is handled up to seq, in the
// input stream made at created.
func (o *ownership) setHandled(ctx context.Context, p int, seq uint64, created time.Time) error {
	value, err := json.Marshal(progressValue{InputSeq: seq, InputCreated: created.UTC()})
	if err != nil {
		return err
	}
	_, err = o.progress.Put(ctx, progressKey(p), value)
	return err
}
