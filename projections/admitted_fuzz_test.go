package projections

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/streams"
)

// FuzzAdmittedEventsProject holds the promise the ledger depends on: what
// the engine admits can always be projected. Any bytes that decode and pass
// domain.Validate are folded the way the engine folds them (the event's
// follow-ups for other members included) into ledger records, which go
// through the ledger codec and the projections' own write path into
// PostgreSQL. A value PostgreSQL refuses there (a NUL, an index row larger
// than a btree page allows) would stop the read models for good once it is
// in the ledger, which cannot be edited.
//
// The seeds run in every go test; make fuzz explores further.
func FuzzAdmittedEventsProject(f *testing.F) {
	for _, seed := range admissionSeeds(f) {
		f.Add(seed)
	}
	pool := migrated(f)
	ctx := context.Background()
	for _, p := range fuzzedProjections {
		if err := ensureCheckpoint(ctx, pool, p.Name()); err != nil {
			f.Fatal(err)
		}
	}
	program := fuzzProgram(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := streams.DecodeEvent(data)
		if err != nil || domain.Validate(e, e.OccurredAt) != nil {
			return
		}
		for _, events := range histories(e) {
			w := &ledgerWorld{t: t, program: program, members: map[string]*domain.Member{}}
			for _, ev := range events {
				w.admit(ev)
			}
			projectRecords(t, pool, w.records, data)
		}
	})
}

// fuzzedProjections are the projections loyalty serve runs.
var fuzzedProjections = []Projection{Members{}, Activity{}}

// fuzzProgram allows transfers and referrals and gives a reward a stock, so
// that admitted events have follow-ups for other members.
func fuzzProgram(t testing.TB) *domain.Program {
	t.Helper()
	p := &domain.Program{
		Version:  "fuzz-1",
		Currency: "EUR",
		Earning: domain.Earning{
			Currencies:         map[string]domain.CurrencyRule{"EUR": {PointsPerUnit: domain.One, ToProgramCurrency: domain.One}},
			FirstPurchaseBonus: 100,
			FeedbackBonus:      10,
			VisitBonus:         5,
			Referral:           domain.Referral{ReferrerPoints: 30, ReferredPoints: 10},
		},
		Tiers: []domain.Tier{{Name: "bronze", Multiplier: domain.One},
			{Name: "silver", QualifyingSpend: 50000, Multiplier: domain.Ratio{Num: 3, Den: 2}}},
		Redemption: domain.Redemption{DirectPoints: true, Rewards: []domain.Reward{{ID: "mug", Name: "Mug", Points: 60},
			{ID: "vase", Name: "Vase", Points: 10, Stock: 5}}},
		Transfers:    domain.Transfers{Allowed: true},
		RefundWindow: 365 * 24 * time.Hour,
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	return p
}

// histories are the orders in which e is folded: on a member with no
// history, after a purchase of the member's (so that refunds, transfers and
// redemptions have something to act on), and before one (so that an
// enrolment's referral pays out).
func histories(e domain.Event) [][]domain.Event {
	return [][]domain.Event{
		{e},
		{fuzzPurchase(e.MemberID, "o-1", e.OccurredAt.Add(-time.Minute)), e},
		{e, fuzzPurchase(e.MemberID, "o-2", e.OccurredAt.Add(time.Minute))},
	}
}

func fuzzPurchase(member, order string, at time.Time) domain.Event {
	return domain.Event{ID: "fuzz-" + order, Type: domain.TypePurchaseCompleted, Source: "fuzz", MemberID: member, OccurredAt: at,
		Body: domain.Purchase{OrderID: order, Total: domain.Money{Minor: 10000, Currency: "EUR"},
			Lines: []domain.LineItem{{SKU: "s-1", Category: "home", Quantity: 2, UnitPrice: 5000}}}}
}

// ledgerWorld folds events as the engine does: an event that passes
// validation and the rules becomes a ledger record, and its follow-ups are
// admitted and folded in turn.
type ledgerWorld struct {
	t       *testing.T
	program *domain.Program
	members map[string]*domain.Member
	records []streams.LedgerRecord
}

// admit folds an event from upstream; one the engine would dead-letter is
// left out.
func (w *ledgerWorld) admit(e domain.Event) {
	if domain.Validate(e, e.OccurredAt) == nil {
		w.apply(e)
	}
}

func (w *ledgerWorld) apply(e domain.Event) {
	m := w.members[e.MemberID]
	if m == nil {
		m = domain.NewMember(e.MemberID)
	}
	facts, err := domain.Apply(m, e, w.program)
	if err != nil {
		return
	}
	w.members[e.MemberID] = m
	w.records = append(w.records, streams.LedgerRecord{InputSeq: uint64(len(w.records) + 1), InputStored: e.OccurredAt,
		EventID: e.ID, EventDigest: streams.EventDigest(e), MemberID: e.MemberID, Facts: facts})
	for _, f := range facts {
		next, ok := domain.FollowUp(f)
		if !ok {
			continue
		}
		// A follow-up refused would lose what its fact promised (the points
		// of a transfer, a referrer's bonus, a held redemption's answer).
		if err := domain.Validate(next, next.OccurredAt); err != nil {
			w.t.Errorf("the follow-up %s of admitted event %q is refused, so what it carries is lost: %v", next.Type, e.ID, err)
			continue
		}
		w.apply(next)
	}
}

// projectRecords writes records through the ledger codec and each
// projection's write path, in a transaction rolled back afterwards.
func projectRecords(t *testing.T, pool *pgxpool.Pool, records []streams.LedgerRecord, input []byte) {
	t.Helper()
	if len(records) == 0 {
		return
	}
	msg, err := streams.EncodeLedgerMessage(nil, records...)
	if err != nil {
		t.Fatalf("encode ledger message: %v", err)
	}
	batch, err := streams.DecodeLedgerMessage(msg)
	if err != nil {
		t.Fatalf("decode ledger message: %v", err)
	}
	for i := range batch {
		batch[i].Seq = 1
	}
	ctx := context.Background()
	for _, p := range fuzzedProjections {
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = applyInTx(ctx, tx, p, batch)
		_ = tx.Rollback(ctx)
		if err != nil {
			t.Fatalf("the %s projection cannot write what the engine admitted: %v\ninput: %q", p.Name(), err, shortened(input))
		}
	}
}

// shortened is input cut for a failure message: a seed may be kilobytes.
func shortened(input []byte) []byte {
	const max = 512
	if len(input) <= max {
		return input
	}
	return append(input[:max:max], "..."...)
}

// admissionSeeds are hostile and ordinary events: the examples of every
// schema, and the strings that once reached the ledger and stopped the read
// models.
func admissionSeeds(t testing.TB) [][]byte {
	t.Helper()
	seeds := schemaExamples(t)
	envelope := func(typ domain.EventType, data string) []byte {
		return []byte(`{"specversion":"1.0","id":"seed-1","source":"app","type":"` + string(typ) +
			`","time":"2026-03-01T10:15:00Z","data":` + data + `}`)
	}
	longOrder := incompressible(3200)
	for _, s := range []struct {
		typ  domain.EventType
		data string
	}{
		{domain.TypeFeedbackSubmitted, `{"member_id":"m-42","rating":4,"comment":"nice\u0000shop"}`},
		{domain.TypeFeedbackSubmitted, `{"member_id":"m-42","rating":4,"comment":"line one\nline two\r\n\tthanks"}`},
		{domain.TypeFeedbackSubmitted, `{"member_id":"m-42","nps":9,"comment":"` + "\xff" + `"}`},
		{domain.TypePurchaseCompleted, `{"member_id":"m\u0000x","order_id":"A-1","amount":100,"currency":"EUR"}`},
		{domain.TypePurchaseCompleted, `{"member_id":"m-42","order_id":"` + longOrder + `","amount":100,"currency":"EUR"}`},
		{domain.TypePurchaseCompleted, `{"member_id":"m-42","order_id":"A-1","amount":100,"currency":"EUR","lines":[{"sku":"s\u0085ku","quantity":1,"unit_price":100}]}`},
		{domain.TypePurchaseCompleted, `{"member_id":"` + strings.Repeat("😀", 32) + `","order_id":"A-1","amount":100,"currency":"EUR","channel":"web\u007f",` +
			`"lines":[{"sku":"` + strings.Repeat("😀", 32) + `","category":"home\u001b[31m","quantity":1,"unit_price":100}]}`},
		{domain.TypePurchaseRefunded, `{"member_id":"m-42","order_id":"o-1","amount":100,"currency":"EUR","lines":[{"sku":"s\u0000","quantity":1}]}`},
		{domain.TypeTransfer, `{"member_id":"m-42","request_id":"gift-1","to_member_id":"stock:gift-box","points":50}`},
		{domain.TypeTransfer, `{"member_id":"m-42","request_id":"gift-2","to_member_id":"m\u0000y","points":50}`},
		{domain.TypeMemberEnrolled, `{"member_id":"m-43","referred_by":"stock:gift-box"}`},
		{domain.TypeMemberEnrolled, `{"member_id":"m-43","channel":"app\u0000","referred_by":"m\u0000z"}`},
		{domain.TypeMemberStatus, `{"member_id":"m-42","status":"blocked","reason":"fraud\u0000check"}`},
		{domain.TypeTierAssigned, `{"member_id":"m-42","tier":"silver","reason":"status\u0000match"}`},
		{domain.TypeRedemption, `{"member_id":"m-42","request_id":"r\u0000","points":50,"channel":"pos\u0000"}`},
		{domain.TypeVisitRecorded, `{"member_id":"m-42","channel":"` + incompressible(3000) + `"}`},
		{domain.TypePurchaseConfirmed, `{"member_id":"m-42","order_id":"o\u0000"}`},
	} {
		seeds = append(seeds, envelope(s.typ, s.data))
	}
	return seeds
}

// schemaExamples are the examples of docs/schemas, one event of every type.
func schemaExamples(t testing.TB) [][]byte {
	t.Helper()
	files, err := filepath.Glob("../docs/schemas/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no schemas in ../docs/schemas: %v", err)
	}
	var out [][]byte
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var schema struct{ Examples []json.RawMessage }
		if err := json.Unmarshal(raw, &schema); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, ex := range schema.Examples {
			out = append(out, ex)
		}
	}
	return out
}

// incompressible is n characters PostgreSQL cannot compress into a smaller
// index entry, as a repeated letter would be.
func incompressible(n int) string {
	var b strings.Builder
	sum := sha256.Sum256([]byte("seed"))
	for b.Len() < n {
		b.WriteString(hex.EncodeToString(sum[:]))
		sum = sha256.Sum256(sum[:])
	}
	return b.String()[:n]
}
