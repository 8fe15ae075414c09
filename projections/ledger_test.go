package projections

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/projections/pgtest"
	"github.com/pointsledger/loyalty/streams"
	"github.com/pointsledger/loyalty/streams/natstest"
)

// This file builds ledger records by hand, publishes them to the real
// (embedded) NATS server, runs projections into a real PostgreSQL and checks
// the tables against a fold of the same facts through domain.Member.Evolve.

var base = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func meta(member, event string, at time.Time) domain.FactMeta {
	return domain.FactMeta{MemberID: member, EventID: event, OccurredAt: at}
}

func record(member, event string, facts ...domain.Fact) streams.LedgerRecord {
	return streams.LedgerRecord{Partition: partitionOf(member), EventID: event, MemberID: member, Facts: facts}
}

// partitionOf is the member's partition, as the engine's records have it
// (readers check it: streams.CheckLedgerMessage).
func partitionOf(member string) int { return streams.PartitionOf(member) }

func intp(v int) *int { return &v }

// handBuilt is a small history covering every fact type: enrolment, tier
// changes, purchases in two currencies, partial and full refunds with
// reversals, visits, feedback with and without order, odd member ids and an
// event that arrives late (earlier occurred_at than the member's latest).
func handBuilt() []streams.LedgerRecord {
	const alice, bob, zoe = "alice", "bob.smith*>", "zoë 🎉 \"quoted\""
	at := func(h int) time.Time { return base.Add(time.Duration(h) * time.Hour) }
	eur := func(minor int64) domain.Money { return domain.Money{Minor: minor, Currency: "EUR"} }
	return []streams.LedgerRecord{
		record(alice, "e1",
			domain.TierChanged{FactMeta: meta(alice, "e1", at(0)), To: "bronze", Reason: domain.TierReasonEnrolment},
			domain.MemberEnrolled{FactMeta: meta(alice, "e1", at(0)), Channel: "app"}),
		record(alice, "e2",
			domain.PurchaseRecorded{FactMeta: meta(alice, "e2", at(1)), OrderID: "o-1", Total: eur(10000), Channel: "web",
				Lines:           []domain.LineItem{{SKU: "A", Category: "shoes", Quantity: 2, UnitPrice: 4000}, {SKU: "B", Quantity: 1, UnitPrice: 2000}},
				QualifyingSpend: 10000, QualifyingSpendAfter: 10000},
			domain.PointsEarned{FactMeta: meta(alice, "e2", at(1)), Points: 100, Rule: domain.RuleBase, OrderID: "o-1", ProgramVersion: "2026-01"},
			domain.PointsEarned{FactMeta: meta(alice, "e2", at(1)), Points: 50, Rule: domain.RuleFirstPurchaseBonus, OrderID: "o-1", ProgramVersion: "2026-01"},
			domain.TierChanged{FactMeta: meta(alice, "e2", at(1)), From: "bronze", To: "silver", Reason: domain.TierReasonQualifyingSpend}),
		record(bob, "e3",
			domain.TierChanged{FactMeta: meta(bob, "e3", at(2)), To: "bronze", Reason: domain.TierReasonEnrolment},
			domain.PurchaseRecorded{FactMeta: meta(bob, "e3", at(2)), OrderID: "jp-1", Total: domain.Money{Minor: 5000, Currency: "JPY"},
				QualifyingSpend: 3100, QualifyingSpendAfter: 3100},
			domain.PointsEarned{FactMeta: meta(bob, "e3", at(2)), Points: 31, Rule: domain.RuleBase, OrderID: "jp-1", ProgramVersion: "2026-01"}),
		record(alice, "e4",
			domain.VisitRecorded{FactMeta: meta(alice, "e4", at(3)), Channel: "store-12"},
			domain.PointsEarned{FactMeta: meta(alice, "e4", at(3)), Points: 5, Rule: domain.RuleVisitBonus, ProgramVersion: "2026-01"}),
		record(alice, "e5",
			domain.FeedbackRecorded{FactMeta: meta(alice, "e5", at(4)), OrderID: "o-1", Rating: intp(5), NPS: intp(9), Comment: "great, thanks", Channel: "app"},
			domain.PointsEarned{FactMeta: meta(alice, "e5", at(4)), Points: 10, Rule: domain.RuleFeedbackBonus, OrderID: "o-1", ProgramVersion: "2026-01"}),
		record(alice, "e6",
			domain.RefundRecorded{FactMeta: meta(alice, "e6", at(5)), OrderID: "o-1", Amount: eur(4000),
				Lines: []domain.RefundLine{{SKU: "A", Quantity: 1}}, QualifyingSpend: -4000, QualifyingSpendAfter: 6000},
			domain.PointsReversed{FactMeta: meta(alice, "e6", at(5)), Points: 40, Rule: domain.RuleRefund, OrderID: "o-1", ProgramVersion: "2026-01"}),
		record(zoe, "e7",
			domain.TierChanged{FactMeta: meta(zoe, "e7", at(6)), To: "bronze", Reason: domain.TierReasonEnrolment},
			domain.FeedbackRecorded{FactMeta: meta(zoe, "e7", at(6)), NPS: intp(0)}),
		record(bob, "e8",
			domain.PurchaseRecorded{FactMeta: meta(bob, "e8", at(7)), OrderID: "o-2", Total: eur(2500), Channel: "store-3",
				QualifyingSpend: 2500, QualifyingSpendAfter: 5600},
			domain.PointsEarned{FactMeta: meta(bob, "e8", at(7)), Points: 25, Rule: domain.RuleBase, OrderID: "o-2", ProgramVersion: "2026-02"}),
		// A late event: occurred before bob's latest activity.
		record(bob, "e9",
			domain.VisitRecorded{FactMeta: meta(bob, "e9", at(1))}),
		record(bob, "e10",
			domain.RefundRecorded{FactMeta: meta(bob, "e10", at(8)), OrderID: "jp-1", Amount: domain.Money{Minor: 5000, Currency: "JPY"},
				QualifyingSpend: -3100, QualifyingSpendAfter: 2500},
			domain.PointsReversed{FactMeta: meta(bob, "e10", at(8)), Points: 31, Rule: domain.RuleRefund, OrderID: "jp-1", ProgramVersion: "2026-01"}),
		record(zoe, "e11",
			domain.VisitRecorded{FactMeta: meta(zoe, "e11", at(9)), Channel: "web"}),
		record(bob, "e13",
			domain.StatusChanged{FactMeta: meta(bob, "e13", at(9)), From: domain.StatusActive, To: domain.StatusBlocked, Reason: "chargeback"}),
		// Points with a date, and their expiry noticed by a later visit.
		record(zoe, "e14",
			domain.VisitRecorded{FactMeta: meta(zoe, "e14", at(10)), Channel: "web"},
			domain.PointsEarned{FactMeta: meta(zoe, "e14", at(10)), Points: 5, Rule: domain.RuleVisitBonus, ProgramVersion: "2026-02", ExpiresAt: at(11)}),
		record(zoe, "e15",
			domain.PointsExpired{FactMeta: meta(zoe, "e15", at(11)), Points: 5, Rule: domain.RuleExpiry, ProgramVersion: "2026-02"},
			domain.VisitRecorded{FactMeta: meta(zoe, "e15", at(12)), Channel: "web"}),
		// A clock event's record: expired points and no activity.
		record(bob, "e16",
			domain.PointsExpired{FactMeta: meta(bob, "e16", at(11)), Points: 5, Rule: domain.RuleExpiry, ProgramVersion: "2026-02"}),
		// A refund whose shortfall the returns policy records as debt.
		record(bob, "e17",
			domain.RefundRecorded{FactMeta: meta(bob, "e17", at(12)), OrderID: "o-2", Amount: eur(2500), QualifyingSpend: -2500},
			domain.PointsReversed{FactMeta: meta(bob, "e17", at(12)), Points: 20, Rule: domain.RuleRefund, OrderID: "o-2", ProgramVersion: "2026-02"},
			domain.PointsDebt{FactMeta: meta(bob, "e17", at(12)), Points: 5, Rule: domain.RuleRefund, OrderID: "o-2", ProgramVersion: "2026-02"}),
		// Two refunds of one order in one record stream, the second small.
		record(alice, "e12",
			domain.RefundRecorded{FactMeta: meta(alice, "e12", at(10)), OrderID: "o-1", Amount: eur(1000),
				QualifyingSpend: -1000, QualifyingSpendAfter: 5000},
			domain.PointsReversed{FactMeta: meta(alice, "e12", at(10)), Points: 10, Rule: domain.RuleRefund, OrderID: "o-1", ProgramVersion: "2026-01"}),
	}
}

// world generates plausible random histories: the projections only fold
// facts, so the facts need to be consistent with each other, not with a
// particular program.
type world struct {
	rnd     *rand.Rand
	clock   time.Time
	events  int
	members []string
	state   map[string]*genMember
}

type genMember struct {
	known, enrolled bool
	tier            string
	spend           int64
	purchases       int
	orders          []*genOrder
	noticed         map[time.Time]bool // expiry dates noticed (one notice per date)
}

type genOrder struct {
	id                string
	total, qualifying int64
	currency          string
	refunded, lost    int64
	earned, reversed  int64
	pending           int64 // of earned, not available yet
}

func newWorld(seed uint64, members int) *world {
	w := &world{rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), clock: base, state: map[string]*genMember{}}
	for i := range members {
		id := fmt.Sprintf("member-%04d", i)
		switch i % 7 {
		case 3:
			id = fmt.Sprintf("m.%d.*>", i) // subject-hostile characters
		case 5:
			id = fmt.Sprintf("Ünïcödé %d ✓", i)
		}
		w.members = append(w.members, id)
		w.state[id] = &genMember{}
	}
	return w
}

// records returns n more records in ledger order.
func (w *world) records(n int) []streams.LedgerRecord {
	out := make([]streams.LedgerRecord, 0, n)
	for range n {
		out = append(out, w.next())
	}
	return out
}

func (w *world) next() streams.LedgerRecord {
	w.events++
	id := w.members[w.rnd.IntN(len(w.members))]
	m := w.state[id]
	event := fmt.Sprintf("evt-%06d", w.events)
	w.clock = w.clock.Add(time.Duration(1+w.rnd.IntN(3600)) * time.Second)
	at := w.clock
	if w.rnd.IntN(10) == 0 { // a late event
		at = at.Add(-time.Duration(w.rnd.IntN(48*3600)) * time.Second)
	}
	at = at.Add(time.Duration(w.rnd.IntN(1000)) * time.Millisecond)
	fm := meta(id, event, at)
	var facts []domain.Fact
	if !m.known {
		m.known, m.tier = true, "bronze"
		facts = append(facts, domain.TierChanged{FactMeta: fm, To: "bronze", Reason: domain.TierReasonEnrolment})
	}
	earn := func(points int64, rule, order string) {
		if points > 0 {
			facts = append(facts, domain.PointsEarned{FactMeta: fm, Points: points, Rule: rule, OrderID: order, ProgramVersion: "v" + fmt.Sprint(1+w.rnd.IntN(2))})
		}
	}
	refundable := slices.IndexFunc(m.orders, func(o *genOrder) bool { return o.refunded < o.total })
	switch k := w.rnd.IntN(100); {
	case k < 8 && !m.enrolled:
		m.enrolled = true
		facts = append(facts, domain.MemberEnrolled{FactMeta: fm, Channel: []string{"app", "web", ""}[w.rnd.IntN(3)]})
	case k < 55:
		o := &genOrder{id: fmt.Sprintf("order-%d", w.events), currency: "EUR", total: int64(100 + w.rnd.IntN(50000))}
		o.qualifying = o.total
		if w.rnd.IntN(5) == 0 {
			o.currency, o.qualifying = "JPY", o.total*6/10
		}
		m.spend += o.qualifying
		var lines []domain.LineItem
		for j := range w.rnd.IntN(3) {
			lines = append(lines, domain.LineItem{SKU: fmt.Sprintf("sku-%d", j), Category: []string{"", "food", "shoes"}[j], Quantity: int64(1 + j), UnitPrice: int64(100 * (j + 1))})
		}
		facts = append(facts, domain.PurchaseRecorded{FactMeta: fm, OrderID: o.id, Total: domain.Money{Minor: o.total, Currency: o.currency},
			Lines: lines, Channel: []string{"web", "store-1", ""}[w.rnd.IntN(3)], QualifyingSpend: o.qualifying, QualifyingSpendAfter: m.spend})
		o.earned = o.qualifying / 100
		if w.rnd.IntN(3) == 0 && o.earned > 0 { // the return window holds the base points
			o.pending = o.earned
			facts = append(facts, domain.PointsEarned{FactMeta: fm, Points: o.earned, Rule: domain.RuleBase, OrderID: o.id,
				ProgramVersion: "v1", AvailableAt: at.Add(14 * 24 * time.Hour).Truncate(time.Hour)})
		} else {
			earn(o.earned, domain.RuleBase, o.id)
		}
		if m.tier != "bronze" {
			bonus := o.earned / 2
			o.earned += bonus
			earn(bonus, domain.RuleTierBonus, o.id)
		}
		if m.purchases == 0 {
			earn(50, domain.RuleFirstPurchaseBonus, o.id)
		}
		m.purchases++
		m.orders = append(m.orders, o)
		for _, t := range []struct {
			name      string
			threshold int64
		}{{"silver", 50_000}, {"gold", 200_000}} {
			if m.spend >= t.threshold && m.tier != t.name && (m.tier == "bronze" || t.name == "gold") {
				change := domain.TierChanged{FactMeta: fm, From: m.tier, To: t.name, Reason: domain.TierReasonQualifyingSpend,
					ExpiresAt: at.AddDate(1, 0, 0).Truncate(24 * time.Hour)}
				if t.name == "gold" {
					change.ExpiresAt = time.Time{} // never reviewed, after silver was
				}
				facts = append(facts, change)
				m.tier = t.name
			}
		}
		switch w.rnd.IntN(4) { // the tier facts of a program with reviews
		case 0:
			facts = append(facts, domain.TierRenewed{FactMeta: fm, Tier: m.tier, ExpiresAt: at.AddDate(2, 0, 0).Truncate(24 * time.Hour)})
		case 1:
			facts = append(facts, domain.TierProgress{FactMeta: fm, TierOutlook: domain.TierOutlook{Value: m.spend, NextTier: []string{"", "gold"}[w.rnd.IntN(2)],
				Missing: int64(w.rnd.IntN(1000)), Projected: m.tier}})
		case 2:
			facts = append(facts, domain.TierAssigned{FactMeta: fm, Tier: "silver", Reason: "status match"})
		}
	case k < 70 && refundable >= 0:
		o := m.orders[refundable]
		amount := 1 + w.rnd.Int64N(o.total-o.refunded)
		o.refunded += amount
		lost := o.qualifying*o.refunded/o.total - o.lost
		o.lost += lost
		m.spend -= lost
		facts = append(facts, domain.RefundRecorded{FactMeta: fm, OrderID: o.id, Amount: domain.Money{Minor: amount, Currency: o.currency},
			QualifyingSpend: -lost, QualifyingSpendAfter: m.spend})
		if reversal := o.earned*o.refunded/o.total - o.reversed; reversal > 0 {
			o.reversed += reversal
			if cancel := min(reversal, o.pending); cancel > 0 {
				o.pending -= cancel
				reversal -= cancel
				facts = append(facts, domain.PointsCancelled{FactMeta: fm, Points: cancel, OrderID: o.id, ProgramVersion: "v1"})
			}
			if reversal > 0 {
				facts = append(facts, domain.PointsReversed{FactMeta: fm, Points: reversal, Rule: domain.RuleRefund, OrderID: o.id, ProgramVersion: "v1"})
			}
		}
	case k < 74 && slices.ContainsFunc(m.orders, func(o *genOrder) bool { return o.pending > 0 }):
		o := m.orders[slices.IndexFunc(m.orders, func(o *genOrder) bool { return o.pending > 0 })]
		f := domain.PointsReleased{FactMeta: fm, OrderID: o.id, Points: o.pending, ProgramVersion: "v1"}
		if w.rnd.IntN(2) == 0 {
			f.ExpiresAt = at.Add(90 * 24 * time.Hour).Truncate(24 * time.Hour)
		}
		o.pending = 0
		facts = append(facts, domain.PurchaseConfirmed{FactMeta: fm, OrderID: o.id}, f)
		if !f.ExpiresAt.IsZero() && !m.noticed[f.ExpiresAt] {
			if m.noticed == nil {
				m.noticed = map[time.Time]bool{}
			}
			m.noticed[f.ExpiresAt] = true
			facts = append(facts, domain.PointsExpiring{FactMeta: fm, Points: f.Points, ExpiresAt: f.ExpiresAt, ProgramVersion: "v1"})
		}
	case k < 80:
		request := fmt.Sprintf("req-%d", w.events)
		if w.rnd.IntN(4) == 0 { // a transfer: out of this member, or into it
			other := w.members[w.rnd.IntN(len(w.members))]
			if w.rnd.IntN(2) == 0 {
				facts = append(facts, domain.PointsTransferred{FactMeta: fm, RequestID: request, ToMemberID: other, Points: 7, ProgramVersion: "v1"})
			} else {
				facts = append(facts, domain.PointsReceived{FactMeta: fm, FromMemberID: other, RequestID: request, Points: 9,
					ExpiresAt: at.AddDate(0, 6, 0).Truncate(24 * time.Hour), ProgramVersion: "v1"})
			}
			break
		}
		if w.rnd.IntN(3) == 0 {
			facts = append(facts, domain.RedemptionRejected{FactMeta: fm, RequestID: request, RewardID: "mug", Quantity: 2,
				Reason: domain.RedeemInsufficientPoints, Detail: "costs 300 points, 12 available", ProgramVersion: "v1"})
		} else {
			reward, quantity := []string{"", "mug"}[w.rnd.IntN(2)], int64(0)
			if reward != "" {
				quantity = 1
			}
			facts = append(facts, domain.PointsRedeemed{FactMeta: fm, Points: int64(1 + w.rnd.IntN(50)), RequestID: request, RewardID: reward,
				Quantity: quantity, Channel: []string{"pos-1", ""}[w.rnd.IntN(2)], ProgramVersion: "v2"})
		}
	case k < 88:
		facts = append(facts, domain.VisitRecorded{FactMeta: fm, Channel: []string{"store-1", "web", ""}[w.rnd.IntN(3)]})
		if w.rnd.IntN(2) == 0 {
			earn(5, domain.RuleVisitBonus, "")
		}
	default:
		f := domain.FeedbackRecorded{FactMeta: fm, Comment: []string{"", "ok", "bad ☹", "it's \"fine\"\n"}[w.rnd.IntN(4)]}
		if w.rnd.IntN(2) == 0 {
			f.Rating = intp(1 + w.rnd.IntN(5))
		} else {
			f.NPS = intp(w.rnd.IntN(11))
		}
		if len(m.orders) > 0 && w.rnd.IntN(2) == 0 {
			f.OrderID = m.orders[w.rnd.IntN(len(m.orders))].id
			earn(10, domain.RuleFeedbackBonus, f.OrderID)
		}
		facts = append(facts, f)
	}
	return record(id, event, facts...)
}

// publish appends records to the ledger stream, several of a partition to a
// message as the engine does: a message takes the next record and the
// records of its partition among the 64 after it, up to 5. Records of one
// partition keep their order; across partitions the ledger order may differ
// from recs. It returns the records in ledger order with Seq and FirstFact
// as read back, and InputStored set for the latency metric.
func publish(t testing.TB, js jetstream.JetStream, recs []streams.LedgerRecord) []streams.LedgerRecord {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pending := slices.Clone(recs)
	out := make([]streams.LedgerRecord, 0, len(recs))
	for len(pending) > 0 {
		var group, rest []streams.LedgerRecord
		for i, rec := range pending {
			if len(group) < 5 && i < 64 && rec.Partition == pending[0].Partition {
				group = append(group, rec)
			} else {
				rest = append(rest, rec)
			}
		}
		pending = rest
		facts := 0
		for i := range group {
			group[i].InputStored = time.Now().UTC()
			group[i].FirstFact = facts
			facts += len(group[i].Facts)
		}
		data, err := streams.EncodeLedgerMessage(nil, group...)
		if err != nil {
			t.Fatalf("encode records of %s: %v", group[0].EventID, err)
		}
		ack, err := js.Publish(ctx, streams.LedgerSubject(group[0].Partition), data)
		if err != nil {
			t.Fatalf("publish records of %s: %v", group[0].EventID, err)
		}
		for i := range group {
			group[i].Seq = ack.Sequence
		}
		out = append(out, group...)
	}
	return out
}

func migrated(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool := pgtest.NewDatabase(t)
	ctx := context.Background()
	c, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatalf("acquire: %v", err)
	}
	defer c.Release()
	if _, _, err := Migrate(ctx, c.Conn()); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return pool
}

// migratedWithNATS is migrated's database and an embedded NATS server, for
// the tests that run projections from a ledger stream.
func migratedWithNATS(t testing.TB) (*pgxpool.Pool, *natstest.Env) {
	t.Helper()
	return migrated(t), natstest.Start(t)
}

// running is a Runner running in the background.
type running struct {
	*Runner
	cancel context.CancelFunc
	done   chan error
}

func start(t testing.TB, pool *pgxpool.Pool, js jetstream.JetStream, p Projection, cfg RunnerConfig) *running {
	t.Helper()
	r, err := NewRunner(pool, js, p, cfg)
	if err != nil {
		t.Fatalf("new runner: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rr := &running{Runner: r, cancel: cancel, done: make(chan error, 1)}
	go func() { rr.done <- r.Run(ctx) }()
	t.Cleanup(func() { rr.stop(t) })
	return rr
}

// stop cancels the runner and checks that Run returns nil promptly.
func (r *running) stop(t testing.TB) {
	t.Helper()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok && err != nil {
			t.Errorf("%s runner returned %v, want nil after cancel", r.name, err)
		}
		if ok {
			close(r.done)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s runner did not return within 10s of cancel", r.name)
	}
}

// waitFor polls the runners' checkpoints until all reach seq.
func waitFor(t testing.TB, seq uint64, runners ...*running) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(90 * time.Second)
	for _, r := range runners {
		for {
			pos, err := r.Position(ctx)
			if err == nil && pos >= seq {
				break
			}
			select {
			case err := <-r.done:
				t.Fatalf("%s runner stopped at %d (want %d): %v", r.name, pos, seq, err)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s runner at ledger seq %d (err %v), want %d within 90s", r.name, pos, err, seq)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// ---- the reference fold and the comparison with the tables

type memberRow struct {
	ID              string
	Balance         int64
	Lifetime        int64
	Tier            string
	TierSince       time.Time
	QualifyingSpend int64
	EnrolledAt      time.Time
	FirstActivity   time.Time
	LastActivity    time.Time
	Purchases       int64
	Status          string
	StatusSince     time.Time
	Debt            int64
	Redeemed        int64
	Pending         int64
	TierExpires     time.Time
	TierFloor       string
	Outlook         domain.TierOutlook
	OutlookAt       time.Time
}

type redemptionRow struct {
	Member, Request, Status, Reward string
	Quantity, Points                int64
	Reason, Detail, Channel         string
	ProgramVersion, Event           string
	Seq                             int64
	Index                           int32
	At                              time.Time
}

type ledgerRow struct {
	Seq            int64
	Index          int32
	Member         string
	Points         int64
	Kind, Rule     string
	Event, Order   string
	ProgramVersion string
	At             time.Time
	Expires        time.Time
	Account        string
	Available      time.Time
}

type tierRow struct {
	Seq      int64
	Index    int32
	Member   string
	Event    string
	From, To string
	Reason   string
	At       time.Time
	Expires  time.Time
}

type noticeRow struct {
	Member         string
	Expires        time.Time
	Points         int64
	NoticedAt      time.Time
	ProgramVersion string
	Event          string
	Seq            int64
	Index          int32
}

type purchaseRow struct {
	Member, Order, Event string
	Seq                  int64
	At                   time.Time
	Amount               int64
	Currency, Channel    string
	Qualifying, Refunded int64
	Lines                string
}

type refundRow struct {
	Event         string
	Seq           int64
	Member, Order string
	At            time.Time
	Amount        int64
	Currency      string
	Qualifying    int64
	Lines         string
}

type visitRow struct {
	Event   string
	Seq     int64
	Member  string
	At      time.Time
	Channel string
}

type feedbackRow struct {
	Event            string
	Seq              int64
	Member, Order    string
	Rating, NPS      int // -1 for none
	Comment, Channel string
	At               time.Time
}

type tables struct {
	members   []memberRow
	ledger    []ledgerRow
	tiers     []tierRow
	notices   []noticeRow
	purchases []purchaseRow
	refunds   []refundRow
	visits    []visitRow
	feedback  []feedbackRow
	redeemed  []redemptionRow
}

func canonicalJSON(t testing.TB, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var x any
	if err := json.Unmarshal(b, &x); err != nil {
		t.Fatal(err)
	}
	b, _ = json.Marshal(x)
	return string(b)
}

func scoreOf(p *int) int {
	if p == nil {
		return -1
	}
	return *p
}

// fold is what the tables must hold after the records: members through
// domain.Member.Evolve, the other tables straight from the facts.
func fold(t testing.TB, recs []streams.LedgerRecord) tables {
	var out tables
	members := map[string]*domain.Member{}
	progress := map[string]domain.TierProgress{}
	purchases := map[[2]string]*purchaseRow{}
	var purchaseKeys [][2]string
	for _, rec := range recs {
		seq := int64(rec.Seq)
		for i, f := range rec.Facts {
			fm := f.Meta()
			m := members[fm.MemberID]
			if m == nil {
				m = domain.NewMember(fm.MemberID)
				members[fm.MemberID] = m
			}
			m.Evolve(f)
			if pr, ok := f.(domain.TierProgress); ok {
				progress[fm.MemberID] = pr
			}
			switch f := f.(type) {
			case domain.PointsEarned:
				account := AccountAvailable
				if !f.AvailableAt.IsZero() {
					account = AccountPending
				}
				out.ledger = append(out.ledger, ledgerRow{seq, int32(rec.FirstFact + i), fm.MemberID, f.Points, KindEarned, f.Rule, fm.EventID, f.OrderID, f.ProgramVersion, fm.OccurredAt, f.ExpiresAt, account, f.AvailableAt})
			case domain.PointsReleased: // out of pending and into available, in the order the table is read
				out.ledger = append(out.ledger,
					ledgerRow{seq, int32(rec.FirstFact + i), fm.MemberID, f.Points, KindReleased, ReleaseRule, fm.EventID, f.OrderID, f.ProgramVersion, fm.OccurredAt, f.ExpiresAt, AccountAvailable, time.Time{}},
					ledgerRow{seq, int32(rec.FirstFact + i), fm.MemberID, -f.Points, KindReleased, ReleaseRule, fm.EventID, f.OrderID, f.ProgramVersion, fm.OccurredAt, time.Time{}, AccountPending, time.Time{}})
			case domain.PointsTransferred:
				out.ledger = append(out.ledger, ledgerRow{seq, int32(rec.FirstFact + i), fm.MemberID, -f.Points, KindTransferred, domain.RuleTransferOut, fm.EventID, f.ToMemberID, f.ProgramVersion, fm.OccurredAt, time.Time{}, AccountAvailable, time.Time{}})
			case domain.PointsReceived:
				out.ledger = append(out.ledger, ledgerRow{seq, int32(rec.FirstFact + i), fm.MemberID, f.Points, KindReceived, domain.RuleTransferIn, fm.EventID, f.FromMemberID, f.ProgramVersion, fm.OccurredAt, f.ExpiresAt, AccountAvailable, time.Time{}})
			case domain.PointsCancelled:
				out.ledger = append(out.ledger, ledgerRow{seq, int32(rec.FirstFact + i), fm.MemberID, -f.Points, KindCancelled, CancelRule, fm.EventID, f.OrderID, f.ProgramVersion, fm.OccurredAt, time.Time{}, AccountPending, time.Time{}})
			case domain.PointsReversed:
				out.ledger = append(out.ledger, ledgerRow{seq, int32(rec.FirstFact + i), fm.MemberID, -f.Points, KindReversed, f.Rule, fm.EventID, f.OrderID, f.ProgramVersion, fm.OccurredAt, time.Time{}, AccountAvailable, time.Time{}})
			case domain.PointsExpired:
				out.ledger = append(out.ledger, ledgerRow{seq, int32(rec.FirstFact + i), fm.MemberID, -f.Points, KindExpired, f.Rule, fm.EventID, "", f.ProgramVersion, fm.OccurredAt, time.Time{}, AccountAvailable, time.Time{}})
			case domain.PointsRedeemed:
				out.ledger = append(out.ledger, ledgerRow{seq, int32(rec.FirstFact + i), fm.MemberID, -f.Points, KindRedeemed, RedeemRule, fm.EventID, "", f.ProgramVersion, fm.OccurredAt, time.Time{}, AccountAvailable, time.Time{}})
				out.redeemed = append(out.redeemed, redemptionRow{fm.MemberID, f.RequestID, "accepted", f.RewardID, f.Quantity, f.Points,
					"", "", f.Channel, f.ProgramVersion, fm.EventID, seq, int32(rec.FirstFact + i), fm.OccurredAt})
			case domain.RedemptionRejected:
				out.redeemed = append(out.redeemed, redemptionRow{fm.MemberID, f.RequestID, "rejected", f.RewardID, f.Quantity, f.Points,
					string(f.Reason), f.Detail, "", f.ProgramVersion, fm.EventID, seq, int32(rec.FirstFact + i), fm.OccurredAt})
			case domain.TierChanged:
				out.tiers = append(out.tiers, tierRow{seq, int32(rec.FirstFact + i), fm.MemberID, fm.EventID, f.From, f.To, f.Reason, fm.OccurredAt, f.ExpiresAt})
			case domain.PointsExpiring:
				out.notices = append(out.notices, noticeRow{fm.MemberID, f.ExpiresAt, f.Points, fm.OccurredAt, f.ProgramVersion, fm.EventID, seq, int32(rec.FirstFact + i)})
			case domain.PurchaseRecorded:
				lines := []any{}
				for _, l := range f.Lines {
					line := map[string]any{"sku": l.SKU, "quantity": l.Quantity, "unit_price": l.UnitPrice}
					if l.Category != "" {
						line["category"] = l.Category
					}
					lines = append(lines, line)
				}
				key := [2]string{fm.MemberID, f.OrderID}
				purchaseKeys = append(purchaseKeys, key)
				purchases[key] = &purchaseRow{fm.MemberID, f.OrderID, fm.EventID, seq, fm.OccurredAt, f.Total.Minor, f.Total.Currency,
					f.Channel, f.QualifyingSpend, 0, canonicalJSON(t, lines)}
			case domain.RefundRecorded:
				lines := []any{}
				for _, l := range f.Lines {
					lines = append(lines, map[string]any{"sku": l.SKU, "quantity": l.Quantity})
				}
				out.refunds = append(out.refunds, refundRow{fm.EventID, seq, fm.MemberID, f.OrderID, fm.OccurredAt, f.Amount.Minor,
					f.Amount.Currency, f.QualifyingSpend, canonicalJSON(t, lines)})
				if p := purchases[[2]string{fm.MemberID, f.OrderID}]; p != nil {
					p.Refunded += f.Amount.Minor
				}
			case domain.VisitRecorded:
				out.visits = append(out.visits, visitRow{fm.EventID, seq, fm.MemberID, fm.OccurredAt, f.Channel})
			case domain.FeedbackRecorded:
				out.feedback = append(out.feedback, feedbackRow{fm.EventID, seq, fm.MemberID, f.OrderID, scoreOf(f.Rating), scoreOf(f.NPS),
					f.Comment, f.Channel, fm.OccurredAt})
			}
		}
	}
	for _, k := range purchaseKeys {
		out.purchases = append(out.purchases, *purchases[k])
	}
	for _, m := range members {
		status := string(m.Status)
		if status == "" {
			status = string(domain.StatusActive)
		}
		out.members = append(out.members, memberRow{m.ID, m.Balance, m.Lifetime, m.Tier, m.TierSince, m.QualifyingSpend,
			m.EnrolledAt, m.FirstActivity, m.LastActivity, m.Purchases, status, m.StatusSince, m.Debt, m.Redeemed, m.Pending,
			m.TierExpires, m.TierFloor, progress[m.ID].TierOutlook, progress[m.ID].OccurredAt})
	}
	out.sort()
	return out
}

func (tb *tables) sort() {
	slices.SortFunc(tb.members, func(a, b memberRow) int { return strings.Compare(a.ID, b.ID) })
	// Rows of activity tables by ledger message, then event id (the
	// queries' order): several records share a message.
	bySeqEvent := func(seqA, seqB int64, evA, evB string) int {
		if c := cmp.Compare(seqA, seqB); c != 0 {
			return c
		}
		return strings.Compare(evA, evB)
	}
	slices.SortFunc(tb.purchases, func(a, b purchaseRow) int { return bySeqEvent(a.Seq, b.Seq, a.Event, b.Event) })
	slices.SortFunc(tb.refunds, func(a, b refundRow) int { return bySeqEvent(a.Seq, b.Seq, a.Event, b.Event) })
	slices.SortFunc(tb.visits, func(a, b visitRow) int { return bySeqEvent(a.Seq, b.Seq, a.Event, b.Event) })
	slices.SortFunc(tb.feedback, func(a, b feedbackRow) int { return bySeqEvent(a.Seq, b.Seq, a.Event, b.Event) })
	slices.SortFunc(tb.redeemed, func(a, b redemptionRow) int { return bySeqEvent(a.Seq, b.Seq, a.Event, b.Event) })
	// points_ledger and tier_changes are in ledger order already when
	// built; rows read back are ordered by the query.
}

func utc(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

func str(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func collect[T any](t testing.TB, q Querier, sql string, scan func(pgx.CollectableRow) (T, error)) []T {
	t.Helper()
	rows, err := q.Query(context.Background(), sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	out, err := pgx.CollectRows(rows, scan)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out
}

// readTables reads every projected table back, in the order fold builds.
func readTables(t testing.TB, q Querier) tables {
	t.Helper()
	var out tables
	out.members = collect(t, q, `select member_id, points_balance, lifetime_points, tier, tier_since, qualifying_spend,
		enrolled_at, first_activity_at, last_activity_at, purchases_count, status, status_since, points_debt, points_redeemed, points_pending,
		tier_expires_at, coalesce(tier_floor, ''), tier_value, coalesce(next_tier, ''), next_tier_missing, coalesce(projected_tier, ''),
		tier_progress_as_of from loyalty.members order by member_id collate "C"`,
		func(row pgx.CollectableRow) (memberRow, error) {
			var m memberRow
			var tier *string
			var since, enrolled, statusSince, tierExpires, outlookAt *time.Time
			err := row.Scan(&m.ID, &m.Balance, &m.Lifetime, &tier, &since, &m.QualifyingSpend, &enrolled, &m.FirstActivity, &m.LastActivity, &m.Purchases,
				&m.Status, &statusSince, &m.Debt, &m.Redeemed, &m.Pending,
				&tierExpires, &m.TierFloor, &m.Outlook.Value, &m.Outlook.NextTier, &m.Outlook.Missing, &m.Outlook.Projected, &outlookAt)
			m.TierExpires, m.OutlookAt = utc(tierExpires), utc(outlookAt)
			m.Tier, m.TierSince, m.EnrolledAt, m.StatusSince = str(tier), utc(since), utc(enrolled), utc(statusSince)
			m.FirstActivity, m.LastActivity = m.FirstActivity.UTC(), m.LastActivity.UTC()
			return m, err
		})
	out.ledger = collect(t, q, `select ledger_seq, fact_index, member_id, points, kind, rule, source_event_id, order_id,
		program_version, occurred_at, expires_at, account, available_at from loyalty.points_ledger order by ledger_seq, fact_index, account`,
		func(row pgx.CollectableRow) (ledgerRow, error) {
			var l ledgerRow
			var order *string
			var expires, available *time.Time
			err := row.Scan(&l.Seq, &l.Index, &l.Member, &l.Points, &l.Kind, &l.Rule, &l.Event, &order, &l.ProgramVersion, &l.At, &expires,
				&l.Account, &available)
			l.Order, l.At, l.Expires, l.Available = str(order), l.At.UTC(), utc(expires), utc(available)
			return l, err
		})
	out.tiers = collect(t, q, `select ledger_seq, fact_index, member_id, source_event_id, from_tier, to_tier, reason, occurred_at,
		expires_at from loyalty.tier_changes order by ledger_seq, fact_index`,
		func(row pgx.CollectableRow) (tierRow, error) {
			var r tierRow
			var from *string
			var expires *time.Time
			err := row.Scan(&r.Seq, &r.Index, &r.Member, &r.Event, &from, &r.To, &r.Reason, &r.At, &expires)
			r.From, r.At, r.Expires = str(from), r.At.UTC(), utc(expires)
			return r, err
		})
	out.notices = collect(t, q, `select member_id, expires_at, points, noticed_at, program_version, source_event_id, ledger_seq,
		fact_index from loyalty.expiry_notices order by ledger_seq, fact_index`,
		func(row pgx.CollectableRow) (noticeRow, error) {
			var r noticeRow
			err := row.Scan(&r.Member, &r.Expires, &r.Points, &r.NoticedAt, &r.ProgramVersion, &r.Event, &r.Seq, &r.Index)
			r.Expires, r.NoticedAt = r.Expires.UTC(), r.NoticedAt.UTC()
			return r, err
		})
	out.purchases = collect(t, q, `select member_id, order_id, event_id, ledger_seq, occurred_at, amount, currency, channel,
		qualifying_spend, refunded_amount, lines::text from loyalty.purchases order by ledger_seq, event_id collate "C"`,
		func(row pgx.CollectableRow) (purchaseRow, error) {
			var p purchaseRow
			var channel *string
			err := row.Scan(&p.Member, &p.Order, &p.Event, &p.Seq, &p.At, &p.Amount, &p.Currency, &channel, &p.Qualifying, &p.Refunded, &p.Lines)
			p.Channel, p.At, p.Lines = str(channel), p.At.UTC(), canonicalJSON(t, json.RawMessage(p.Lines))
			return p, err
		})
	out.refunds = collect(t, q, `select event_id, ledger_seq, member_id, order_id, occurred_at, amount, currency,
		qualifying_spend, lines::text from loyalty.refunds order by ledger_seq, event_id collate "C"`,
		func(row pgx.CollectableRow) (refundRow, error) {
			var r refundRow
			err := row.Scan(&r.Event, &r.Seq, &r.Member, &r.Order, &r.At, &r.Amount, &r.Currency, &r.Qualifying, &r.Lines)
			r.At, r.Lines = r.At.UTC(), canonicalJSON(t, json.RawMessage(r.Lines))
			return r, err
		})
	out.visits = collect(t, q, `select event_id, ledger_seq, member_id, occurred_at, channel from loyalty.visits order by ledger_seq, event_id collate "C"`,
		func(row pgx.CollectableRow) (visitRow, error) {
			var v visitRow
			var channel *string
			err := row.Scan(&v.Event, &v.Seq, &v.Member, &v.At, &channel)
			v.Channel, v.At = str(channel), v.At.UTC()
			return v, err
		})
	out.feedback = collect(t, q, `select event_id, ledger_seq, member_id, order_id, coalesce(rating, -1), coalesce(nps, -1),
		comment, channel, occurred_at from loyalty.feedback order by ledger_seq, event_id collate "C"`,
		func(row pgx.CollectableRow) (feedbackRow, error) {
			var f feedbackRow
			var order, comment, channel *string
			err := row.Scan(&f.Event, &f.Seq, &f.Member, &order, &f.Rating, &f.NPS, &comment, &channel, &f.At)
			f.Order, f.Comment, f.Channel, f.At = str(order), str(comment), str(channel), f.At.UTC()
			return f, err
		})
	out.redeemed = collect(t, q, `select member_id, request_id, status, coalesce(reward_id, ''), quantity, points,
		coalesce(reason, ''), coalesce(detail, ''), coalesce(channel, ''), program_version, source_event_id, ledger_seq, fact_index,
		occurred_at from loyalty.redemptions order by ledger_seq, source_event_id collate "C"`,
		func(row pgx.CollectableRow) (redemptionRow, error) {
			var r redemptionRow
			err := row.Scan(&r.Member, &r.Request, &r.Status, &r.Reward, &r.Quantity, &r.Points, &r.Reason, &r.Detail, &r.Channel,
				&r.ProgramVersion, &r.Event, &r.Seq, &r.Index, &r.At)
			r.At = r.At.UTC()
			return r, err
		})
	out.sort()
	return out
}

// assertTablesMatch compares every projected table with the fold of recs and
// checks the cross-table invariants and checkpoints.
func assertTablesMatch(t testing.TB, pool *pgxpool.Pool, recs []streams.LedgerRecord) {
	t.Helper()
	want, got := fold(t, recs), readTables(t, pool)
	diffRows(t, "members", want.members, got.members)
	diffRows(t, "points_ledger", want.ledger, got.ledger)
	diffRows(t, "tier_changes", want.tiers, got.tiers)
	diffRows(t, "expiry_notices", want.notices, got.notices)
	diffRows(t, "purchases", want.purchases, got.purchases)
	diffRows(t, "refunds", want.refunds, got.refunds)
	diffRows(t, "visits", want.visits, got.visits)
	diffRows(t, "feedback", want.feedback, got.feedback)
	diffRows(t, "redemptions", want.redeemed, got.redeemed)

	ctx := context.Background()
	var bad int
	if err := pool.QueryRow(ctx, `select count(*) from loyalty.members m
		where m.points_balance <> (select coalesce(sum(points), 0) from loyalty.points_ledger l where l.member_id = m.member_id and account = 'available')
		   or m.points_pending <> (select coalesce(sum(points), 0) from loyalty.points_ledger l where l.member_id = m.member_id and account = 'pending')
		   or m.lifetime_points <> (select coalesce(sum(points), 0) from loyalty.points_ledger l where l.member_id = m.member_id and kind = 'earned')
		   or m.purchases_count <> (select count(*) from loyalty.purchases p where p.member_id = m.member_id)`).Scan(&bad); err != nil {
		t.Fatal(err)
	}
	if bad != 0 {
		t.Errorf("%d members break points_balance and points_pending = sum(points_ledger.points) of their account, lifetime or purchases_count invariants", bad)
	}
	if err := pool.QueryRow(ctx, `select count(*) from loyalty.purchases p
		where p.refunded_amount <> (select coalesce(sum(amount), 0) from loyalty.refunds r where r.member_id = p.member_id and r.order_id = p.order_id)`).Scan(&bad); err != nil {
		t.Fatal(err)
	}
	if bad != 0 {
		t.Errorf("%d purchases have refunded_amount <> sum(refunds.amount)", bad)
	}
	// The rows above read NULL and '' alike; an absent optional text must
	// be NULL, as docs/tables.md says.
	if err := pool.QueryRow(ctx, `select
		(select count(*) from loyalty.points_ledger where order_id = '') +
		(select count(*) from loyalty.tier_changes where from_tier = '') +
		(select count(*) from loyalty.purchases where channel = '') +
		(select count(*) from loyalty.visits where channel = '') +
		(select count(*) from loyalty.feedback where order_id = '' or comment = '' or channel = '')`).Scan(&bad); err != nil {
		t.Fatal(err)
	}
	if bad != 0 {
		t.Errorf("%d rows hold '' for an absent optional text, not NULL", bad)
	}
	last := recs[len(recs)-1].Seq
	for _, name := range []string{MembersName, ActivityName} {
		if got, err := readCheckpoint(ctx, pool, name); err != nil || got != last {
			t.Errorf("checkpoint %s = %d (%v), want %d", name, got, err, last)
		}
	}
}

// diffRows reports the first few differences between two row lists.
func diffRows[T comparable](t testing.TB, table string, want, got []T) {
	t.Helper()
	if len(want) != len(got) {
		t.Errorf("%s: %d rows, want %d", table, len(got), len(want))
	}
	shown := 0
	for i := range min(len(want), len(got)) {
		if want[i] != got[i] {
			t.Errorf("%s row %d:\n got %+v\nwant %+v", table, i, got[i], want[i])
			if shown++; shown == 5 {
				return
			}
		}
	}
}

// errorsCounted reads loyalty_projection_errors_total for a projection.
func errorsCounted(t testing.TB, m *Metrics, projection string) float64 {
	t.Helper()
	return counterOrGaugeValue(t, m.errors.WithLabelValues(projection))
}

// lagOf reads loyalty_projection_lag_records for a projection.
func lagOf(t testing.TB, m *Metrics, projection string) float64 {
	t.Helper()
	return counterOrGaugeValue(t, m.lag.WithLabelValues(projection))
}

// counterOrGaugeValue reads the value of a counter or a gauge.
func counterOrGaugeValue(t testing.TB, c prometheus.Metric) float64 {
	t.Helper()
	var pb dto.Metric
	if err := c.Write(&pb); err != nil {
		t.Fatal(err)
	}
	if pb.Counter != nil {
		return pb.GetCounter().GetValue()
	}
	return pb.GetGauge().GetValue()
}

// projectAll numbers recs by position (Seq 1, 2, ...) and applies them with
// each projection in batches of batchSize records (0: all in one), one
// transaction a batch, as the runner would.
func projectAll(t testing.TB, pool *pgxpool.Pool, recs []streams.LedgerRecord, batchSize int, ps ...Projection) {
	t.Helper()
	for _, p := range ps {
		projectBatches(t, pool, recs, batchSize, p, nil)
	}
}

// projectBatches numbers recs from 1 and applies them to p in batches of
// batchSize (all in one when it is 0), calling afterBatch, when set, with
// the records applied so far.
func projectBatches(t testing.TB, pool *pgxpool.Pool, recs []streams.LedgerRecord, batchSize int, p Projection, afterBatch func(applied []streams.LedgerRecord)) {
	t.Helper()
	ctx := context.Background()
	for i := range recs {
		recs[i].Seq = uint64(i + 1)
	}
	if batchSize <= 0 {
		batchSize = max(len(recs), 1)
	}
	if err := ensureCheckpoint(ctx, pool, p.Name()); err != nil {
		t.Fatal(err)
	}
	for start := 0; start < len(recs); start += batchSize {
		end := min(start+batchSize, len(recs))
		applyBatch(t, ctx, pool, p, recs[start:end])
		if afterBatch != nil {
			afterBatch(recs[:end])
		}
	}
}

// Event ids are unique per member: the engine refuses an id a member's
// partition has applied, but two members may bring the same id, and both
// reach the ledger. The activity projection keeps both rather than stopping
// at the second (its tables once had event_id alone as their key).
func TestSameEventIDForTwoMembers(t *testing.T) {
	pool := migrated(t)
	const alice, bob = "alice", "bob"
	if partitionOf(alice) == partitionOf(bob) {
		t.Fatal("the test needs members of two partitions")
	}
	eur := domain.Money{Minor: 5000, Currency: "EUR"}
	var recs []streams.LedgerRecord
	for _, m := range []string{alice, bob} {
		recs = append(recs,
			record(m, "order-"+m, domain.PurchaseRecorded{FactMeta: meta(m, "order-"+m, base), OrderID: "o-1", Total: eur,
				QualifyingSpend: 5000, QualifyingSpendAfter: 5000}),
			record(m, "visit-1", domain.VisitRecorded{FactMeta: meta(m, "visit-1", base.Add(time.Hour))}),
			record(m, "feedback-1", domain.FeedbackRecorded{FactMeta: meta(m, "feedback-1", base.Add(2*time.Hour)), Rating: intp(4)}),
			record(m, "refund-1", domain.RefundRecorded{FactMeta: meta(m, "refund-1", base.Add(3*time.Hour)), OrderID: "o-1",
				Amount: domain.Money{Minor: 1000, Currency: "EUR"}, QualifyingSpend: -1000, QualifyingSpendAfter: 4000}))
	}
	projectAll(t, pool, recs, 0, Activity{})
	for _, table := range []string{"visits", "feedback", "refunds"} {
		var members int
		err := pool.QueryRow(context.Background(), "select count(distinct member_id) from loyalty."+table+
			" where event_id = any($1)", []string{"visit-1", "feedback-1", "refund-1"}).Scan(&members)
		if err != nil {
			t.Fatal(err)
		}
		if members != 2 {
			t.Errorf("%s has the shared event id for %d members, want 2", table, members)
		}
	}
}
