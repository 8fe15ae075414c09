package streams

import (
	"go/parser"
	"go/token"
	"maps"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
)

// TestFactCodecsCoverTheDomain: every FactType constant the domain declares
// has an entry in factCodecs, and every entry's type is one of them. The
// domain has no list of its fact types, so its source is read for them.
func TestFactCodecsCoverTheDomain(t *testing.T) {
	pkgs, err := parser.ParseDir(token.NewFileSet(), "../domain", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	declared := map[string]bool{}
	for _, pkg := range pkgs {
		for _, lit := range constLiterals(slices.Collect(maps.Values(pkg.Files)), "FactType") {
			s, _ := strconv.Unquote(lit.Value)
			declared[s] = true
		}
	}
	if len(declared) == 0 {
		t.Fatal("found no FactType constants in ../domain")
	}
	for typ := range declared {
		if factCodecByType[typ] == nil {
			t.Errorf("domain declares fact type %s, which has no entry in factCodecs", typ)
		}
	}
	listed := map[domain.FactType]bool{}
	for _, c := range factCodecs {
		if listed[c.typ] {
			t.Errorf("%s is in factCodecs twice", c.typ)
		}
		listed[c.typ] = true
		if !declared[string(c.typ)] {
			t.Errorf("factCodecs has %s, which the domain does not declare", c.typ)
		}
	}
}

// A time the ledger could not read back is refused when the record is
// written, whichever of a fact's times it is: a record that encodes but does
// not decode would stop every rebuild at it.
func TestLedgerRefusesTimesItCannotReadBack(t *testing.T) {
	far := time.Date(10001, 1, 1, 0, 0, 0, 0, time.UTC)
	meta := domain.FactMeta{MemberID: "m-1", EventID: "e-1", OccurredAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	for name, f := range map[string]domain.Fact{
		"occurred_at":  domain.PointsEarned{FactMeta: domain.FactMeta{MemberID: "m-1", EventID: "e-1", OccurredAt: far}, Points: 1},
		"expires_at":   domain.PointsEarned{FactMeta: meta, Points: 1, ExpiresAt: far},
		"available_at": domain.PointsEarned{FactMeta: meta, Points: 1, AvailableAt: far},
	} {
		rec := LedgerRecord{Partition: 1, InputSeq: 1, InputStored: meta.OccurredAt, EventID: "e-1", MemberID: "m-1", Facts: []domain.Fact{f}}
		if data, err := EncodeLedgerRecord(rec); err == nil {
			_, derr := DecodeLedgerRecord(data)
			t.Errorf("%s in year 10001: encoded to %s (decodes: %v), want an error", name, data, derr)
		}
	}
}

// TestLedgerFactsCoverEveryKind: the samples the ledger's differential tests
// and fuzz targets are built from hold a fact of every kind, so a new kind
// is compared with the reference codec too.
func TestLedgerFactsCoverEveryKind(t *testing.T) {
	meta := domain.FactMeta{MemberID: "m-1", EventID: "e-1", OccurredAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	sampled := map[domain.FactType]bool{}
	for _, f := range ledgerFacts(meta, [3]string{"a", "b", "c"}, [3]int64{1, 2, 3}) {
		sampled[f.FactType()] = true
	}
	for _, c := range factCodecs {
		if !sampled[c.typ] {
			t.Errorf("ledgerFacts (streams/codec_diff_test.go) has no %s: add a sample of it", c.typ)
		}
	}
}
