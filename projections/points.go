package projections

import (
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
)

var pointsLedgerColumns = []string{"ledger_seq", "fact_index", "member_id", "points", "kind", "rule",
	"source_event_id", "order_id", "program_version", "occurred_at", "expires_at", "account", "available_at"}

// pointsRows are the points_ledger rows of one fact: none for a fact that
// moves no points, one for most, two for a release.
func pointsRows(seq int64, i int32, f domain.Fact) [][]any {
	meta := f.Meta()
	row := func(points int64, kind, rule, order, version string, expires domain.Fact, account string) []any {
		var expiresAt, availableAt any
		switch e := expires.(type) {
		case domain.PointsEarned:
			expiresAt, availableAt = nullIfZero(e.ExpiresAt), nullIfZero(e.AvailableAt)
		case domain.PointsReleased:
			expiresAt = nullIfZero(e.ExpiresAt)
		case domain.PointsReceived:
			expiresAt = nullIfZero(e.ExpiresAt)
		}
		return []any{seq, i, meta.MemberID, points, kind, rule, meta.EventID, nullIfEmpty(order), version, meta.OccurredAt,
			expiresAt, account, availableAt}
	}
	switch f := f.(type) {
	case domain.PointsEarned:
		account := AccountAvailable
		if !f.AvailableAt.IsZero() {
			account = AccountPending
		}
		return [][]any{row(f.Points, KindEarned, f.Rule, f.OrderID, f.ProgramVersion, f, account)}
	case domain.PointsReversed:
		return [][]any{row(-f.Points, KindReversed, f.Rule, f.OrderID, f.ProgramVersion, nil, AccountAvailable)}
	case domain.PointsExpired:
		return [][]any{row(-f.Points, KindExpired, f.Rule, "", f.ProgramVersion, nil, AccountAvailable)}
	case domain.PointsRedeemed:
		return [][]any{row(-f.Points, KindRedeemed, RedeemRule, "", f.ProgramVersion, nil, AccountAvailable)}
	case domain.PointsReleased:
		return [][]any{
			row(-f.Points, KindReleased, ReleaseRule, f.OrderID, f.ProgramVersion, nil, AccountPending),
			row(f.Points, KindReleased, ReleaseRule, f.OrderID, f.ProgramVersion, f, AccountAvailable),
		}
	case domain.PointsCancelled:
		return [][]any{row(-f.Points, KindCancelled, CancelRule, f.OrderID, f.ProgramVersion, nil, AccountPending)}
	case domain.PointsHeld:
		return [][]any{row(-f.Points, KindRedeemed, RedeemRule, "", f.ProgramVersion, nil, AccountAvailable)}
	case domain.HoldReturned:
		return [][]any{row(f.Points, KindReturned, ReturnRule, "", f.ProgramVersion, nil, AccountAvailable)}
	case domain.PointsTransferred:
		return [][]any{row(-f.Points, KindTransferred, domain.RuleTransferOut, f.ToMemberID, f.ProgramVersion, nil, AccountAvailable)}
	case domain.PointsReceived:
		return [][]any{row(f.Points, KindReceived, domain.RuleTransferIn, f.FromMemberID, f.ProgramVersion, f, AccountAvailable)}
	}
	return nil
}
