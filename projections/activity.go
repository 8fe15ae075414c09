package projections

import (
	"context"
	"encoding/json"
	"fmt"

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
func (Activity) Tables() []string { return []string{"purchases", "refunds", "visits", "feedback"} }

var (
	purchasesColumns = []string{"member_id", "order_id", "event_id", "ledger_seq", "occurred_at", "amount", "currency",
		"channel", "qualifying_spend", "lines"}
	refundsColumns = []string{"event_id", "ledger_seq", "member_id", "order_id", "occurred_at", "amount", "currency",
		"qualifying_spend", "lines"}
	visitsColumns   = []string{"event_id", "ledger_seq", "member_id", "occurred_at", "channel"}
	feedbackColumns = []string{"event_id", "ledger_seq", "member_id", "order_id", "rating", "nps", "comment", "channel",
		"occurred_at"}
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

// Apply implements Projection: COPY into the four tables, purchases before
// refunds so that a refund in the same batch as its purchase finds it.
func (Activity) Apply(ctx context.Context, tx pgx.Tx, batch []streams.LedgerRecord) error {
	var purchases, refunds, visits, feedback [][]any
	var refMembers, refOrders []string
	var refAmounts []int64
	for _, rec := range batch {
		seq := int64(rec.Seq)
		for _, f := range rec.Facts {
			meta := f.Meta()
			switch f := f.(type) {
			case domain.PurchaseRecorded:
				lines := make([]purchaseLineJSON, 0, len(f.Lines))
				for _, l := range f.Lines {
					lines = append(lines, purchaseLineJSON{SKU: l.SKU, Category: l.Category, Quantity: l.Quantity, UnitPrice: l.UnitPrice})
				}
				js, err := json.Marshal(lines)
				if err != nil {
					return fmt.Errorf("ledger seq %d: purchase lines: %w", rec.Seq, err)
				}
				purchases = append(purchases, []any{meta.MemberID, f.OrderID, meta.EventID, seq, meta.OccurredAt,
					f.Total.Minor, f.Total.Currency, nullIfEmpty(f.Channel), f.QualifyingSpend, string(js)})
			case domain.RefundRecorded:
				lines := make([]refundLineJSON, 0, len(f.Lines))
				for _, l := range f.Lines {
					lines = append(lines, refundLineJSON{SKU: l.SKU, Quantity: l.Quantity})
				}
				js, err := json.Marshal(lines)
				if err != nil {
					return fmt.Errorf("ledger seq %d: refund lines: %w", rec.Seq, err)
				}
				refunds = append(refunds, []any{meta.EventID, seq, meta.MemberID, f.OrderID, meta.OccurredAt,
					f.Amount.Minor, f.Amount.Currency, f.QualifyingSpend, string(js)})
				refMembers, refOrders = append(refMembers, meta.MemberID), append(refOrders, f.OrderID)
				refAmounts = append(refAmounts, f.Amount.Minor)
			case domain.VisitRecorded:
				visits = append(visits, []any{meta.EventID, seq, meta.MemberID, meta.OccurredAt, nullIfEmpty(f.Channel)})
			case domain.FeedbackRecorded:
				feedback = append(feedback, []any{meta.EventID, seq, meta.MemberID, nullIfEmpty(f.OrderID),
					smallint(f.Rating), smallint(f.NPS), nullIfEmpty(f.Comment), nullIfEmpty(f.Channel), meta.OccurredAt})
			}
		}
	}
	for _, t := range []struct {
		table   string
		columns []string
		rows    [][]any
	}{
		{"purchases", purchasesColumns, purchases},
		{"refunds", refundsColumns, refunds},
		{"visits", visitsColumns, visits},
		{"feedback", feedbackColumns, feedback},
	} {
		if err := copyRows(ctx, tx, t.table, t.columns, t.rows); err != nil {
			return err
		}
	}
	if len(refAmounts) > 0 {
		if _, err := tx.Exec(ctx, addRefunds, refMembers, refOrders, refAmounts); err != nil {
			return fmt.Errorf("add %d refunds to purchases: %w", len(refAmounts), err)
		}
	}
	return nil
}

// smallint maps an optional score to SQL NULL or a smallint.
func smallint(p *int) *int16 {
	if p == nil {
		return nil
	}
	v := int16(*p)
	return &v
}
