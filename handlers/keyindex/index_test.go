package keyindex

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
)

func open(t *testing.T, dir string) *Index {
	t.Helper()
	ix, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return ix
}

func get(t *testing.T, ix *Index, k domain.Key) (Entry, bool) {
	t.Helper()
	e, ok, err := ix.Get(k)
	if err != nil {
		t.Fatal(err)
	}
	return e, ok
}

func TestCommittedKeysOutliveTheProcess(t *testing.T) {
	dir := t.TempDir()
	ix := open(t, dir)
	order := domain.OrderKey("m-1", "o-1")
	request := domain.RequestKey("m-1", domain.RedemptionRef("r-1"))
	at := time.Date(2022, 3, 4, 5, 6, 7, 0, time.UTC)
	claims := []Claim{
		{Key: domain.EventKey(domain.TypePurchaseCompleted, "e-1"), Entry: Entry{InputSeq: 7, Digest: 99}},
		{Key: order, Entry: Entry{InputSeq: 7}},
		{Key: request, Entry: Entry{InputSeq: 7, Request: &domain.RedemptionOutcome{At: at, Points: 250}}},
	}
	if err := ix.Reserve(3, claims); err != nil {
		t.Fatal(err)
	}
	if e, ok := get(t, ix, order); !ok || !e.Held || e.Partition != 3 {
		t.Fatalf("a reserved key is %+v (found %v), want held by partition 3", e, ok)
	}
	if err := ix.Commit(3, 41); err != nil {
		t.Fatal(err)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}

	ix = open(t, dir)
	defer ix.Close()
	if got := ix.Checkpoint(3); got != 41 {
		t.Errorf("checkpoint after reopening = %d, want 41", got)
	}
	for _, c := range claims {
		e, ok := get(t, ix, c.Key)
		want := c.Entry
		want.Partition = 3
		if !ok || !reflect.DeepEqual(e, want) {
			t.Errorf("after reopening, key %x = %+v (found %v), want %+v", c.Key, e, ok, want)
		}
	}
	if _, ok := get(t, ix, domain.OrderKey("m-2", "o-1")); ok {
		t.Error("another member's order with the same id is found")
	}
}

func TestAKeyOnePartitionTookIsRefusedToAnother(t *testing.T) {
	ix := open(t, "")
	defer ix.Close()
	k := []Claim{{Key: domain.EventKey(domain.TypeVisitRecorded, "shared-id"), Entry: Entry{InputSeq: 1}}}
	if err := ix.Reserve(1, k); err != nil {
		t.Fatal(err)
	}
	if err := ix.Reserve(2, k); !errors.Is(err, ErrHeld) {
		t.Fatalf("a key held by partition 1, reserved by partition 2: %v, want ErrHeld", err)
	}
	ix.Release(1)
	if _, ok := get(t, ix, k[0].Key); ok {
		t.Fatal("a released key is still found")
	}
	if err := ix.Reserve(2, k); err != nil {
		t.Fatalf("a released key, reserved by another partition: %v", err)
	}
	if err := ix.Commit(2, 9); err != nil {
		t.Fatal(err)
	}
	if err := ix.Reserve(1, k); !errors.Is(err, ErrHeld) {
		t.Fatalf("a key partition 2 appended, reserved by partition 1: %v, want ErrHeld", err)
	}
	// The partition that took it may take it again: a held redemption's
	// later refusal replaces its outcome.
	if err := ix.Reserve(2, k); err != nil {
		t.Fatalf("partition 2 taking its own key again: %v", err)
	}
}

func TestAnIndexOfAnotherLedgerIsEmptied(t *testing.T) {
	dir := t.TempDir()
	ix := open(t, dir)
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := ix.Bind(created, 0); err != nil {
		t.Fatal(err)
	}
	k := domain.OrderKey("m", "o")
	commit := func(seq uint64) {
		t.Helper()
		if err := ix.Reserve(0, []Claim{{Key: k, Entry: Entry{InputSeq: seq}}}); err != nil {
			t.Fatal(err)
		}
		if err := ix.Commit(0, seq); err != nil {
			t.Fatal(err)
		}
	}
	commit(10)
	for _, c := range []struct {
		name    string
		created time.Time
		last    uint64
		emptied bool
	}{
		{"the same ledger, grown", created, 20, false},
		{"a ledger made again", created.Add(time.Second), 20, true},
		{"a ledger shorter than the checkpoint", created.Add(time.Second), 5, true},
	} {
		if c.emptied {
			commit(10)
		}
		emptied, err := ix.Bind(c.created, c.last)
		if err != nil {
			t.Fatal(err)
		}
		_, found := get(t, ix, k)
		if emptied != c.emptied || found == c.emptied || (ix.Checkpoint(0) == 0) != c.emptied {
			t.Errorf("%s: emptied %v, key found %v, checkpoint %d; want emptied %v", c.name, emptied, found, ix.Checkpoint(0), c.emptied)
		}
	}
	ix.Close()
	ix = open(t, dir)
	defer ix.Close()
	if emptied, err := ix.Bind(created.Add(time.Second), 5); err != nil || emptied {
		t.Errorf("reopened on the ledger it was bound to: emptied %v, %v", emptied, err)
	}
}

func TestAFoldWritesOnlyPastTheCheckpoint(t *testing.T) {
	ix := open(t, "")
	defer ix.Close()
	a, b, c := domain.OrderKey("m", "a"), domain.OrderKey("m", "b"), domain.OrderKey("m", "c")
	if err := ix.Reserve(4, []Claim{{Key: a, Entry: Entry{InputSeq: 1}}}); err != nil {
		t.Fatal(err)
	}
	if err := ix.Commit(4, 10); err != nil {
		t.Fatal(err)
	}
	f := ix.NewFolder([]int{4, 5})
	for _, step := range []struct {
		part int
		seq  uint64
		key  domain.Key
	}{{4, 10, b}, {4, 11, c}, {5, 12, b}} {
		if err := f.Add(step.part, step.seq, []Claim{{Key: step.key, Entry: Entry{InputSeq: step.seq}}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Finish(); err != nil {
		t.Fatal(err)
	}
	if e, ok := get(t, ix, c); !ok || e.Partition != 4 {
		t.Errorf("a key past the checkpoint: %+v (found %v)", e, ok)
	}
	if e, _ := get(t, ix, b); e.Partition != 5 {
		t.Errorf("key b = %+v: partition 4's record at its checkpoint was folded again", e)
	}
	if ix.Checkpoint(4) != 11 || ix.Checkpoint(5) != 12 || f.Wrote() != 2 {
		t.Errorf("checkpoints %d, %d, wrote %d; want 11, 12, 2", ix.Checkpoint(4), ix.Checkpoint(5), f.Wrote())
	}
}

func FuzzDecodeEntry(f *testing.F) {
	f.Add(appendEntry(nil, Entry{Partition: 63, InputSeq: 1 << 40, Digest: 1 << 63, Legacy: true}))
	f.Add(appendEntry(nil, Entry{Request: &domain.RedemptionOutcome{At: time.Unix(1700000000, 5).UTC(), Points: -3, Rejected: "insufficient_points"}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEntry(b)
		if err != nil {
			return
		}
		again, err := decodeEntry(appendEntry(nil, e))
		if err != nil || !reflect.DeepEqual(again, e) {
			t.Fatalf("%+v encodes to what decodes as %+v, %v", e, again, err)
		}
	})
}
