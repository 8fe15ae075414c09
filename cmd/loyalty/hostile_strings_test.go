package main_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/handlers"
	"github.com/pointsledger/loyalty/projections/pgtest"
	"github.com/pointsledger/loyalty/streams"
	"github.com/pointsledger/loyalty/streams/natstest"
)

// hostileProgram is the default program with transfers, referrals and a
// voucher stock, so that events of every type decide something and have
// follow-ups for other members.
var hostileProgram = withVoucherStock(defaultProgramWith(`
  referral: {referrer_points: 300, referred_points: 100}
`)+"\ntransfers: {allowed: true}\n", 5)

// Upstream clients are not trusted: whatever strings they put in an event,
// from admission to PostgreSQL every input is either in the ledger or in the
// dead letters, the projections reach the end of the ledger, and the
// balances in PostgreSQL are the ledger's. Events of every type get random
// bytes, control characters, NULs, invalid UTF-8, values at and over every
// plausible byte limit (4-byte characters up to the limit included) and
// reserved member ids, in any string field, among ordinary events of the
// same members. LOYALTY_HOSTILE_SEED repeats a run.
func TestHostileStringsNeverStallTheReadModels(t *testing.T) {
	env := natstest.Start(t)
	db := pgtest.New(t)
	srv := startServe(t, "--nats-url", env.Server.ClientURL(), "--database-url", db.URL, "--data-dir", t.TempDir(),
		"--program", writeProgram(t, hostileProgram))
	seed := hostileSeed(t)
	gen := newHostileEvents(seed)
	inputs := gen.inputs(1500)
	publishInputs(t, env.JS, inputs)

	waitEngineSettled(t, env.JS)
	ledgered, reasons := assertEveryInputAccounted(t, env.JS)
	if stalled := waitProjected(t, env.JS, db.Pool, time.Minute); stalled != "" {
		t.Fatalf("seed %d: the projections stopped short of the ledger's end: %s (the serve log below says why)", seed, stalled)
	}
	members := assertBalancesEqualLedger(t, env.JS, db.Pool)
	t.Logf("seed %d: %d inputs published, %d ledgered, %d members; dead letters by reason: %v", seed, len(inputs), ledgered, members, reasons)
	srv.stop(t)
}

func hostileSeed(t *testing.T) uint64 {
	t.Helper()
	if s := os.Getenv("LOYALTY_HOSTILE_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("LOYALTY_HOSTILE_SEED: %v", err)
		}
		return seed
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("LOYALTY_HOSTILE_SEED=%d", seed)
	return seed
}

// rawInput is a message as a publisher sends it.
type rawInput struct {
	subject string
	data    []byte
}

// encodedInput is e as upstream publishes it: its body on its input subject.
func encodedInput(t *testing.T, e domain.Event) rawInput {
	t.Helper()
	data, err := streams.EncodeEvent(e)
	if err != nil {
		t.Fatal(err)
	}
	subject, err := streams.InputSubject(e.Type, e.MemberID)
	if err != nil {
		t.Fatal(err)
	}
	return rawInput{subject: subject, data: data}
}

func publishInputs(t *testing.T, js jetstream.JetStream, inputs []rawInput) {
	t.Helper()
	ctx := context.Background()
	for i, in := range inputs {
		if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: in.subject, Data: in.data}); err != nil {
			t.Fatalf("publish input %d on %s: %v", i, in.subject, err)
		}
	}
}

// waitEngineSettled waits until the engine has handled every input,
// including the follow-ups it publishes itself, and no more arrive.
func waitEngineSettled(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	waitEngineSettledWithin(t, js, 2*time.Minute)
}

// waitEngineSettledWithin is waitEngineSettled with a time limit.
func waitEngineSettledWithin(t testing.TB, js jetstream.JetStream, limit time.Duration) {
	t.Helper()
	ctx := context.Background()
	idleChecks := 0
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		if !enginesIdle(ctx, js) {
			idleChecks = 0
			continue
		}
		if idleChecks++; idleChecks == 4 {
			return
		}
	}
	t.Fatalf("the engine did not handle every input within %s", limit)
}

// waitProjected waits until every projection has committed the ledger's
// last sequence, and returns the checkpoints that did not within limit.
func waitProjected(t *testing.T, js jetstream.JetStream, pool *pgxpool.Pool, limit time.Duration) (stalled string) {
	t.Helper()
	ctx := context.Background()
	ledger, err := js.Stream(ctx, streams.LedgerStream)
	if err != nil {
		t.Fatal(err)
	}
	last := ledger.CachedInfo().State.LastSeq
	for deadline := time.Now().Add(limit); ; time.Sleep(250 * time.Millisecond) {
		behind := checkpointsBehind(t, pool, last)
		if behind == "" || time.Now().After(deadline) {
			return behind
		}
	}
}

// checkpointsBehind names the projections whose checkpoint is short of
// last, or "" when none is (and the runner has created them).
func checkpointsBehind(t *testing.T, pool *pgxpool.Pool, last uint64) string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `select name, ledger_seq from loyalty.projection_checkpoints order by name`)
	if err != nil {
		return "no checkpoints yet: " + err.Error()
	}
	defer rows.Close()
	var behind []string
	n := 0
	for rows.Next() {
		var name string
		var seq int64
		if err := rows.Scan(&name, &seq); err != nil {
			t.Fatal(err)
		}
		n++
		if uint64(seq) < last {
			behind = append(behind, fmt.Sprintf("%s at ledger seq %d of %d", name, seq, last))
		}
	}
	if n == 0 {
		return "no checkpoints yet"
	}
	return strings.Join(behind, ", ")
}

// assertEveryInputAccounted: each input is in the ledger or in the dead
// letters, once. It returns how many are in the ledger, and the dead
// letters by reason.
func assertEveryInputAccounted(t *testing.T, js jetstream.JetStream) (ledgered int, reasons map[string]int) {
	t.Helper()
	where, reasons := map[uint64]string{}, map[string]int{}
	keys := streams.ReadMemberKeys(js)
	note := func(seq uint64, place string) {
		if before, ok := where[seq]; ok {
			t.Errorf("input seq %d is in %s and in %s", seq, before, place)
		}
		where[seq] = place
	}
	for _, m := range streamMessages(t, js, streams.LedgerStream) {
		recs, err := streams.DecodeLedgerMessageWith(m.Data(), keys)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			note(r.InputSeq, "the ledger")
			ledgered++
		}
	}
	for _, m := range streamMessages(t, js, streams.DeadLetterStream) {
		seq, err := strconv.ParseUint(m.Headers().Get(handlers.HeaderInputSeq), 10, 64)
		if err != nil {
			t.Fatalf("dead letter without an input seq: %v", err)
		}
		note(seq, "the dead letters")
		reasons[m.Headers().Get(handlers.HeaderReason)]++
	}
	in, err := js.Stream(context.Background(), streams.InputStream)
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= in.CachedInfo().State.LastSeq; seq++ {
		if _, ok := where[seq]; !ok {
			t.Errorf("input seq %d is neither in the ledger nor in the dead letters", seq)
		}
	}
	return ledgered, reasons
}

// assertBalancesEqualLedger compares the members table with a fold of the
// ledger, and returns how many members it holds.
func assertBalancesEqualLedger(t *testing.T, js jetstream.JetStream, pool *pgxpool.Pool) int {
	t.Helper()
	want := map[string]*domain.Member{}
	keys := streams.ReadMemberKeys(js)
	for _, m := range streamMessages(t, js, streams.LedgerStream) {
		recs, err := streams.DecodeLedgerMessageWith(m.Data(), keys)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if strings.HasPrefix(r.MemberID, domain.StockMemberPrefix) {
				continue // a reward's stock is the engine's, not a row of members
			}
			mem := want[r.MemberID]
			if mem == nil {
				mem = domain.NewMember(r.MemberID)
			}
			for _, f := range r.Facts {
				mem.Evolve(f)
			}
			if mem.Known() {
				want[r.MemberID] = mem
			}
		}
	}
	rows, err := pool.Query(context.Background(), `select member_id, points_balance, points_pending from loyalty.members`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := 0
	for rows.Next() {
		var id string
		var balance, pending int64
		if err := rows.Scan(&id, &balance, &pending); err != nil {
			t.Fatal(err)
		}
		seen++
		switch w := want[id]; {
		case w == nil:
			t.Errorf("member %q is in the members table but has no facts in the ledger", id)
		case balance != w.Balance || pending != w.Pending:
			t.Errorf("member %q: table balance %d pending %d, ledger %d %d", id, balance, pending, w.Balance, w.Pending)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if seen != len(want) {
		t.Errorf("members table has %d members, the ledger %d", seen, len(want))
	}
	return seen
}

// streamMessages reads every message of a stream, in order (the fault
// test's 200,000 inputs included, hence the time it may take).
func streamMessages(t *testing.T, js jetstream.JetStream, stream string) []jetstream.Msg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	last := s.CachedInfo().State.LastSeq
	if last == 0 || s.CachedInfo().State.Msgs == 0 {
		return nil
	}
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	iter, err := cons.Messages()
	if err != nil {
		t.Fatal(err)
	}
	defer iter.Stop()
	var out []jetstream.Msg
	for {
		msg, err := iter.Next(jetstream.NextContext(ctx))
		if err != nil {
			t.Fatalf("read %s: %v", stream, err)
		}
		out = append(out, msg)
		meta, err := msg.Metadata()
		if err != nil {
			t.Fatal(err)
		}
		if meta.Sequence.Stream >= last || meta.NumPending == 0 { // the last may have been deleted
			return out
		}
	}
}

// hostileEvents writes the events of a few members, ordinary and hostile.
type hostileEvents struct {
	rng     *rand.Rand
	at      time.Time
	n       int
	members []string
	orders  map[string][]string
}

func newHostileEvents(seed uint64) *hostileEvents {
	return &hostileEvents{
		rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		at:  time.Now().UTC().Add(-30 * 24 * time.Hour).Truncate(time.Second),
		// Awkward but valid ids, one exactly at 128 bytes of 4-byte characters.
		members: []string{"m-1", "m-2", "m-3", "m-4", "m-5", "zoë 🎉", "a.b*>", strings.Repeat("😀", 32), strings.Repeat("x", 128)},
		orders:  map[string][]string{},
	}
}

// inputs is every member's enrolment and first purchase, then n events of
// random types and members, most of them with one or two hostile strings.
func (g *hostileEvents) inputs(n int) []rawInput {
	var out []rawInput
	for i, m := range g.members {
		out = append(out, g.input(domain.TypeMemberEnrolled, g.enrolment(m, g.members[(i+1)%len(g.members)]), 0),
			g.input(domain.TypePurchaseCompleted, g.purchase(m), 0))
	}
	types := []domain.EventType{
		domain.TypeMemberEnrolled, domain.TypePurchaseCompleted, domain.TypePurchaseCompleted, domain.TypePurchaseRefunded,
		domain.TypeFeedbackSubmitted, domain.TypeVisitRecorded, domain.TypeMemberStatus, domain.TypeMemberClock,
		domain.TypeRedemption, domain.TypePurchaseConfirmed, domain.TypeTierAssigned, domain.TypeTransfer, domain.TypeTransfer,
		domain.TypeTransferIn, domain.TypeReferralReward, domain.TypeStockRequest, domain.TypeStockAnswer,
	}
	for range n {
		typ := types[g.rng.IntN(len(types))]
		out = append(out, g.input(typ, g.data(typ, g.member()), g.rng.IntN(3)))
	}
	return out
}

func (g *hostileEvents) member() string { return g.members[g.rng.IntN(len(g.members))] }

func (g *hostileEvents) other(than string) string {
	for {
		if m := g.member(); m != than {
			return m
		}
	}
}

// input is an event of type typ with data, hostile in up to hostile of its
// string fields (the envelope's included), on the subject its type and its
// (possibly hostile) member id give.
func (g *hostileEvents) input(typ domain.EventType, data jsonObject, hostile int) rawInput {
	g.n++
	g.at = g.at.Add(time.Minute)
	event := jsonObject{{"specversion", "1.0"}, {"id", fmt.Sprintf("h-%d", g.n)}, {"source", "shop-eu-1"},
		{"type", string(typ)}, {"subject", "orders/" + strconv.Itoa(g.n)}, {"time", g.at.Format(time.RFC3339Nano)},
		{"datacontenttype", "application/json"}, {"data", data}}
	fields := event.stringValues(nil)
	member := data.pointer("member_id")
	for range hostile {
		f := fields[g.rng.IntN(len(fields))]
		*f = g.hostileString(f == member)
	}
	// Built as upstream builds it, from the member id in the body, so that
	// a hostile id reaches validation rather than a subject mismatch.
	subject, err := streams.InputSubject(typ, "x")
	if err != nil {
		panic(err)
	}
	if member != nil && *member != "" {
		subject = strings.TrimSuffix(subject, streams.MemberKey("x")) + streams.MemberKey(*member)
	}
	return rawInput{subject: subject, data: event.append(nil)}
}

func (g *hostileEvents) data(typ domain.EventType, m string) jsonObject {
	id := func(prefix string) string { return prefix + "-" + strconv.Itoa(g.n) }
	switch typ {
	case domain.TypeMemberEnrolled:
		return g.enrolment(m, g.other(m))
	case domain.TypePurchaseCompleted:
		return g.purchase(m)
	case domain.TypePurchaseRefunded:
		if g.rng.IntN(2) == 0 {
			return jsonObject{{"member_id", m}, {"order_id", g.order(m)}, {"amount", 100}, {"currency", "EUR"}}
		}
		return jsonObject{{"member_id", m}, {"order_id", g.order(m)}, {"lines", []jsonObject{{{"sku", "sku-1"}, {"quantity", 1}}}}}
	case domain.TypeFeedbackSubmitted:
		return jsonObject{{"member_id", m}, {"order_id", g.order(m)}, {"rating", 4}, {"comment", "Quick delivery.\nThanks!"}, {"channel", "app"}}
	case domain.TypeVisitRecorded:
		return jsonObject{{"member_id", m}, {"channel", "store-12"}}
	case domain.TypeMemberStatus:
		return jsonObject{{"member_id", m}, {"status", "active"}, {"reason", "fraud check cleared"}}
	case domain.TypeMemberClock:
		return jsonObject{{"member_id", m}}
	case domain.TypeRedemption:
		if g.rng.IntN(2) == 0 {
			return jsonObject{{"member_id", m}, {"request_id", id("r")}, {"points", 100}, {"channel", "pos-3"}}
		}
		reward := []string{"coffee", "voucher-10", "lounge-pass"}[g.rng.IntN(3)]
		return jsonObject{{"member_id", m}, {"request_id", id("r")}, {"reward_id", reward}, {"quantity", 1}, {"channel", "pos-3"}}
	case domain.TypePurchaseConfirmed:
		return jsonObject{{"member_id", m}, {"order_id", g.order(m)}}
	case domain.TypeTierAssigned:
		return jsonObject{{"member_id", m}, {"tier", "silver"}, {"reason", "status match"}}
	case domain.TypeTransfer:
		return jsonObject{{"member_id", m}, {"request_id", id("t")}, {"to_member_id", g.other(m)}, {"points", 10}}
	case domain.TypeTransferIn:
		return jsonObject{{"member_id", m}, {"from_member_id", g.other(m)}, {"request_id", id("t")}, {"points", 5}}
	case domain.TypeReferralReward:
		return jsonObject{{"member_id", m}, {"referred_member_id", g.other(m)}}
	case domain.TypeStockRequest:
		return jsonObject{{"member_id", domain.StockMemberPrefix + "voucher-10"}, {"reward_id", "voucher-10"},
			{"for_member_id", m}, {"request_id", id("r")}, {"quantity", 1}}
	case domain.TypeStockAnswer:
		return jsonObject{{"member_id", m}, {"request_id", id("r")}, {"reward_id", "voucher-10"}, {"answer", "granted"}}
	}
	panic("no data for " + typ)
}

func (g *hostileEvents) enrolment(m, referrer string) jsonObject {
	return jsonObject{{"member_id", m}, {"channel", "app"}, {"referred_by", referrer}, {"birth_date", "1990-05-17"}}
}

func (g *hostileEvents) purchase(m string) jsonObject {
	order := "o-" + strconv.Itoa(g.n+1)
	g.orders[m] = append(g.orders[m], order)
	return jsonObject{{"member_id", m}, {"order_id", order}, {"amount", 12000}, {"currency", "EUR"}, {"channel", "web"},
		{"lines", []jsonObject{
			{{"sku", "sku-1"}, {"category", "beauty"}, {"quantity", 2}, {"unit_price", 5000}},
			{{"sku", "sku-2"}, {"category", "home"}, {"quantity", 1}, {"unit_price", 2000}},
		}}}
}

func (g *hostileEvents) order(m string) string {
	if orders := g.orders[m]; len(orders) > 0 {
		return orders[g.rng.IntN(len(orders))]
	}
	return "o-none"
}

// hostileString is something no publisher should send, or something odd a
// publisher may send. A member id stays short enough for a NATS subject.
func (g *hostileEvents) hostileString(memberID bool) string {
	s := g.hostileKind()
	if memberID && len(s) > 1024 {
		s = s[:1024]
	}
	return s
}

func (g *hostileEvents) hostileKind() string {
	pick := func(options ...string) string { return options[g.rng.IntN(len(options))] }
	switch g.rng.IntN(12) {
	case 0: // random bytes
		b := make([]byte, 1+g.rng.IntN(64))
		for i := range b {
			b[i] = byte(g.rng.UintN(256))
		}
		return string(b)
	case 1: // one control character: C0, DEL or C1
		controls := []rune{0, 1, 7, 8, 9, 10, 11, 12, 13, 27, 31, 0x7f, 0x80, 0x85, 0x9b, 0x9f}
		return "a" + string(controls[g.rng.IntN(len(controls))]) + "b"
	case 2:
		return pick("\x00", "nul\x00inside", "end\x00")
	case 3: // allowed in free text
		return pick("line one\nline two\r\n\tindented", "\t", "\r\n")
	case 4: // at and around every plausible limit, and larger than a btree index row
		return randomText(g.rng, []int{127, 128, 129, 255, 256, 257, 1023, 1024, 1025, 2704, 3200, 4095, 4096, 4097, 8000}[g.rng.IntN(15)])
	case 5: // 4-byte characters up to a limit, and one more
		n := []int{128, 256, 1024, 4096}[g.rng.IntN(4)] / 4
		return strings.Repeat("🎉", n+g.rng.IntN(2))
	case 6: // invalid UTF-8
		return pick("\xff", "ab\xc3\x28", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc0\xaf", "\xe2\x82")
	case 7: // valid but unusual
		return pick("\u2028\u2029", "\ufeffbom", "\uffff", "\u202eevil", "e\u0301", "\U0010FFFF", "zoë 🎉")
	case 8:
		return ""
	case 9: // the engine's own members
		return pick("stock:gift-box", "stock:voucher-10", "stock:")
	case 10:
		return pick(`'); drop table loyalty.members; --`, `\u0000`, `%s%n%x`, `{"a":1}`, "a.b.*.>", " leading and trailing ")
	default:
		return randomText(g.rng, 3000) + "\u0085"
	}
}

// randomText is n random letters and digits: text PostgreSQL cannot
// compress into a small index entry.
func randomText(rng *rand.Rand, n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

// jsonObject is a JSON object with its keys in order. Its strings are
// written byte for byte (control characters escaped), so that it can carry
// invalid UTF-8 as a careless publisher would.
type jsonObject []jsonMember

type jsonMember struct {
	key   string
	value any // string, int, jsonObject or []jsonObject
}

// stringValues turns every string value of o, nested ones too, into a
// pointer through which a hostile value replaces it, and appends those.
func (o jsonObject) stringValues(out []*string) []*string {
	for i := range o {
		switch v := o[i].value.(type) {
		case string:
			p := &v
			o[i].value = p
			out = append(out, p)
		case *string:
			out = append(out, v)
		case jsonObject:
			out = v.stringValues(out)
		case []jsonObject:
			for _, item := range v {
				out = item.stringValues(out)
			}
		}
	}
	return out
}

// pointer is the value of a member that stringValues made a pointer.
func (o jsonObject) pointer(key string) *string {
	for _, m := range o {
		if p, ok := m.value.(*string); ok && m.key == key {
			return p
		}
	}
	return nil
}

func (o jsonObject) append(b []byte) []byte {
	b = append(b, '{')
	for i, m := range o {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendRawJSONString(b, m.key)
		b = append(b, ':')
		b = appendJSONValue(b, m.value)
	}
	return append(b, '}')
}

func appendJSONValue(b []byte, v any) []byte {
	switch v := v.(type) {
	case string:
		return appendRawJSONString(b, v)
	case *string:
		return appendRawJSONString(b, *v)
	case int:
		return strconv.AppendInt(b, int64(v), 10)
	case jsonObject:
		return v.append(b)
	case []jsonObject:
		b = append(b, '[')
		for i, item := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = item.append(b)
		}
		return append(b, ']')
	}
	panic(fmt.Sprintf("no JSON for %T", v))
}

// appendRawJSONString quotes s, escaping what JSON requires and nothing
// else: other bytes, invalid UTF-8 included, are written as they are.
func appendRawJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = fmt.Appendf(b, `\u%04x`, c)
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
