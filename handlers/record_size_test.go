package handlers_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/handlers"
	"github.com/pointsledger/loyalty/streams"
	"github.com/pointsledger/loyalty/streams/natstest"
)

// A member whose 1,500 orders' pending points are all released by one
// event: the facts made one ledger record larger than a message may be,
// the append failed, was retried for ever, and the partition (then, its
// input waiting, the whole engine) stopped. The input is dead-lettered
// instead, and the partition goes on.
func TestARecordTooLargeForTheLedgerIsDeadLettered(t *testing.T) {
	env := natstest.Start(t)
	p := testProgram()
	p.Earning.Pending = domain.Pending{Days: 14}
	_, _, reg := runEngineWith(t, env.JS, handlers.EngineConfig{Programs: domain.OneVersion(p)})
	waitRunning(t, reg)

	now := time.Now().UTC()
	back := now.AddDate(0, 0, -20)
	member := "heavy"
	events := []domain.Event{{ID: "enrol", Type: domain.TypeMemberEnrolled, Source: "shop", MemberID: member, OccurredAt: back.Add(-time.Hour),
		Body: domain.Enrolment{}}}
	const orders = 1500
	for i := range orders {
		order := fmt.Sprintf("%05d", i) + strings.Repeat("<", 123) // escaped \u003c in the ledger: 6 bytes each
		events = append(events, purchase(fmt.Sprintf("p-%d", i), member, order, 100, back))
	}
	publish(t, env.JS, events...)
	waitForRecords(t, env.JS, 1+orders)

	other := ""
	for i := 0; other == ""; i++ {
		if id := fmt.Sprintf("other-%d", i); streams.PartitionOf(id) == streams.PartitionOf(member) {
			other = id
		}
	}
	publish(t, env.JS, visit("v-now", member, now), purchase("p-other", other, "o-other", 5000, now))
	waitForRecords(t, env.JS, 1+orders+1) // the other member's purchase; the visit is refused
	dead := readAll(t, env.JS, streams.DeadLetterStream)
	if len(dead) != 1 || dead[0].Header.Get(handlers.HeaderReason) != string(handlers.ReasonRecordTooLarge) {
		var reasons []string
		for _, d := range dead {
			reasons = append(reasons, d.Header.Get(handlers.HeaderReason))
		}
		t.Errorf("dead letters %v, want the visit's one, record_too_large", reasons)
	}
	members, _ := foldLedger(t, env.JS)
	if members[other] == nil || members[other].Pending == 0 {
		t.Errorf("the other member of the partition has no pending points from their purchase: the partition did not go on")
	}
}
