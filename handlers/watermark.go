package handlers

import (
	"cmp"
	"slices"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// watermark tracks which delivered input messages their partitions have
// committed, to find the input the engine may acknowledge. The consumer's
// ack policy is AckAll, so an acknowledgement covers every earlier message:
// the watermark is the last message such that it and every message delivered
// before it are committed. Partitions commit at their own pace, so it trails
// the fastest of them.
//
// An acknowledgement names its delivery, and JetStream ignores every ack of a
// delivery at or below one it has seen: acknowledging a message delivered
// before a consumer reset, whose delivery number is from the old count, would
// make it ignore the acks after it. So every tracked message carries the
// subscription (generation) it was delivered in; a redelivery in a newer
// generation replaces the message it repeats, and only a message of the
// current generation is acknowledged.
//
// It is shared by the intake (track, newGeneration, take) and the
// partitions (committed).
type watermark struct {
	mu sync.Mutex
	// order holds the tracked messages in stream order from order[head]
	// on; those before head are at or below the watermark.
	order []*tracked
	head  int
	// open holds each partition's tracked messages not yet committed, in
	// order.
	open map[int][]*tracked
	// last is the highest stream sequence tracked, below the highest at or
	// below the watermark.
	last, below uint64
	gen         int
	// due is the watermark message not yet acknowledged, nil when none.
	due *tracked
}

type tracked struct {
	seq  uint64
	msg  jetstream.Msg
	gen  int
	done bool
}

func newWatermark() *watermark {
	return &watermark{open: map[int][]*tracked{}}
}

// newGeneration starts a new subscription: messages tracked before it are
// acknowledged only once redelivered in it.
func (w *watermark) newGeneration() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.gen++
}

// track records a message delivered for a partition and reports whether it
// is new. A message at or below the highest sequence tracked is a
// redelivery (after a reset, or of an expired ack wait): the partition has
// the first copy already (queued, handled or committed), so it is not
// handed out again; it only replaces that copy for acknowledging.
func (w *watermark) track(partition int, seq uint64, msg jetstream.Msg) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if seq <= w.last {
		switch t := w.find(seq); {
		case t != nil:
			t.msg, t.gen = msg, w.gen
		case seq <= w.below && (w.due == nil || seq > w.due.seq):
			// Committed and below the watermark, so acknowledging it is
			// safe, and needed: an ack floor the reset moved back would
			// otherwise wait for new input to move on.
			w.due = &tracked{seq: seq, msg: msg, gen: w.gen, done: true}
		}
		return false
	}
	t := &tracked{seq: seq, msg: msg, gen: w.gen}
	w.last = seq
	w.order = append(w.order, t)
	w.open[partition] = append(w.open[partition], t)
	return true
}

// find returns the tracked message with sequence seq, at or above the
// watermark, or nil.
func (w *watermark) find(seq uint64) *tracked {
	if w.due != nil && w.due.seq == seq {
		return w.due
	}
	live := w.order[w.head:]
	i, ok := slices.BinarySearchFunc(live, seq, func(t *tracked, seq uint64) int { return cmp.Compare(t.seq, seq) })
	if !ok {
		return nil
	}
	return live[i]
}

// committed records that a partition committed every message it was given
// up to stream sequence upTo, and moves the watermark on.
func (w *watermark) committed(partition int, upTo uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	open := w.open[partition]
	n := 0
	for n < len(open) && open[n].seq <= upTo {
		open[n].done = true
		n++
	}
	w.open[partition] = open[n:]
	for w.head < len(w.order) && w.order[w.head].done {
		w.due = w.order[w.head]
		w.below = w.due.seq
		w.order[w.head] = nil
		w.head++
	}
	if w.head > 1024 && w.head*2 > len(w.order) {
		w.order = append(w.order[:0], w.order[w.head:]...)
		w.head = 0
	}
}

// take returns the watermark message if it was not acknowledged yet and was
// delivered in the current generation, and marks it acknowledged.
func (w *watermark) take() jetstream.Msg {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.due == nil || w.due.gen != w.gen {
		return nil
	}
	m := w.due.msg
	w.due = nil
	return m
}

// through is the highest stream sequence such that every message tracked
// at or below it is committed (0: none).
func (w *watermark) through() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.below
}
