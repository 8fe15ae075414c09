package streams

import (
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
)

// Every fact kind whose codec writes other_member_id is in
// otherMemberFactTypes, and no other: a kind left out would be written
// with a token whose key no one made, and no reader could read it.
func TestOtherMemberFactTypes(t *testing.T) {
	meta := domain.FactMeta{MemberID: "m-1", EventID: "e-1", OccurredAt: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	names := map[domain.FactType]bool{}
	for _, f := range ledgerFacts(meta, [3]string{"a", "b", "c"}, [3]int64{1, 2, 3}) {
		var w wireFact
		if err := encodeFact(&w, f); err != nil {
			t.Fatal(err)
		}
		if w.OtherMemberID != "" {
			names[f.FactType()] = true
		}
	}
	for typ := range names {
		if !otherMemberFactTypes[typ] {
			t.Errorf("%s names another member but is not in otherMemberFactTypes", typ)
		}
	}
	for typ := range otherMemberFactTypes {
		if !names[typ] {
			t.Errorf("%s is in otherMemberFactTypes but its sample names no other member", typ)
		}
	}
}
