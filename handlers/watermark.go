package handlers

import (
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
// It is shared by the intake (track) and the partitions (committed).
type watermark struct {
	mu sync.Mutex
	// order holds the tracked messages in stream order from order[head]
	// on; those before head are at or below the watermark.
	order []*tracked
	head  int
	// open holds each partition's tracked messages not yet committed, in
	// order.
	open map[int][]*tracked
	// last is the highest stream sequence tracked.
	last uint64
	// due is the watermark message not yet acknowledged, nil when none.
	due jetstream.Msg
}

type tracked struct {
	seq  uint64
	msg  jetstream.Msg
	done bool
}

func newWatermark() *watermark {
	return &watermark{open: map[int][]*tracked{}}
}

// track records a message delivered for a partition. A message at or below
// the highest sequence tracked is a redelivery (after a reset, or of an
// expired ack wait): it is not tracked again, and track returns false.
func (w *watermark) track(partition int, seq uint64, msg jetstream.Msg) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if seq <= w.last {
		return false
	}
	t := &tracked{seq: seq, msg: msg}
	w.last = seq
	w.order = append(w.order, t)
	w.open[partition] = append(w.open[partition], t)
	return true
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
		w.due = w.order[w.head].msg
		w.order[w.head] = nil
		w.head++
	}
	if w.head > 1024 && w.head*2 > len(w.order) {
		w.order = append(w.order[:0], w.order[w.head:]...)
		w.head = 0
	}
}

// take returns the watermark message if it was not acknowledged yet, and
// marks it acknowledged.
func (w *watermark) take() jetstream.Msg {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := w.due
	w.due = nil
	return m
}

// pending is how many tracked messages are above the watermark.
func (w *watermark) pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.order) - w.head
}
