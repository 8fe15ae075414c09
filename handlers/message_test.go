package handlers

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/pointsledger/loyalty/streams"
)

func sampleInputs(t testing.TB) []input {
	t.Helper()
	var ins []input
	for i, member := range []string{"m-1", "m.2 *>", ""} {
		subject := "loyalty.in.07.purchase-completed." + streams.MemberKey(member+"x")
		stored, err := streams.ParseStoredInput(subject)
		if err != nil {
			t.Fatal(err)
		}
		ins = append(ins, input{data: []byte(`{"specversion":"1.0","n":` + string(rune('0'+i)) + `}`), rawSubject: subject, subject: stored,
			msgID: []string{"order-9", "", "id with , and \n"}[i], seq: uint64(40 + i*1000000),
			stored: time.Date(2026, 3, 4, 5, 6, 7, 891+i, time.UTC)})
	}
	ins[2].data = nil // an empty event is input too: it is dead-lettered
	return ins
}

// A run goes through the router as its payload and comes out as it went
// in, in order; its metadata says what it holds.
func TestRunMessageRoundTrip(t *testing.T) {
	ins := sampleInputs(t)
	msg := newRunMessage(context.Background(), ins)
	if got, want := msg.Metadata.Get(MetadataInputs), "3"; got != want {
		t.Errorf("%s = %q, want %q", MetadataInputs, got, want)
	}
	if msg.Metadata.Get(MetadataFirstSeq) != "40" || msg.Metadata.Get(MetadataLastSeq) != "2000040" {
		t.Errorf("first/last seq metadata %q/%q, want 40/2000040", msg.Metadata.Get(MetadataFirstSeq), msg.Metadata.Get(MetadataLastSeq))
	}
	got, err := inputsOfMessage(msg)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(ins) {
		t.Fatalf("%d inputs out, %d in", len(got), len(ins))
	}
	for i := range ins {
		g, w := got[i], ins[i]
		if !bytes.Equal(g.data, w.data) || g.rawSubject != w.rawSubject || g.subject != w.subject || g.msgID != w.msgID ||
			g.seq != w.seq || !g.stored.Equal(w.stored) {
			t.Errorf("input %d came out %+v, want %+v", i, g, w)
		}
	}
}

// A payload that is not a run (truncated, lengths past its end, a subject
// the input stream never writes, nothing at all) is an error, never a
// panic or a made-up input.
func TestInputsOfMessageRefusesForeignPayloads(t *testing.T) {
	good := newRunMessage(context.Background(), sampleInputs(t)).Payload
	bad := map[string][]byte{
		"empty":           nil,
		"one byte":        {0x80},
		"huge length":     append([]byte{1, 2}, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01),
		"bad subject":     newRunMessage(context.Background(), []input{{seq: 1, rawSubject: "loyalty.in.x", data: []byte("{}")}}).Payload,
		"trailing byte":   append(append([]byte(nil), good...), 7),
		"a JSON event":    []byte(`{"specversion":"1.0"}`),
		"overlong varint": bytes.Repeat([]byte{0xff}, 11),
	}
	for cut := 1; cut < len(good); cut += 7 {
		bad["cut at "+string(rune('a'+cut%26))+string(rune('0'+cut%10))] = good[:cut]
	}
	for name, payload := range bad {
		if ins, err := inputsOfMessage(message.NewMessage("x", payload)); err == nil {
			t.Errorf("%s: read as %d inputs, want an error", name, len(ins))
		} else if !errors.Is(err, errBadRun) {
			t.Errorf("%s: %v, want errBadRun", name, err)
		}
	}
}

// FuzzInputsOfMessage: whatever the payload, reading it ends in inputs that
// encode back to the same payload, or in an error; never a panic.
func FuzzInputsOfMessage(f *testing.F) {
	f.Add([]byte(newRunMessage(context.Background(), sampleInputs(f)).Payload))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, payload []byte) {
		ins, err := inputsOfMessage(message.NewMessage("x", payload))
		if err != nil {
			return
		}
		again := newRunMessage(context.Background(), ins).Payload
		if len(ins) == 0 {
			t.Fatal("no inputs and no error")
		}
		back, err := inputsOfMessage(message.NewMessage("y", again))
		if err != nil || len(back) != len(ins) {
			t.Fatalf("re-encoded run reads as %d inputs, %v; want %d", len(back), err, len(ins))
		}
	})
}
