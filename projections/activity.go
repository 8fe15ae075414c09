package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/streams"
)

// Activity keeps the analytics facts: loyalty.purchases, loyalty.refunds,
// loyalty.visits and loyalty.feedback. A refund also adds its amount to the
// refunded_amount of its purchase, in the same transaction.
type Activity struct{}

// ActivityName is the Activity projection's checkpoint key. See the warning
// on Projection.Name before changing it.
const ActivityName = "activity"

// Name implements Projection.
func (Activity) Name() string { return ActivityName }

// Tables implements Rebuildable.
func (Activity) Tables() []string {
	return []string{"purchases", "refunds", "visits", "feedback", "member_purchase_days", "member_rfm"}
}

var (
	purchasesTable = newCopyTable("purchases", "member_id", "order_id", "event_id", "ledger_seq", "occurred_at", "amount",
		"currency", "channel", "qualifying_spend", "lines")
	refundsTable = newCopyTable("refunds", "event_id", "ledger_seq", "member_id", "order_id", "occurred_at", "amount",
		"currency", "qualifying_spend", "lines")
	visitsTable   = newCopyTable("visits", "event_id", "ledger_seq", "member_id", "occurred_at", "channel")
	feedbackTable = newCopyTable("feedback", "event_id", "ledger_seq", "member_id", "order_id", "rating", "nps", "comment",
		"channel", "occurred_at")
)

// The JSON shapes of purchases.lines and refunds.lines; documented in
// docs/tables.md.
type (
	purchaseLineJSON struct {
		SKU       string `json:"sku"`
		Category  string `json:"category,omitempty"`
		Quantity  int64  `json:"quantity"`
		UnitPrice int64  `json:"unit_price"`
	}
	refundLineJSON struct {
		SKU      string `json:"sku"`
		Quantity int64  `json:"quantity"`
	}
)

// addRefunds adds a batch's refunds to their purchases, one row per order.
const addRefunds = `
update purchases p set refunded_amount = p.refunded_amount + r.amount
from (
	select member_id, order_id, sum(amount)::bigint as amount
	from unnest($1::text[], $2::text[], $3::int8[]) as r(member_id, order_id, amount)
	group by member_id, order_id
) r
where p.member_id = r.member_id and p.order_id = r.order_id`

// existingPurchases is the orders of the batch's purchases that the table
// holds already, by member and order id.
const existingPurchases = `
select p.member_id, p.order_id from purchases p
join unnest($1::text[], $2::text[]) as b(member_id, order_id) using (member_id, order_id)`

type orderKey struct{ member, order string }

// repeatedOrders is the purchases of batch whose member and order id are in
// the table already, or earlier in the batch. The ledger can hold two: the
// engine forgets a member's orders two years behind their latest activity,
// so an order sent again after that is recorded again. Such a purchase is
// left out of purchases and the purchase days (the points it earned are in
// the points ledger all the same) rather than fail the COPY, which stopped
// the projection for everyone, for good.
func repeatedOrders(ctx context.Context, tx pgx.Tx, batch []streams.LedgerRecord) (map[orderKey]bool, error) {
	var members, orders []string
	for _, rec := range batch {
		for _, f := range rec.Facts {
			if p, ok := f.(domain.PurchaseRecorded); ok {
				members, orders = append(members, p.MemberID), append(orders, p.OrderID)
			}
		}
	}
	if len(orders) == 0 {
		return nil, nil
	}
	rows, err := tx.Query(ctx, existingPurchases, members, orders)
	if err != nil {
		return nil, fmt.Errorf("look up the batch's orders: %w", err)
	}
	defer rows.Close()
	held := map[orderKey]bool{}
	for rows.Next() {
		var k orderKey
		if err := rows.Scan(&k.member, &k.order); err != nil {
			return nil, err
		}
		held[k] = true
	}
	return held, rows.Err()
}

// Apply implements Projection: COPY into the four tables, purchases before
// refunds so that a refund in the same batch as its purchase finds it.
func (Activity) Apply(ctx context.Context, tx pgx.Tx, batch []streams.LedgerRecord) error {
	seenOrders, err := repeatedOrders(ctx, tx, batch)
	if err != nil {
		return err
	}
	purchases, refunds := copyData{table: purchasesTable}, copyData{table: refundsTable}
	visits, feedback := copyData{table: visitsTable}, copyData{table: feedbackTable}
	var refMembers, refOrders []string
	var refAmounts []int64
	var days purchaseDayChanges
	for _, rec := range batch {
		seq := int64(rec.Seq)
		for _, f := range rec.Facts {
			meta := f.Meta()
			switch f := f.(type) {
			case domain.PurchaseRecorded:
				if k := (orderKey{meta.MemberID, f.OrderID}); seenOrders[k] {
					continue
				} else if seenOrders != nil {
					seenOrders[k] = true
				}
				lines := make([]purchaseLineJSON, 0, len(f.Lines))
				for _, l := range f.Lines {
					lines = append(lines, purchaseLineJSON{SKU: l.SKU, Category: l.Category, Quantity: l.Quantity, UnitPrice: l.UnitPrice})
				}
				js, err := json.Marshal(lines)
				if err != nil {
					return fmt.Errorf("ledger seq %d: purchase lines: %w", rec.Seq, err)
				}
				purchases.row()
				purchases.text(meta.MemberID)
				purchases.text(f.OrderID)
				purchases.text(meta.EventID)
				purchases.int8(seq)
				purchases.time(meta.OccurredAt)
				purchases.int8(f.Total.Minor)
				purchases.text(f.Total.Currency)
				purchases.textOrNull(f.Channel)
				purchases.int8(f.QualifyingSpend)
				purchases.jsonb(js)
				days.addPurchase(meta.MemberID, meta.OccurredAt, f.QualifyingSpend)
			case domain.RefundRecorded:
				lines := make([]refundLineJSON, 0, len(f.Lines))
				for _, l := range f.Lines {
					lines = append(lines, refundLineJSON{SKU: l.SKU, Quantity: l.Quantity})
				}
				js, err := json.Marshal(lines)
				if err != nil {
					return fmt.Errorf("ledger seq %d: refund lines: %w", rec.Seq, err)
				}
				refunds.row()
				refunds.text(meta.EventID)
				refunds.int8(seq)
				refunds.text(meta.MemberID)
				refunds.text(f.OrderID)
				refunds.time(meta.OccurredAt)
				refunds.int8(f.Amount.Minor)
				refunds.text(f.Amount.Currency)
				refunds.int8(f.QualifyingSpend)
				refunds.jsonb(js)
				refMembers, refOrders = append(refMembers, meta.MemberID), append(refOrders, f.OrderID)
				refAmounts = append(refAmounts, f.Amount.Minor)
				days.refundSpend = append(days.refundSpend, f.QualifyingSpend)
			case domain.VisitRecorded:
				visits.row()
				visits.text(meta.EventID)
				visits.int8(seq)
				visits.text(meta.MemberID)
				visits.time(meta.OccurredAt)
				visits.textOrNull(f.Channel)
			case domain.FeedbackRecorded:
				feedback.row()
				feedback.text(meta.EventID)
				feedback.int8(seq)
				feedback.text(meta.MemberID)
				feedback.textOrNull(f.OrderID)
				feedback.int2OrNull(f.Rating)
				feedback.int2OrNull(f.NPS)
				feedback.textOrNull(f.Comment)
				feedback.textOrNull(f.Channel)
				feedback.time(meta.OccurredAt)
			}
		}
	}
	for _, rows := range []*copyData{&purchases, &refunds, &visits, &feedback} {
		if err := rows.write(ctx, tx); err != nil {
			return err
		}
	}
	if len(refAmounts) > 0 {
		if _, err := tx.Exec(ctx, addRefunds, refMembers, refOrders, refAmounts); err != nil {
			return fmt.Errorf("add %d refunds to purchases: %w", len(refAmounts), err)
		}
	}
	days.refundMembers, days.refundOrders = refMembers, refOrders
	return updateRFM(ctx, tx, days)
}

// Purchase days and RFM, kept incrementally: the batch's purchases add to
// their day and to their member's row (addPurchases), then refunds take from
// their order's day and from the revenue (takeRefunds). Each statement also
// sets the monetary value of the rows it changes, the mean spend of the
// repeat days: the revenue less the first day's spend, over the repeats, as
// numeric (and so to recomputeRFM's scale), null without repeats. (An update
// of the touched rows after both statements wrote each of them twice, and
// was the costliest statement per row of the projection.) The values are
// computed by joins, not by subqueries of the statements' own CTEs: a CTE
// is scanned whole for each row that asks it. recomputeRFM is the same
// from all of a member's days.
const (
	// addPurchases: b is the batch by member and day. A day is new exactly
	// when its orders after the upsert equal the batch's own count for it
	// (a stored day has at least one order). n.frequency is the member's
	// new days less one: a new member's frequency, one less than the
	// repeats to add to a known member's. after is the member once the
	// batch is in: its first day is the stored one, untouched by the batch,
	// when that is the earlier, else the batch's first day as upserted.
	addPurchases = `
with b as (
	select member_id, (at at time zone 'UTC')::date as day, count(*) as orders, sum(spend) as spend
	from unnest($1::text[], $2::timestamptz[], $3::int8[]) as u(member_id, at, spend)
	group by 1, 2
), upserted as (
	insert into member_purchase_days as d (member_id, day, orders, spend)
	select member_id, day, orders, spend from b
	on conflict (member_id, day) do update set orders = d.orders + excluded.orders, spend = d.spend + excluded.spend
	returning d.member_id, d.day, d.orders, d.spend
), n as (
	select b.member_id, min(b.day) as first_on, max(b.day) as last_on,
		count(*) filter (where u.orders = b.orders) - 1 as frequency, sum(b.orders) as orders, sum(b.spend) as revenue,
		(array_agg(u.spend order by b.day))[1] as first_day_spend
	from b join upserted u on u.member_id = b.member_id and u.day = b.day
	group by 1
), after as (
	select n.*, coalesce(r.frequency + 1, 0) + n.frequency as frequency_after, coalesce(r.revenue, 0) + n.revenue as revenue_after,
		case when r.first_purchase_on < n.first_on then d.spend else n.first_day_spend end as first_day_spend_after
	from n
	left join member_rfm r on r.member_id = n.member_id
	left join member_purchase_days d on d.member_id = r.member_id and d.day = r.first_purchase_on
)
insert into member_rfm as m (member_id, first_purchase_on, last_purchase_on, frequency, recency_days, monetary_value,
	orders, revenue, average_order_value)
select member_id, first_on, last_on, frequency, last_on - first_on,
	case when frequency_after > 0 then (revenue_after::numeric - first_day_spend_after) / frequency_after end,
	orders, revenue, revenue::numeric / orders
from after
on conflict (member_id) do update set
	first_purchase_on = least(m.first_purchase_on, excluded.first_purchase_on),
	last_purchase_on = greatest(m.last_purchase_on, excluded.last_purchase_on),
	frequency = m.frequency + excluded.frequency + 1,
	recency_days = greatest(m.last_purchase_on, excluded.last_purchase_on) - least(m.first_purchase_on, excluded.first_purchase_on),
	monetary_value = excluded.monetary_value,
	orders = m.orders + excluded.orders, revenue = m.revenue + excluded.revenue,
	average_order_value = (m.revenue + excluded.revenue)::numeric / (m.orders + excluded.orders)`
	// takeRefunds: taken is each refunded day after the refund; t is the
	// refunds by member, with the first day's spend after them when they
	// touched it (a refund does not move the first day).
	takeRefunds = `
with taken as (
	update member_purchase_days d set spend = d.spend + r.spend
	from (
		select r.member_id, (p.occurred_at at time zone 'UTC')::date as day, sum(r.spend)::bigint as spend
		from unnest($1::text[], $2::text[], $3::int8[]) as r(member_id, order_id, spend)
		join purchases p on p.member_id = r.member_id and p.order_id = r.order_id
		group by 1, 2
	) r
	where d.member_id = r.member_id and d.day = r.day
	returning d.member_id, d.day, d.spend as day_spend, r.spend
), t as (
	select x.member_id, sum(x.spend)::bigint as spend, min(x.day_spend) filter (where x.day = r.first_purchase_on) as first_day_spend
	from taken x left join member_rfm r on r.member_id = x.member_id
	group by 1
)
update member_rfm m set revenue = m.revenue + t.spend, average_order_value = (m.revenue + t.spend)::numeric / m.orders,
	monetary_value = case when m.frequency > 0 then ((m.revenue + t.spend)::numeric - coalesce(t.first_day_spend,
		(select d.spend from member_purchase_days d where d.member_id = m.member_id and d.day = m.first_purchase_on)
	)) / m.frequency end
from t
where m.member_id = t.member_id`
	// recomputeRFM recomputes the given members' rows from all their days;
	// the incremental statements above keep exactly what it would.
	recomputeRFM = `
insert into member_rfm as m (member_id, first_purchase_on, last_purchase_on, frequency, recency_days, monetary_value,
	orders, revenue, average_order_value)
select member_id, min(day), max(day), count(*) - 1, max(day) - min(day),
	case when count(*) > 1 then (sum(spend) - sum(spend) filter (where day = first_day))::numeric / (count(*) - 1) end,
	sum(orders), sum(spend), sum(spend)::numeric / sum(orders)
from (select *, min(day) over (partition by member_id) as first_day from member_purchase_days where member_id = any($1)) d
group by member_id
on conflict (member_id) do update set first_purchase_on = excluded.first_purchase_on, last_purchase_on = excluded.last_purchase_on,
	frequency = excluded.frequency, recency_days = excluded.recency_days, monetary_value = excluded.monetary_value,
	orders = excluded.orders, revenue = excluded.revenue, average_order_value = excluded.average_order_value`
)

// purchaseDayChanges is what a batch does to member_purchase_days: the
// qualifying spend of its purchases, and of its refunds by order.
type purchaseDayChanges struct {
	purchaseMembers []string
	purchaseAt      []time.Time
	purchaseSpend   []int64
	refundMembers   []string
	refundOrders    []string
	refundSpend     []int64
}

func (c *purchaseDayChanges) addPurchase(member string, at time.Time, spend int64) {
	c.purchaseMembers = append(c.purchaseMembers, member)
	c.purchaseAt = append(c.purchaseAt, at)
	c.purchaseSpend = append(c.purchaseSpend, spend)
}

func updateRFM(ctx context.Context, tx pgx.Tx, c purchaseDayChanges) error {
	if len(c.purchaseMembers) > 0 {
		if _, err := tx.Exec(ctx, addPurchases, c.purchaseMembers, c.purchaseAt, c.purchaseSpend); err != nil {
			return fmt.Errorf("add %d purchases to their days and members: %w", len(c.purchaseMembers), err)
		}
	}
	if len(c.refundMembers) > 0 {
		if _, err := tx.Exec(ctx, takeRefunds, c.refundMembers, c.refundOrders, c.refundSpend); err != nil {
			return fmt.Errorf("take %d refunds from their days and members: %w", len(c.refundMembers), err)
		}
	}
	return nil
}
