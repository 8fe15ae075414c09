package handlers_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/handlers"
	"github.com/pointsledger/loyalty/streams"
	"github.com/pointsledger/loyalty/streams/natstest"
)

func transferEvent(id, from, to, request string, points int64, at time.Time) domain.Event {
	return domain.Event{ID: id, Type: domain.TypeTransfer, Source: "test", MemberID: from, OccurredAt: at,
		Body: domain.TransferRequest{RequestID: request, ToMemberID: to, Points: points}}
}

// A transfer crosses partitions: the sender's points go out in the sender's
// partition, and the engine's own follow-up event brings them into the
// recipient's, once.
func TestTransferReachesTheRecipientsPartition(t *testing.T) {
	env, _ := startRunningEngine(t)
	from, to := "m-1", "m-2"
	if streams.PartitionOf(from) == streams.PartitionOf(to) {
		t.Fatal("test members share a partition; pick others")
	}
	// 50.00 EUR: 150 points; 100 of them go to m-2.
	publish(t, env.JS, purchase("p-1", from, "o-1", 5000, day0), transferEvent("t-1", from, to, "gift-1", 100, day0.Add(time.Hour)))
	waitForRecords(t, env.JS, 3) // the purchase, the transfer, the recipient's side
	members, _ := foldLedger(t, env.JS)
	if members[from].Balance != 50 || members[to].Balance != 100 {
		t.Errorf("sender %d, recipient %d; want 50 and 100", members[from].Balance, members[to].Balance)
	}
}

// An engine that stopped after appending a transfer and before publishing
// its follow-up publishes it at its next start: the ledger is the outbox.
func TestFollowUpsMissingAtStartArePublished(t *testing.T) {
	env := natstest.Start(t)
	from, to := "m-1", "m-2"
	at := day0.Add(time.Hour)
	// The sender's ledger record, as an engine appends it, with no
	// follow-up published: the engine that wrote it died.
	rec := streams.LedgerRecord{Partition: streams.PartitionOf(from), InputSeq: 1, InputStored: at, EventID: "t-1", MemberID: from,
		Facts: []domain.Fact{
			domain.TierChanged{FactMeta: domain.FactMeta{MemberID: from, EventID: "t-1", OccurredAt: at}, To: "bronze", Reason: domain.TierReasonEnrolment},
			domain.PointsTransferred{FactMeta: domain.FactMeta{MemberID: from, EventID: "t-1", OccurredAt: at}, RequestID: "gift-1", ToMemberID: to, Points: 40},
		}}
	data, err := streams.EncodeLedgerRecord(rec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.JS.PublishMsg(context.Background(), &nats.Msg{Subject: streams.LedgerSubject(rec.Partition), Data: streams.AppendLedgerLine(nil, data)}); err != nil {
		t.Fatal(err)
	}
	stop, _, reg := runEngine(t, env.JS)
	waitRunning(t, reg)
	waitForRecords(t, env.JS, 2)
	members, _ := foldLedger(t, env.JS)
	if members[to].Balance != 40 {
		t.Errorf("recipient has %d points, want the 40 of the transfer", members[to].Balance)
	}
	// A restart finds it applied and publishes nothing again.
	stop()
	_, _, reg = runEngine(t, env.JS)
	waitRunning(t, reg)
	time.Sleep(500 * time.Millisecond)
	if _, records := foldLedger(t, env.JS); len(records) != 2 {
		t.Errorf("after a second start the ledger holds %d records, want 2", len(records))
	}
	if n := len(readAll(t, env.JS, streams.DeadLetterStream)); n != 0 {
		t.Errorf("%d dead letters, want none", n)
	}
}

// A client publishes first, with the message id and the event id of a
// follow-up the engine will publish. JetStream then acknowledged the
// engine's publish as a duplicate without storing it, and the engine took
// that for success; and had the follow-up been stored, the recipient's
// partition had applied that event id already. Either way the transfer was
// debited and never credited. Follow-ups are given ids no client can compute
// now, but those of facts written before keep their computable ids: here an
// engine that died before publishing one, and a client that got there
// first. The engine reads the stored message back, finds it is not its own
// and publishes again under a new message id, and the ids of the events
// only the engine makes are a namespace of their own.
func TestAFollowUpsMessageIDTakenFirstIsPublishedAgain(t *testing.T) {
	from, to := "m-1", "m-2"
	at := day0.Add(time.Hour)
	transferred := domain.PointsTransferred{FactMeta: domain.FactMeta{MemberID: from, EventID: "t-1", OccurredAt: at},
		RequestID: "gift-1", ToMemberID: to, Points: 40}
	followUp, ok := domain.FollowUp(transferred)
	if !ok {
		t.Fatal("no follow-up for a transfer")
	}
	visitSubject, err := streams.InputSubject(domain.TypeVisitRecorded, to)
	if err != nil {
		t.Fatal(err)
	}
	visit, err := streams.EncodeEvent(domain.Event{ID: followUp.ID, Type: domain.TypeVisitRecorded, Source: "shop", MemberID: to,
		OccurredAt: day0, Body: domain.Visit{}})
	if err != nil {
		t.Fatal(err)
	}
	copied, err := streams.EncodeEvent(followUp)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		data      []byte
		records   int   // in the ledger once the recipient is credited
		recipient int64 // the recipient's points then
	}{
		{"a visit with the follow-up's ids", visit, 3, 45},         // the visit's 5 points and the 40 transferred
		{"the follow-up itself on another subject", copied, 2, 40}, // dead-lettered: no record
	} {
		t.Run(c.name, func(t *testing.T) {
			env := natstest.Start(t)
			if _, err := env.JS.PublishMsg(context.Background(), &nats.Msg{Subject: visitSubject, Data: c.data,
				Header: nats.Header{jetstream.MsgIDHeader: {followUp.ID}}}); err != nil {
				t.Fatal(err)
			}
			// The sender's record, as an engine of before follow-up ids wrote it.
			rec := streams.LedgerRecord{Partition: streams.PartitionOf(from), InputSeq: 2, InputStored: at, EventID: "t-1", MemberID: from,
				Facts: []domain.Fact{transferred}}
			data, err := streams.EncodeLedgerRecord(rec)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := env.JS.PublishMsg(context.Background(), &nats.Msg{Subject: streams.LedgerSubject(rec.Partition),
				Data: streams.AppendLedgerLine(nil, data)}); err != nil {
				t.Fatal(err)
			}
			_, _, reg := runEngine(t, env.JS)
			waitRunning(t, reg)
			waitForRecords(t, env.JS, c.records)
			members, _ := foldLedger(t, env.JS)
			if members[to] == nil || members[to].Balance != c.recipient {
				t.Errorf("recipient %+v; want %d points", members[to], c.recipient)
			}
			if got := metricValue(t, reg, "loyalty_input_preempted_total"); got != 1 {
				t.Errorf("loyalty_input_preempted_total = %v, want 1", got)
			}
		})
	}
}

// The follow-ups the engine decides now carry ids made with a key of the
// deployment's (an HMAC), stored in the fact: no client can compute them
// from the member and event ids, and a restart publishes nothing again.
func TestFollowUpIDsAreTheEnginesOwn(t *testing.T) {
	env := natstest.Start(t)
	stop, _, reg := runEngine(t, env.JS)
	waitRunning(t, reg)
	from, to := "m-1", "m-2"
	publish(t, env.JS, purchase("p-1", from, "o-1", 5000, day0), transferEvent("t-1", from, to, "gift-1", 100, day0.Add(time.Hour)))
	waitForRecords(t, env.JS, 3)
	_, records := foldLedger(t, env.JS)
	var given string
	for _, r := range records {
		for _, f := range r.Facts {
			if tr, ok := f.(domain.PointsTransferred); ok {
				given = tr.FollowUpID
				legacy, _ := domain.FollowUp(domain.PointsTransferred{FactMeta: tr.FactMeta, ToMemberID: to})
				if given == legacy.ID || !strings.HasPrefix(given, "transfer-k1-") {
					t.Errorf("the transfer's follow-up id %q, want one of the engine's key, not the computable %q", given, legacy.ID)
				}
			}
		}
	}
	if given == "" {
		t.Fatal("no PointsTransferred in the ledger")
	}
	stop()
	_, _, reg = runEngine(t, env.JS)
	waitRunning(t, reg)
	time.Sleep(500 * time.Millisecond)
	members, records := foldLedger(t, env.JS)
	if len(records) != 3 || members[to].Balance != 100 {
		t.Errorf("after a restart: %d records, recipient %d points; want 3 and 100, nothing published again", len(records), members[to].Balance)
	}
}

// writeTransferRecord appends the sender's ledger record of a transfer of
// points from one member to another, as an engine that died before
// publishing its follow-up left it.
func writeTransferRecord(t *testing.T, js jetstream.JetStream, from, to string, points int64, at time.Time) {
	t.Helper()
	rec := streams.LedgerRecord{Partition: streams.PartitionOf(from), InputSeq: 1, InputStored: at, EventID: "t-1", MemberID: from,
		Facts: []domain.Fact{
			domain.TierChanged{FactMeta: domain.FactMeta{MemberID: from, EventID: "t-1", OccurredAt: at}, To: "bronze", Reason: domain.TierReasonEnrolment},
			domain.PointsTransferred{FactMeta: domain.FactMeta{MemberID: from, EventID: "t-1", OccurredAt: at}, RequestID: "gift-1", ToMemberID: to, Points: points},
		}}
	data, err := streams.EncodeLedgerRecord(rec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.PublishMsg(context.Background(), &nats.Msg{Subject: streams.LedgerSubject(rec.Partition), Data: streams.AppendLedgerLine(nil, data)}); err != nil {
		t.Fatal(err)
	}
}

// The recipient's partition belongs to another process: the sender's
// engine publishes the lost follow-up all the same, once, and forgets it
// when JetStream has it; a restart publishes nothing again.
func TestFollowUpsForAnotherProcessesPartitionArePublished(t *testing.T) {
	env := natstest.Start(t)
	from, to := "m-1", "m-2"
	writeTransferRecord(t, env.JS, from, to, 40, day0.Add(time.Hour))
	sender := streams.PartitionOf(from)
	_, _, recipientReg := runEngineWith(t, env.JS, handlers.EngineConfig{Partitions: partitionsBut(sender), NoService: true})
	dir := t.TempDir()
	stop, _, _ := runEngineWith(t, env.JS, handlers.EngineConfig{Partitions: []int{sender}, KeyIndexDir: dir, NoService: true})
	waitForRecords(t, env.JS, 2)
	members, _ := foldLedger(t, env.JS)
	if members[to].Balance != 40 {
		t.Errorf("recipient has %d points, want the 40 of the transfer", members[to].Balance)
	}
	stop()
	logs := &lockedBuffer{}
	_, _, reg := runEngineWith(t, env.JS, handlers.EngineConfig{Partitions: []int{sender}, KeyIndexDir: dir, NoService: true,
		Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	waitFor(t, 10*time.Second, func() bool { return metricValue(t, reg, "loyalty_engine_partitions_owned") == 1 })
	time.Sleep(time.Second)
	if strings.Contains(logs.String(), "follow-up events published again") {
		t.Errorf("the restart published the follow-up again, though JetStream had stored it:\n%s", logs.String())
	}
	if _, records := foldLedger(t, env.JS); len(records) != 2 {
		t.Errorf("after the sender's restart the ledger holds %d records, want 2", len(records))
	}
	if n := len(readAll(t, env.JS, streams.DeadLetterStream)); n != 0 {
		t.Errorf("%d dead letters, want none (the follow-up published again after it was stored)", n)
	}
	if got := metricValue(t, recipientReg, "loyalty_events_total"); got != 1 {
		t.Errorf("the recipient's engine handled %v events, want the one follow-up", got)
	}
}
