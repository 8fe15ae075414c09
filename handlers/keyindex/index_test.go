package keyindex

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
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
	k := []Claim{{Key: domain.EventKey(domain.TypeVisitRecorded, "shared-id"), Entry: Entry{InputSeq: 1}, Shared: true}}
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
	if _, err := ix.Bind(created, 0, "all"); err != nil {
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
		scope   string
		emptied bool
	}{
		{"the same ledger, grown", created, 20, "all", false},
		{"a ledger made again", created.Add(time.Second), 20, "all", true},
		{"a ledger shorter than the checkpoint", created.Add(time.Second), 5, "all", true},
		{"another part of the ledger (a message quarantined since)", created.Add(time.Second), 20, "all but 7", true},
	} {
		if c.emptied {
			commit(10)
		}
		emptied, err := ix.Bind(c.created, c.last, c.scope)
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
	if emptied, err := ix.Bind(created.Add(time.Second), 20, "all but 7"); err != nil || emptied {
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

// BenchmarkEventKeys is the index's work for one applied input as the
// engine does it: the event key looked up (absent), reserved with an order
// key, and committed with the partition's batch of 128.
func BenchmarkEventKeys(b *testing.B) {
	for _, mt := range []uint64{1 << 20, 4 << 20, 16 << 20} {
		b.Run(fmt.Sprintf("memtable=%dMiB", mt>>20), func(b *testing.B) {
			ix, err := Open(b.TempDir(), Options{MemTableBytes: mt})
			if err != nil {
				b.Fatal(err)
			}
			defer ix.Close()
			seq := uint64(0)
			for b.Loop() {
				seq++
				id := strconv.FormatUint(seq, 10)
				k := domain.EventKey(domain.TypePurchaseCompleted, id)
				ix.Begin(int(seq % 64))
				if _, ok, err := ix.Get(k); err != nil || ok {
					b.Fatal("a new key is found", err)
				}
				if err := ix.Reserve(int(seq%64), []Claim{{Key: k, Entry: Entry{InputSeq: seq}, Shared: true}, {Key: domain.OrderKey("m", id), Entry: Entry{InputSeq: seq}}}); err != nil {
					b.Fatal(err)
				}
				if seq%128 == 0 {
					for p := range 64 {
						if err := ix.Commit(p, seq); err != nil {
							b.Fatal(err)
						}
					}
				}
			}
		})
	}
}

// The filter never loses a key it was given, and at ten bits a key lets
// about one absent key in a hundred through to the store.
func TestTheFilterKeepsEveryKey(t *testing.T) {
	const keys = 100_000
	f := newFilter(keys * 10 / 8)
	for i := range keys {
		f.add(domain.OrderKey("m", strconv.Itoa(i)))
	}
	for i := range keys {
		if !f.mayContain(domain.OrderKey("m", strconv.Itoa(i))) {
			t.Fatalf("key %d was added and is not in the filter", i)
		}
	}
	through := 0
	for i := range keys {
		if f.mayContain(domain.OrderKey("absent", strconv.Itoa(i))) {
			through++
		}
	}
	if rate := float64(through) / keys; rate > 0.03 {
		t.Errorf("%.2f %% of absent keys pass the filter, want about 1 %%", 100*rate)
	} else {
		t.Logf("%.2f %% of absent keys pass the filter", 100*rate)
	}
}

// A partition looks a key up, and before it reserves the key another
// partition takes it and commits: the reservation is refused.
func TestAKeyTakenBetweenLookUpAndReservationIsRefused(t *testing.T) {
	ix := open(t, "")
	defer ix.Close()
	claim := []Claim{{Key: domain.EventKey(domain.TypeVisitRecorded, "raced"), Shared: true}}
	ix.Begin(1)
	if _, ok := get(t, ix, claim[0].Key); ok {
		t.Fatal("a new key is found")
	}
	ix.Begin(2)
	if err := ix.Reserve(2, claim); err != nil {
		t.Fatal(err)
	}
	if err := ix.Commit(2, 5); err != nil {
		t.Fatal(err)
	}
	if err := ix.Reserve(1, claim); !errors.Is(err, ErrHeld) {
		t.Fatalf("partition 1 reserving a key partition 2 committed since its look-up: %v, want ErrHeld", err)
	}
}

// A clean close saves the filter with the checkpoints it covers; the next
// start needs the keys of the ledger written since only. The file is gone
// once read, so that a crash cannot leave a filter behind the store.
func TestASavedFilterSparesTheFoldWhatItHolds(t *testing.T) {
	dir := t.TempDir()
	ix := open(t, dir)
	k := domain.OrderKey("m", "o-1")
	if err := ix.Reserve(3, []Claim{{Key: k, Entry: Entry{InputSeq: 1}}}); err != nil {
		t.Fatal(err)
	}
	if err := ix.Commit(3, 41); err != nil {
		t.Fatal(err)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	ix = open(t, dir)
	if _, err := os.Stat(filepath.Join(dir, filterFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the saved filter is still there after it was read: %v", err)
	}
	f := ix.NewFolder([]int{3, 4})
	if f.Needs(3, 41) || !f.Needs(3, 42) || !f.Needs(4, 1) {
		t.Errorf("needs (3, 41) %v, (3, 42) %v, (4, 1) %v; want false, true, true", f.Needs(3, 41), f.Needs(3, 42), f.Needs(4, 1))
	}
	if err := f.Finish(); err != nil {
		t.Fatal(err)
	}
	ix.Prime()
	if _, ok := get(t, ix, k); !ok {
		t.Error("a key of the saved filter is not found once primed")
	}
	if _, ok := get(t, ix, domain.OrderKey("m", "o-2")); ok {
		t.Error("an absent key is found")
	}
	ix.Close()

	// A filter of another size is not used: it is filled from the store.
	other, err := Open(dir, Options{FilterBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if !other.needsFill {
		t.Error("a filter saved at another size was used")
	}
	primeAndWait(t, other)
	if _, ok := get(t, other, k); !ok {
		t.Error("a key of the store is not found once the filter is filled")
	}
}

// A filter not saved (a crash) is filled from the store in the background
// once primed, not from the ledger: the fold needs only the records past
// the checkpoints. Look-ups meanwhile go on to the store.
func TestAFilterNotSavedIsFilledFromTheStore(t *testing.T) {
	dir := t.TempDir()
	ix := open(t, dir)
	var keys []domain.Key
	for i := range 10_000 {
		k := domain.OrderKey("m", fmt.Sprint("o-", i))
		keys = append(keys, k)
		if err := ix.Reserve(1, []Claim{{Key: k, Entry: Entry{InputSeq: uint64(i + 1)}}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := ix.Commit(1, 7); err != nil {
		t.Fatal(err)
	}
	ix.primed.Store(false) // as a crash would: Close saves no filter
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	ix = open(t, dir)
	defer ix.Close()
	if f := ix.NewFolder([]int{1}); f.Needs(1, 7) || !f.Needs(1, 8) {
		t.Errorf("after a crash the fold needs (1, 7) %v, (1, 8) %v; want false, true", f.Needs(1, 7), f.Needs(1, 8))
	}
	if _, ok := get(t, ix, keys[0]); !ok {
		t.Error("a stored key is not found before the filter is filled")
	}
	primeAndWait(t, ix)
	for _, k := range keys {
		if _, ok := get(t, ix, k); !ok {
			t.Fatalf("key %x of the store is not found once the filter is filled", k)
		}
	}
	before := ix.counters.Filtered.Load()
	if _, ok := get(t, ix, domain.OrderKey("m", "absent")); ok {
		t.Error("an absent key is found")
	}
	if ix.counters.Filtered.Load() == before && ix.counters.Missed.Load() == 0 {
		t.Error("the absent key was not looked up")
	}
}

func primeAndWait(t *testing.T, ix *Index) {
	t.Helper()
	ix.Prime()
	ix.fill.Wait()
	if ix.Filling() {
		t.Fatal("the filter is still filling after its fill ended")
	}
}

// The index holds only what the ledger holds: a store whose files are
// damaged, or that was marked broken, is started afresh (to be folded
// again) rather than stopping the engine for good. An index used after
// Close says so and does not panic.
func TestADamagedStoreStartsAfresh(t *testing.T) {
	seed := func(t *testing.T, dir string) {
		ix := open(t, dir)
		if err := ix.Reserve(3, []Claim{{Key: domain.OrderKey("m", "o"), Entry: Entry{InputSeq: 1}}}); err != nil {
			t.Fatal(err)
		}
		if err := ix.Commit(3, 41); err != nil {
			t.Fatal(err)
		}
		if err := ix.Close(); err != nil {
			t.Fatal(err)
		}
	}
	damage := map[string]func(t *testing.T, dir string){
		"every file overwritten": func(t *testing.T, dir string) {
			files, _ := filepath.Glob(filepath.Join(dir, "*"))
			for _, f := range files {
				if err := os.WriteFile(f, []byte("not a store file"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		},
		"marked broken": func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, brokenMark), []byte("test\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		},
	}
	for name, spoil := range damage {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			seed(t, dir)
			spoil(t, dir)
			ix, err := OpenOrRebuild(dir, Options{})
			if err != nil {
				t.Fatalf("OpenOrRebuild: %v", err)
			}
			defer ix.Close()
			if ix.Checkpoint(3) != 0 {
				t.Errorf("checkpoint %d after starting afresh, want 0 (the ledger is folded again)", ix.Checkpoint(3))
			}
			if _, ok := get(t, ix, domain.OrderKey("m", "o")); ok {
				t.Error("a key of the damaged store is still found")
			}
		})
	}

	ix := open(t, t.TempDir())
	ix.Close()
	if _, _, err := ix.Get(domain.OrderKey("m", "o")); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close: %v, want ErrClosed", err)
	}
	if err := ix.Commit(0, 1); !errors.Is(err, ErrClosed) {
		t.Errorf("Commit after Close: %v, want ErrClosed", err)
	}
}
