package csvimport_test

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"testing"

	"github.com/pointsledger/loyalty/streams/csvimport"
)

// FuzzReader reads arbitrary bytes as an import file. Whatever the input,
// the reader must not panic or loop, must end in io.EOF, and must give for
// each row either an event that domain.Validate accepts and the wire
// carries, or a *RowError naming a later line than the one before; reading
// the same bytes again must give the same results (re-imports are
// idempotent). The seeds are in testdata/fuzz/FuzzReader.
func FuzzReader(f *testing.F) {
	data, err := os.ReadFile("testdata/purchases.csv")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte(header + "m-1,2026-03-01T14:30:00Z,12.99,EUR,A-1\n"))

	f.Fuzz(func(t *testing.T, data []byte) {
		first := fuzzRead(t, data)
		if again := fuzzRead(t, data); !reflect.DeepEqual(first, again) {
			t.Fatalf("reading %q twice gave different results\nfirst %+v\nagain %+v", data, first, again)
		}
	})
}

var columnNames = map[string]bool{
	"": true, csvimport.ColMemberID: true, csvimport.ColOccurredAt: true,
	csvimport.ColAmount: true, csvimport.ColCurrency: true, csvimport.ColOrderID: true,
}

func fuzzRead(t *testing.T, data []byte) []result {
	r, err := csvimport.NewReader(bytes.NewReader(data), "fuzz.csv")
	if err != nil {
		if !errors.Is(err, csvimport.ErrHeader) {
			t.Fatalf("NewReader(%q) = %v, want nil or an error matching ErrHeader", data, err)
		}
		return nil
	}
	last := 1 // the header's line, at least
	return readResults(t, r, string(data), func(res result) {
		line := res.Row.Line
		if rowErr := res.Err; rowErr != nil {
			line = rowErr.Line
			if rowErr.Reason == "" || !columnNames[rowErr.Field] {
				t.Fatalf("row error %#v: want a reason and a field that is a column or empty", rowErr)
			}
		} else {
			checkEvent(t, res.Row.Event, "fuzz.csv")
			if t.Failed() {
				t.FailNow()
			}
			checkWire(t, res.Row.Event)
		}
		if line <= last {
			t.Fatalf("result on line %d after line %d, want lines to increase (%q)", line, last, data)
		}
		last = line
	})
}
