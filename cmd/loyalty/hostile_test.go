package main_test

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/domain/simulate"
	"github.com/pointsledger/loyalty/handlers"
	"github.com/pointsledger/loyalty/projections/pgtest"
	"github.com/pointsledger/loyalty/streams"
	"github.com/pointsledger/loyalty/streams/natstest"
)

// An upstream client, with nothing but the upstream user of
// deploy/nats/permissions.conf, sends the service requests whose reply
// subjects are the JetStream API's deletes and purges and the ledger. The
// engine runs with its own reply check opened to those subjects, so that
// the accounts of permissions.conf alone must stop them: a request that
// crosses from the UPSTREAM account reaches the engine with a reply subject
// the server made, and the answers land nowhere in LOYALTY.
func TestAccountsStopTheServiceAsConfusedDeputy(t *testing.T) {
	sec := startSecuredNATS(t)
	db := pgtest.New(t)
	srv := startServe(t, append(sec.as("engine"), "--database-url", db.URL, "--data-dir", t.TempDir(),
		"--service-reply-prefixes", "$,loyalty.,_,KV")...)
	defer srv.stop(t)

	js := sec.jetStream(t, "operator")
	waitForStreams(t, js)
	attacker := sec.connect(t, "upstream")
	// An enrolled member, so that answers are not all errors.
	enrol := `{"specversion":"1.0","id":"e-1","source":"shop","type":"loyalty.member.enrolled.v1","time":"2026-01-01T00:00:00Z","data":{"member_id":"m-1"}}`
	subject, err := streams.InputSubject("loyalty.member.enrolled.v1", "m-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := attacker.Request(subject, []byte(enrol), 10*time.Second); err != nil {
		t.Fatalf("publish an enrolment as upstream: %v", err)
	}
	waitServiceKnows(t, attacker, "m-1")
	before := natstest.MessageCounts(t, js)

	hostile := []string{
		"$JS.API.STREAM.DELETE." + streams.LedgerStream,
		"$JS.API.STREAM.PURGE." + streams.InputStream,
		"$JS.API.STREAM.DELETE." + streams.DeadLetterStream,
		"loyalty.ledger.0",
		"loyalty.dlq.x",
		"$KV.LOYALTY_LEASES.engine",
		"$KV.LOYALTY_LEASES.partitions.00",
		"$KV.LOYALTY_PROGRESS.partition.0",
	}
	for _, reply := range hostile {
		for _, r := range []struct{ subject, data string }{
			{handlers.BalanceSubject, `{"member_id":"m-1"}`},
			{handlers.BalanceSubject, `not json`}, // an error answer has the empty body a delete wants
			{handlers.RedeemSubject, `{}`},
		} {
			if err := attacker.PublishMsg(&nats.Msg{Subject: r.subject, Reply: reply, Data: []byte(r.data)}); err != nil {
				t.Fatalf("publish %s with reply %s: %v", r.subject, reply, err)
			}
		}
	}
	// Answered after the hostile requests: they have all been handled.
	waitServiceKnows(t, attacker, "m-1")
	after := natstest.MessageCounts(t, js)
	for name, n := range before {
		if after[name] != n {
			t.Errorf("stream %s holds %d messages after the hostile requests, %d before", name, after[name], n)
		}
	}
}

// waitForStreams waits until serve has made its streams.
func waitForStreams(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := js.Stream(context.Background(), streams.DeadLetterStream); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("serve did not create its streams within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitServiceKnows asks the service for member's balance until it answers.
func waitServiceKnows(t *testing.T, nc *nats.Conn, member string) {
	t.Helper()
	serviceBalance(t, nc, member, 30*time.Second)
}

// serviceBalance asks the service for member's balance until it answers,
// for at most limit.
func serviceBalance(t testing.TB, nc *nats.Conn, member string, limit time.Duration) handlers.BalanceReply {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		msg, err := nc.Request(handlers.BalanceSubject, []byte(`{"member_id":"`+member+`"}`), 5*time.Second)
		var reply handlers.BalanceReply
		if err == nil && json.Unmarshal(msg.Data, &reply) == nil && reply.MemberID == member {
			return reply
		}
		if time.Now().After(deadline) {
			t.Fatalf("the service did not answer for %s within %s (last: %v)", member, limit, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The ledger deleted under a stopped engine: serve started again on an
// empty ledger (the members' points forgotten) and the projections skipped
// the new ledger's first records. Now serve refuses to start, naming the
// stream and the way out; told to accept the loss, it creates the stream,
// and its projections then refuse a ledger they were not built from.
func TestServeRefusesToStartWithoutItsLedger(t *testing.T) {
	env := natstest.Start(t)
	db := pgtest.New(t)
	args := []string{"serve", "--nats-url", env.Server.ClientURL(), "--database-url", db.URL, "--data-dir", t.TempDir()}
	srv := startServe(t, args[1:]...)
	mustLoyalty(t, "simulate", "--nats-url", env.Server.ClientURL(), "--members", "20", "--days", "10", "--seed", "3",
		"--start", "2026-01-01", "--quiet")
	events, err := simulate.All(simulate.Config{Members: 20, Days: 10, Seed: 3, Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	waitCaughtUp(t, env.JS, db.Pool, uint64(len(events)))
	srv.stop(t)

	ctx := context.Background()
	if err := env.JS.DeleteStream(ctx, streams.LedgerStream); err != nil {
		t.Fatal(err)
	}
	_, errOut, err := loyalty(t, append(args, "--metrics-addr", freeAddr(t))...)
	if err == nil || !strings.Contains(errOut, streams.LedgerStream+" missing") || !strings.Contains(errOut, "--recreate-missing-streams") {
		t.Fatalf("serve without its ledger: err %v, stderr:\n%s\nwant a refusal naming %s and --recreate-missing-streams", err, errOut, streams.LedgerStream)
	}
	if _, err := env.JS.Stream(ctx, streams.LedgerStream); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Errorf("the ledger after the refusal: %v, want it still missing", err)
	}
	_, errOut, err = loyalty(t, append(args, "--metrics-addr", freeAddr(t), "--recreate-missing-streams")...)
	if err == nil || !strings.Contains(errOut, "not the one the projections were built from") {
		t.Fatalf("serve told to recreate the ledger: err %v, stderr:\n%s\nwant the projections to refuse the new ledger", err, errOut)
	}
}

// A ledger message nobody can decode (here an error answer a confused
// deputy once appended) stopped the engine and the projections for good,
// and the operator could not remove it (the ledger denies delete and
// purge). `loyalty ledger quarantine` sets it aside with an audit entry; the
// engine and the projections then skip it, and the partition's next append
// is still fenced on it.
func TestAnUndecodableLedgerMessageIsQuarantined(t *testing.T) {
	env := natstest.Start(t)
	db := pgtest.New(t)
	natsURL := []string{"--nats-url", env.Server.ClientURL()}
	args := append([]string{"--database-url", db.URL, "--data-dir", t.TempDir()}, natsURL...)
	member := memberOfPartition(t, 0)
	ctx := context.Background()
	at := time.Now().UTC().Add(-time.Hour)
	purchase := func(id string) domain.Event {
		return domain.Event{ID: id, Type: domain.TypePurchaseCompleted, Source: "test", MemberID: member, OccurredAt: at,
			Body: domain.Purchase{OrderID: "order-" + id, Total: domain.Money{Minor: 5000, Currency: "EUR"}}}
	}
	publishEvents(t, env, []domain.Event{purchase("p-1")})
	srv := startServe(t, args...)
	waitCaughtUp(t, env.JS, db.Pool, 1)
	srv.stop(t)

	ledger, err := env.JS.Stream(ctx, streams.LedgerStream)
	if err != nil {
		t.Fatal(err)
	}
	decodable := strconv.FormatUint(ledger.CachedInfo().State.LastSeq, 10)
	ack, err := env.JS.Publish(ctx, streams.LedgerSubject(0), []byte(`{"error":"400 want {\"member_id\": \"...\"}"}`))
	if err != nil {
		t.Fatal(err)
	}
	bad := strconv.FormatUint(ack.Sequence, 10)
	_, errOut, err := loyalty(t, append([]string{"serve", "--metrics-addr", freeAddr(t)}, args...)...)
	if err == nil || !strings.Contains(errOut, "loyalty ledger quarantine "+bad) {
		t.Fatalf("serve on the undecodable message: err %v, stderr:\n%s\nwant it to stop, naming `loyalty ledger quarantine %s`", err, errOut, bad)
	}

	quarantine := func(args ...string) (string, error) {
		out, errOut, err := loyalty(t, append(append([]string{"ledger", "quarantine"}, args...), natsURL...)...)
		return out + errOut, err
	}
	if out, err := quarantine(bad); err == nil || !strings.Contains(out, "reason is required") {
		t.Errorf("quarantine without a reason: err %v, output %q, want a refusal asking for one", err, out)
	}
	if out, err := quarantine(decodable, "--reason", "hiding a purchase"); err == nil || !strings.Contains(out, "decodes") {
		t.Errorf("quarantine of a message that decodes: err %v, output %q, want a refusal", err, out)
	}
	if out, err := quarantine(bad, "--reason", "an error answer appended by the service"); err != nil || !strings.Contains(out, "quarantined") {
		t.Fatalf("quarantine: err %v, output %q", err, out)
	}
	if out, err := quarantine(bad, "--reason", "again"); err == nil || !strings.Contains(out, "already") {
		t.Errorf("a second quarantine: err %v, output %q, want a refusal", err, out)
	}
	listed := mustLoyalty(t, append([]string{"ledger", "quarantined"}, natsURL...)...)
	if !strings.Contains(listed, bad) || !strings.Contains(listed, "an error answer appended by the service") {
		t.Errorf("ledger quarantined lists:\n%s\nwant seq %s with its reason", listed, bad)
	}
	var entries []streams.Quarantined
	if err := json.Unmarshal([]byte(mustLoyalty(t, append([]string{"ledger", "quarantined", "--json"}, natsURL...)...)), &entries); err != nil ||
		len(entries) != 1 || entries[0].Seq != ack.Sequence || entries[0].SHA256 == "" {
		t.Errorf("ledger quarantined --json: %+v (%v), want the one entry of seq %d with its digest", entries, err, ack.Sequence)
	}

	srv = startServe(t, args...)
	publishEvents(t, env, []domain.Event{purchase("p-2")})
	waitCaughtUp(t, env.JS, db.Pool, 2)
	srv.stop(t)
	if log := srv.log.String(); !strings.Contains(log, "set aside by quarantine are skipped") || !strings.Contains(log, "quarantined ledger message skipped") {
		t.Errorf("serve's log does not say that the engine and the projections skipped the quarantined message:\n%s", log)
	}
	var balance int64
	if err := db.Pool.QueryRow(ctx, "select points_balance from loyalty.members where member_id = $1", member).Scan(&balance); err != nil {
		t.Fatal(err)
	}
	if balance <= 0 {
		t.Errorf("balance of %s = %d after two purchases, want points", member, balance)
	}
	last, err := ledger.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if last.State.LastSeq <= ack.Sequence {
		t.Errorf("the ledger ends at %d, want a record appended after the quarantined %d", last.State.LastSeq, ack.Sequence)
	}
}

// memberOfPartition is a member id whose events go to partition p.
func memberOfPartition(t *testing.T, p int) string {
	t.Helper()
	for i := range 10_000 {
		if id := "m-" + strconv.Itoa(i); streams.PartitionOf(id) == p {
			return id
		}
	}
	t.Fatalf("no member id of partition %d", p)
	return ""
}
