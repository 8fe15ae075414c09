package domain

import "time"

// FactType names a fact in the ledger. Like EventType it is a contract:
// projections and analysts depend on these names.
type FactType string

const (
	FactMemberEnrolled       FactType = "loyalty.member.enrolled.v1"
	FactPurchaseRecorded     FactType = "loyalty.purchase.recorded.v1"
	FactRefundRecorded       FactType = "loyalty.refund.recorded.v1"
	FactVisitRecorded        FactType = "loyalty.visit.recorded.v1"
	FactStatusChanged        FactType = "loyalty.member.status_changed.v1"
	FactPointsExpired        FactType = "loyalty.points.expired.v1"
	FactPointsDebt           FactType = "loyalty.points.debt.v1"
	FactFeedbackRecorded     FactType = "loyalty.feedback.recorded.v1"
	FactPointsEarned         FactType = "loyalty.points.earned.v1"
	FactPointsReversed       FactType = "loyalty.points.reversed.v1"
	FactTierChanged          FactType = "loyalty.tier.changed.v1"
	FactPointsRedeemed       FactType = "loyalty.points.redeemed.v1"
	FactRedeemRejected       FactType = "loyalty.redemption.rejected.v1"
	FactPurchaseConfirmed    FactType = "loyalty.purchase.confirmed.v1"
	FactPointsReleased       FactType = "loyalty.points.released.v1"
	FactPointsCancelled      FactType = "loyalty.points.cancelled.v1"
	FactTierAssigned         FactType = "loyalty.tier.assigned.v1"
	FactTierRenewed          FactType = "loyalty.tier.renewed.v1"
	FactTierProgress         FactType = "loyalty.tier.progress.v1"
	FactPointsTransferred    FactType = "loyalty.points.transferred.v1"
	FactTransferRejected     FactType = "loyalty.transfer.rejected.v1"
	FactPointsReceived       FactType = "loyalty.points.received.v1"
	FactReferralQualified    FactType = "loyalty.referral.qualified.v1"
	FactPointsExpiring       FactType = "loyalty.points.expiring.v1"
	FactPointsHeld           FactType = "loyalty.points.held.v1"
	FactHoldRedeemed         FactType = "loyalty.points.hold_redeemed.v1"
	FactHoldReturned         FactType = "loyalty.points.hold_returned.v1"
	FactStockTaken           FactType = "loyalty.reward.stock_taken.v1"
	FactStockRefused         FactType = "loyalty.reward.stock_refused.v1"
	FactPointsAdjusted       FactType = "loyalty.points.adjusted.v1"
	FactAdjustmentRejected   FactType = "loyalty.adjustment.rejected.v1"
	FactRedemptionCancelled  FactType = "loyalty.redemption.cancelled.v1"
	FactCancellationRejected FactType = "loyalty.cancellation.rejected.v1"
	FactStockReturned        FactType = "loyalty.reward.stock_returned.v1"
	FactDebtRepaid           FactType = "loyalty.points.debt_repaid.v1"
	FactVoucherIssued        FactType = "loyalty.voucher.issued.v1"
	FactVoucherUsed          FactType = "loyalty.voucher.used.v1"
	FactVoucherRefused       FactType = "loyalty.voucher.refused.v1"
	FactMemberErased         FactType = "loyalty.member.erased.v1"
	FactMemberScored         FactType = "loyalty.member.scored.v1"
	FactAttributesUpdated    FactType = "loyalty.member.attributes_updated.v1"
	FactExperimentAssigned   FactType = "loyalty.experiment.assigned.v1"
	FactOfferMade            FactType = "loyalty.offer.made.v1"
)

// Rule ids recorded on PointsEarned facts. Together with the source event id
// a rule id identifies an award: no event is credited twice by one rule.
const (
	RuleBase               = "base"
	RuleTierBonus          = "tier_bonus"
	RuleFirstPurchaseBonus = "first_purchase_bonus"
	RuleFeedbackBonus      = "feedback_bonus"
	RuleVisitBonus         = "visit_bonus"
	RuleRefund             = "refund"
	RuleExpiry             = "expiry"     // points whose lot reached its expiry date
	RuleInactivity         = "inactivity" // all points, after the inactivity period
)

// TierReasonQualifyingSpend is why a tier changes when spend crosses a threshold.
const (
	TierReasonEnrolment       = "enrolment"
	TierReasonQualifyingSpend = "qualifying_spend"
)

// Fact is something the rules decided happened. Facts are the ledger: member
// state and every read model are folds over them.
type Fact interface {
	FactType() FactType
	Meta() FactMeta
}

// FactMeta is carried by every fact: whose it is, which input event caused it
// and when that event happened.
type FactMeta struct {
	MemberID   string
	EventID    string
	OccurredAt time.Time
}

// Meta returns the fact's common attributes.
func (m FactMeta) Meta() FactMeta { return m }

// MemberEnrolled records a member's enrolment, and who referred them.
type MemberEnrolled struct {
	FactMeta
	Channel    string
	ReferredBy string
	Birthday   Birthday
}

// PurchaseRecorded records a completed purchase. QualifyingSpend is what the
// purchase adds to tier qualification, in the program currency's minor units;
// QualifyingSpendAfter is the member's rolling total once it is added.
type PurchaseRecorded struct {
	FactMeta
	OrderID              string
	Total                Money
	Lines                []LineItem
	Channel              string
	QualifyingSpend      int64
	QualifyingSpendAfter int64
}

// RefundRecorded records money returned for an order. QualifyingSpend is
// negative: the refund's share of the order's qualifying spend, which comes
// off the day of the purchase, so that it counts in the purchase's windows.
// QualifyingSpendAfter is the member's rolling total as of the refund's
// time, or its purchase's when the refund is dated before it (a refund
// cannot have come first): the purchase net of its refunds, never negative.
type RefundRecorded struct {
	FactMeta
	OrderID              string
	Amount               Money
	Lines                []RefundLine
	QualifyingSpend      int64
	QualifyingSpendAfter int64
}

// StatusChanged records a change of the member's account status. From is
// empty for a member who was never set a status (active).
type StatusChanged struct {
	FactMeta
	From   MemberStatus
	To     MemberStatus
	Reason string
}

// VisitRecorded records a store or site visit.
type VisitRecorded struct {
	FactMeta
	Channel string
}

// FeedbackRecorded records feedback as submitted.
type FeedbackRecorded struct {
	FactMeta
	OrderID string
	Rating  *int
	NPS     *int
	Comment string
	Channel string
}

// PointsEarned credits points to a member under one rule of the program.
// ExpiresAt is when the points expire, by the program's expiry policy; zero
// for points that do not expire on a date of their own. AvailableAt is set
// for a purchase's points that are pending (see Pending): they join the
// balance then, by a PointsReleased fact that carries their expiry.
type PointsEarned struct {
	FactMeta
	Points         int64
	Rule           string
	OrderID        string
	ProgramVersion string
	ExpiresAt      time.Time
	AvailableAt    time.Time
	// Triggered: a triggered rule gave them (a change of the member's
	// scores or attributes), which is nothing the member did.
	Triggered bool
}

func (f PointsEarned) pointsDelta() int64 {
	if !f.AvailableAt.IsZero() {
		return 0 // pending: see pendingDelta
	}
	return f.Points
}

func (f PointsEarned) pendingDelta() int64 {
	if f.AvailableAt.IsZero() {
		return 0
	}
	return f.Points
}

// activity: a yearly bonus comes with the day, not with the member.
func (f PointsEarned) activity() bool {
	return f.Rule != RuleBirthday && f.Rule != RuleAnniversary && !f.Triggered
}

// PointsDebt records points a refund should have taken back but could not,
// because the program's returns policy keeps balances from going below zero
// (ReturnsWithinBalance): the shortfall, for the record. The balance does not
// move; the member's Debt grows.
type PointsDebt struct {
	FactMeta
	Points         int64
	Rule           string
	OrderID        string
	ProgramVersion string
}

// PointsExpired takes points off a member's balance because they expired:
// Rule is RuleExpiry (a lot reached its date) or RuleInactivity. Its time
// is the moment they expired, which may be before the event whose arrival
// noticed it.
type PointsExpired struct {
	FactMeta
	Points         int64
	Rule           string
	ProgramVersion string
}

func (f PointsExpired) pointsDelta() int64 { return -f.Points }

func (PointsExpired) activity() bool { return false }

// PointsReversed takes back points an order earned (Points is positive: the
// amount removed from the balance).
type PointsReversed struct {
	FactMeta
	Points         int64
	Rule           string
	OrderID        string
	ProgramVersion string
}

func (f PointsReversed) pointsDelta() int64 { return -f.Points }

// PointsRedeemed spends a member's points on a request: Quantity units of
// RewardID, or, for a redemption of points without a reward, RewardID empty
// and Quantity 0. The points come off the soonest-expiring lots first.
type PointsRedeemed struct {
	FactMeta
	Points         int64
	RequestID      string
	RewardID       string
	Quantity       int64
	Channel        string
	ProgramVersion string
}

func (f PointsRedeemed) pointsDelta() int64 { return -f.Points }

// RedemptionRejected records a redemption request that was refused, and why.
// Points is what a request without a reward asked for.
type RedemptionRejected struct {
	FactMeta
	RequestID      string
	RewardID       string
	Quantity       int64
	Points         int64
	Reason         RedemptionReason
	Detail         string
	ProgramVersion string
}

// TierChanged moves a member from one tier to another. From is empty for a
// member's first tier.
type TierChanged struct {
	FactMeta
	From   string
	To     string
	Reason string
	// ExpiresAt is when the new tier is next reviewed (see TierPolicy);
	// zero when it never is.
	ExpiresAt time.Time
}

func (MemberEnrolled) FactType() FactType     { return FactMemberEnrolled }
func (PurchaseRecorded) FactType() FactType   { return FactPurchaseRecorded }
func (RefundRecorded) FactType() FactType     { return FactRefundRecorded }
func (VisitRecorded) FactType() FactType      { return FactVisitRecorded }
func (StatusChanged) FactType() FactType      { return FactStatusChanged }
func (FeedbackRecorded) FactType() FactType   { return FactFeedbackRecorded }
func (PointsEarned) FactType() FactType       { return FactPointsEarned }
func (PointsReversed) FactType() FactType     { return FactPointsReversed }
func (TierChanged) FactType() FactType        { return FactTierChanged }
func (PointsExpired) FactType() FactType      { return FactPointsExpired }
func (PointsDebt) FactType() FactType         { return FactPointsDebt }
func (PointsRedeemed) FactType() FactType     { return FactPointsRedeemed }
func (RedemptionRejected) FactType() FactType { return FactRedeemRejected }

// IsActivity tells whether a fact is something the member did (and so moves
// their first and last activity): every fact but those that only time,
// upstream's fulfilment or another member brought (an expiry, a release of
// pending points, a yearly bonus, an order's confirmation, points
// received), which say so with an activity method.
func IsActivity(f Fact) bool {
	if a, ok := f.(interface{ activity() bool }); ok {
		return a.activity()
	}
	return true
}

// PointsDelta is the signed change a fact makes to a member's balance:
// a fact that moves points says how much with a pointsDelta method.
func PointsDelta(f Fact) int64 {
	if d, ok := f.(interface{ pointsDelta() int64 }); ok {
		return d.pointsDelta()
	}
	return 0
}

// PendingDelta is the signed change a fact makes to a member's pending
// points (a pendingDelta method).
func PendingDelta(f Fact) int64 {
	if d, ok := f.(interface{ pendingDelta() int64 }); ok {
		return d.pendingDelta()
	}
	return 0
}
