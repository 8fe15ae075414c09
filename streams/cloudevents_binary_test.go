package streams_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/streams"
)

// binaryPurchase is a purchase as a CloudEvents SDK (or `nats pub -H`)
// sends it in binary mode: attributes in ce- headers, the data as payload.
func binaryPurchase() (nats.Header, []byte) {
	h := nats.Header{}
	h.Set("ce-specversion", "1.0")
	h.Set("ce-id", "6f1c2b1a-3c4d-4e5f-8a9b-0c1d2e3f4a5b")
	h.Set("ce-source", "shop-eu-1")
	h.Set("ce-type", "loyalty.purchase.completed.v1")
	h.Set("ce-time", "2026-03-01T10:15:00Z")
	h.Set("content-type", "application/json")
	h.Set("Nats-Msg-Id", "6f1c2b1a-3c4d-4e5f-8a9b-0c1d2e3f4a5b")
	return h, []byte(`{"member_id": "m-42", "order_id": "A-1001", "amount": 1299, "currency": "EUR", "channel": "web"}`)
}

const structuredPurchase = `{"specversion": "1.0", "id": "6f1c2b1a-3c4d-4e5f-8a9b-0c1d2e3f4a5b", "source": "shop-eu-1",
	"type": "loyalty.purchase.completed.v1", "time": "2026-03-01T10:15:00Z", "datacontenttype": "application/json",
	"data": {"member_id": "m-42", "order_id": "A-1001", "amount": 1299, "currency": "EUR", "channel": "web"}}`

// A binary-mode event decodes to its structured twin, with the same digest.
func TestBinaryModeIsItsStructuredTwin(t *testing.T) {
	h, payload := binaryPurchase()
	structured, ok := streams.StructuredFromBinary(h, payload)
	if !ok {
		t.Fatal("a message with ce-specversion was not taken as binary mode")
	}
	got, err := streams.DecodeEvent(structured)
	if err != nil {
		t.Fatalf("%s: %v", structured, err)
	}
	want, err := streams.DecodeEvent([]byte(structuredPurchase))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) || streams.EventDigest(got) != streams.EventDigest(want) {
		t.Errorf("binary mode decoded to %+v, its structured twin to %+v", got, want)
	}
	if _, ok := streams.StructuredFromBinary(nats.Header{"Nats-Msg-Id": {"x"}}, []byte(structuredPurchase)); ok {
		t.Error("a structured event (no ce-specversion header) was taken as binary mode")
	}
	if _, ok := streams.StructuredFromBinary(nil, payload); ok {
		t.Error("a message without headers was taken as binary mode")
	}
}

// What a hostile or careless binary-mode publisher sends is refused as its
// structured form would be, never repaired and never able to set another
// attribute than its own header's.
func TestBinaryModeRefusesWhatStructuredRefuses(t *testing.T) {
	for _, c := range []struct {
		name   string
		edit   func(h nats.Header, payload []byte) []byte
		reason domain.Reason
	}{
		{"ce-data header beside the payload", func(h nats.Header, p []byte) []byte { h.Set("ce-data", "{}"); return p }, streams.ReasonMalformedJSON},
		{"the id twice", func(h nats.Header, p []byte) []byte { h.Add("ce-id", "other"); return p }, streams.ReasonMalformedJSON},
		{"the id in two spellings", func(h nats.Header, p []byte) []byte { h["CE-ID"] = []string{"other"}; return p }, streams.ReasonMalformedJSON},
		{"an id that is not UTF-8", func(h nats.Header, p []byte) []byte { h.Set("ce-id", "bad\xff"); return p }, streams.ReasonMalformedJSON},
		{"a payload that is not one JSON value", func(h nats.Header, p []byte) []byte {
			return []byte(`{"member_id": "m-42"}, "type": "loyalty.member.clock.v1"`)
		}, streams.ReasonMalformedJSON},
		{"a payload that is not JSON", func(h nats.Header, p []byte) []byte { return []byte("amount=1299") }, streams.ReasonMalformedJSON},
		{"a payload that is not UTF-8", func(h nats.Header, p []byte) []byte { return []byte("{\"member_id\": \"m\xff\"}") }, streams.ReasonMalformedJSON},
		{"specversion 0.3", func(h nats.Header, p []byte) []byte { h.Set("ce-specversion", "0.3"); return p }, domain.ReasonInvalidField},
		{"an XML content type", func(h nats.Header, p []byte) []byte { h.Set("content-type", "application/xml"); return p }, domain.ReasonInvalidField},
		{"no type", func(h nats.Header, p []byte) []byte { h.Del("ce-type"); return p }, domain.ReasonMissingField},
	} {
		h, payload := binaryPurchase()
		payload = c.edit(h, payload)
		structured, ok := streams.StructuredFromBinary(h, payload)
		if !ok {
			t.Errorf("%s: not taken as binary mode", c.name)
			continue
		}
		_, err := streams.DecodeEvent(structured)
		var rej *domain.RejectedError
		if !errors.As(err, &rej) || rej.Reason != c.reason {
			t.Errorf("%s: %v; want %s\n%s", c.name, err, c.reason, structured)
		}
	}
	// A header value cannot leave its string: quotes and backslashes are
	// escaped, so the type stays the one ce-type gave.
	h, payload := binaryPurchase()
	h.Set("ce-source", `x","type":"loyalty.member.clock.v1`)
	ev, err := streams.DecodeEvent(must(streams.StructuredFromBinary(h, payload)))
	if err != nil || ev.Type != domain.TypePurchaseCompleted || ev.Source != `x","type":"loyalty.member.clock.v1` {
		t.Errorf("a source with quotes: %+v, %v; want a purchase with that very source", ev, err)
	}
}

func must(b []byte, ok bool) []byte {
	if !ok {
		panic("not binary mode")
	}
	return b
}

// Whatever the headers and payload, the rewrite and its decoding do not
// panic, and an event that decodes has the attributes its headers gave.
func FuzzStructuredFromBinary(f *testing.F) {
	f.Add("6f1c2b1a", "loyalty.purchase.completed.v1", "2026-03-01T10:15:00Z", `{"member_id":"m","order_id":"o","amount":1,"currency":"EUR"}`)
	f.Add(`"\`, "x\x00", "\xff", `{"a":1}, "b":2`)
	f.Fuzz(func(t *testing.T, id, typ, at, payload string) {
		h := nats.Header{}
		h.Set("ce-specversion", "1.0")
		h.Set("ce-id", id)
		h.Set("ce-type", typ)
		h.Set("ce-time", at)
		structured, ok := streams.StructuredFromBinary(h, []byte(payload))
		if !ok {
			t.Fatal("not taken as binary mode")
		}
		ev, err := streams.DecodeEvent(structured)
		if err == nil && (ev.ID != id || string(ev.Type) != typ) {
			t.Errorf("headers id %q type %q decoded as id %q type %q", id, typ, ev.ID, ev.Type)
		}
	})
}
