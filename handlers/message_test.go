package handlers

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/pointsledger/loyalty/streams"
)

// An input goes through the router as its payload and metadata, and comes
// out as it went in.
func TestInputMessageRoundTrip(t *testing.T) {
	subject := "loyalty.in.07.purchase-completed." + streams.MemberKey("m-1")
	stored, err := streams.ParseStoredInput(subject)
	if err != nil {
		t.Fatal(err)
	}
	in := input{data: []byte(`{"specversion":"1.0"}`), rawSubject: subject, subject: stored, msgID: "order-9",
		seq: 42, stored: time.Date(2026, 3, 4, 5, 6, 7, 891, time.UTC)}
	msg := newInputMessage(context.Background(), in)
	if string(msg.Payload) != string(in.data) {
		t.Errorf("payload %q, want the event %q", msg.Payload, in.data)
	}
	got, err := inputOfMessage(msg)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.data) != string(in.data) || got.rawSubject != in.rawSubject || got.subject != in.subject ||
		got.msgID != in.msgID || got.seq != in.seq || !got.stored.Equal(in.stored) {
		t.Errorf("round trip gave %+v, want %+v", got, in)
	}
	delete(msg.Metadata, MetadataMsgID)
	if got, err := inputOfMessage(msg); err != nil || got.msgID != "" {
		t.Errorf("without a message id: %+v, %v; want no id and no error", got, err)
	}
}

// A message that did not come from the intake (metadata missing or
// garbled) is an error naming the field, never a panic or a zero input.
func TestInputOfMessageRefusesForeignMessages(t *testing.T) {
	good := func() *message.Message {
		subject := "loyalty.in.07.purchase-completed." + streams.MemberKey("m-1")
		stored, _ := streams.ParseStoredInput(subject)
		return newInputMessage(context.Background(), input{data: []byte("{}"), rawSubject: subject, subject: stored, seq: 1, stored: time.Now()})
	}
	for _, c := range []struct {
		key, value string
	}{
		{MetadataSubject, ""}, {MetadataSubject, "loyalty.in.x.y"}, {MetadataSubject, "loyalty.in.99.a.b.c"},
		{MetadataInputSeq, ""}, {MetadataInputSeq, "-1"}, {MetadataInputSeq, "18446744073709551616"}, {MetadataInputSeq, "1e3"},
		{MetadataStored, ""}, {MetadataStored, "yesterday"}, {MetadataStored, "9223372036854775808"},
	} {
		msg := good()
		msg.Metadata[c.key] = c.value
		if _, err := inputOfMessage(msg); err == nil || !strings.Contains(err.Error(), c.key) {
			t.Errorf("%s = %q: err %v, want an error naming %s", c.key, c.value, err, c.key)
		}
	}
	bare := message.NewMessage("x", []byte("{}"))
	if _, err := inputOfMessage(bare); err == nil {
		t.Error("a message with no metadata was read as an input")
	}
}
