package streams

import (
	"fmt"
	"hash/fnv"
	"testing"

	"github.com/pointsledger/loyalty/domain/simulate"
)

// Event digests are stored in the ledger: a change of any digest makes a
// re-published event look like a conflicting one. These are the digests of
// 20,000 simulated events (the 8 kinds the simulator makes) as hash/fnv
// computed them, folded into one value, and one of them. A change of the
// simulator changes them too: take the new values from the digest code
// before your change.
func TestEventDigestsAreStable(t *testing.T) {
	events, err := simulate.All(simulate.Config{Members: 1500, Days: 180, Seed: 42})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) < 20_000 {
		t.Fatalf("simulated %d events, want at least 20,000", len(events))
	}
	all := fnv.New64a()
	kinds := map[string]bool{}
	for _, e := range events[:20_000] {
		fmt.Fprintf(all, "%016x", EventDigest(e))
		kinds[string(e.Type)] = true
	}
	if got, want := fmt.Sprintf("%016x", EventDigest(events[0])), "3aff525097d8ba2a"; got != want {
		t.Errorf("digest of %s %q = %s, want %s", events[0].Type, events[0].ID, got, want)
	}
	if got, want := fmt.Sprintf("%016x", all.Sum64()), "c322f33bdb4965c2"; got != want {
		t.Errorf("digests of 20,000 simulated events (%d kinds) fold to %s, want %s", len(kinds), got, want)
	}
}

// digest is FNV-1a over fixed-width integers and length-prefixed strings,
// as hash/fnv computes it.
func TestDigestIsFNV1a(t *testing.T) {
	for _, parts := range [][]any{
		{}, {""}, {"a"}, {"loyalty-event-digest-v1", "loyalty.purchase.completed.v1", "zoë 🎉"},
		{uint64(0), int64(-1), "x", uint64(1 << 63)}, {int64(1767225600), int64(999_999_999), "store-12"},
	} {
		d, ref := newDigest(), fnv.New64a()
		for _, p := range parts {
			var b [8]byte
			switch v := p.(type) {
			case string:
				d.str(v)
				putUint(&b, uint64(len(v)))
				ref.Write(b[:])
				ref.Write([]byte(v))
			case uint64:
				d.uint(v)
				putUint(&b, v)
				ref.Write(b[:])
			case int64:
				d.int(v)
				putUint(&b, uint64(v))
				ref.Write(b[:])
			}
		}
		if got, want := d.sum, ref.Sum64(); got != want {
			t.Errorf("digest of %q = %016x, hash/fnv gives %016x", parts, got, want)
		}
	}
}

func putUint(b *[8]byte, v uint64) {
	for i := range 8 {
		b[i] = byte(v >> (56 - 8*i))
	}
}
