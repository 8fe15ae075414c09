package handlers

import "testing"

// A dead letter is replayed on the subject it was published on, whether its
// header holds that (now) or the stored subject (dead letters from before).
func TestReplaySubject(t *testing.T) {
	for in, want := range map[string]string{
		"loyalty.in.purchase-completed.bS00Mg":    "loyalty.in.purchase-completed.bS00Mg",
		"loyalty.in.62.purchase-completed.bS00Mg": "loyalty.in.purchase-completed.bS00Mg",
	} {
		if got, err := replaySubject(in); err != nil || got != want {
			t.Errorf("replaySubject(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "loyalty.in", "loyalty.ledger.3", "$JS.API.STREAM.DELETE.LOYALTY_IN", "loyalty.in..x", "loyalty.in.a.b.c.d"} {
		if got, err := replaySubject(bad); err == nil {
			t.Errorf("replaySubject(%q) = %q; want it refused", bad, got)
		}
	}
}
