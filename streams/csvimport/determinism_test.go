package csvimport_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/streams"
	"github.com/pointsledger/loyalty/streams/csvimport"
)

func readFile(t *testing.T, name, source string) []result {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return readAll(t, string(data), source)
}

// TestImportedIDsAreFrozen pins the event and generated order ids of
// testdata/purchases.csv. Re-importing a file is idempotent downstream only
// while these stay the same: if this test fails, the id derivation (or its
// namespace) changed, and every file imported before the change would be
// counted twice on its next import. Do not update the expected ids.
func TestImportedIDsAreFrozen(t *testing.T) {
	type ids struct {
		Line    int
		EventID string
		OrderID string
		Field   string // of a row error
	}
	want := []ids{
		{Line: 2, EventID: "b5ed4fcc-ee99-57d1-9455-066975180fda", OrderID: "A-1001"},
		{Line: 3, EventID: "ade9a83c-8286-5538-8f72-8f1ab11329b7", OrderID: "import-8f07cb13f1c0c437"},
		{Line: 4, EventID: "1c6e1552-3b3f-5f5e-8f9c-458a84414a69", OrderID: "POS-3,000981"},
		{Line: 5, EventID: "bf2ed063-062c-5ac4-8b2f-edb8a2ad610f", OrderID: "import-9df2d46aba205a03"},
		{Line: 7, Field: csvimport.ColAmount},
		{Line: 8, EventID: "916838cf-7b2b-5b02-be6d-8f0bc84e08ef", OrderID: "import-03a39479356de7c1"},
		{Line: 9, Field: csvimport.ColOccurredAt},
		{Line: 10, EventID: "77eab4f4-da02-54ac-9984-0cd38d20db58", OrderID: "import-dbc0874566691701"},
	}
	var got []ids
	for _, r := range readFile(t, "testdata/purchases.csv", "purchases.csv") {
		if r.Err != nil {
			got = append(got, ids{Line: r.Err.Line, Field: r.Err.Field})
			continue
		}
		checkEvent(t, r.Row.Event, "purchases.csv")
		got = append(got, ids{Line: r.Row.Line, EventID: r.Row.Event.ID, OrderID: r.Row.Event.Body.(domain.Purchase).OrderID})
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ids of testdata/purchases.csv changed; re-imports would count rows twice\n got %#v\nwant %#v", got, want)
	}
}

// TestEventIDDerivation recomputes two ids of testdata/purchases.csv from
// the formula the package documents, so that a change to it is caught even
// where the frozen ids above would be updated along with it.
func TestEventIDDerivation(t *testing.T) {
	namespace := uuid.MustParse("37af55e6-7c9f-47dc-b11f-6d0b41074f8c") // never changes
	fields := func(values ...string) []byte {
		var b []byte
		for _, v := range values {
			b = append(b, strconv.Itoa(len(v))+":"+v...)
		}
		return b
	}
	sum := sha256.Sum256(fields("m-1002", "2026-03-01T18:05:00Z", "1500", "JPY", "3"))
	generated := "import-" + hex.EncodeToString(sum[:8])
	want := []struct {
		line      int
		id, order string
	}{
		// 2026-03-01T14:30:00+01:00 is hashed in UTC, 12.99 as minor units.
		{2, uuid.NewSHA1(namespace, fields("m-1001", "A-1001", "2026-03-01T13:30:00Z", "1299", "EUR")).String(), "A-1001"},
		{3, uuid.NewSHA1(namespace, fields("m-1002", generated, "2026-03-01T18:05:00Z", "1500", "JPY")).String(), generated},
	}
	got := readFile(t, "testdata/purchases.csv", "purchases.csv")
	for i, w := range want {
		row := got[i].Row
		if row.Line != w.line || row.Event.ID != w.id || row.Event.Body.(domain.Purchase).OrderID != w.order {
			t.Errorf("line %d: id %s order %q, want line %d id %s order %q",
				row.Line, row.Event.ID, row.Event.Body.(domain.Purchase).OrderID, w.line, w.id, w.order)
		}
	}
}

// TestReimportGivesTheSameEvents reads the same file twice, under another
// source name the second time (the --source flag), and gets the same ids.
func TestReimportGivesTheSameEvents(t *testing.T) {
	first := readFile(t, "testdata/purchases.csv", "purchases.csv")
	again := readFile(t, "testdata/purchases.csv", "purchases.csv")
	if !reflect.DeepEqual(first, again) {
		t.Fatalf("reading the file twice gave different results\nfirst %+v\nagain %+v", first, again)
	}
	renamed := readFile(t, "testdata/purchases.csv", "backfill-2026-03")
	if len(renamed) != len(first) {
		t.Fatalf("got %d results under another source, want %d", len(renamed), len(first))
	}
	for i := range first {
		if first[i].Err != nil {
			continue
		}
		if got, want := renamed[i].Row.Event.ID, first[i].Row.Event.ID; got != want {
			t.Errorf("line %d: id %s under another source, want %s", first[i].Row.Line, got, want)
		}
		if got, want := renamed[i].Row.Event.Source, "backfill-2026-03"; got != want {
			t.Errorf("line %d: Source = %q, want %q", first[i].Row.Line, got, want)
		}
	}
	seen := map[string]int{}
	for _, r := range first {
		if r.Err != nil {
			continue
		}
		if line, dup := seen[r.Row.Event.ID]; dup {
			t.Errorf("lines %d and %d share event id %s", line, r.Row.Line, r.Row.Event.ID)
		}
		seen[r.Row.Event.ID] = r.Row.Line
	}
}

// TestSamePurchaseSameID writes one purchase in different ways; the event
// id depends on what the row means, not how it is spelt or laid out.
func TestSamePurchaseSameID(t *testing.T) {
	for _, withOrder := range []bool{true, false} {
		order := ""
		if withOrder {
			order = "A-1"
		}
		base := header + "m-1,2026-03-01T14:30:00Z,12.90,EUR," + order + "\n"
		want := onlyEvent(t, base)
		variants := map[string]string{
			"one decimal":      header + "m-1,2026-03-01T14:30:00Z,12.9,EUR," + order + "\n",
			"leading zero":     header + "m-1,2026-03-01T14:30:00Z,012.90,EUR," + order + "\n",
			"lower case":       header + "m-1,2026-03-01T14:30:00Z,12.90,eur," + order + "\n",
			"same instant":     header + "m-1,2026-03-01T15:30:00+01:00,12.90,EUR," + order + "\n",
			"zero fraction":    header + "m-1,2026-03-01T14:30:00.000Z,12.90,EUR," + order + "\n",
			"padded":           header + " m-1 ,2026-03-01T14:30:00Z , 12.90,EUR , " + order + " \n",
			"quoted":           header + `"m-1","2026-03-01T14:30:00Z","12.90","EUR","` + order + "\"\n",
			"CRLF and BOM":     "\uFEFF" + strings.ReplaceAll(base, "\n", "\r\n"),
			"other column set": "occurred_at,note,currency,member_id,order_id,amount\n2026-03-01T14:30:00Z,hi,EUR,m-1," + order + ",12.90\n",
		}
		if !withOrder {
			variants["no order_id column"] = "member_id,occurred_at,amount,currency\nm-1,2026-03-01T14:30:00Z,12.90,EUR\n"
		}
		for name, input := range variants {
			got := onlyEvent(t, input)
			if got.ID != want.ID || !reflect.DeepEqual(got.Body, want.Body) || !got.OccurredAt.Equal(want.OccurredAt) {
				t.Errorf("order %q, %s: got %s %+v, want %s %+v", order, name, got.ID, got.Body, want.ID, want.Body)
			}
		}
	}
}

// TestDifferentPurchaseDifferentID changes one thing at a time.
func TestDifferentPurchaseDifferentID(t *testing.T) {
	base := onlyEvent(t, header+"m-1,2026-03-01T14:30:00Z,12.99,EUR,A-1\n")
	for name, row := range map[string]string{
		"member":            "m-2,2026-03-01T14:30:00Z,12.99,EUR,A-1",
		"time":              "m-1,2026-03-01T14:30:00.000000001Z,12.99,EUR,A-1",
		"amount":            "m-1,2026-03-01T14:30:00Z,12.98,EUR,A-1",
		"currency":          "m-1,2026-03-01T14:30:00Z,12.99,USD,A-1",
		"order":             "m-1,2026-03-01T14:30:00Z,12.99,EUR,A-2",
		"no order":          "m-1,2026-03-01T14:30:00Z,12.99,EUR,",
		"fields run across": "m-1,2026-03-01T14:30:00Z,12.99,EUR,A-1 ",
	} {
		got := onlyEvent(t, header+row+"\n")
		if (got.ID == base.ID) != (name == "fields run across") { // trailing space is trimmed: same purchase
			t.Errorf("%s: id %s, base id %s", name, got.ID, base.ID)
		}
	}
	// Member "m-1" with order "1A" and member "m-11" with order "A" must not
	// collide although their concatenations do.
	a := onlyEvent(t, header+"m-1,2026-03-01T14:30:00Z,1,EUR,1A\n")
	b := onlyEvent(t, header+"m-11,2026-03-01T14:30:00Z,1,EUR,A\n")
	if a.ID == b.ID {
		t.Errorf("m-1/1A and m-11/A share id %s", a.ID)
	}
}

// TestRowsWithOrderIDKeepTheirIDsWhenTheFileIsEdited shows the documented
// hazard: a row with an order id keeps its id when rows are added above it,
// a row without one does not.
func TestRowsWithOrderIDKeepTheirIDsWhenTheFileIsEdited(t *testing.T) {
	rows := "m-1,2026-03-01T14:30:00Z,12.99,EUR,A-1\n" +
		"m-2,2026-03-01T14:30:00Z,5.00,EUR,\n"
	before := readAll(t, header+rows, "test.csv")
	after := readAll(t, header+"m-0,2026-02-28T10:00:00Z,1.00,EUR,Z-0\n"+rows, "test.csv")
	if len(before) != 2 || len(after) != 3 {
		t.Fatalf("got %d and %d rows, want 2 and 3", len(before), len(after))
	}
	if got, want := after[1].Row.Event.ID, before[0].Row.Event.ID; got != want {
		t.Errorf("row with order id: id %s after the edit, want %s", got, want)
	}
	if after[2].Row.Event.ID == before[1].Row.Event.ID {
		t.Errorf("row without order id kept id %s on another line; the package doc says it does not", after[2].Row.Event.ID)
	}
	// The same row twice without an order id gives two purchases...
	twice := readAll(t, header+"m-2,2026-03-01T14:30:00Z,5.00,EUR,\nm-2,2026-03-01T14:30:00Z,5.00,EUR,\n", "test.csv")
	if twice[0].Row.Event.ID == twice[1].Row.Event.ID {
		t.Errorf("duplicated row without order id: one id %s, want two", twice[0].Row.Event.ID)
	}
	// ...and with one, a single purchase the engine sees once.
	twice = readAll(t, header+"m-2,2026-03-01T14:30:00Z,5.00,EUR,B-2\nm-2,2026-03-01T14:30:00Z,5.00,EUR,B-2\n", "test.csv")
	if twice[0].Row.Event.ID != twice[1].Row.Event.ID {
		t.Errorf("duplicated row with order id: ids %s and %s, want one", twice[0].Row.Event.ID, twice[1].Row.Event.ID)
	}
}

// TestImportedEventsCrossTheWire checks that every imported event can be
// published: `loyalty import` stops at the first event EncodeEvent refuses,
// so such a row must be a *RowError instead.
func TestImportedEventsCrossTheWire(t *testing.T) {
	input := header +
		"m-1,9999-12-31T23:59:59.999999999Z,1,EUR,A-1\n" +
		"m-2,9999-12-31T23:30:00-01:00,1,EUR,A-2\n" +
		"m-3,2026-03-01T14:30:00Z,0,JPY,\n"
	for _, r := range append(readAll(t, input, "test.csv"), readFile(t, "testdata/purchases.csv", "purchases.csv")...) {
		if r.Err != nil {
			continue
		}
		checkWire(t, r.Row.Event)
	}
}

func checkWire(t testing.TB, e domain.Event) {
	t.Helper()
	data, err := streams.EncodeEvent(e)
	if err != nil {
		t.Fatalf("EncodeEvent(%+v): %v", e, err)
	}
	back, err := streams.DecodeEvent(data)
	if err != nil {
		t.Fatalf("DecodeEvent(%s): %v", data, err)
	}
	if !reflect.DeepEqual(back, e) {
		t.Fatalf("the wire changed the event\n got %#v\nwant %#v", back, e)
	}
	if _, err := streams.InputSubject(e.Type, e.MemberID); err != nil {
		t.Fatalf("InputSubject(%q): %v", e.MemberID, err)
	}
}

func onlyEvent(t *testing.T, input string) domain.Event {
	t.Helper()
	got := readAll(t, input, "test.csv")
	if len(got) != 1 || got[0].Err != nil {
		t.Fatalf("%q gave %+v, want one row", input, got)
	}
	return got[0].Row.Event
}
