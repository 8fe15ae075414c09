package streams

import (
	"bytes"
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
)

// benchPurchase is a typical input event: a purchase with three lines, as an
// upstream shop publishes it.
const benchPurchase = `{"specversion":"1.0","id":"6f1c2b1a-3c4d-4e5f-8a9b-0c1d2e3f4a5b","source":"shop-eu-1","type":"loyalty.purchase.completed.v1","time":"2026-03-01T10:15:00.123Z","datacontenttype":"application/json","data":{"member_id":"m-000042","order_id":"A-1001","amount":4297,"currency":"EUR","channel":"web","lines":[{"sku":"SKU-1","category":"beauty","quantity":1,"unit_price":1999},{"sku":"SKU-2","category":"toys","quantity":2,"unit_price":999},{"sku":"SKU-3","quantity":3,"unit_price":100}]}}`

// benchLedgerRecord is what the rules write for such a purchase: the
// purchase, two awards and a tier change.
func benchLedgerRecord() LedgerRecord {
	meta := domain.FactMeta{MemberID: "m-000042", EventID: "6f1c2b1a-3c4d-4e5f-8a9b-0c1d2e3f4a5b", OccurredAt: sampleTime}
	return LedgerRecord{
		Partition: 3, InputSeq: 1234567, InputStored: sampleTime.Add(1500 * time.Millisecond),
		EventID: meta.EventID, EventDigest: 0x0123456789abcdef, MemberID: meta.MemberID, After: &domain.Standing{Balance: 1250, Tier: "gold"},
		Facts: []domain.Fact{
			domain.PurchaseRecorded{FactMeta: meta, OrderID: "A-1001", Total: domain.Money{Minor: 4297, Currency: "EUR"}, Channel: "web",
				Lines: []domain.LineItem{
					{SKU: "SKU-1", Category: "beauty", Quantity: 1, UnitPrice: 1999},
					{SKU: "SKU-2", Category: "toys", Quantity: 2, UnitPrice: 999},
					{SKU: "SKU-3", Quantity: 3, UnitPrice: 100},
				},
				QualifyingSpend: 4297, QualifyingSpendAfter: 104297},
			domain.PointsEarned{FactMeta: meta, Points: 42, Rule: domain.RuleBase, OrderID: "A-1001", ProgramVersion: "2026-03"},
			domain.PointsEarned{FactMeta: meta, Points: 8, Rule: domain.RuleTierBonus, OrderID: "A-1001", ProgramVersion: "2026-03"},
			domain.TierChanged{FactMeta: meta, From: "silver", To: "gold", Reason: domain.TierReasonQualifyingSpend},
		},
	}
}

func BenchmarkDecodeEvent(b *testing.B) {
	data := []byte(benchPurchase)
	if _, err := DecodeEvent(data); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeEvent(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeEvent(b *testing.B) {
	e, err := DecodeEvent([]byte(benchPurchase))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeEvent(e); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeLedgerRecord(b *testing.B) {
	data, err := EncodeLedgerRecord(benchLedgerRecord())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeLedgerRecord(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeLedgerRecord(b *testing.B) {
	r := benchLedgerRecord()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeLedgerRecord(r); err != nil {
			b.Fatal(err)
		}
	}
}

// benchKeys are member keys with the bench member's entry cached, as the
// engine's are after its first record.
func benchKeys(b *testing.B, memberID string) *MemberKeys {
	k := newMemberKeys(nil, bytes.Repeat([]byte{1}, 32))
	k.keep(k.Token(memberID), memberEntry{id: memberID, key: bytes.Repeat([]byte{2}, 32)})
	return k
}

func benchFeedbackRecord() LedgerRecord {
	r := benchLedgerRecord()
	rating := 4
	meta := r.Facts[0].Meta()
	r.Facts = []domain.Fact{domain.FeedbackRecorded{FactMeta: meta, OrderID: "A-1001", Rating: &rating,
		Comment: "Quick checkout, friendly staff at the Elm Street store", Channel: "web"}}
	return r
}

// BenchmarkEncodeSealedLedgerRecord is BenchmarkEncodeLedgerRecord as the
// engine writes it: version 2, the member's token for the id (a purchase
// has nothing to seal), and with a feedback comment to seal.
func BenchmarkEncodeSealedLedgerRecord(b *testing.B) {
	for name, r := range map[string]LedgerRecord{"purchase": benchLedgerRecord(), "feedback": benchFeedbackRecord()} {
		b.Run(name, func(b *testing.B) {
			keys := benchKeys(b, r.MemberID)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := AppendSealedLedgerRecord(make([]byte, 0, 256+320*len(r.Facts)), r, keys); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecodeSealedLedgerRecord(b *testing.B) {
	for name, r := range map[string]LedgerRecord{"purchase": benchLedgerRecord(), "feedback": benchFeedbackRecord()} {
		b.Run(name, func(b *testing.B) {
			keys := benchKeys(b, r.MemberID)
			data, err := AppendSealedLedgerRecord(nil, r, keys)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeLedgerRecordWith(data, keys); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
