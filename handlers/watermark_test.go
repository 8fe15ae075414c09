package handlers

import "testing"

func TestWatermarkTrailsTheSlowestPartition(t *testing.T) {
	log := &settleLog{}
	w := newWatermark()
	msg := func(seq uint64) *fakeMsg { return &fakeMsg{seq: seq, log: log} }
	dueSeq := func() uint64 {
		m := w.take()
		if m == nil {
			return 0
		}
		return m.(*fakeMsg).seq
	}
	// Stream order: 1 (p0), 2 (p1), 3 (p0), 4 (p1), 5 (p2).
	for _, d := range []struct {
		partition int
		seq       uint64
	}{{0, 1}, {1, 2}, {0, 3}, {1, 4}, {2, 5}} {
		if !w.track(d.partition, d.seq, msg(d.seq)) {
			t.Fatalf("track(%d) = false for a new message", d.seq)
		}
	}
	w.committed(1, 4) // p1 is ahead: 1 is open, nothing to acknowledge
	if got := dueSeq(); got != 0 {
		t.Fatalf("watermark at %d with message 1 uncommitted", got)
	}
	w.committed(0, 1)
	if got := dueSeq(); got != 2 {
		t.Errorf("watermark %d after 1 and 2 were committed, want 2", got)
	}
	if got := dueSeq(); got != 0 {
		t.Errorf("watermark %d taken twice", got)
	}
	w.committed(0, 3)
	if got, want := dueSeq(), uint64(4); got != want {
		t.Errorf("watermark %d, want %d", got, want)
	}
	if got := w.pending(); got != 1 {
		t.Errorf("%d messages above the watermark, want 1 (5)", got)
	}
	// A redelivery (after a reset) is not tracked again; committing it
	// moves nothing that is not done.
	if w.track(0, 3, msg(3)) {
		t.Error("a redelivered message was tracked again")
	}
	w.committed(2, 5)
	if got := dueSeq(); got != 5 {
		t.Errorf("watermark %d after everything was committed, want 5", got)
	}
}

// The tracked list is compacted as the watermark moves: memory follows the
// messages above the watermark, not all delivered.
func TestWatermarkCompacts(t *testing.T) {
	w := newWatermark()
	for seq := uint64(1); seq <= 10_000; seq++ {
		w.track(int(seq%3), seq, &fakeMsg{seq: seq, log: &settleLog{}})
		if seq%7 == 0 {
			for p := range 3 {
				w.committed(p, seq)
			}
		}
	}
	if n := len(w.order); n > 4096 {
		t.Errorf("%d tracked entries kept for %d above the watermark", n, w.pending())
	}
}

// After a reset the consumer numbers deliveries afresh, and JetStream ignores
// acks of deliveries at or below one it has seen: a message delivered before
// the reset is not acknowledged until its redelivery replaces it, and the
// redelivery is not handed out again.
func TestWatermarkAcknowledgesOnlyCurrentDeliveries(t *testing.T) {
	log := &settleLog{}
	w := newWatermark()
	old := &fakeMsg{seq: 1, log: log}
	if !w.track(0, 1, old) || !w.track(1, 2, &fakeMsg{seq: 2, log: log}) {
		t.Fatal("new messages not tracked")
	}
	w.newGeneration() // a reset
	w.committed(0, 1) // the partition committed the first copy
	if m := w.take(); m != nil {
		t.Fatalf("took message %d of the old generation", m.(*fakeMsg).seq)
	}
	again := &fakeMsg{seq: 1, log: log}
	if w.track(0, 1, again) {
		t.Error("a redelivery was handed out as new")
	}
	if m := w.take(); m != again {
		t.Errorf("took %v, want the redelivery of 1", m)
	}
	// A redelivery of a message not yet committed replaces it too.
	again2 := &fakeMsg{seq: 2, log: log}
	w.track(1, 2, again2)
	w.committed(1, 2)
	if m := w.take(); m != again2 {
		t.Errorf("took %v, want the redelivery of 2", m)
	}
}

// A redelivery of input already below the watermark (and acknowledged
// before a reset moved the ack floor back) is acknowledged again: the ack
// floor must not wait for new input.
func TestWatermarkAcknowledgesRedeliveriesBelowIt(t *testing.T) {
	log := &settleLog{}
	w := newWatermark()
	for seq := uint64(1); seq <= 3; seq++ {
		w.track(0, seq, &fakeMsg{seq: seq, log: log})
	}
	w.committed(0, 3)
	if m := w.take(); m == nil || m.(*fakeMsg).seq != 3 {
		t.Fatalf("took %v, want 3", m)
	}
	w.newGeneration()
	for seq := uint64(1); seq <= 3; seq++ {
		if w.track(0, seq, &fakeMsg{seq: seq, log: log}) {
			t.Fatalf("redelivery of %d handed out as new", seq)
		}
	}
	if m := w.take(); m == nil || m.(*fakeMsg).seq != 3 {
		t.Errorf("took %v after the redeliveries, want the redelivery of 3", m)
	}
}

// pending is how many tracked messages are above the watermark.
func (w *watermark) pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.order) - w.head
}
