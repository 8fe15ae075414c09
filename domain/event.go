// Package domain is the language of the loyalty program: members, events
// from upstream, the facts the rules derive from them, and the program that
// holds the rules. It does no I/O and never reads the clock: the same events
// and program always give the same facts, so history can be replayed.
package domain

import "time"

// EventType names an input event on the wire. The names are part of the
// contract with upstream publishers: never derive them from Go type names.
type EventType string

const (
	TypeMemberEnrolled    EventType = "loyalty.member.enrolled.v1"
	TypePurchaseCompleted EventType = "loyalty.purchase.completed.v1"
	TypePurchaseRefunded  EventType = "loyalty.purchase.refunded.v1"
	TypeFeedbackSubmitted EventType = "loyalty.feedback.submitted.v1"
	TypeVisitRecorded     EventType = "loyalty.visit.recorded.v1"
	TypeMemberStatus      EventType = "loyalty.member.status_changed.v1"
	TypeMemberClock       EventType = "loyalty.member.clock.v1"
	TypeRedemption        EventType = "loyalty.redemption.requested.v1"
	TypePurchaseConfirmed EventType = "loyalty.purchase.confirmed.v1"
	TypeTierAssigned      EventType = "loyalty.member.tier_assigned.v1"
	TypeTransfer          EventType = "loyalty.points.transfer_requested.v1"
	TypeTransferIn        EventType = "loyalty.points.transfer_received.v1"
	TypeReferralReward    EventType = "loyalty.member.referral_rewarded.v1"
	TypeStockRequest      EventType = "loyalty.reward.stock_requested.v1"
	TypeStockAnswer       EventType = "loyalty.reward.stock_answered.v1"
)

// EventTypes lists every input event type the engine accepts.
var EventTypes = []EventType{
	TypeMemberEnrolled, TypePurchaseCompleted, TypePurchaseRefunded,
	TypeFeedbackSubmitted, TypeVisitRecorded, TypeMemberStatus, TypeMemberClock, TypeRedemption,
	TypePurchaseConfirmed, TypeTierAssigned, TypeTransfer, TypeTransferIn, TypeReferralReward,
	TypeStockRequest, TypeStockAnswer,
}

// Event is one piece of member activity reported by an upstream system.
// Body holds exactly one of the *Body types below, matching Type.
type Event struct {
	ID         string
	Type       EventType
	Source     string
	MemberID   string
	OccurredAt time.Time
	Body       EventBody
}

// EventBody is implemented by the body of each input event type.
type EventBody interface {
	EventType() EventType
}

// Enrolment is the body of TypeMemberEnrolled. ReferredBy is the member
// who referred this one, if any (see Referral).
type Enrolment struct {
	Channel    string
	ReferredBy string
	// Birthday is the member's month and day of birth, if given.
	Birthday Birthday
}

// Purchase is the body of TypePurchaseCompleted. Total is what the member
// paid after discounts; Lines may be empty when upstream does not send them.
type Purchase struct {
	OrderID string
	Total   Money
	Lines   []LineItem
	Channel string
}

// LineItem is one line of an order. UnitPrice is in the order's currency.
type LineItem struct {
	SKU       string
	Category  string
	Quantity  int64
	UnitPrice int64
}

// Refund is the body of TypePurchaseRefunded: either an Amount in the order's
// currency or the Lines returned (priced at the order's unit prices).
type Refund struct {
	OrderID string
	Amount  Money
	Lines   []RefundLine
}

// RefundLine names a returned quantity of an order line by SKU.
type RefundLine struct {
	SKU      string
	Quantity int64
}

// Feedback is the body of TypeFeedbackSubmitted. Rating (1-5) and NPS (0-10)
// are each optional, but at least one is present.
type Feedback struct {
	OrderID string
	Rating  *int
	NPS     *int
	Comment string
	Channel string
}

// Visit is the body of TypeVisitRecorded: a store or site visit.
type Visit struct {
	Channel string
}

// StatusChange is the body of TypeMemberStatus: the member's account is
// set active, blocked or closed (by the loyalty team or a fraud check
// upstream). Reason is free text for the record.
type StatusChange struct {
	Status MemberStatus
	Reason string
}

// MemberStatus is the state of a member's account. Blocked and closed
// members earn nothing: their activity is recorded (for analytics and
// tiers) without points; refunds still take back what their orders earned.
type MemberStatus string

const (
	StatusActive  MemberStatus = "active"
	StatusBlocked MemberStatus = "blocked"
	StatusClosed  MemberStatus = "closed"
)

// Clock is the body of TypeMemberClock: time passed for the member. The
// engine publishes it (loyalty serve's clock) for members with points due
// to expire, so that expiry happens without activity of the member's own, in
// order with their events and the same on replay. It records nothing itself.
type Clock struct{}

// RedeemRequest is the body of TypeRedemption: a member asks to spend
// points, on Quantity units (1 when absent) of a catalogue reward, or, when
// the program allows it, on Points without a reward. RequestID is the
// caller's: a request is decided once, however often it is sent.
type RedeemRequest struct {
	RequestID string
	RewardID  string
	Quantity  int64
	Points    int64
	Channel   string
}

// MadeByEngine reports whether only the engine publishes events of type t:
// the clock, and the follow-ups it publishes for another member or a
// reward's stock (FollowUp). Upstream may not publish them.
func MadeByEngine(t EventType) bool {
	switch t {
	case TypeMemberClock, TypeTransferIn, TypeReferralReward, TypeStockRequest, TypeStockAnswer:
		return true
	}
	return false
}

func (RedeemRequest) EventType() EventType { return TypeRedemption }
func (Clock) EventType() EventType         { return TypeMemberClock }
func (StatusChange) EventType() EventType  { return TypeMemberStatus }
func (Enrolment) EventType() EventType     { return TypeMemberEnrolled }
func (Purchase) EventType() EventType      { return TypePurchaseCompleted }
func (Refund) EventType() EventType        { return TypePurchaseRefunded }
func (Feedback) EventType() EventType      { return TypeFeedbackSubmitted }
func (Visit) EventType() EventType         { return TypeVisitRecorded }

// Money is an amount in integer minor units of an ISO 4217 currency
// (cents for EUR, yen for JPY).
type Money struct {
	Minor    int64
	Currency string
}
