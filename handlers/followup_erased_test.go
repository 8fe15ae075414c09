package handlers

import (
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
)

// A follow-up made again from the ledger to a member whose key is erased
// (their id reads as erased:<token>) is not published: no event may carry
// that id, and it would only be refused.
func TestNoFollowUpToAnErasedID(t *testing.T) {
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	meta := domain.FactMeta{MemberID: "bob", EventID: "tr-1", OccurredAt: at}
	erased := domain.ErasedMemberPrefix + "t07-0123456789abcdef0123456789abcdef"
	for to, want := range map[string]bool{"alice": true, erased: false} {
		f := domain.PointsTransferred{FactMeta: meta, RequestID: "tr-1", ToMemberID: to, Points: 5, FollowUpID: "transfer-k1-00"}
		if _, ok := followUpOf(f); ok != want {
			t.Errorf("a transfer to %q: follow-up %v, want %v", to, ok, want)
		}
	}
}
