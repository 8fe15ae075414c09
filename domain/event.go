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
	TypeAdjustment        EventType = "loyalty.points.adjustment_requested.v1"
	TypeRedemptionCancel  EventType = "loyalty.redemption.cancel_requested.v1"
	TypeVoucherUse        EventType = "loyalty.voucher.use_requested.v1"
	TypeErasure           EventType = "loyalty.member.erasure_requested.v1"
	TypeMemberScored      EventType = "loyalty.member.scored.v1"
	TypeAttributesUpdated EventType = "loyalty.member.attributes_updated.v1"
)

// EventTypes lists every input event type the engine accepts.
var EventTypes = []EventType{
	TypeMemberEnrolled, TypePurchaseCompleted, TypePurchaseRefunded,
	TypeFeedbackSubmitted, TypeVisitRecorded, TypeMemberStatus, TypeMemberClock, TypeRedemption,
	TypePurchaseConfirmed, TypeTierAssigned, TypeTransfer, TypeTransferIn, TypeReferralReward,
	TypeStockRequest, TypeStockAnswer, TypeAdjustment, TypeRedemptionCancel, TypeVoucherUse, TypeErasure,
	TypeMemberScored, TypeAttributesUpdated,
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

// EventBody is implemented by the body of each input event type. Each body
// type keeps, beside its definition, everything the domain does with it: a
// new event type is a new body type with these methods (CONTRIBUTING.md).
type EventBody interface {
	EventType() EventType
	// validate checks the body's fields beyond their form, on its own and
	// against the event e that holds it (see Validate).
	validate(e Event) error
	// stringFields yields the body's string fields that the engine keeps,
	// and reports whether yield wanted them all (see StringFields).
	stringFields(yield func(StringField) bool) bool
	// decide decides the body's own facts for member m. activity reports
	// that the event is member activity: its facts then go through the
	// program's rules, earning, expiry and tier changes (decideEvent).
	decide(m *Member, meta FactMeta, at time.Time, e Event, p *Program) (facts []Fact, activity bool, err error)
}

// Enrolment is the body of TypeMemberEnrolled. ReferredBy is the member
// who referred this one, if any (see Referral).
type Enrolment struct {
	Channel    string
	ReferredBy string
	// Birthday is the member's month and day of birth, if given.
	Birthday Birthday
}

func (b Enrolment) validate(e Event) error {
	if b.ReferredBy == e.MemberID {
		return reject(ReasonInvalidField, "referred_by", "must be another member's id")
	}
	return nil
}

func (b Enrolment) stringFields(yield func(StringField) bool) bool {
	return yield(ident("channel", b.Channel, MaxChannelBytes)) && yield(memberRef("referred_by", b.ReferredBy))
}

func (b Enrolment) decide(m *Member, meta FactMeta, at time.Time, e Event, p *Program) ([]Fact, bool, error) {
	facts, err := decideEnrolment(m, meta, b)
	return facts, true, err
}

// Purchase is the body of TypePurchaseCompleted. Total is what the member
// paid after discounts; Lines may be empty when upstream does not send them.
type Purchase struct {
	OrderID string
	Total   Money
	Lines   []LineItem
	Channel string
}

func (b Purchase) validate(e Event) error {
	return validatePurchase(b)
}

func (b Purchase) stringFields(yield func(StringField) bool) bool {
	if !yield(ident("order_id", b.OrderID, MaxOrderIDBytes)) || !yield(ident("channel", b.Channel, MaxChannelBytes)) {
		return false
	}
	for i, l := range b.Lines {
		if !yield(ident(skuName(i), l.SKU, MaxSKUBytes)) || !yield(ident(categoryName(i), l.Category, MaxCategoryBytes)) {
			return false
		}
	}
	return true
}

func (b Purchase) decide(m *Member, meta FactMeta, at time.Time, e Event, p *Program) ([]Fact, bool, error) {
	facts, err := decidePurchase(m, meta, e, b, p)
	return facts, true, err
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

func (b Refund) validate(e Event) error {
	return validateRefund(b)
}

func (b Refund) stringFields(yield func(StringField) bool) bool {
	if !yield(ident("order_id", b.OrderID, MaxOrderIDBytes)) {
		return false
	}
	for i, l := range b.Lines {
		if !yield(ident(skuName(i), l.SKU, MaxSKUBytes)) {
			return false
		}
	}
	return true
}

func (b Refund) decide(m *Member, meta FactMeta, at time.Time, e Event, p *Program) ([]Fact, bool, error) {
	facts, err := decideRefund(m, meta, at, b, p)
	return facts, true, err
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

func (b Feedback) validate(e Event) error {
	return validateFeedback(b)
}

func (b Feedback) stringFields(yield func(StringField) bool) bool {
	return yield(ident("order_id", b.OrderID, MaxOrderIDBytes)) && yield(freeText("comment", b.Comment, MaxCommentBytes)) &&
		yield(ident("channel", b.Channel, MaxChannelBytes))
}

func (b Feedback) decide(m *Member, meta FactMeta, at time.Time, e Event, p *Program) ([]Fact, bool, error) {
	facts := decideFeedback(m, meta, b, p)
	return facts, true, nil
}

// Visit is the body of TypeVisitRecorded: a store or site visit.
type Visit struct {
	Channel string
}

func (Visit) validate(Event) error { return nil }

func (b Visit) stringFields(yield func(StringField) bool) bool {
	return yield(ident("channel", b.Channel, MaxChannelBytes))
}

func (b Visit) decide(m *Member, meta FactMeta, at time.Time, e Event, p *Program) ([]Fact, bool, error) {
	facts := decideVisit(m, meta, b, p)
	return facts, true, nil
}

// StatusChange is the body of TypeMemberStatus: the member's account is
// set active, blocked or closed (by the loyalty team or a fraud check
// upstream). Reason is free text for the record.
type StatusChange struct {
	Status MemberStatus
	Reason string
}

func (b StatusChange) validate(e Event) error {
	return validateStatus(b)
}

func (b StatusChange) stringFields(yield func(StringField) bool) bool {
	return yield(freeText("reason", b.Reason, MaxStatusReasonBytes))
}

func (b StatusChange) decide(m *Member, meta FactMeta, at time.Time, e Event, p *Program) ([]Fact, bool, error) {
	from := m.Status
	if from == "" {
		from = StatusActive
	}
	facts := []Fact{StatusChanged{FactMeta: meta, From: from, To: b.Status, Reason: b.Reason}}
	return facts, true, nil
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

// MemberStatuses lists every status a member can have.
var MemberStatuses = []MemberStatus{StatusActive, StatusBlocked, StatusClosed}

// Clock is the body of TypeMemberClock: time passed for the member. The
// engine publishes it (loyalty serve's clock) for members with points due
// to expire, so that expiry happens without activity of the member's own, in
// order with their events and the same on replay. It records nothing itself.
type Clock struct{}

func (Clock) validate(Event) error { return nil }

func (Clock) stringFields(func(StringField) bool) bool { return true }

func (Clock) decide(*Member, FactMeta, time.Time, Event, *Program) ([]Fact, bool, error) {
	return nil, false, nil // only what expired, which Decide has decided
}

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

func (b RedeemRequest) validate(e Event) error {
	return validateRedeem(b)
}

func (b RedeemRequest) stringFields(yield func(StringField) bool) bool {
	return yield(ident("request_id", b.RequestID, MaxRequestIDBytes)) && yield(ident("reward_id", b.RewardID, MaxRequestIDBytes)) &&
		yield(ident("channel", b.Channel, MaxChannelBytes))
}

func (b RedeemRequest) decide(m *Member, meta FactMeta, at time.Time, e Event, p *Program) ([]Fact, bool, error) {
	// Spending earns nothing and runs no rules; it is decided on its own.
	facts, err := decideRedemption(m, meta, b, p)
	return facts, false, err
}

// MadeByEngine reports whether only the engine publishes events of type t:
// the clock, and the follow-ups it publishes for another member or a
// reward's stock (FollowUp), and the requests that come through the
// service only: the back office's (adjustments, cancellations) and a
// till's use of a voucher, whose member the service finds by the code; and
// the scores of the engine's own model fits.
// Upstream may not publish them.
func MadeByEngine(t EventType) bool {
	switch t {
	case TypeMemberClock, TypeTransferIn, TypeReferralReward, TypeStockRequest, TypeStockAnswer,
		TypeAdjustment, TypeRedemptionCancel, TypeVoucherUse, TypeMemberScored:
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
