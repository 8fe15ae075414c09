package handlers_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/micro"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/handlers"
	"github.com/pointsledger/loyalty/streams"
	"github.com/pointsledger/loyalty/streams/natstest"
)

// A repeat of a held redemption's event (a duplicate event id, refused
// before the member is read) does not answer the till that waits for the
// stock, although the member has left memory since the hold: whether the
// request is held is read from the member's row.
func TestAHeldRequestOfAMemberOutOfMemoryWaitsForTheStock(t *testing.T) {
	env := natstest.Start(t)
	stock := streams.PartitionOf(domain.StockMemberPrefix + "vase")
	part := (stock + 1) % streams.Partitions
	member, other := membersOfPartition(part, 2)
	req, replied := holdAVase(t, env, handlers.EngineConfig{ServiceTimeout: 20 * time.Second,
		KeyIndexDir: t.TempDir(), MemberCacheBytes: 1, SnapshotEvery: time.Nanosecond}, member)
	// Another member of the partition is used last: the snapshot after its
	// append drops the held member from memory.
	publish(t, env.JS, visit("v-other", other, time.Now().UTC()))
	waitForRecords(t, env.JS, 3)
	time.Sleep(200 * time.Millisecond)
	_, records := foldLedger(t, env.JS)
	holdID := records[1].EventID
	// The till's event again (a retry with a new message id).
	publish(t, env.JS, domain.Event{ID: holdID, Type: domain.TypeRedemption, Source: handlers.ServiceSource, MemberID: member,
		OccurredAt: time.Now().UTC(), Body: domain.RedeemRequest{RequestID: req.RequestID, RewardID: "vase"}})
	waitForMsgs(t, env.JS, streams.DeadLetterStream, 1)
	select {
	case r := <-replied:
		body := ""
		if r.msg != nil {
			body = r.msg.Header.Get(micro.ErrorCodeHeader) + " " + string(r.msg.Data)
		}
		t.Fatalf("the till was answered before the stock did: %s %v", body, r.err)
	case <-time.After(time.Second):
	}
}

// A resync whose fold fails (here another writer appended a message the
// fold cannot use, so it fails at every retry) gives the members it read
// back to the engine's memory budget: the budget every partition evicts
// against does not grow with the retries.
func TestAFailedResyncGivesItsMembersBackToTheBudget(t *testing.T) {
	env := natstest.Start(t)
	_, _, reg := runEngineWith(t, env.JS, handlers.EngineConfig{KeyIndexDir: t.TempDir()})
	waitRunning(t, reg)
	m1, _ := membersOfPartition(3, 2)
	var evs []domain.Event
	for i := 0; i < 200; i++ {
		evs = append(evs, purchase(fmt.Sprint("lk-", i), m1, fmt.Sprint("lko-", i), 1000, day0.Add(time.Duration(i)*time.Minute)))
	}
	publish(t, env.JS, evs...)
	waitForRecords(t, env.JS, len(evs))
	before := metricValue(t, reg, "loyalty_member_memory_bytes")
	// Another writer's message on partition 3 that claims partition 4.
	bad := streams.LedgerRecord{Partition: 4, InputSeq: 1_000_000, InputStored: day0, EventID: "foreign", MemberID: m1,
		Facts: []domain.Fact{domain.VisitRecorded{FactMeta: domain.FactMeta{MemberID: m1, EventID: "foreign", OccurredAt: day0}}}}
	data, err := streams.EncodeLedgerMessage(nil, bad)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.JS.Publish(context.Background(), streams.LedgerSubject(3), data); err != nil {
		t.Fatal(err)
	}
	publish(t, env.JS, visit("lk-visit", m1, day0.Add(300*time.Hour)))
	time.Sleep(6 * time.Second) // several retries
	after := metricValue(t, reg, "loyalty_member_memory_bytes")
	t.Logf("loyalty_member_memory_bytes %v before, %v after the failing resyncs", before, after)
	if after > 2*before {
		t.Errorf("the budget grew from %v to %v with no member added: failed resyncs leak", before, after)
	}
}
