package projections

import (
	"context"
	"testing"

	"github.com/pointsledger/loyalty/domain"
)

// The analyst views hold whatever the engine admits: one order of the
// largest amount made every read of activity_by_month fail with "numeric
// field overflow", and so would a member with ten million orders in a month.
func TestActivityByMonthHoldsTheLargestAdmittedValues(t *testing.T) {
	pool := migrated(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `insert into loyalty.member_purchase_days (member_id, day, orders, spend)
		values ('whale', '2001-06-01', 1, $1), ('busy', '2001-07-01', 2147483647, $1)`, int64(domain.MaxAmount)); err != nil {
		t.Fatal(err)
	}
	var months int
	if err := pool.QueryRow(ctx, `select count(*) from loyalty.activity_by_month
		where average_order_value is not null and purchase_frequency is not null`).Scan(&months); err != nil || months != 2 {
		t.Errorf("activity_by_month: %d months read (%v), want 2", months, err)
	}
}
