package streams

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/pointsledger/loyalty/domain"
)

// A message of several records reads back as those records, in order, each
// knowing where its facts start among the message's facts; the strings that
// could confuse a line-based format (newlines, line and paragraph
// separators) stay inside their records.
func TestLedgerMessageRoundTrip(t *testing.T) {
	meta := domain.FactMeta{MemberID: "m\n1", EventID: "e-1", OccurredAt: sampleTime}
	strs := [3]string{"line\nbreak", "\u2028\u2029", "\r\n"}
	first := LedgerRecord{Partition: 3, InputSeq: 10, InputStored: sampleTime, EventID: "a\nb", MemberID: "m\n1",
		EventDigest: 7, Facts: ledgerFacts(meta, strs, [3]int64{1, 2, 3})}
	empty := LedgerRecord{Partition: 3, InputSeq: 11, InputStored: sampleTime, EventID: "no facts", MemberID: "m-2"}
	third := benchLedgerRecord()
	third.Partition, third.InputSeq = 3, 12

	data, err := EncodeLedgerMessage(nil, first, empty, third)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := bytes.Count(data, []byte{'\n'}), 2; got != want {
		t.Fatalf("message has %d newlines, want %d (one between records, none inside)", got, want)
	}
	got, err := DecodeLedgerMessage(data)
	if err != nil {
		t.Fatal(err)
	}
	first.FirstFact, empty.FirstFact, third.FirstFact = 0, len(first.Facts), len(first.Facts)
	want := []LedgerRecord{first, empty, third}
	if len(got) != len(want) {
		t.Fatalf("decoded %d records, want %d", len(got), len(want))
	}
	for i := range want {
		w := mustDecodeLedger(t, mustEncodeLedger(t, want[i])) // the codec's own normal form
		w.FirstFact = want[i].FirstFact
		if !reflect.DeepEqual(got[i], w) {
			t.Errorf("record %d:\n got %+v\nwant %+v", i, got[i], w)
		}
	}
}

// A message of one record is that record's encoding, byte for byte, so
// ledger messages written one record at a time read the same.
func TestLedgerMessageOfOneRecordIsTheRecord(t *testing.T) {
	r := benchLedgerRecord()
	msg, err := EncodeLedgerMessage(nil, r)
	if err != nil {
		t.Fatal(err)
	}
	if rec := mustEncodeLedger(t, r); !bytes.Equal(msg, rec) {
		t.Errorf("message of one record\n%s\nwant\n%s", msg, rec)
	}
}

func TestDecodeLedgerMessageRejects(t *testing.T) {
	rec := string(mustEncodeLedger(t, benchLedgerRecord()))
	for name, data := range map[string]string{
		"empty":              "",
		"empty line":         rec + "\n\n" + rec,
		"trailing newline":   rec + "\n",
		"bad second record":  rec + "\n{\"v\":1,",
		"two records a line": rec + rec,
	} {
		if _, err := DecodeLedgerMessage([]byte(data)); err == nil {
			t.Errorf("%s: decoded without error", name)
		} else if name == "bad second record" && !strings.Contains(err.Error(), "record 1") {
			t.Errorf("%s: error %q does not name record 1", name, err)
		}
	}
}

func mustEncodeLedger(t *testing.T, r LedgerRecord) []byte {
	t.Helper()
	data, err := EncodeLedgerRecord(r)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
