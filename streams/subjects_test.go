package streams

import (
	"strings"
	"testing"
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
