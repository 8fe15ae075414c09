package main

import (
	"context"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/handlers"
	"github.com/pointsledger/loyalty/streams"
	"github.com/pointsledger/loyalty/streams/natstest"
)

// An erasure deletes what names the member and nothing else: a short id
// must not take every message that holds its digits.
func TestErasureMatchesTheMemberOnly(t *testing.T) {
	m := newMemberMatcher([]string{"42", "a.b@example.com"})
	key42, keyA := streams.MemberKey("42"), streams.MemberKey("a.b@example.com")
	other := streams.MemberKey("m-7")
	cases := []struct {
		name    string
		subject string
		header  map[string][]string
		data    string
		want    bool
	}{
		{"the member's input", "loyalty.in.3.purchase-completed." + key42, nil, `{"data":{"member_id":"42"}}`, true},
		{"the member's outbound event", "loyalty.out.points.earned.3." + keyA, nil, `{}`, true},
		{"another member's transfer to them", "loyalty.in.9.transfer-requested." + other, nil,
			`{"type":"x","data":{"member_id":"m-7","to_member_id":"42","points":42}}`, true},
		{"another member referred by them", "loyalty.in.9.member-enrolled." + other, nil,
			`{"data":{"member_id":"m-7","referred_by":"a.b@example.com"}}`, true},
		{"a dead letter of theirs", "loyalty.dlq.invalid_amount", map[string][]string{handlers.HeaderStoredSubject: {"loyalty.in.3.purchase-completed." + key42}},
			`not json at all`, true},
		{"their voucher's key", "$KV." + handlers.VouchersBucket + ".code.abc", nil, "42", true},
		{"a webhook dead letter about them", "loyalty.webhooks.dlq.crm", nil, `{"id":"x","data":{"member_id":"a.b@example.com"}}`, true},

		{"another member's purchase of 42 units at 42.00", "loyalty.in.9.purchase-completed." + other, nil,
			`{"id":"42","data":{"member_id":"m-7","order_id":"42","amount":4200,"lines":[{"sku":"42","quantity":42}]}}`, false},
		{"another member's comment that names the id", "loyalty.in.9.feedback-submitted." + other, nil,
			`{"data":{"member_id":"m-7","comment":"I am not 42 nor a.b@example.com"}}`, false},
		{"another bucket's value that is the id", "$KV.LOYALTY_PROGRESS.engine-1", nil, "42", false},
		{"an event id that is the id", "loyalty.in.9.visit-recorded." + other, map[string][]string{"Nats-Msg-Id": {"42"}}, `{"data":{"member_id":"m-7"}}`, false},
		{"a subject whose token holds the key", "loyalty.in.9.visit-recorded.x" + key42, nil, `{}`, false},
		{"a member field of a number", "loyalty.in.9.visit-recorded." + other, nil, `{"data":{"member_id":42}}`, false},
		{"another member's attribute named like a member field", "loyalty.in.attributes-updated." + other, nil,
			`{"data":{"member_id":"m-7","attributes":{"member_id":"42","referred_by":"a.b@example.com"}}}`, false},
		{"a member field deeper in another member's event", "loyalty.in.9.visit-recorded." + other, nil,
			`{"data":{"member_id":"m-7","extra":{"member_id":"42"},"list":[{"to_member_id":"42"}]}}`, false},
		{"a binary-mode event of another member naming them", "loyalty.in.9.transfer-requested." + other, nil,
			`{"member_id":"m-7","to_member_id":"42","points":5}`, true},
		{"a ledger record of version 1 naming them", "loyalty.quarantine.x", nil,
			`{"v":1,"member_id":"m-7","facts":[{"type":"loyalty.points.transferred.v1","other_member_id":"a.b@example.com"}]}`, true},
	}
	for _, c := range cases {
		if got := m.match(c.subject, c.header, []byte(c.data)); got != c.want {
			t.Errorf("%s: match = %v, want %v", c.name, got, c.want)
		}
	}
}

// Other members' input naming an erased member is deleted only once read:
// with the engines stopped (no input consumer) nothing of it is; with one,
// what it acknowledged.
func TestErasureKeepsInputNotYetRead(t *testing.T) {
	env := natstest.Start(t)
	ctx := context.Background()
	for i := range 3 {
		subject, _ := streams.InputSubject(domain.TypeVisitRecorded, fmt.Sprintf("m-%d", i))
		if _, err := env.JS.Publish(ctx, subject, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	in, err := env.JS.Stream(ctx, streams.InputStream)
	if err != nil {
		t.Fatal(err)
	}
	if floor, err := ackFloor(ctx, in, true); err != nil || floor != 0 {
		t.Errorf("input with no consumer: floor %d (%v), want 0", floor, err)
	}
	out, err := env.JS.Stream(ctx, streams.OutboundStream)
	if err != nil {
		t.Fatal(err)
	}
	if floor, err := ackFloor(ctx, out, false); err != nil || floor != ^uint64(0) {
		t.Errorf("outbound with no consumer: floor %d (%v), want every sequence", floor, err)
	}
	cons, err := in.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "reader", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(2)
	if err != nil {
		t.Fatal(err)
	}
	for msg := range batch.Messages() {
		if err := msg.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if floor, err := ackFloor(ctx, in, true); err != nil || floor != 2 {
		t.Errorf("input read up to 2: floor %d (%v)", floor, err)
	}
}
