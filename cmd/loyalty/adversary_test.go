package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/handlers"
	"github.com/pointsledger/loyalty/projections/pgtest"
	"github.com/pointsledger/loyalty/streams"
)

// A simulated load through the real binary under the least-privilege users
// of permissions.conf, with an upstream client mixing in what an attacker
// sends: service requests with hostile reply subjects, bodies and headers,
// and events with control characters, extreme sizes, ids reused across
// members and the engine's own follow-up message ids. Afterwards every
// stream is there, the whole ledger decodes, the projections have caught
// up, balances equal the sums of the points ledger, and the engine restarts
// cleanly.
func TestAdversarialClientsUnderLoad(t *testing.T) {
	sec := startSecuredNATS(t)
	db := pgtest.New(t)
	serveArgs := append(sec.as("engine"), "--database-url", db.URL, "--data-dir", t.TempDir())
	srv := startServe(t, serveArgs...)
	js := sec.jetStream(t, "operator")
	attacker := sec.connect(t, "upstream")
	rng := rand.New(rand.NewPCG(16, 2026))

	load := make(chan error, 1)
	go func() {
		_, errOut, err := loyalty(t, append(sec.as("upstream"), "simulate", "--members", "500", "--days", "90", "--seed", "16",
			"--start", "2026-01-01", "--quiet")...)
		if err != nil {
			err = fmt.Errorf("%w: %s", err, errOut)
		}
		load <- err
	}()
	a := adversary{t: t, nc: attacker, rng: rng}
	for range 3000 {
		if rng.IntN(2) == 0 {
			a.serviceRequest()
		} else {
			a.event()
		}
	}
	if err := <-load; err != nil {
		t.Fatalf("simulated load: %v", err)
	}
	if err := attacker.Flush(); err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	assertStreamsIntact(t, js)
	in, err := js.Stream(ctx, streams.InputStream)
	if err != nil {
		t.Fatal(err)
	}
	waitCaughtUp(t, js, db.Pool, in.CachedInfo().State.Msgs)
	assertLedgerDecodes(t, js)
	assertLedgerInvariants(t, db.Pool)
	t.Logf("hostile: %d service requests, %d events; input %d messages", a.requests, a.events, in.CachedInfo().State.Msgs)

	srv.stop(t)
	srv = startServe(t, serveArgs...)
	in, err = js.Stream(ctx, streams.InputStream)
	if err != nil {
		t.Fatal(err)
	}
	waitCaughtUp(t, js, db.Pool, in.CachedInfo().State.Msgs)
	srv.stop(t)
}

// adversary sends hostile requests and events as the upstream user.
type adversary struct {
	t                *testing.T
	nc               *nats.Conn
	rng              *rand.Rand
	requests, events int
}

// hostileStrings are values a careless or hostile client puts in a field.
var hostileStrings = []string{
	"", " ", "\x00", "a\x00b", "\x7f", "\u0085", "\u2028", "\t\r\n", "\x1b[31m",
	strings.Repeat("x", 3200), strings.Repeat("é", 2000), strings.Repeat("💳", 300),
	"*", ">", "a.b.>", "../../etc", "$JS.API.STREAM.DELETE.LOYALTY_LEDGER", "loyalty.ledger.0",
	domain.StockMemberPrefix + "gift-box", "m-000001", "m-000002", "\ufeffm-000003", "ＭＥＭＢＥＲ",
}

// hostileReplies are reply subjects a request names for its answer.
var hostileReplies = []string{
	"$JS.API.STREAM.DELETE." + streams.LedgerStream, "$JS.API.STREAM.PURGE." + streams.InputStream,
	"$JS.API.STREAM.DELETE." + streams.DeadLetterStream, "$JS.API.CONSUMER.DELETE." + streams.InputStream + ".engine",
	"loyalty.ledger.0", "loyalty.ledger.63", "loyalty.dlq.x", "loyalty.in.visit-recorded.bS0wMDAwMDE",
	"$KV.LOYALTY_LEASES.engine", "$KV.LOYALTY_LEASES.partitions.07", "$KV.LOYALTY_PROGRESS.partition.7", "$SRV.PING", "_INBOX_upstream.mine", "",
}

func (a *adversary) pick(xs []string) string { return xs[a.rng.IntN(len(xs))] }

// value is a hostile string, or a plain one.
func (a *adversary) value(plain string) string {
	if a.rng.IntN(3) == 0 {
		return plain
	}
	return a.pick(hostileStrings)
}

func (a *adversary) serviceRequest() {
	a.requests++
	subject := a.pick([]string{handlers.BalanceSubject, handlers.RedeemSubject, handlers.TransferSubject})
	body := map[string]any{"member_id": a.value("m-000001"), "request_id": a.value("r-" + strconv.Itoa(a.rng.IntN(20))),
		"points": a.rng.Int64N(1000) - 100, "to_member_id": a.value("m-000002"), "reward_id": a.value("mug")}
	data, _ := json.Marshal(body)
	switch a.rng.IntN(5) {
	case 0:
		data = []byte(`{"member_id":"m-000001","member_id":"m-000002","MEMBER_ID":"x","points":1e400}`)
	case 1:
		data = append([]byte(`{"member_id":"u`), 0xfe, '"', '}')
	case 2:
		data = make([]byte, a.rng.IntN(70_000))
		for i := range data {
			data[i] = byte(a.rng.IntN(256))
		}
	}
	msg := &nats.Msg{Subject: subject, Reply: a.pick(hostileReplies), Data: data, Header: nats.Header{}}
	msg.Header.Set("Nats-Msg-Id", a.pick(hostileStrings))
	msg.Header.Set("Nats-Expected-Last-Subject-Sequence", "1")
	if err := a.nc.PublishMsg(msg); err != nil && !strings.Contains(err.Error(), "maximum payload") {
		a.t.Fatalf("publish a request: %v", err)
	}
}

func (a *adversary) event() {
	a.events++
	types := []domain.EventType{domain.TypePurchaseCompleted, domain.TypePurchaseRefunded, domain.TypeFeedbackSubmitted,
		domain.TypeVisitRecorded, domain.TypeMemberEnrolled, domain.TypeTransfer, domain.TypeRedemption, domain.TypeMemberStatus,
		domain.TypeTierAssigned, domain.TypePurchaseConfirmed}
	typ := types[a.rng.IntN(len(types))]
	member := a.value("m-00000" + strconv.Itoa(1+a.rng.IntN(9)))
	data := map[string]any{"member_id": member}
	switch typ {
	case domain.TypePurchaseCompleted, domain.TypePurchaseRefunded:
		data["order_id"] = a.value("o-" + strconv.Itoa(a.rng.IntN(30)))
		data["amount"] = a.rng.Int64N(100_000)
		data["currency"] = a.value("EUR")
		data["lines"] = []map[string]any{{"sku": a.value("sku-1"), "category": a.value("food"), "quantity": 1 + a.rng.IntN(3),
			"unit_price": a.rng.IntN(5000)}}
	case domain.TypeFeedbackSubmitted:
		data["rating"], data["comment"], data["channel"] = 1+a.rng.IntN(5), a.value("fine"), a.value("app")
	case domain.TypeVisitRecorded:
		data["channel"] = a.value("store")
	case domain.TypeMemberEnrolled:
		data["channel"], data["referred_by"] = a.value("web"), a.value("m-000002")
	case domain.TypeTransfer:
		data["request_id"], data["to_member_id"], data["points"] = a.value("t-1"), a.value("m-000002"), 1+a.rng.IntN(50)
	case domain.TypeRedemption:
		data["request_id"], data["points"], data["channel"] = a.value("r-1"), 1+a.rng.IntN(50), a.value("pos")
	case domain.TypeMemberStatus:
		data["status"], data["reason"] = a.pick([]string{"active", "blocked", "closed", "\x00"}), a.value("fraud check")
	case domain.TypeTierAssigned:
		data["tier"], data["reason"] = a.value("gold"), a.value("vip")
	case domain.TypePurchaseConfirmed:
		data["order_id"] = a.value("o-1")
	}
	// Ids reused across members and events, and the engine's own.
	id := a.pick([]string{"dup-1", "dup-2", "e-" + strconv.Itoa(a.rng.IntN(1_000_000)), "transfer-in-0", a.pick(hostileStrings)})
	env := map[string]any{"specversion": "1.0", "id": id, "source": a.value("shop"), "type": string(typ),
		"time": time.Date(2026, 1, 1+a.rng.IntN(60), 12, 0, 0, 0, time.UTC).Format(time.RFC3339), "data": data}
	body, _ := json.Marshal(env)
	key := member
	if key == "" || len(key) > domain.MaxMemberIDBytes {
		key = "x"
	}
	subject, err := streams.InputSubject(typ, key)
	if err != nil {
		a.t.Fatal(err)
	}
	msg := &nats.Msg{Subject: subject, Data: body, Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, id+strconv.Itoa(a.rng.IntN(3)))
	if err := a.nc.PublishMsg(msg); err != nil {
		a.t.Fatalf("publish an event: %v", err)
	}
}

// assertStreamsIntact checks that each of the engine's streams is there.
func assertStreamsIntact(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	for _, name := range []string{streams.InputStream, streams.LedgerStream, streams.DeadLetterStream} {
		if _, err := js.Stream(context.Background(), name); err != nil {
			t.Errorf("stream %s: %v", name, err)
		}
	}
}

// assertLedgerDecodes reads the whole ledger and decodes every message.
func assertLedgerDecodes(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	keys := streams.ReadMemberKeys(js)
	for _, msg := range streamMessages(t, js, streams.LedgerStream) {
		meta, err := msg.Metadata()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := streams.DecodeLedgerMessageWith(msg.Data(), keys); err != nil {
			t.Errorf("ledger seq %d (%s) does not decode: %v", meta.Sequence.Stream, msg.Subject(), err)
		}
	}
}
