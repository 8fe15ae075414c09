package projections

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/streams"
)

// heldRequests is two redemptions of a stocked reward, each three ledger
// records as the engine appends them (decision 014): a hold that the stock
// refuses (RedemptionRejected out_of_stock and HoldReturned, under a newer
// program version than the hold's) and a hold that it grants (HoldRedeemed).
func heldRequests() []streams.LedgerRecord {
	const member = "m-held"
	at := func(m int) time.Time { return base.Add(time.Duration(m) * time.Minute) }
	return []streams.LedgerRecord{
		record(member, "e1",
			domain.TierChanged{FactMeta: meta(member, "e1", at(0)), To: "bronze", Reason: domain.TierReasonEnrolment},
			domain.PointsEarned{FactMeta: meta(member, "e1", at(0)), Points: 1000, Rule: domain.RuleBase, ProgramVersion: "2026.1"}),
		record(member, "r1",
			domain.PointsHeld{FactMeta: meta(member, "r1", at(1)), Points: 300, RequestID: "req-refused", RewardID: "lounge-pass",
				Quantity: 1, Channel: "pos-3", ProgramVersion: "2026.1"}),
		record(member, "stock-answer-1",
			domain.RedemptionRejected{FactMeta: meta(member, "stock-answer-1", at(2)), RequestID: "req-refused", RewardID: "lounge-pass",
				Reason: domain.RedeemOutOfStock, Detail: `reward "lounge-pass" is out of stock`, ProgramVersion: "2026.2"},
			domain.HoldReturned{FactMeta: meta(member, "stock-answer-1", at(2)), RequestID: "req-refused", Points: 300, ProgramVersion: "2026.2"}),
		record(member, "r2",
			domain.PointsHeld{FactMeta: meta(member, "r2", at(3)), Points: 300, RequestID: "req-granted", RewardID: "lounge-pass",
				Quantity: 1, Channel: "app", ProgramVersion: "2026.2"}),
		record(member, "stock-answer-2",
			domain.HoldRedeemed{FactMeta: meta(member, "stock-answer-2", at(4)), RequestID: "req-granted", Points: 300}),
	}
}

// TestRedemptionHoldsIndependentOfBatches: a held request is one row whatever
// the batches, the hold and its end in one batch or in two, and the row is
// the one docs/tables.md describes: a refused hold is rejected with no
// channel and the version that refused it, a granted one accepted with the
// hold's channel and version, both with the hold's event, seq and time.
func TestRedemptionHoldsIndependentOfBatches(t *testing.T) {
	recs := heldRequests()
	rows := map[int][]redemptionRow{}
	for _, size := range []int{0, 1, 2} {
		t.Run(map[int]string{0: "one batch", 1: "batches of 1", 2: "batches of 2"}[size], func(t *testing.T) {
			pool := migrated(t)
			projectAll(t, pool, recs, size, Members{})
			rows[size] = readTables(t, pool).redeemed
		})
	}
	at := func(m int) time.Time { return base.Add(time.Duration(m) * time.Minute) }
	want := []redemptionRow{
		{Member: "m-held", Request: "req-refused", Status: "rejected", Reward: "lounge-pass", Quantity: 1, Points: 0,
			Reason: string(domain.RedeemOutOfStock), Detail: `reward "lounge-pass" is out of stock`, Channel: "",
			ProgramVersion: "2026.2", Event: "r1", Seq: 2, Index: 0, At: at(1)},
		{Member: "m-held", Request: "req-granted", Status: "accepted", Reward: "lounge-pass", Quantity: 1, Points: 300,
			Channel: "app", ProgramVersion: "2026.2", Event: "r2", Seq: 4, Index: 0, At: at(3)},
	}
	for _, size := range []int{0, 1, 2} {
		t.Logf("batch size %d: %+v", size, rows[size])
	}
	diffRows(t, "redemptions (one batch vs batches of 1)", rows[0], rows[1])
	diffRows(t, "redemptions (one batch vs batches of 2)", rows[0], rows[2])
	diffRows(t, "redemptions (one batch vs docs/tables.md)", want, rows[0])
}

// TestRedemptionHoldRedeemedWithoutHold: the end of a hold whose PointsHeld
// the table never saw changes no row and adds none (it used to add one with
// program version "-", no reward and no points).
func TestRedemptionHoldRedeemedWithoutHold(t *testing.T) {
	recs := heldRequests()[4:]
	pool := migrated(t)
	projectAll(t, pool, recs, 0, Members{})
	got := collect(t, pool, `select request_id || ' ' || status || ' ' || program_version from loyalty.redemptions`,
		pgx.RowTo[string])
	if len(got) != 0 {
		t.Errorf("redemptions = %q, want no row", got)
	}
}
