package handlers_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/handlers"
	"github.com/pointsledger/loyalty/streams"
	"github.com/pointsledger/loyalty/streams/natstest"
)

// call sends a request to the service and decodes the reply; code is the
// service's error code, "" for a reply without error.
func call(t *testing.T, nc *nats.Conn, subject string, req, reply any) (code, description string) {
	t.Helper()
	data, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := nc.Request(subject, data, 10*time.Second)
	if err != nil {
		t.Fatalf("request %s: %v", subject, err)
	}
	if code := msg.Header.Get(micro.ErrorCodeHeader); code != "" {
		return code, msg.Header.Get(micro.ErrorHeader)
	}
	if err := json.Unmarshal(msg.Data, reply); err != nil {
		t.Fatalf("reply to %s: %v: %s", subject, err, msg.Data)
	}
	return "", ""
}

// A point of sale asks for a balance and redeems over NATS request-reply:
// each answer is the ledger's, a repeated request gets the first decision
// and spends nothing more, and concurrent requests never spend more than
// the member has.
func TestServiceAnswersBalanceAndRedemptionsFromTheLedger(t *testing.T) {
	env, _ := startRunningEngine(t)
	// 50.00 EUR: 50 base + 100 first-purchase bonus = 150 points.
	// Recent, so that it is in the tier window of now, the service's time.
	publish(t, env.JS, purchase("p-1", "m-1", "o-1", 5000, time.Now().UTC().Add(-time.Hour)))
	waitForRecords(t, env.JS, 1)

	var bal handlers.BalanceReply
	if code, desc := call(t, env.Conn, handlers.BalanceSubject, handlers.BalanceRequest{MemberID: "m-1"}, &bal); code != "" {
		t.Fatalf("balance: %s %s", code, desc)
	}
	// silver needs 500.00 of spend in a year: 450.00 missing.
	if bal.Balance != 150 || bal.Available != 150 || bal.Tier != "bronze" || bal.Status != "active" || bal.LedgerSeq == 0 ||
		bal.NextTier != "silver" || bal.TierValue != 5000 || bal.Missing != 45000 || bal.ProjectedTier != "bronze" {
		t.Errorf("balance reply %+v, want 150 points, bronze, active, a ledger sequence, 450.00 from silver", bal)
	}
	if code, _ := call(t, env.Conn, handlers.BalanceSubject, handlers.BalanceRequest{MemberID: "nobody"}, &bal); code != handlers.CodeUnknownMember {
		t.Errorf("balance of an unknown member: code %q, want %s", code, handlers.CodeUnknownMember)
	}

	mug := handlers.RedeemRequestJSON{MemberID: "m-1", RequestID: "till-1", RewardID: "mug", Channel: "pos-1"}
	var got handlers.RedeemReply
	if code, desc := call(t, env.Conn, handlers.RedeemSubject, mug, &got); code != "" {
		t.Fatalf("redeem: %s %s", code, desc)
	}
	if got.Status != "accepted" || got.Points != 60 || got.Balance != 90 || got.Repeated || got.LedgerSeq <= bal.LedgerSeq {
		t.Errorf("redeem reply %+v, want 60 points accepted, 90 left, after ledger seq %d", got, bal.LedgerSeq)
	}
	var again handlers.RedeemReply
	if code, desc := call(t, env.Conn, handlers.RedeemSubject, mug, &again); code != "" {
		t.Fatalf("repeated redeem: %s %s", code, desc)
	}
	if again.Status != "accepted" || again.Points != 60 || again.Balance != 90 || !again.Repeated {
		t.Errorf("repeated request: %+v, want the first decision (60 points), marked repeated, 90 left", again)
	}

	var refused handlers.RedeemReply
	if code, desc := call(t, env.Conn, handlers.RedeemSubject,
		handlers.RedeemRequestJSON{MemberID: "m-1", RequestID: "till-2", RewardID: "mug", Quantity: 2}, &refused); code != "" {
		t.Fatalf("redeem: %s %s", code, desc)
	}
	if refused.Status != "rejected" || refused.Reason != string(domain.RedeemInsufficientPoints) || refused.Balance != 90 {
		t.Errorf("over-spending request: %+v, want rejected for insufficient points, 90 left", refused)
	}
	for _, bad := range []struct {
		req  any
		code string
	}{
		{handlers.RedeemRequestJSON{MemberID: "m-1", RewardID: "mug"}, handlers.CodeBadRequest},           // no request id
		{map[string]any{"member_id": "m-1", "request_id": "x", "reward": "mug"}, handlers.CodeBadRequest}, // unknown field
		{handlers.RedeemRequestJSON{MemberID: "ghost", RequestID: "x", RewardID: "mug"}, handlers.CodeUnknownMember},
	} {
		if code, _ := call(t, env.Conn, handlers.RedeemSubject, bad.req, &got); code != bad.code {
			t.Errorf("request %+v: code %q, want %s", bad.req, code, bad.code)
		}
	}

	// Ten tills at once, 20 points each, for 90 points: four are accepted.
	var wg sync.WaitGroup
	replies := make([]handlers.RedeemReply, 10)
	for i := range replies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := handlers.RedeemRequestJSON{MemberID: "m-1", RequestID: fmt.Sprintf("rush-%d", i), Points: 20}
			if code, desc := call(t, env.Conn, handlers.RedeemSubject, req, &replies[i]); code != "" {
				t.Errorf("rush %d: %s %s", i, code, desc)
			}
		}()
	}
	wg.Wait()
	accepted := 0
	for _, r := range replies {
		if r.Status == "accepted" {
			accepted++
		}
	}
	members, records := foldLedger(t, env.JS)
	if m := members["m-1"]; accepted != 4 || m.Balance != 10 || m.Redeemed != 140 {
		t.Errorf("%d of 10 accepted, ledger balance %d, redeemed %d; want 4, 10, 140", accepted, m.Balance, m.Redeemed)
	}
	redeemedFacts := 0
	for _, rec := range records {
		for _, f := range rec.Facts {
			if _, ok := f.(domain.PointsRedeemed); ok {
				redeemedFacts++
			}
		}
	}
	if redeemedFacts != 5 { // the mug and four rushes
		t.Errorf("ledger holds %d redemptions, want 5", redeemedFacts)
	}

	// The last 10 points go to m-9, who has no history yet.
	var moved handlers.RedeemReply
	gift := handlers.TransferRequestJSON{MemberID: "m-1", RequestID: "gift-1", ToMemberID: "m-9", Points: 10}
	if code, desc := call(t, env.Conn, handlers.TransferSubject, gift, &moved); code != "" {
		t.Fatalf("transfer: %s %s", code, desc)
	}
	if moved.Status != "accepted" || moved.Points != 10 || moved.Balance != 0 || moved.ToMemberID != "m-9" {
		t.Errorf("transfer reply %+v, want 10 points accepted for m-9, 0 left", moved)
	}
	if code, _ := call(t, env.Conn, handlers.TransferSubject, gift, &moved); code != "" || !moved.Repeated || moved.Points != 10 {
		t.Errorf("repeated transfer: code %q, reply %+v; want the first decision", code, moved)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, _ := call(t, env.Conn, handlers.BalanceSubject, handlers.BalanceRequest{MemberID: "m-9"}, &bal)
		if code == "" && bal.Balance == 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("m-9's balance: code %q, reply %+v; want the 10 points transferred", code, bal)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A reward with a stock of one: two members ask at once, one gets it; the
// other's points, held meanwhile, come back. Each till waits for the
// stock's answer.
func TestServiceRedeemsAStockedRewardOnce(t *testing.T) {
	env, _ := startRunningEngine(t)
	recent := time.Now().UTC().Add(-time.Hour)
	publish(t, env.JS, purchase("p-1", "m-1", "o-1", 5000, recent), purchase("p-2", "m-2", "o-2", 5000, recent))
	waitForRecords(t, env.JS, 2)
	replies := make([]handlers.RedeemReply, 2)
	var wg sync.WaitGroup
	for i, member := range []string{"m-1", "m-2"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := handlers.RedeemRequestJSON{MemberID: member, RequestID: "vase-" + member, RewardID: "vase"}
			if code, desc := call(t, env.Conn, handlers.RedeemSubject, req, &replies[i]); code != "" {
				t.Errorf("%s: %s %s", member, code, desc)
			}
		}()
	}
	wg.Wait()
	statuses := map[string]int{}
	for _, r := range replies {
		statuses[r.Status+"/"+r.Reason]++
		if want := map[string]int64{"accepted": 140, "rejected": 150}[r.Status]; r.Balance != want {
			t.Errorf("%s's reply %+v: balance %d, want %d", r.MemberID, r, r.Balance, want)
		}
	}
	if statuses["accepted/"] != 1 || statuses["rejected/out_of_stock"] != 1 {
		t.Errorf("replies %+v; want one accepted and one out of stock", replies)
	}
	members, _ := foldLedger(t, env.JS)
	if got := members["m-1"].Balance + members["m-2"].Balance; got != 290 || members[domain.StockMemberPrefix+"vase"].StockTakenOf("vase") != 1 {
		t.Errorf("balances add up to %d (want 290), the stock gave %d", got, members[domain.StockMemberPrefix+"vase"].StockTakenOf("vase"))
	}
}

// A till waits for a stocked reward, its points held until the stock
// answers. Meanwhile another event with the same request id comes in and is
// dead-lettered as a duplicate request: that is not the till's decision,
// which is still the stock's answer.
func TestServiceWaitsForTheStockPastADuplicateRequest(t *testing.T) {
	env := natstest.Start(t)
	stock := streams.PartitionOf(domain.StockMemberPrefix + "vase")
	member := ""
	for i := 0; member == ""; i++ {
		if m := fmt.Sprintf("m-%d", i); streams.PartitionOf(m) != stock {
			member = m
		}
	}
	// The stock's answer waits for an engine started later.
	req, replied := holdAVase(t, env, handlers.EngineConfig{ServiceTimeout: 30 * time.Second}, member)
	members, _ := foldLedger(t, env.JS)
	if o, ok := members[member].Request(domain.RedemptionRef(req.RequestID)); !ok || !o.Held {
		t.Fatalf("%s's request after the first record: %+v, %v; want it held", member, o, ok)
	}
	publish(t, env.JS, domain.Event{ID: "other-till-1", Type: domain.TypeRedemption, Source: "test", MemberID: member,
		OccurredAt: time.Now().UTC(), Body: domain.RedeemRequest{RequestID: req.RequestID, RewardID: "vase"}})
	waitForMsgs(t, env.JS, streams.DeadLetterStream, 1)
	if m := readAll(t, env.JS, streams.DeadLetterStream)[0]; m.Header.Get(handlers.HeaderReason) != string(domain.ReasonDuplicateRequest) {
		t.Fatalf("dead letter %q (%s), want %s", m.Header.Get(handlers.HeaderReason), m.Header.Get(handlers.HeaderError), domain.ReasonDuplicateRequest)
	}
	select {
	case r := <-replied:
		code := ""
		if r.msg != nil {
			code = r.msg.Header.Get(micro.ErrorCodeHeader) + " " + r.msg.Header.Get(micro.ErrorHeader) + " " + string(r.msg.Data)
		}
		t.Fatalf("answered before the stock did: %s %v", code, r.err)
	case <-time.After(500 * time.Millisecond): // the dead letter's answer would have come by now
	}

	_, _, stockReg := runEngineWith(t, env.JS, handlers.EngineConfig{Partitions: []int{stock}, NoService: true})
	waitOwning(t, stockReg, 1)
	r := <-replied
	if r.err != nil {
		t.Fatalf("redeem: %v", r.err)
	}
	if code := r.msg.Header.Get(micro.ErrorCodeHeader); code != "" {
		t.Fatalf("redeem: %s %s; want the stock's decision", code, r.msg.Header.Get(micro.ErrorHeader))
	}
	var got handlers.RedeemReply
	if err := json.Unmarshal(r.msg.Data, &got); err != nil {
		t.Fatalf("reply: %v: %s", err, r.msg.Data)
	}
	if got.Status != "accepted" || got.Points != 10 || got.Balance != 140 || got.Repeated {
		t.Errorf("reply %+v, want 10 points accepted, 140 left, not repeated", got)
	}
}

// partitionsBut lists every partition but skip.
func partitionsBut(skip int) []int {
	var ps []int
	for p := range streams.Partitions {
		if p != skip {
			ps = append(ps, p)
		}
	}
	return ps
}

// requestResult is what became of a request sent in the background.
type requestResult struct {
	msg *nats.Msg
	err error
}

// redeemInBackground sends req to the service and returns at once; the
// answer, or the error of a request that got none within wait, comes on
// the channel.
func redeemInBackground(t *testing.T, nc *nats.Conn, req handlers.RedeemRequestJSON, wait time.Duration) <-chan requestResult {
	t.Helper()
	data, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	replied := make(chan requestResult, 1)
	go func() {
		msg, err := nc.Request(handlers.RedeemSubject, data, wait)
		replied <- requestResult{msg, err}
	}()
	return replied
}

// holdAVase runs an engine with cfg on every partition but the vase's
// stock's, and has member, given 150 points, ask the service for the vase
// in the background. It returns once the member's points are held for the
// stock's answer, which no engine gives yet, with the request and the
// channel its answer comes on.
func holdAVase(t *testing.T, env *natstest.Env, cfg handlers.EngineConfig, member string) (handlers.RedeemRequestJSON, <-chan requestResult) {
	t.Helper()
	cfg.Partitions = partitionsBut(streams.PartitionOf(domain.StockMemberPrefix + "vase"))
	_, _, reg := runEngineWith(t, env.JS, cfg)
	waitOwning(t, reg, len(cfg.Partitions))
	publish(t, env.JS, purchase("p-1", member, "o-1", 5000, time.Now().UTC().Add(-time.Hour)))
	waitForRecords(t, env.JS, 1)

	req := handlers.RedeemRequestJSON{MemberID: member, RequestID: "vase-1", RewardID: "vase"}
	replied := redeemInBackground(t, env.Conn, req, cfg.ServiceTimeout+10*time.Second)
	waitForRecords(t, env.JS, 2) // the hold
	return req, replied
}

// waitOwning waits until an engine owns n partitions.
func waitOwning(t *testing.T, reg *prometheus.Registry, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for metricValue(t, reg, "loyalty_engine_partitions_owned") != float64(n) {
		if time.Now().After(deadline) {
			t.Fatalf("the engine did not own %d partitions within 10s", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
