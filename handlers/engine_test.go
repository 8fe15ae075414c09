package handlers_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/handlers"
	"github.com/pointsledger/loyalty/streams"
	"github.com/pointsledger/loyalty/streams/natstest"
)

func testProgram() *domain.Program {
	return &domain.Program{
		Version:  "test-1",
		Currency: "EUR",
		Earning: domain.Earning{
			Currencies:          map[string]domain.CurrencyRule{"EUR": {PointsPerUnit: domain.One, ToProgramCurrency: domain.One}},
			FirstPurchaseBonus:  100,
			FeedbackBonus:       10,
			VisitBonus:          5,
			VisitBonusMaxPerDay: 1,
		},
		Tiers: []domain.Tier{
			{Name: "bronze", Multiplier: domain.One},
			{Name: "silver", QualifyingSpend: 50000, Multiplier: domain.Ratio{Num: 3, Den: 2}},
		},
		Redemption: domain.Redemption{DirectPoints: true, CancelDays: 30, Rewards: []domain.Reward{{ID: "mug", Name: "Mug", Points: 60},
			{ID: "vase", Name: "Vase", Points: 10, Stock: 1}, {ID: "card", Name: "Gift card", Points: 20, VoucherDays: 30}}},
		Adjustments:    domain.Adjustments{MaxPoints: 1000},
		Transfers:      domain.Transfers{Allowed: true},
		MaxOrderAmount: 10_000_000,
		RefundWindow:   365 * 24 * time.Hour,
	}
}

// runEngine runs an engine until the test ends or stop is called.
func runEngine(t testing.TB, js jetstream.JetStream) (stop func(), metrics *handlers.Metrics, reg *prometheus.Registry) {
	t.Helper()
	return runEngineWith(t, js, handlers.EngineConfig{})
}

// runEngineWith is runEngine with cfg (fresh metrics, and the test program
// unless cfg has one, added).
func runEngineWith(t testing.TB, js jetstream.JetStream, cfg handlers.EngineConfig) (stop func(), metrics *handlers.Metrics, reg *prometheus.Registry) {
	t.Helper()
	engine, metrics, reg := newEngine(t, js, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- engine.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("engine.Run: %v", err)
		}
	}
	t.Cleanup(stop)
	return stop, metrics, reg
}

// newEngine makes an engine on js with cfg, fresh metrics, and the test
// program unless cfg has one.
func newEngine(t testing.TB, js jetstream.JetStream, cfg handlers.EngineConfig) (*handlers.Engine, *handlers.Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	metrics, err := handlers.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Programs == nil {
		cfg.Programs = domain.OneVersion(testProgram())
	}
	cfg.Metrics = metrics
	engine, err := handlers.NewEngine(js, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return engine, metrics, reg
}

// startRunningEngine starts a NATS server and an engine on it (as
// runEngine), and returns once the engine owns every partition.
func startRunningEngine(t testing.TB) (env *natstest.Env, reg *prometheus.Registry) {
	t.Helper()
	env = natstest.Start(t)
	_, _, reg = runEngine(t, env.JS)
	waitRunning(t, reg)
	return env, reg
}

var day0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

func purchase(id, member, order string, amount int64, at time.Time) domain.Event {
	return domain.Event{ID: id, Type: domain.TypePurchaseCompleted, Source: "test", MemberID: member, OccurredAt: at,
		Body: domain.Purchase{OrderID: order, Total: domain.Money{Minor: amount, Currency: "EUR"}, Channel: "web"}}
}

func visit(id, member string, at time.Time) domain.Event {
	return domain.Event{ID: id, Type: domain.TypeVisitRecorded, Source: "test", MemberID: member, OccurredAt: at,
		Body: domain.Visit{Channel: "store-1"}}
}

func refund(id, member, order string, amount int64, at time.Time) domain.Event {
	return domain.Event{ID: id, Type: domain.TypePurchaseRefunded, Source: "test", MemberID: member, OccurredAt: at,
		Body: domain.Refund{OrderID: order, Amount: domain.Money{Minor: amount, Currency: "EUR"}}}
}

func publish(t testing.TB, js jetstream.JetStream, events ...domain.Event) {
	t.Helper()
	ctx := context.Background()
	for _, e := range events {
		data, err := streams.EncodeEvent(e)
		if err != nil {
			t.Fatal(err)
		}
		subject, err := streams.InputSubject(e.Type, e.MemberID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: subject, Data: data}); err != nil {
			t.Fatalf("publish %s: %v", e.ID, err)
		}
	}
}

// waitForMsgs polls a stream until it holds want messages.
func waitForMsgs(t testing.TB, js jetstream.JetStream, stream string, want uint64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err := js.Stream(context.Background(), stream)
		if err != nil {
			t.Fatal(err)
		}
		got := s.CachedInfo().State.Msgs
		if got == want {
			return
		}
		if got > want || time.Now().After(deadline) {
			t.Fatalf("%s holds %d messages, want %d", stream, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func readAll(t testing.TB, js jetstream.JetStream, stream string) []*jetstream.RawStreamMsg {
	t.Helper()
	return natstest.Messages(t, js, stream)
}

// waitForRecords polls the ledger until its messages hold want records.
func waitForRecords(t testing.TB, js jetstream.JetStream, want int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, records := foldLedger(t, js)
		got := len(records)
		if got == want {
			return
		}
		if got > want || time.Now().After(deadline) {
			t.Fatalf("%s holds %d records, want %d", streams.LedgerStream, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// foldLedger rebuilds member state from the ledger stream.
func foldLedger(t testing.TB, js jetstream.JetStream) (map[string]*domain.Member, []streams.LedgerRecord) {
	t.Helper()
	members := map[string]*domain.Member{}
	var records []streams.LedgerRecord
	keys := streams.ReadMemberKeys(js)
	for _, m := range readAll(t, js, streams.LedgerStream) {
		recs, err := streams.DecodeLedgerMessageWith(m.Data, keys)
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range recs {
			rec.Seq = m.Sequence
			if m.Subject != streams.LedgerSubject(rec.Partition) {
				t.Errorf("record for partition %d on %s", rec.Partition, m.Subject)
			}
			records = append(records, rec)
			mem := members[rec.MemberID]
			if mem == nil {
				mem = domain.NewMember(rec.MemberID)
				members[rec.MemberID] = mem
			}
			for _, f := range rec.Facts {
				if f.Meta().MemberID != rec.MemberID {
					t.Errorf("fact of %q in record of %q", f.Meta().MemberID, rec.MemberID)
				}
				mem.Evolve(f)
			}
		}
	}
	return members, records
}

// reference folds events straight through domain.Apply, skipping what the
// rules reject: what the engine's ledger must amount to.
func reference(t *testing.T, events []domain.Event) map[string]*domain.Member {
	t.Helper()
	members := map[string]*domain.Member{}
	for _, e := range events {
		m := members[e.MemberID]
		if m == nil {
			m = domain.NewMember(e.MemberID)
		}
		if _, err := domain.Apply(m, e, testProgram()); err != nil {
			if !errors.Is(err, domain.ErrRejected) {
				t.Fatal(err)
			}
			continue
		}
		members[e.MemberID] = m
	}
	return members
}

func compareMembers(t *testing.T, got, want map[string]*domain.Member) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("ledger has %d members, reference %d", len(got), len(want))
	}
	for id, w := range want {
		g := got[id]
		if g == nil {
			t.Errorf("member %q missing from the ledger", id)
			continue
		}
		if g.Balance != w.Balance || g.Lifetime != w.Lifetime || g.Tier != w.Tier || g.Purchases != w.Purchases {
			t.Errorf("member %q: ledger balance %d lifetime %d tier %s purchases %d; reference %d %d %s %d",
				id, g.Balance, g.Lifetime, g.Tier, g.Purchases, w.Balance, w.Lifetime, w.Tier, w.Purchases)
		}
	}
}

func TestEngineAppliesEventsPerMemberAndSurvivesRestart(t *testing.T) {
	env := natstest.Start(t)
	// Awkward member ids must land on their own member and nowhere else.
	ids := []string{"a.b", "*", ">", "x y", "jürgen.müller@example", "東京", "m-1"}
	var events []domain.Event
	for i, id := range ids {
		n := fmt.Sprint(i)
		events = append(events,
			purchase("p1-"+n, id, "o1-"+n, int64(1000*(i+1)), day0),
			visit("v1-"+n, id, day0.Add(time.Hour)),
			visit("v2-"+n, id, day0.Add(2*time.Hour)), // capped: no second bonus that day
			purchase("p2-"+n, id, "o2-"+n, 60000, day0.Add(24*time.Hour)),
			refund("r1-"+n, id, "o2-"+n, 30000, day0.Add(48*time.Hour)),
		)
	}
	stop, _, reg := runEngine(t, env.JS)
	publish(t, env.JS, events...)
	waitForRecords(t, env.JS, len(events))
	got, records := foldLedger(t, env.JS)
	compareMembers(t, got, reference(t, events))
	if silver := got["a.b"].Tier; silver != "silver" {
		t.Errorf("a.b tier %q, want silver after 610.00 EUR", silver)
	}
	assertNoDoubleCredit(t, records)

	// A restart re-reads state from the ledger; the same events published
	// again (new message ids, as after the duplicate window) award nothing.
	if v := metricValue(t, reg, "loyalty_points_issued_total"); v <= 0 {
		t.Errorf("loyalty_points_issued_total = %v, want > 0", v)
	}
	stop()
	runEngine(t, env.JS)
	for i := range events {
		events[i].Source = "retry" // new bytes; same content, so the same digest
	}
	publish(t, env.JS, events...)
	waitForMsgs(t, env.JS, streams.DeadLetterStream, uint64(len(events)))
	again, _ := foldLedger(t, env.JS)
	compareMembers(t, again, got)
	for _, m := range readAll(t, env.JS, streams.DeadLetterStream) {
		if r := m.Header.Get(handlers.HeaderReason); r != string(handlers.ReasonDuplicateEvent) {
			t.Errorf("re-published event dead-lettered as %q, want duplicate_event", r)
		}
	}
}

// metricValue sums every series of a metric family.
func metricValue(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			total += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return total
}

// labeledValue is the value of the series of name whose label is value.
func labeledValue(t testing.TB, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	m := series(t, reg, name, map[string]string{label: value})
	return m.GetCounter().GetValue() + m.GetGauge().GetValue()
}

func assertNoDoubleCredit(t *testing.T, records []streams.LedgerRecord) {
	t.Helper()
	credited := map[string]bool{}
	inputs := map[uint64]bool{}
	for _, r := range records {
		if inputs[r.InputSeq] {
			t.Errorf("input seq %d has two ledger records", r.InputSeq)
		}
		inputs[r.InputSeq] = true
		for _, f := range r.Facts {
			if e, ok := f.(domain.PointsEarned); ok {
				key := e.EventID + "/" + e.Rule
				if credited[key] {
					t.Errorf("event %s credited twice by rule %s", e.EventID, e.Rule)
				}
				credited[key] = true
			}
		}
	}
}

func TestEngineDeadLettersEveryBadInputClass(t *testing.T) {
	env := natstest.Start(t)
	_, _, reg := runEngine(t, env.JS)
	good := purchase("good-1", "m-9", "o-9", 1000, day0)
	publish(t, env.JS, good)
	waitForRecords(t, env.JS, 1)

	subject := func(member string) string {
		s, err := streams.InputSubject(domain.TypePurchaseCompleted, member)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	encode := func(e domain.Event) []byte {
		b, err := streams.EncodeEvent(e)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	changed := purchase("good-1", "m-9", "o-9", 2000, day0)
	negative := purchase("neg", "m-9", "o-10", -5, day0)
	absurd := purchase("absurd", "m-9", "o-11", domain.MaxAmount+1, day0)
	currency := purchase("cur", "m-9", "o-12", 100, day0)
	currency.Body = domain.Purchase{OrderID: "o-12", Total: domain.Money{Minor: 100, Currency: "XYZ"}}
	notAccepted := purchase("usd", "m-9", "o-13", 100, day0)
	notAccepted.Body = domain.Purchase{OrderID: "o-13", Total: domain.Money{Minor: 100, Currency: "USD"}}
	future := purchase("future", "m-9", "o-14", 100, time.Now().Add(72*time.Hour))
	noID := purchase("", "m-9", "o-15", 100, day0)
	unknownOrder := refund("ref", "m-9", "nope", 100, day0)
	cases := []struct {
		subject string
		data    []byte
		want    domain.Reason
	}{
		{subject("m-9"), []byte(`{"specversion":"1.0","id":`), streams.ReasonMalformedJSON},
		{subject("m-9"), []byte(`{"specversion":"1.0","id":"u1","type":"loyalty.coupon.v1","time":"2026-03-02T10:00:00Z","data":{"member_id":"m-9"}}`), streams.ReasonUnknownType},
		{subject("m-9"), encode(noID), domain.ReasonMissingField},
		{subject("m-9"), encode(good), handlers.ReasonDuplicateEvent},
		{subject("m-9"), encode(changed), handlers.ReasonEventIDConflict},
		{subject("m-9"), encode(negative), domain.ReasonInvalidAmount},
		{subject("m-9"), encode(absurd), domain.ReasonInvalidAmount},
		{subject("m-9"), encode(currency), domain.ReasonUnknownCurrency},
		{subject("m-9"), encode(notAccepted), domain.ReasonCurrencyNotAccepted},
		{subject("m-9"), encode(future), domain.ReasonFutureTimestamp},
		{subject("m-9"), append(encode(purchase("big", "m-9", "o-16", 1, day0)), bytes.Repeat([]byte(" "), streams.MaxEventBytes)...), streams.ReasonOversized},
		{subject("someone-else"), encode(purchase("wrong", "m-9", "o-17", 1, day0)), handlers.ReasonSubjectMismatch},
		{"loyalty.in.purchase-refunded." + streams.MemberKey("m-9"), encode(unknownOrder), domain.ReasonUnknownOrder},
	}
	ctx := context.Background()
	caseAt := map[string]int{} // input seq -> case
	for i, c := range cases {
		ack, err := env.JS.PublishMsg(ctx, &nats.Msg{Subject: c.subject, Data: c.data})
		if err != nil {
			t.Fatalf("publish %s: %v", c.want, err)
		}
		caseAt[fmt.Sprint(ack.Sequence)] = i
	}
	waitForMsgs(t, env.JS, streams.DeadLetterStream, uint64(len(cases)))
	var got, want []string
	for _, m := range readAll(t, env.JS, streams.DeadLetterStream) {
		i, ok := caseAt[m.Header.Get(handlers.HeaderInputSeq)]
		if !ok {
			t.Fatalf("dead letter for unknown input seq %q", m.Header.Get(handlers.HeaderInputSeq))
		}
		got = append(got, m.Header.Get(handlers.HeaderReason))
		want = append(want, string(cases[i].want))
		if m.Header.Get(handlers.HeaderReason) != string(cases[i].want) {
			t.Errorf("case %d: reason %q, want %q (%s)", i, m.Header.Get(handlers.HeaderReason), cases[i].want, m.Header.Get(handlers.HeaderError))
		}
		if !bytes.Equal(m.Data, cases[i].data) {
			t.Errorf("dead letter %d does not keep the original payload", i)
		}
		if m.Header.Get(handlers.HeaderError) == "" || m.Header.Get(handlers.HeaderInputSeq) == "" {
			t.Errorf("dead letter %d lacks error or input seq headers: %v", i, m.Header)
		}
	}
	sort.Strings(got)
	sort.Strings(want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("dead-letter reasons\n got %v\nwant %v", got, want)
	}
	if got := metricValue(t, reg, "loyalty_dead_letters_total"); got != float64(len(cases)) {
		t.Errorf("loyalty_dead_letters_total = %v, want %d", got, len(cases))
	}
	// Nothing bad reached the ledger, and the engine is still working.
	publish(t, env.JS, visit("after", "m-9", day0.Add(time.Hour)))
	waitForRecords(t, env.JS, 2)
}

// partitionOf publishes nothing: it reads the stored subject of input seq to
// find the partition the stream's subject transform put it in.
func partitionOf(t *testing.T, js jetstream.JetStream, seq uint64) int {
	t.Helper()
	s, err := js.Stream(context.Background(), streams.InputStream)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetMsg(context.Background(), seq)
	if err != nil {
		t.Fatal(err)
	}
	in, err := streams.ParseStoredInput(m.Subject)
	if err != nil {
		t.Fatal(err)
	}
	return in.Partition
}

// ledgerEventIDs lists the event ids of the ledger records in ledger order.
func ledgerEventIDs(t *testing.T, js jetstream.JetStream) []string {
	t.Helper()
	_, records := foldLedger(t, js)
	var ids []string
	for _, r := range records {
		ids = append(ids, r.EventID)
	}
	return ids
}

// Input an earlier engine process was delivered and never handled (it
// crashed with its buffer full) is handled first, in order, when the engine
// starts again: not a minute later, after newer input of the same member,
// and not acknowledged unhandled along with the newer input.
func TestEngineHandlesInputAnEarlierProcessDidNotFirst(t *testing.T) {
	env := natstest.Start(t)
	stop, _, reg := runEngine(t, env.JS) // creates the consumers
	waitRunning(t, reg)
	stop()

	publish(t, env.JS, purchase("p1", "m-1", "o-1", 5000, day0), refund("r1", "m-1", "o-1", 5000, day0.Add(time.Hour)))
	name := handlers.ConsumerName(nil)
	ctx := context.Background()
	cons, err := env.JS.Consumer(ctx, streams.InputStream, name)
	if err != nil {
		t.Fatal(err)
	}
	handlers.FetchUnacked(t, cons, 2) // the "crashed" process
	publish(t, env.JS, visit("v1", "m-1", day0.Add(2*time.Hour)))

	runEngine(t, env.JS)
	waitForRecords(t, env.JS, 3)
	if got, want := ledgerEventIDs(t, env.JS), []string{"p1", "r1", "v1"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ledger records for events %v, want %v", got, want)
	}
	waitIdle(t, env.JS, name)
}

// waitRunning waits until the engine handles every partition.
func waitRunning(t testing.TB, reg *prometheus.Registry) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for metricValue(t, reg, "loyalty_engine_partitions_owned") != streams.Partitions {
		if time.Now().After(deadline) {
			t.Fatal("the engine did not start within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitIdle waits until the consumer has nothing pending or unacknowledged.
func waitIdle(t *testing.T, js jetstream.JetStream, name string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := js.Consumer(context.Background(), streams.InputStream, name)
		if err != nil {
			t.Fatal(err)
		}
		info := c.CachedInfo()
		if info.NumPending == 0 && info.NumAckPending == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("consumer %s: %d pending, %d unacknowledged after 10s", name, info.NumPending, info.NumAckPending)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The per-partition input consumers of earlier engines are replaced by one
// consumer that starts after their ack floor, and deleted.
func TestEngineReplacesPerPartitionConsumers(t *testing.T) {
	env := natstest.Start(t)
	ctx := context.Background()
	publish(t, env.JS, purchase("p1", "m-1", "o-1", 5000, day0))
	partition := partitionOf(t, env.JS, 1)
	legacy := fmt.Sprintf("engine-p%02d", partition)
	old, err := env.JS.CreateOrUpdateConsumer(ctx, streams.InputStream, jetstream.ConsumerConfig{
		Durable: legacy, FilterSubject: streams.PartitionFilter(partition),
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Minute, MaxAckPending: 1024, MaxDeliver: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	// The old engine handled p1 (its record is not in this test's ledger:
	// the point is where the new consumer starts).
	msg, err := old.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := msg.DoubleAck(ctx); err != nil {
		t.Fatal(err)
	}
	publish(t, env.JS, visit("v1", "m-1", day0.Add(time.Hour)), visit("v2", "m-1", day0.Add(25*time.Hour)))

	name := handlers.ConsumerName(nil)
	for range 2 { // and a restart keeps the start
		stop, _, reg := runEngine(t, env.JS)
		waitRunning(t, reg)
		waitForRecords(t, env.JS, 2)
		waitIdle(t, env.JS, name)
		stop()
	}
	if got, want := ledgerEventIDs(t, env.JS), []string{"v1", "v2"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ledger records for events %v, want %v", got, want)
	}
	if _, err := env.JS.Consumer(ctx, streams.InputStream, legacy); !errors.Is(err, jetstream.ErrConsumerNotFound) {
		t.Errorf("legacy consumer %s: %v, want it deleted", legacy, err)
	}
}

// When the consumer's deliveries skip (here: someone resets it to the start
// of the stream), the engine resumes from its ack floor; what it applied
// before is recognised and acknowledged again, nothing is applied twice or
// skipped.
func TestEngineResumesAfterADeliveryGap(t *testing.T) {
	env := natstest.Start(t)
	_, _, reg := runEngine(t, env.JS)
	var first []domain.Event
	for i := range 20 {
		first = append(first, visit(fmt.Sprint("a", i), "m-1", day0.Add(time.Duration(i)*25*time.Hour)))
	}
	publish(t, env.JS, first...)
	waitForRecords(t, env.JS, len(first))
	name := handlers.ConsumerName(nil)
	waitIdle(t, env.JS, name)

	ctx := context.Background()
	if _, err := env.JS.ResetConsumerToSequence(ctx, streams.InputStream, name, 1); err != nil {
		t.Fatal(err)
	}
	// The redelivered input is acknowledged again without new input to
	// carry the ack floor, and not handled again.
	waitIdle(t, env.JS, name)
	if got := metricValue(t, reg, "loyalty_events_total"); got != float64(len(first)) {
		t.Errorf("events handled %v, want %d: the redeliveries were handled again", got, len(first))
	}
	publish(t, env.JS, visit("b", "m-1", day0.Add(30*25*time.Hour)))
	waitForRecords(t, env.JS, len(first)+1)
	waitIdle(t, env.JS, name)
	_, records := foldLedger(t, env.JS)
	if len(records) != len(first)+1 {
		t.Errorf("%d ledger records, want %d", len(records), len(first)+1)
	}
	assertNoDoubleCredit(t, records)
}

// Deliveries the engine never receives (here another client takes them from
// its consumer and never acknowledges them, as a lost connection would) are
// not acknowledged along with later input: the engine notices the gap in
// the delivery sequence and resumes from its ack floor, so every input is
// applied, once.
func TestEngineRecoversDeliveriesItDidNotReceive(t *testing.T) {
	env := natstest.Start(t)
	_, _, reg := runEngineWith(t, env.JS, handlers.EngineConfig{Prefetch: 1})
	waitRunning(t, reg)
	events := []domain.Event{visit("v0", "m-1", day0)}
	publish(t, env.JS, events[0])
	waitForRecords(t, env.JS, 1) // the engine is consuming
	name := handlers.ConsumerName(nil)
	ctx := context.Background()
	thief, err := env.JS.Consumer(ctx, streams.InputStream, name)
	if err != nil {
		t.Fatal(err)
	}
	var stolen atomic.Int64
	done := make(chan struct{})
	thiefDone := make(chan struct{})
	go func() {
		defer close(thiefDone)
		for stolen.Load() < 3 {
			select {
			case <-done:
				return
			default:
			}
			batch, err := thief.Fetch(1, jetstream.FetchMaxWait(50*time.Millisecond))
			if err != nil {
				continue
			}
			for range batch.Messages() {
				stolen.Add(1) // and never acknowledged
			}
		}
	}()
	for i := 1; i < 300 && stolen.Load() < 3; i++ {
		e := visit(fmt.Sprint("v", i), "m-1", day0.Add(time.Duration(i)*time.Minute))
		events = append(events, e)
		publish(t, env.JS, e)
		time.Sleep(5 * time.Millisecond)
	}
	close(done)
	<-thiefDone
	if stolen.Load() == 0 {
		t.Fatal("no delivery was taken from the engine; the test proves nothing")
	}
	// The next delivery the engine receives shows the gap. (Without one,
	// the stolen input comes again after the consumer's AckWait.)
	last := visit("last", "m-1", day0.Add(24*time.Hour))
	events = append(events, last)
	publish(t, env.JS, last)
	waitForRecords(t, env.JS, len(events))
	waitIdle(t, env.JS, name)
	got, want := ledgerEventIDs(t, env.JS), []string{}
	for _, e := range events {
		want = append(want, e.ID)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ledger records for events\n%v\nwant\n%v", got, want)
	}
	if n := labeledValue(t, reg, "loyalty_input_resumes_total", "reason", "delivery_gap"); n < 1 {
		t.Errorf("loyalty_input_resumes_total{reason=\"delivery_gap\"} = %v, want at least 1", n)
	}
	t.Logf("%d of %d deliveries taken from the engine", stolen.Load(), len(events))
}

// A backlog is appended in batches, several records to a ledger message, and
// the ledger still amounts to the reference fold, each input once.
func TestEngineAppendsABacklogInBatches(t *testing.T) {
	env := natstest.Start(t)
	stop, _, reg := runEngine(t, env.JS) // creates the consumers
	waitRunning(t, reg)
	stop()
	var events []domain.Event
	for i := range 400 {
		member := fmt.Sprint("m-", i%4)
		at := day0.Add(time.Duration(i) * 7 * time.Hour)
		if i%3 == 0 {
			events = append(events, visit(fmt.Sprint("v", i), member, at))
		} else {
			events = append(events, purchase(fmt.Sprint("p", i), member, fmt.Sprint("o", i), int64(1000+i), at))
		}
	}
	publish(t, env.JS, events...)

	runEngine(t, env.JS)
	waitForRecords(t, env.JS, len(events))
	got, records := foldLedger(t, env.JS)
	compareMembers(t, got, reference(t, events))
	assertNoDoubleCredit(t, records)
	if msgs := len(readAll(t, env.JS, streams.LedgerStream)); msgs >= len(records)/4 {
		t.Errorf("%d records in %d ledger messages: the backlog was not batched", len(records), msgs)
	}
}

// Another writer appending to a partition's ledger subject fences the
// engine's next append: the engine re-reads the partition, takes its input
// again from the last acknowledged one and applies it, once, after the
// other writer's record.
func TestEngineRecoversFromAFencedAppend(t *testing.T) {
	env := natstest.Start(t)
	_, _, reg := runEngine(t, env.JS)
	first := []domain.Event{purchase("p1", "m-1", "o-1", 5000, day0), visit("v1", "m-1", day0.Add(time.Hour))}
	publish(t, env.JS, first...)
	waitForRecords(t, env.JS, len(first))
	partition := partitionOf(t, env.JS, 1)
	waitIdle(t, env.JS, handlers.ConsumerName(nil))

	intruder := streams.LedgerRecord{Partition: partition, InputSeq: 1_000_000, InputStored: day0, EventID: "foreign",
		MemberID: "m-1", Facts: []domain.Fact{domain.VisitRecorded{
			FactMeta: domain.FactMeta{MemberID: "m-1", EventID: "foreign", OccurredAt: day0.Add(2 * time.Hour)}}}}
	data, err := streams.EncodeLedgerMessage(nil, intruder)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.JS.Publish(context.Background(), streams.LedgerSubject(partition), data); err != nil {
		t.Fatal(err)
	}
	later := []domain.Event{purchase("p2", "m-1", "o-2", 7000, day0.Add(48*time.Hour)),
		visit("v2", "m-1", day0.Add(50*time.Hour))}
	publish(t, env.JS, later...)
	waitForRecords(t, env.JS, len(first)+1+len(later))
	waitIdle(t, env.JS, handlers.ConsumerName(nil))

	_, records := foldLedger(t, env.JS)
	var ids []string
	for _, r := range records {
		ids = append(ids, r.EventID)
	}
	if got, want := fmt.Sprint(ids), "[p1 v1 foreign p2 v2]"; got != want {
		t.Errorf("ledger records for events %s, want %s", got, want)
	}
	assertNoDoubleCredit(t, records)
	if n := metricValue(t, reg, "loyalty_ledger_records_total"); n != float64(len(first)+len(later)) {
		t.Errorf("loyalty_ledger_records_total = %v, want %d (the failed append is not counted)", n, len(first)+len(later))
	}
}

// An input as large as the server takes is dead-lettered too, its body cut to
// fit beside the headers, and the partition goes on.
func TestEngineDeadLettersAnInputTooLargeToCopy(t *testing.T) {
	env := natstest.Start(t)
	runEngine(t, env.JS)
	subject, err := streams.InputSubject(domain.TypeVisitRecorded, "m-1")
	if err != nil {
		t.Fatal(err)
	}
	huge := bytes.Repeat([]byte("x"), int(env.Conn.MaxPayload())-200)
	if _, err := env.JS.PublishMsg(context.Background(), &nats.Msg{Subject: subject, Data: huge}); err != nil {
		t.Fatal(err)
	}
	publish(t, env.JS, visit("after", "m-1", day0))
	waitForMsgs(t, env.JS, streams.DeadLetterStream, 1)
	waitForRecords(t, env.JS, 1)
	dl := readAll(t, env.JS, streams.DeadLetterStream)[0]
	if got, want := dl.Header.Get(handlers.HeaderReason), string(streams.ReasonOversized); got != want {
		t.Errorf("reason %q, want %q", got, want)
	}
	if got, want := dl.Header.Get(handlers.HeaderTruncated), fmt.Sprint(len(huge)); got != want {
		t.Errorf("%s = %q, want %q", handlers.HeaderTruncated, got, want)
	}
	if len(dl.Data) >= len(huge) || !bytes.HasPrefix(huge, dl.Data) {
		t.Errorf("dead letter body of %d bytes is not a cut of the %d-byte input", len(dl.Data), len(huge))
	}
}
