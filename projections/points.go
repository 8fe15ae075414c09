package projections

import (
	"time"

	"github.com/pointsledger/loyalty/domain"
)

// Points accounts of loyalty.points_ledger: a member's points are either
// available (the balance, to spend) or pending (earned, waiting for the
// return window; see domain.Pending). A release moves points from one to
// the other, in two rows.
const (
	AccountAvailable = "available"
	AccountPending   = "pending"
)

// Rules recorded on points_ledger rows that no program rule decided.
const (
	RedeemRule  = "redemption"
	ReturnRule  = "out_of_stock"
	ReleaseRule = "pending_release"
	CancelRule  = "refund"
	// RedemptionCancelledRule marks a cancelled redemption's points back.
	RedemptionCancelledRule = "redemption_cancelled"
)

var pointsLedgerTable = newCopyTable("points_ledger", "ledger_seq", "fact_index", "member_id", "points", "kind", "rule",
	"source_event_id", "order_id", "program_version", "occurred_at", "expires_at", "account", "available_at")

// addPointsRows adds the points_ledger rows of one fact: none for a fact
// that moves no points, one for most, two for a release.
func addPointsRows(rows *copyData, seq int64, i int32, f domain.Fact) {
	meta := f.Meta()
	row := func(points int64, kind, rule, order, version string, expires domain.Fact, account string) {
		var expiresAt, availableAt time.Time
		switch e := expires.(type) {
		case domain.PointsEarned:
			expiresAt, availableAt = e.ExpiresAt, e.AvailableAt
		case domain.PointsReleased:
			expiresAt = e.ExpiresAt
		case domain.PointsReceived:
			expiresAt = e.ExpiresAt
		case domain.PointsAdjusted:
			expiresAt = e.ExpiresAt
		}
		rows.row()
		rows.int8(seq)
		rows.int4(i)
		rows.text(meta.MemberID)
		rows.int8(points)
		rows.text(kind)
		rows.text(rule)
		rows.text(meta.EventID)
		rows.textOrNull(order)
		rows.text(version)
		rows.time(meta.OccurredAt)
		rows.timeOrNull(expiresAt)
		rows.text(account)
		rows.timeOrNull(availableAt)
	}
	switch f := f.(type) {
	case domain.PointsEarned:
		account := AccountAvailable
		if !f.AvailableAt.IsZero() {
			account = AccountPending
		}
		row(f.Points, KindEarned, f.Rule, f.OrderID, f.ProgramVersion, f, account)
	case domain.PointsReversed:
		row(-f.Points, KindReversed, f.Rule, f.OrderID, f.ProgramVersion, nil, AccountAvailable)
	case domain.PointsExpired:
		row(-f.Points, KindExpired, f.Rule, "", f.ProgramVersion, nil, AccountAvailable)
	case domain.PointsRedeemed:
		row(-f.Points, KindRedeemed, RedeemRule, "", f.ProgramVersion, nil, AccountAvailable)
	case domain.PointsReleased:
		row(-f.Points, KindReleased, ReleaseRule, f.OrderID, f.ProgramVersion, nil, AccountPending)
		row(f.Points, KindReleased, ReleaseRule, f.OrderID, f.ProgramVersion, f, AccountAvailable)
	case domain.PointsCancelled:
		row(-f.Points, KindCancelled, CancelRule, f.OrderID, f.ProgramVersion, nil, AccountPending)
	case domain.PointsHeld:
		row(-f.Points, KindRedeemed, RedeemRule, "", f.ProgramVersion, nil, AccountAvailable)
	case domain.HoldReturned:
		row(f.Points, KindReturned, ReturnRule, "", f.ProgramVersion, nil, AccountAvailable)
	case domain.PointsTransferred:
		row(-f.Points, KindTransferred, domain.RuleTransferOut, f.ToMemberID, f.ProgramVersion, nil, AccountAvailable)
	case domain.PointsReceived:
		row(f.Points, KindReceived, domain.RuleTransferIn, f.FromMemberID, f.ProgramVersion, f, AccountAvailable)
	case domain.PointsAdjusted:
		row(f.Points, KindAdjusted, domain.RuleAdjustment, "", f.ProgramVersion, f, AccountAvailable)
	case domain.RedemptionCancelled:
		row(f.Points, KindReturned, RedemptionCancelledRule, "", f.ProgramVersion, nil, AccountAvailable)
	case domain.DebtRepaid:
		row(-f.Points, KindReversed, domain.RuleDebtRepayment, "", f.ProgramVersion, nil, AccountAvailable)
	}
}
