package streams_test

import (
	"strings"
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/streams"
)

// A ledger message is read only when the engine could have written it;
// strings it never admits, such as a NUL (which PostgreSQL cannot store),
// mark a foreign one wherever they are, a fact's comment included.
func TestQuarantineDecodeRefusesWhatTheEngineNeverWrites(t *testing.T) {
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	member := "m-1"
	subject := streams.LedgerSubject(streams.PartitionOf(member))
	feedback := func(comment string) streams.LedgerRecord {
		return streams.LedgerRecord{Partition: streams.PartitionOf(member), EventID: "f-1", MemberID: member,
			Facts: []domain.Fact{domain.FeedbackRecorded{FactMeta: domain.FactMeta{MemberID: member, EventID: "f-1", OccurredAt: at}, Comment: comment}}}
	}
	purchase := func(order string) streams.LedgerRecord {
		return streams.LedgerRecord{Partition: streams.PartitionOf(member), EventID: "p-1", MemberID: member,
			Facts: []domain.Fact{domain.PurchaseRecorded{FactMeta: domain.FactMeta{MemberID: member, EventID: "p-1", OccurredAt: at},
				OrderID: order, Total: domain.Money{Minor: 100, Currency: "EUR"}}}}
	}
	for _, c := range []struct {
		name, subject string
		rec           streams.LedgerRecord
		refused       string // "" when read
	}{
		{"the engine's", subject, feedback(`fine, see C:\u0000 and \\`), ""},
		{"a NUL in a comment", subject, feedback("a\x00b"), "NUL"},
		{"another partition's member", streams.LedgerSubject((streams.PartitionOf(member) + 1) % streams.Partitions), feedback("ok"), "claims partition"},
		{"no partition's subject", streams.LedgerPrefix + ".all", feedback("ok"), "not a partition's ledger subject"},
		{"an order id no index can hold", subject, purchase(strings.Repeat("o", 3200)), "loyalty.purchase.recorded.v1 fact's order_id is 3200 bytes"},
		{"a long order id an older version admitted", subject, purchase(strings.Repeat("o", 1000)), ""},
		// Admitted before control characters were refused in ids: the engine's.
		{"an id an older version admitted", streams.LedgerSubject(streams.PartitionOf("m\t1")),
			streams.LedgerRecord{Partition: streams.PartitionOf("m\t1"), EventID: "e\x01", MemberID: "m\t1"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			data, err := streams.EncodeLedgerMessage(nil, c.rec)
			if err != nil {
				t.Fatal(err)
			}
			recs, skipped, err := streams.Quarantine{}.Decode(9, c.subject, data, nil)
			switch {
			case c.refused == "" && (err != nil || skipped || len(recs) != 1):
				t.Errorf("Decode = %d records, skipped %v, %v; want the record read", len(recs), skipped, err)
			case c.refused != "" && (err == nil || !strings.Contains(err.Error(), c.refused) || !strings.Contains(err.Error(), "ledger quarantine 9")):
				t.Errorf("Decode = %v, want a refusal saying %q and naming the quarantine", err, c.refused)
			}
		})
	}
}
