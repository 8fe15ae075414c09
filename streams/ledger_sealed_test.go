package streams_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/streams"
	"github.com/pointsledger/loyalty/streams/natstest"
)

// sealedRecords are records of a member whose id is an e-mail address,
// with every kind of personal field a fact holds, and a record of another
// member naming them.
func sealedRecords(alice, bob string) []streams.LedgerRecord {
	at := time.Date(2026, 3, 1, 10, 15, 0, 0, time.UTC)
	meta := func(member, event string) domain.FactMeta {
		return domain.FactMeta{MemberID: member, EventID: event, OccurredAt: at}
	}
	rating := 2
	return []streams.LedgerRecord{
		{Partition: streams.PartitionOf(alice), InputSeq: 1, EventID: "enrol-1", MemberID: alice, EventType: domain.TypeMemberEnrolled,
			Facts: []domain.Fact{domain.MemberEnrolled{FactMeta: meta(alice, "enrol-1"), Channel: "web", ReferredBy: bob,
				Birthday: domain.Birthday{Month: time.May, Day: 17}}}},
		{Partition: streams.PartitionOf(alice), InputSeq: 2, EventID: "fb-1", MemberID: alice, EventType: domain.TypeFeedbackSubmitted,
			Facts: []domain.Fact{domain.FeedbackRecorded{FactMeta: meta(alice, "fb-1"), OrderID: "o-1", Rating: &rating,
				Comment: "the cashier at Elm Street, Jane Roe, was rude", Channel: "web"}}},
		{Partition: streams.PartitionOf(alice), InputSeq: 3, EventID: "st-1", MemberID: alice, EventType: domain.TypeMemberStatus,
			Facts: []domain.Fact{domain.StatusChanged{FactMeta: meta(alice, "st-1"), From: domain.StatusActive, To: domain.StatusBlocked,
				Reason: "card stolen, says her husband John Roe"}}},
		{Partition: streams.PartitionOf(alice), InputSeq: 4, EventID: "adj-1", MemberID: alice, EventType: domain.TypeAdjustment,
			Facts: []domain.Fact{domain.PointsAdjusted{FactMeta: meta(alice, "adj-1"), RequestID: "r-1", Points: 50, Reason: "goodwill",
				Note: "phoned from +44 20 7946 0000", OperatorID: "agent-7", ProgramVersion: "v1"}}},
		{Partition: streams.PartitionOf(bob), InputSeq: 5, EventID: "tr-1", MemberID: bob, EventType: domain.TypeTransfer,
			Facts: []domain.Fact{domain.PointsTransferred{FactMeta: meta(bob, "tr-1"), RequestID: "tr-1", ToMemberID: alice, Points: 10,
				ProgramVersion: "v1", FollowUpID: "transfer-k1-00"}}},
		{Partition: streams.PartitionOf("stock:bag"), InputSeq: 6, EventID: "stock-1", MemberID: "stock:bag", EventType: domain.TypeStockRequest,
			Facts: []domain.Fact{domain.StockTaken{FactMeta: meta("stock:bag", "stock-1"), RewardID: "bag", ForMember: alice, RequestID: "r-1",
				Quantity: 1, FollowUpID: "stock-k1-00"}}},
		{Partition: streams.PartitionOf(alice), InputSeq: 7, EventID: "attr-1", MemberID: alice, EventType: domain.TypeAttributesUpdated,
			Facts: []domain.Fact{domain.AttributesUpdated{FactMeta: meta(alice, "attr-1"), Attributes: []domain.Attribute{
				{Name: "home_postcode", Kind: domain.AttributeString, String: "SW1A 2AA"}, {Name: "old_key"},
				{Name: "pregnant", Kind: domain.AttributeBool, Bool: true}, {Name: "year_of_birth", Kind: domain.AttributeInt, Int: 1987}}}}},
	}
}

// personalOf is what no sealed record may hold in clear.
func personalOf(alice, bob string) []string {
	return []string{alice, bob, streams.MemberKey(alice), streams.MemberKey(bob), "05-17", "Jane Roe", "John Roe", "7946",
		"SW1A", "pregnant", "1987"}
}

func TestSealedRecordsHoldNoPersonalDataAndReadBack(t *testing.T) {
	env := natstest.Start(t)
	ctx := context.Background()
	secret := bytes.Repeat([]byte{7}, 32)
	keys, err := streams.OpenMemberKeys(ctx, env.JS, secret)
	if err != nil {
		t.Fatal(err)
	}
	alice, bob := "alice.roe@example.com", "+44 7700 900123"
	records := sealedRecords(alice, bob)
	var encoded [][]byte
	for _, r := range records {
		for _, id := range append([]string{r.MemberID}, streams.OtherMembers(r)...) {
			if err := keys.Ensure(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
		b, err := streams.AppendSealedLedgerRecord(nil, r, keys)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range personalOf(alice, bob) {
			if bytes.Contains(b, []byte(p)) {
				t.Errorf("record %s holds %q in clear: %s", r.EventID, p, b)
			}
		}
		encoded = append(encoded, b)
	}
	if got := streams.OtherMembers(records[0]); !reflect.DeepEqual(got, []string{bob}) {
		t.Errorf("OtherMembers(enrolment) = %q, want the referrer", got)
	}

	reader := streams.ReadMemberKeys(env.JS)
	for i, b := range encoded {
		got, err := streams.DecodeLedgerRecordWith(b, reader)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, records[i]) {
			t.Errorf("record %d reads back as\n%+v\nwant\n%+v", i, got, records[i])
		}
	}
	if _, err := streams.DecodeLedgerRecord(encoded[0]); err == nil {
		t.Error("a sealed record decoded without the member keys")
	}

	// Erasure: alice's records read as her token, without her fields;
	// bob's record names her token; every figure stays.
	token := keys.Token(alice)
	if err := keys.Erase(ctx, token); err != nil {
		t.Fatal(err)
	}
	if err := keys.Ensure(ctx, alice); !errors.Is(err, streams.ErrMemberErased) {
		t.Errorf("Ensure of an erased member = %v, want ErrMemberErased", err)
	}
	fresh := streams.ReadMemberKeys(env.JS)
	erased := streams.ErasedID(token)
	for i, b := range encoded {
		got, err := streams.DecodeLedgerRecordWith(b, fresh)
		if err != nil {
			t.Fatalf("record %d after the erasure: %v", i, err)
		}
		text := fmtRecord(got)
		for _, p := range []string{alice, "Jane Roe", "John Roe", "7946", "May"} {
			if strings.Contains(text, p) {
				t.Errorf("record %d after the erasure still reads %q: %s", i, p, text)
			}
		}
		if got.EventID != records[i].EventID || len(got.Facts) != len(records[i].Facts) {
			t.Errorf("record %d lost its facts: %+v", i, got)
		}
		if i < 4 && (got.MemberID != erased || got.Facts[0].Meta().MemberID != erased) {
			t.Errorf("record %d's member reads %q, want %q", i, got.MemberID, erased)
		}
	}
	adj, _ := streams.DecodeLedgerRecordWith(encoded[3], fresh)
	if f := adj.Facts[0].(domain.PointsAdjusted); f.Points != 50 || f.Reason != "goodwill" || f.OperatorID != "agent-7" || f.Note != "" {
		t.Errorf("the erased member's adjustment reads %+v: its points and codes stay, its note goes", f)
	}
	stock, _ := streams.DecodeLedgerRecordWith(encoded[5], fresh)
	if f := stock.Facts[0].(domain.StockTaken); stock.MemberID != "stock:bag" || f.ForMember != erased {
		t.Errorf("the stock's record of a unit taken for the erased member reads %q, for %q", stock.MemberID, f.ForMember)
	}
	transfer, _ := streams.DecodeLedgerRecordWith(encoded[4], fresh)
	if f := transfer.Facts[0].(domain.PointsTransferred); transfer.MemberID != bob || f.ToMemberID != erased || f.Points != 10 {
		t.Errorf("bob's transfer to the erased member reads %q -> %q (%d points)", transfer.MemberID, f.ToMemberID, f.Points)
	}
	attrs, _ := streams.DecodeLedgerRecordWith(encoded[6], fresh)
	if f := attrs.Facts[0].(domain.AttributesUpdated); attrs.MemberID != erased || len(f.Attributes) != 0 {
		t.Errorf("the erased member's attributes read %q: %+v", attrs.MemberID, f.Attributes)
	}
	if p := streams.PartitionOf(erased); p != streams.PartitionOf(alice) {
		t.Errorf("the erased id is in partition %d, the member was in %d", p, streams.PartitionOf(alice))
	}
}

func TestSealedRecordsRefuseWhatWasNotWritten(t *testing.T) {
	env := natstest.Start(t)
	ctx := context.Background()
	keys, err := streams.OpenMemberKeys(ctx, env.JS, bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	alice, bob := "alice@example.com", "bob@example.com"
	records := sealedRecords(alice, bob)
	for _, id := range []string{alice, bob} {
		if err := keys.Ensure(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	feedback, _ := streams.AppendSealedLedgerRecord(nil, records[1], keys)
	status, _ := streams.AppendSealedLedgerRecord(nil, records[2], keys)
	reader := streams.ReadMemberKeys(env.JS)
	sealedOf := func(b []byte) string {
		i := bytes.Index(b, []byte(`"sealed":"`)) + len(`"sealed":"`)
		return string(b[i : i+bytes.IndexByte(b[i:], '"')])
	}
	cases := map[string][]byte{
		// one record's box moved into another of the same member
		"a box from another record": bytes.Replace(status, []byte(sealedOf(status)), []byte(sealedOf(feedback)), 1),
		// a token no engine made
		"an unknown token": bytes.Replace(feedback, []byte(keys.Token(alice)), []byte("t"+keys.Token(alice)[1:3]+"-00000000000000000000000000000000"), 1),
		// a member id in clear in a version 2 record
		"an id instead of a token": bytes.Replace(feedback, []byte(`"`+keys.Token(alice)+`"`), []byte(`"`+alice+`"`), 1),
		// a flipped byte of the box
		"a tampered box": bytes.Replace(feedback, []byte(`"sealed":"A`), []byte(`"sealed":"B`), 1),
	}
	if bytes.Equal(cases["a tampered box"], feedback) {
		cases["a tampered box"] = bytes.Replace(feedback, []byte(`"sealed":"`), []byte(`"sealed":"A`), 1)
	}
	for name, b := range cases {
		if r, err := streams.DecodeLedgerRecordWith(b, reader); err == nil {
			t.Errorf("%s: decoded as %+v", name, r)
		}
	}
	// A version 1 record with a box is not one the engine writes.
	v1, _ := streams.EncodeLedgerRecord(records[1])
	withBox := bytes.Replace(v1, []byte(`,"facts":`), []byte(`,"sealed":"`+sealedOf(feedback)+`","facts":`), 1)
	if _, err := streams.DecodeLedgerRecordWith(withBox, reader); err == nil {
		t.Error("a version 1 record with sealed fields decoded")
	}
}

func fmtRecord(r streams.LedgerRecord) string { return fmt.Sprintf("%+v", r) }

// A reader that runs for long (the projections) caches members; once it
// has read a member's erasure, it reveals them again only from the bucket,
// so the key's erasure reaches it.
func TestAReaderThatReadAnErasureSeesTheKeyErased(t *testing.T) {
	env := natstest.Start(t)
	ctx := context.Background()
	keys, err := streams.OpenMemberKeys(ctx, env.JS, bytes.Repeat([]byte{5}, 32))
	if err != nil {
		t.Fatal(err)
	}
	alice := "alice@example.com"
	if err := keys.Ensure(ctx, alice); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	record := func(event string, f domain.Fact) []byte {
		r := streams.LedgerRecord{Partition: streams.PartitionOf(alice), EventID: event, MemberID: alice, Facts: []domain.Fact{f}}
		b, err := streams.AppendSealedLedgerRecord(nil, r, keys)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	meta := func(event string) domain.FactMeta {
		return domain.FactMeta{MemberID: alice, EventID: event, OccurredAt: at}
	}
	visit := record("v-1", domain.VisitRecorded{FactMeta: meta("v-1"), Channel: "store"})
	erasure := record("x-1", domain.MemberErased{FactMeta: meta("x-1"), Channel: "back-office"})
	reader := streams.ReadMemberKeys(env.JS)
	for _, b := range [][]byte{visit, erasure} {
		if r, err := streams.DecodeLedgerRecordWith(b, reader); err != nil || r.MemberID != alice {
			t.Fatalf("before the key's erasure: %q, %v", r.MemberID, err)
		}
	}
	if err := keys.Erase(ctx, keys.Token(alice)); err != nil {
		t.Fatal(err)
	}
	if r, err := streams.DecodeLedgerRecordWith(visit, reader); err != nil || r.MemberID != streams.ErasedID(keys.Token(alice)) {
		t.Errorf("the reader that read the erasure reveals %q (%v) after the key's erasure", r.MemberID, err)
	}
}

// Asking whether a member is erased (a transfer to them, on another
// partition) never takes their key from under a record being sealed.
func TestSealingWhileAnotherPartitionAsksIfErased(t *testing.T) {
	env := natstest.Start(t)
	ctx := context.Background()
	keys, err := streams.OpenMemberKeys(ctx, env.JS, bytes.Repeat([]byte{6}, 32))
	if err != nil {
		t.Fatal(err)
	}
	carol := "carol@example.com"
	rating := 5
	r := streams.LedgerRecord{Partition: streams.PartitionOf(carol), EventID: "fb-1", MemberID: carol,
		Facts: []domain.Fact{domain.FeedbackRecorded{FactMeta: domain.FactMeta{MemberID: carol, EventID: "fb-1",
			OccurredAt: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}, Rating: &rating, Comment: "lovely"}}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 300 {
			if _, err := keys.Erased(ctx, keys.Token(carol)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for range 300 {
		if err := keys.Ensure(ctx, carol); err != nil {
			t.Fatal(err)
		}
		if _, err := streams.AppendSealedLedgerRecord(nil, r, keys); err != nil {
			t.Fatalf("seal while another asks: %v", err)
		}
	}
	<-done
}

// A bucket that cannot be read (NATS restarting, or not made yet) is an
// outage the readers retry, never a record they take for undecodable.
func TestMemberKeysUnavailableIsNotUndecodable(t *testing.T) {
	writer := natstest.Start(t)
	ctx := context.Background()
	keys, err := streams.OpenMemberKeys(ctx, writer.JS, bytes.Repeat([]byte{8}, 32))
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.Ensure(ctx, "m-1"); err != nil {
		t.Fatal(err)
	}
	b, err := streams.AppendSealedLedgerRecord(nil, sealedRecords("m-1", "m-2")[1], keys)
	if err != nil {
		t.Fatal(err)
	}
	elsewhere := natstest.Start(t) // a server without the bucket
	reader := streams.ReadMemberKeys(elsewhere.JS)
	if _, err := streams.DecodeLedgerRecordWith(b, reader); !errors.Is(err, streams.ErrMemberKeysUnavailable) {
		t.Errorf("decode without the bucket: %v, want ErrMemberKeysUnavailable", err)
	}
}

// A member key deleted by hand (not erased) is no outage: reading the
// member's sealed record fails as undecodable, naming the cause, so that
// readers stop and the record can be set aside, rather than wait for ever.
func TestAKeyDeletedByHandIsNoOutage(t *testing.T) {
	env := natstest.Start(t)
	ctx := context.Background()
	keys, err := streams.OpenMemberKeys(ctx, env.JS, bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	r := sealedRecords("alice@example.com", "bob@example.com")[1] // feedback with a sealed comment
	if err := keys.Ensure(ctx, r.MemberID); err != nil {
		t.Fatal(err)
	}
	b, err := streams.AppendSealedLedgerRecord(nil, r, keys)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := env.JS.KeyValue(ctx, streams.MemberKeysBucket)
	if err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(ctx, keys.Token(r.MemberID)); err != nil {
		t.Fatal(err)
	}
	_, err = streams.DecodeLedgerRecordWith(b, streams.ReadMemberKeys(env.JS))
	if err == nil || errors.Is(err, streams.ErrMemberKeysUnavailable) || !strings.Contains(err.Error(), "deleted by hand") {
		t.Errorf("decoding a record whose key was deleted by hand: %v; want an undecodable record that says so", err)
	}
}
