package streams

import (
	"strconv"
	"strings"
	"testing"

	"github.com/pointsledger/loyalty/domain"
)

// TestIsMemberKeyAgreesWithMemberKey checks IsMemberKey against MemberKey
// for ids on both sides of its stack buffers and for keys of other ids.
func TestIsMemberKeyAgreesWithMemberKey(t *testing.T) {
	ids := []string{"a", "a.b", "*", ">", "x y", "Ünïcödé ✓", strings.Repeat("m", 95), strings.Repeat("m", 96),
		strings.Repeat("m", 97), strings.Repeat("é", 64)}
	for _, id := range ids {
		if !IsMemberKey(MemberKey(id), id) {
			t.Errorf("IsMemberKey(MemberKey(%q), %q) = false", id, id)
		}
		for _, other := range ids {
			if other != id && IsMemberKey(MemberKey(other), id) {
				t.Errorf("IsMemberKey(MemberKey(%q), %q) = true", other, id)
			}
		}
		if IsMemberKey(MemberKey(id)+"A", id) || IsMemberKey("", id) {
			t.Errorf("IsMemberKey accepts a longer or empty key for %q", id)
		}
	}
	key := MemberKey("member-0042")
	if testing.AllocsPerRun(100, func() { IsMemberKey(key, "member-0042") }) > 0 {
		t.Error("IsMemberKey allocates for a short id")
	}
}

// The logs show no member key: input and outbound subjects lose their last
// token, which is the member id, reversibly encoded.
func TestLoggedSubjectHasNoMemberKey(t *testing.T) {
	id := "ana@example.com"
	in, err := InputSubject(domain.TypePurchaseCompleted, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ subject, want string }{
		{in, "loyalty.in.purchase-completed.*"},
		{"loyalty.in.07.purchase-completed." + MemberKey(id), "loyalty.in.07.purchase-completed.*"},
		{OutboundSubject(OutPointsEarned, id), "loyalty.out.points_earned.v1." + strconv.Itoa(PartitionOf(id)) + ".*"},
		{LedgerSubject(3), LedgerSubject(3)},
		{"loyalty.dlq.unknown_member", "loyalty.dlq.unknown_member"},
	} {
		if got := LoggedSubject(c.subject); got != c.want || strings.Contains(got, MemberKey(id)) {
			t.Errorf("LoggedSubject(%q) = %q, want %q", c.subject, got, c.want)
		}
	}
}
