package handlers_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pointsledger/loyalty/domain"
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
	env, reg := startRunningEngine(t)
	publish(t, env.JS, purchase("p-1", "m-1", "o-1", 5000, time.Now().UTC().Add(-time.Hour)))
	waitForRecords(t, env.JS, 1)
	before := natstest.MessageCounts(t, env.JS)

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
	after := natstest.MessageCounts(t, env.JS)
	for name, n := range before {
		if after[name] != n {
			t.Errorf("stream %s holds %d messages after the hostile requests, %d before", name, after[name], n)
		}
	}
}

// Service requests are read as strictly as events: keys match exactly and
// once, the text is valid UTF-8, and only the request's own fields are
// there. encoding/json, which read them before, matched keys whatever their
// case, let the last of two keys win and turned invalid UTF-8 into U+FFFD, so
// a redemption for "u\xfe-T1" spent from member "u\ufffd-T1".
func TestServiceReadsRequestsAsStrictlyAsEvents(t *testing.T) {
	env, reg := startRunningEngine(t)
	publish(t, env.JS, purchase("p-1", "u\ufffd-T1", "o-1", 5000, time.Now().UTC().Add(-time.Hour)))
	waitForRecords(t, env.JS, 1)

	for _, r := range []struct{ subject, data string }{
		{handlers.BalanceSubject, `{"Member_ID":"u` + "\ufffd" + `-T1"}`},
		{handlers.BalanceSubject, `{"member_id":"nobody","member_id":"u` + "\ufffd" + `-T1"}`},
		{handlers.RedeemSubject, `{"member_id":"u` + "\xfe" + `-T1","request_id":"r-1","points":10}`},
		{handlers.RedeemSubject, `{"member_id":"u\ufffd-T1","request_id":"r-2","points":10,"Points":20}`},
		{handlers.RedeemSubject, `{"member_id":"u\ufffd-T1","request_id":"r-3","points":10,"reward":"mug"}`},
		{handlers.RedeemSubject, `{"member_id":"u\ufffd-T1","request_id":"r-4","points":10.5}`},
		{handlers.TransferSubject, `{"member_id":"u\ufffd-T1","request_id":"t-1","to_member_id":"m-2","points":"10"}`},
		{handlers.TransferSubject, `{"member_id":"u\ufffd-T1","request_id":"t-1","to_member_id":"m-2","points":10} {}`},
	} {
		msg, err := env.Conn.Request(r.subject, []byte(r.data), 10*time.Second)
		if err != nil {
			t.Fatalf("%s %s: %v", r.subject, r.data, err)
		}
		if code := msg.Header.Get(micro.ErrorCodeHeader); code != handlers.CodeBadRequest {
			t.Errorf("%s %q: code %q (%s), want %s", r.subject, r.data, code, msg.Data, handlers.CodeBadRequest)
		}
	}
	var bal handlers.BalanceReply
	if code, desc := call(t, env.Conn, handlers.BalanceSubject, handlers.BalanceRequest{MemberID: "u\ufffd-T1"}, &bal); code != "" || bal.Balance != 150 {
		t.Errorf("balance after the refused requests: %d (%s %s), want 150: none may spend", bal.Balance, code, desc)
	}
	if got := labeledValue(t, reg, "loyalty_service_refused_total", "reason", "bad_request"); got != 8 {
		t.Errorf("loyalty_service_refused_total{reason=bad_request} = %v, want 8", got)
	}
}

// A client's request ids are its own per operation: a transfer that reuses
// a redemption's id is a transfer, not the redemption repeated (which it was
// answered as, "accepted, repeated", with nothing transferred).
func TestRequestIDsAreScopedToTheirOperation(t *testing.T) {
	env, _ := startRunningEngine(t)
	publish(t, env.JS, purchase("p-1", "m-1", "o-1", 5000, time.Now().UTC().Add(-time.Hour)))
	waitForRecords(t, env.JS, 1)

	var redeemed, moved handlers.RedeemReply
	if code, desc := call(t, env.Conn, handlers.RedeemSubject, handlers.RedeemRequestJSON{MemberID: "m-1", RequestID: "shared-1", Points: 20}, &redeemed); code != "" {
		t.Fatalf("redeem: %s %s", code, desc)
	}
	if code, desc := call(t, env.Conn, handlers.TransferSubject,
		handlers.TransferRequestJSON{MemberID: "m-1", RequestID: "shared-1", ToMemberID: "m-2", Points: 30}, &moved); code != "" {
		t.Fatalf("transfer: %s %s", code, desc)
	}
	if moved.Status != "accepted" || moved.Repeated || moved.Points != 30 || moved.Balance != 100 {
		t.Errorf("transfer reusing a redemption's request id: %+v, want 30 points transferred (not repeated), 100 left", moved)
	}
	var again handlers.RedeemReply
	if code, desc := call(t, env.Conn, handlers.RedeemSubject, handlers.RedeemRequestJSON{MemberID: "m-1", RequestID: "shared-1", Points: 20}, &again); code != "" {
		t.Fatalf("redeem again: %s %s", code, desc)
	}
	if !again.Repeated || again.Points != 20 || again.Balance != 100 {
		t.Errorf("the redemption repeated: %+v, want its first decision (20 points), marked repeated, 100 left", again)
	}
	var recipient handlers.BalanceReply
	deadline := time.Now().Add(10 * time.Second)
	for recipient.Balance != 30 && time.Now().Before(deadline) {
		call(t, env.Conn, handlers.BalanceSubject, handlers.BalanceRequest{MemberID: "m-2"}, &recipient)
		time.Sleep(20 * time.Millisecond)
	}
	if recipient.Balance != 30 {
		t.Errorf("recipient's balance %d, want the 30 points transferred", recipient.Balance)
	}
}

// The service's event ids were a UUID v5 of the member and request ids in a
// namespace written in the source: a client published an event of its own
// with the id a member's redemption would get, and the redemption was
// refused as an id conflict. The ids are random now: what a client computes
// beforehand is nobody's.
func TestServiceEventIDsCannotBeComputedBeforehand(t *testing.T) {
	env, _ := startRunningEngine(t)
	now := time.Now().UTC()
	victim, mallory := "alice", ""
	for i := 0; mallory == ""; i++ {
		if id := fmt.Sprintf("mallory-%d", i); streams.PartitionOf(id) == streams.PartitionOf(victim) {
			mallory = id
		}
	}
	oldNamespace := uuid.MustParse("6b1f0a52-8e0c-4d59-9a3c-0f4e2a7d51c3")
	redeemID := "redeem-" + uuid.NewSHA1(oldNamespace, []byte(victim+"\x00till-7")).String()
	transferID := "transfer-request-" + uuid.NewSHA1(oldNamespace, []byte(victim+"\x00gift-1")).String()
	publish(t, env.JS, purchase("p-1", victim, "o-1", 50000, now.Add(-time.Hour)), purchase("p-2", mallory, "o-2", 1000, now.Add(-time.Hour)),
		visit(redeemID, mallory, now.Add(-20*time.Minute)), visit(transferID, mallory, now.Add(-10*time.Minute)))
	waitForRecords(t, env.JS, 4)

	var redeemed, moved, again handlers.RedeemReply
	if code, desc := call(t, env.Conn, handlers.RedeemSubject, handlers.RedeemRequestJSON{MemberID: victim, RequestID: "till-7", Points: 100}, &redeemed); code != "" {
		t.Fatalf("redeem: %s %s", code, desc)
	}
	if code, desc := call(t, env.Conn, handlers.TransferSubject,
		handlers.TransferRequestJSON{MemberID: victim, RequestID: "gift-1", ToMemberID: "bob", Points: 10}, &moved); code != "" {
		t.Fatalf("transfer: %s %s", code, desc)
	}
	if redeemed.Status != "accepted" || moved.Status != "accepted" || redeemed.EventID == redeemID || moved.EventID == transferID {
		t.Errorf("redeem %+v, transfer %+v: want both accepted, under ids no client computed", redeemed, moved)
	}
	if code, desc := call(t, env.Conn, handlers.RedeemSubject, handlers.RedeemRequestJSON{MemberID: victim, RequestID: "till-7", Points: 100}, &again); code != "" ||
		!again.Repeated || again.Points != 100 {
		t.Errorf("the redemption asked again: %+v (%s %s), want its first decision, repeated", again, code, desc)
	}
}

// A reply prefix that is empty, or holds a wildcard or a space, would let
// the service answer any subject: the engine refuses to be configured so.
func TestServiceReplyPrefixesAreChecked(t *testing.T) {
	reg := prometheus.NewRegistry()
	metrics, err := handlers.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", ">", "_INBOX.*", "_INBOX .x"} {
		_, err := handlers.NewEngine(nil, handlers.EngineConfig{Programs: domain.OneVersion(testProgram()), Metrics: metrics,
			ServiceReplyPrefixes: []string{"_INBOX.", bad}})
		if err == nil || !strings.Contains(err.Error(), "service reply prefix") {
			t.Errorf("reply prefix %q: NewEngine = %v, want it refused", bad, err)
		}
	}
}
