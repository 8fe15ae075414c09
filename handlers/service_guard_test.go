package handlers_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pointsledger/loyalty/handlers"
	"github.com/pointsledger/loyalty/streams"
	"github.com/pointsledger/loyalty/streams/natstest"
)

// A caller chooses the reply subject of its request. Answered as it is, a
// reply subject in the JetStream API or on the ledger would be published with
// the engine's own rights: the ledger deleted, the input purged, an error
// appended to the ledger. The service answers only inboxes; here on a server
// without permissions, so the service's own check is all that stands.
func TestServiceRepliesOnlyToInboxes(t *testing.T) {
	env := natstest.Start(t)
	_, _, reg := runEngine(t, env.JS)
	waitRunning(t, reg)
	publish(t, env.JS, purchase("p-1", "m-1", "o-1", 5000, time.Now().UTC().Add(-time.Hour)))
	waitForRecords(t, env.JS, 1)
	before := streamMessages(t, env.JS)

	hostile := []string{
		"$JS.API.STREAM.DELETE." + streams.LedgerStream,
		"$JS.API.STREAM.PURGE." + streams.InputStream,
		"$JS.API.STREAM.DELETE." + streams.DeadLetterStream,
		"$JS.API.CONSUMER.DELETE." + streams.InputStream + ".engine",
		"loyalty.ledger.0",
		"loyalty.in.visit-recorded.m-1",
		"loyalty.dlq.x",
		"$KV.LOYALTY_LEASES.engine",
		"_INBOX",    // the prefix alone names no inbox
		"_INBOXES.", // nor does a look-alike
		"",          // a request nobody waits for: a redemption with no one to tell
	}
	// Valid requests, and bad ones: an error answer has an empty body, which
	// is what the JetStream API's delete and purge requests are.
	requests := []struct{ subject, data string }{
		{handlers.BalanceSubject, `{"member_id":"m-1"}`},
		{handlers.RedeemSubject, `{"member_id":"m-1","request_id":"hostile","points":10}`},
		{handlers.TransferSubject, `{"member_id":"m-1","request_id":"hostile-t","to_member_id":"m-2","points":10}`},
		{handlers.BalanceSubject, `not json`},
		{handlers.RedeemSubject, `{}`},
		{handlers.TransferSubject, ``},
	}
	sent := 0
	for _, r := range requests {
		for _, reply := range hostile {
			if err := env.Conn.PublishMsg(&nats.Msg{Subject: r.subject, Reply: reply, Data: []byte(r.data)}); err != nil {
				t.Fatalf("publish %s reply %q: %v", r.subject, reply, err)
			}
			sent++
		}
	}
	// An honest request after them: the service reads requests in order, so
	// once it is answered, every hostile one has been looked at.
	var bal handlers.BalanceReply
	if code, desc := call(t, env.Conn, handlers.BalanceSubject, handlers.BalanceRequest{MemberID: "m-1"}, &bal); code != "" {
		t.Fatalf("balance: %s %s", code, desc)
	}
	if bal.Balance != 150 {
		t.Errorf("balance %d after the hostile requests, want 150: none of them may redeem or transfer", bal.Balance)
	}
	if got := labeledValue(t, reg, "loyalty_service_refused_total", "reason", "reply_subject"); got != float64(sent) {
		t.Errorf("loyalty_service_refused_total{reason=reply_subject} = %v, want %d", got, sent)
	}
	after := streamMessages(t, env.JS)
	for name, n := range before {
		if after[name] != n {
			t.Errorf("stream %s holds %d messages after the hostile requests, %d before", name, after[name], n)
		}
	}
}

// streamMessages counts each of the engine's streams' messages; a stream
// that is gone fails the test.
func streamMessages(t *testing.T, js jetstream.JetStream) map[string]uint64 {
	t.Helper()
	counts := map[string]uint64{}
	for _, name := range []string{streams.InputStream, streams.LedgerStream, streams.DeadLetterStream} {
		s, err := js.Stream(context.Background(), name)
		if err != nil {
			t.Fatalf("stream %s: %v", name, err)
		}
		info, err := s.Info(context.Background())
		if err != nil {
			t.Fatalf("stream %s: %v", name, err)
		}
		counts[name] = info.State.Msgs
	}
	return counts
}
