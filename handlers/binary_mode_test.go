package handlers_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/streams"
)

// A CloudEvent published in binary mode, as natscli's `nats pub -H` or a
// CloudEvents SDK sends it, is applied like its structured twin: the same
// points, and the twin published again under the same id is a duplicate
// (same content), not a conflict.
func TestBinaryModeEventIsAppliedLikeItsStructuredTwin(t *testing.T) {
	env, reg := startRunningEngine(t)
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	subject, err := streams.InputSubject(domain.TypePurchaseCompleted, "bin-member")
	if err != nil {
		t.Fatal(err)
	}
	msg := &nats.Msg{Subject: subject, Header: nats.Header{}, Data: []byte(`{"member_id": "bin-member", "order_id": "o-1", "amount": 5000, "currency": "EUR", "channel": "web"}`)}
	for k, v := range map[string]string{"ce-specversion": "1.0", "ce-id": "bin-1", "ce-source": "test", "ce-type": string(domain.TypePurchaseCompleted),
		"ce-time": at.Format(time.RFC3339), "content-type": "application/json"} {
		msg.Header.Set(k, v)
	}
	if _, err := env.JS.PublishMsg(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	twin := purchase("twin-1", "struct-member", "o-1", 5000, at)
	twin.Source = "test"
	publish(t, env.JS, twin)
	waitForRecords(t, env.JS, 2)

	members, _ := foldLedger(t, env.JS)
	bin, structured := members["bin-member"], members["struct-member"]
	if bin == nil || structured == nil || bin.Balance == 0 || bin.Balance != structured.Balance {
		t.Fatalf("binary mode: %+v; structured twin: %+v; want the same points", bin, structured)
	}

	// The same event again, now structured.
	again := twin
	again.ID, again.MemberID = "bin-1", "bin-member"
	before := labeledValue(t, reg, "loyalty_dead_letters_total", "reason", "duplicate_event")
	publish(t, env.JS, again)
	waitFor(t, 10*time.Second, func() bool {
		return labeledValue(t, reg, "loyalty_dead_letters_total", "reason", "duplicate_event") == before+1
	})
	if n := labeledValue(t, reg, "loyalty_dead_letters_total", "reason", "event_id_conflict"); n != 0 {
		t.Errorf("the structured twin of a binary-mode event was an event_id_conflict (%v): their contents differ", n)
	}
}
