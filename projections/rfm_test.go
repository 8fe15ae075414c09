package projections

import (
	"context"
	"math/big"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/streams"
)

// member_rfm, kept batch by batch (late events included), equals a full
// recompute from the facts.
func TestMemberRFMIsKeptIncrementally(t *testing.T) {
	pool := migrated(t)
	recs := newWorld(5, 60).records(3000)
	projectAll(t, pool, recs, 97, Activity{})
	assertRFMFollowsFacts(t, pool, recs)
}

// The cases of the monetary value that a random history rarely reaches, in
// batches of four, checked after each: a new member with two days in its
// first batch, a late purchase before a member's first day, a refund and
// another order on the first day in one batch, a refund of a later day, a
// known member's purchase on a later day and on its first day.
func TestMemberRFMWhenTheFirstDayMoves(t *testing.T) {
	pool := migrated(t)
	day := func(d int) time.Time { return time.Date(2026, 1, d, 9, 30, 0, 0, time.UTC) }
	purchase := func(member, order string, d int, spend int64) streams.LedgerRecord {
		return record(member, "buy-"+order, domain.PurchaseRecorded{FactMeta: meta(member, "buy-"+order, day(d)), OrderID: order,
			Total: domain.Money{Minor: spend, Currency: "EUR"}, QualifyingSpend: spend})
	}
	refund := func(member, order string, d int, spend int64) streams.LedgerRecord {
		return record(member, "refund-"+order, domain.RefundRecorded{FactMeta: meta(member, "refund-"+order, day(d)), OrderID: order,
			Amount: domain.Money{Minor: spend, Currency: "EUR"}, QualifyingSpend: -spend})
	}
	recs := []streams.LedgerRecord{
		purchase("a", "o1", 10, 1000), purchase("a", "o2", 12, 3000), purchase("b", "o3", 3, 500), purchase("b", "o4", 6, 700),
		purchase("a", "o5", 5, 200), purchase("a", "o6", 12, 100), refund("b", "o3", 7, 300), purchase("b", "o7", 3, 50),
		purchase("c", "o8", 20, 900), refund("a", "o2", 21, 1000), purchase("c", "o9", 20, 10), refund("a", "o5", 21, 200),
		purchase("c", "o10", 25, 400), purchase("d", "o11", 1, 100), purchase("d", "o12", 1, 100), refund("a", "o6", 26, 50),
		purchase("c", "o13", 20, 5), purchase("d", "o14", 1, 40), purchase("e", "o15", 2, 10), refund("a", "o1", 27, 100),
	}
	// After every batch: a later statement that touches the member would
	// hide an earlier one's mistake.
	projectBatches(t, pool, recs, 4, Activity{}, func(applied []streams.LedgerRecord) {
		assertRFMFollowsFacts(t, pool, applied)
	})
}

// assertRFMFollowsFacts checks every member_rfm row against a fold of the
// records' purchases and refunds.
func assertRFMFollowsFacts(t *testing.T, pool *pgxpool.Pool, recs []streams.LedgerRecord) {
	t.Helper()
	ctx := context.Background()
	type day struct{ orders, spend int64 }
	days := map[string]map[time.Time]*day{}
	orderDay := map[[2]string]time.Time{}
	for _, rec := range recs {
		for _, f := range rec.Facts {
			at := f.Meta().OccurredAt.UTC()
			member := f.Meta().MemberID
			switch f := f.(type) {
			case domain.PurchaseRecorded:
				d := time.Date(at.Year(), at.Month(), at.Day(), 0, 0, 0, 0, time.UTC)
				orderDay[[2]string{member, f.OrderID}] = d
				if days[member] == nil {
					days[member] = map[time.Time]*day{}
				}
				if days[member][d] == nil {
					days[member][d] = &day{}
				}
				days[member][d].orders++
				days[member][d].spend += f.QualifyingSpend
			case domain.RefundRecorded:
				if d, ok := orderDay[[2]string{member, f.OrderID}]; ok {
					days[member][d].spend += f.QualifyingSpend
				}
			}
		}
	}
	rows, err := pool.Query(ctx, `select member_id, first_purchase_on, last_purchase_on, frequency, recency_days,
		monetary_value::text, orders, revenue, average_order_value::text from loyalty.member_rfm`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := 0
	for rows.Next() {
		var member string
		var first, last time.Time
		var frequency, recency int
		var monetary *string
		var orders, revenue int64
		var aov string
		if err := rows.Scan(&member, &first, &last, &frequency, &recency, &monetary, &orders, &revenue, &aov); err != nil {
			t.Fatal(err)
		}
		seen++
		var wantFirst, wantLast time.Time
		var wantOrders, wantRevenue, firstSpend int64
		for d, x := range days[member] {
			if wantFirst.IsZero() || d.Before(wantFirst) {
				wantFirst, firstSpend = d, x.spend
			}
			if d.After(wantLast) {
				wantLast = d
			}
			wantOrders += x.orders
			wantRevenue += x.spend
		}
		wantFrequency := len(days[member]) - 1
		if !first.Equal(wantFirst) || !last.Equal(wantLast) || frequency != wantFrequency ||
			recency != int(wantLast.Sub(wantFirst).Hours()/24) || orders != wantOrders || revenue != wantRevenue {
			t.Errorf("%s: %v %v f=%d r=%d orders %d revenue %d; the facts say %v %v f=%d orders %d revenue %d",
				member, first, last, frequency, recency, orders, revenue, wantFirst, wantLast, wantFrequency, wantOrders, wantRevenue)
		}
		if wantFrequency == 0 {
			if monetary != nil {
				t.Errorf("%s: monetary value %s without repeats", member, *monetary)
			}
		} else if !sameQuotient(*monetary, wantRevenue-firstSpend, int64(wantFrequency)) {
			t.Errorf("%s: monetary value %s, want %d/%d", member, *monetary, wantRevenue-firstSpend, wantFrequency)
		}
		if !sameQuotient(aov, wantRevenue, wantOrders) {
			t.Errorf("%s: average order value %s, want %d/%d", member, aov, wantRevenue, wantOrders)
		}
	}
	if seen != len(days) || seen == 0 {
		t.Errorf("member_rfm has %d members, the facts %d", seen, len(days))
	}
}

// sameQuotient reports whether a PostgreSQL numeric quotient is num/den to
// the decimals it keeps (it rounds the last).
func sameQuotient(text string, num, den int64) bool {
	got, ok := new(big.Rat).SetString(text)
	if !ok {
		return false
	}
	diff := new(big.Rat).Sub(got, big.NewRat(num, den))
	return diff.Abs(diff).Cmp(big.NewRat(1, 1_000_000_000)) < 0
}

// Migration 018 rebuilds member_purchase_days and member_rfm from the
// purchases and refunds as the projection keeps them, for databases that
// had history before 016.
func TestRFMBackfillEqualsTheProjection(t *testing.T) {
	pool := migrated(t)
	ctx := context.Background()
	projectAll(t, pool, newWorld(8, 70).records(2500), 113, Activity{})
	snapshot := func() string {
		t.Helper()
		var s string
		if err := pool.QueryRow(ctx, `select
			(select string_agg(format('%s %s %s %s', member_id, day, orders, spend), ',' order by member_id, day) from loyalty.member_purchase_days)
			|| '|' || (select string_agg(format('%s %s %s %s %s %s %s %s %s', member_id, first_purchase_on, last_purchase_on, frequency,
				recency_days, monetary_value, orders, revenue, average_order_value), ',' order by member_id) from loyalty.member_rfm)`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	kept := snapshot()
	if _, err := pool.Exec(ctx, `delete from loyalty.member_purchase_days where member_id < 'member-0030'`); err != nil {
		t.Fatal(err)
	}
	backfill, err := migrationFiles.ReadFile("migrations/018_member_rfm_backfill.sql")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, string(backfill)); err != nil {
		t.Fatal(err)
	}
	if got := snapshot(); got != kept || kept == "|" {
		t.Errorf("after the backfill the tables differ from what the projection kept:\n got %.300s\nwant %.300s", got, kept)
	}
}
