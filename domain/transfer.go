package domain

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"
)

// Transfers says whether members may give points to other members.
type Transfers struct {
	Allowed   bool
	MinPoints int64
}

// Referral is the program's referral bonus: a member enrolled with
// referred_by earns ReferredPoints on their first purchase, and the member
// who referred them ReferrerPoints.
type Referral struct {
	ReferrerPoints int64
	ReferredPoints int64
}

// Rules of the points transfers and referrals move or award.
const (
	RuleTransferOut   = "transfer_out"
	RuleTransferIn    = "transfer_in"
	RuleReferred      = "referral_bonus"
	RuleReferrer      = "referrer_bonus"
	FollowUpSource    = "loyalty-engine"
	transferInPrefix  = "transfer-"
	referralPrefix    = "referral-"
	maxTransferPoints = MaxPointsPerEvent
)

// Reasons a transfer is refused (TransferRejected facts).
const (
	TransferNotAllowed         RedemptionReason = "transfers_not_allowed"
	TransferInsufficientPoints RedemptionReason = "insufficient_points"
	TransferMemberBlocked      RedemptionReason = "member_blocked"
	TransferMemberClosed       RedemptionReason = "member_closed"
	TransferBelowMinimum       RedemptionReason = "below_minimum"
)

// TransferRequest is the body of TypeTransfer: a member gives Points to
// ToMemberID. RequestID is the caller's: a request is decided once.
type TransferRequest struct {
	RequestID  string
	ToMemberID string
	Points     int64
}

func (b TransferRequest) validate(e Event) error {
	return validateTransfer(b, e.MemberID)
}

func (b TransferRequest) stringFields(yield func(StringField) bool) bool {
	return yield(ident("request_id", b.RequestID, MaxRequestIDBytes)) && yield(memberRef("to_member_id", b.ToMemberID))
}

func (b TransferRequest) decide(m *Member, meta FactMeta, at time.Time, e Event, p *Program) ([]Fact, bool, error) {
	facts, err := decideTransfer(m, meta, b, p)
	return facts, false, err
}

// TransferIn is the body of TypeTransferIn, which the engine publishes
// itself once a transfer is in the ledger: the recipient's side of it.
type TransferIn struct {
	FromMemberID string
	RequestID    string
	Points       int64
}

func (b TransferIn) validate(e Event) error {
	if b.Points < 1 || b.FromMemberID == "" || b.RequestID == "" {
		return reject(ReasonInvalidField, "points", "a received transfer names its sender, request and points")
	}
	return nil
}

func (b TransferIn) stringFields(yield func(StringField) bool) bool {
	return yield(memberRef("from_member_id", b.FromMemberID)) && yield(ident("request_id", b.RequestID, MaxRequestIDBytes))
}

func (b TransferIn) decide(m *Member, meta FactMeta, at time.Time, e Event, p *Program) ([]Fact, bool, error) {
	return decideTransferIn(m, meta, b, p), false, nil
}

// ReferralReward is the body of TypeReferralReward, which the engine
// publishes itself when a referred member qualifies: the referrer's bonus.
type ReferralReward struct {
	ReferredMemberID string
}

func (ReferralReward) validate(Event) error { return nil }

func (b ReferralReward) stringFields(yield func(StringField) bool) bool {
	return yield(memberRef("referred_member_id", b.ReferredMemberID))
}

func (b ReferralReward) decide(m *Member, meta FactMeta, at time.Time, e Event, p *Program) ([]Fact, bool, error) {
	return decideReferralReward(m, meta, b, p), false, nil
}

func (TransferRequest) EventType() EventType { return TypeTransfer }
func (TransferIn) EventType() EventType      { return TypeTransferIn }
func (ReferralReward) EventType() EventType  { return TypeReferralReward }

// PointsTransferred takes points from the sender for ToMemberID: the
// recipient's PointsReceived follows, from the engine's own event.
type PointsTransferred struct {
	FactMeta
	RequestID      string
	ToMemberID     string
	Points         int64
	ProgramVersion string
	FollowUpID     string // see PointsHeld
}

func (f PointsTransferred) pointsDelta() int64 { return -f.Points }

// TransferRejected records a transfer request that was refused.
type TransferRejected struct {
	FactMeta
	RequestID      string
	ToMemberID     string
	Points         int64
	Reason         RedemptionReason
	Detail         string
	ProgramVersion string
}

// PointsReceived credits points another member transferred.
type PointsReceived struct {
	FactMeta
	FromMemberID   string
	RequestID      string
	Points         int64
	ExpiresAt      time.Time
	ProgramVersion string
}

func (f PointsReceived) pointsDelta() int64 { return f.Points }

func (PointsReceived) activity() bool { return false }

// ReferralQualified records that a referred member made their first
// purchase: the referrer's bonus follows, from the engine's own event.
type ReferralQualified struct {
	FactMeta
	ReferrerID string
	FollowUpID string // see PointsHeld
}

func (PointsTransferred) FactType() FactType { return FactPointsTransferred }
func (TransferRejected) FactType() FactType  { return FactTransferRejected }
func (PointsReceived) FactType() FactType    { return FactPointsReceived }
func (ReferralQualified) FactType() FactType { return FactReferralQualified }

// FollowUp is the input event a fact makes the engine publish for another
// member (the recipient of a transfer, the referrer of a referral, a
// reward's stock and the member it answers), or false. Its id (the fact's
// FollowUpID) and time come from the fact, so that publishing it again after
// a crash gives the same event, which the engine applies once.
func FollowUp(f Fact) (Event, bool) {
	meta := f.Meta()
	switch f := f.(type) {
	case PointsTransferred:
		return Event{ID: followUpID(f.FollowUpID, transferInPrefix, meta), Type: TypeTransferIn, Source: FollowUpSource,
			MemberID: f.ToMemberID, OccurredAt: meta.OccurredAt,
			Body: TransferIn{FromMemberID: meta.MemberID, RequestID: f.RequestID, Points: f.Points}}, true
	case ReferralQualified:
		return Event{ID: followUpID(f.FollowUpID, referralPrefix, meta), Type: TypeReferralReward, Source: FollowUpSource,
			MemberID: f.ReferrerID, OccurredAt: meta.OccurredAt, Body: ReferralReward{ReferredMemberID: meta.MemberID}}, true
	case PointsHeld:
		return Event{ID: followUpID(f.FollowUpID, stockRequestPrefix, meta), Type: TypeStockRequest, Source: FollowUpSource,
			MemberID: StockMemberPrefix + f.RewardID, OccurredAt: meta.OccurredAt,
			Body: StockRequest{RewardID: f.RewardID, MemberID: meta.MemberID, RequestID: f.RequestID, Quantity: f.Quantity}}, true
	case StockTaken:
		return stockAnswer(meta, f.FollowUpID, f.ForMember, f.RequestID, f.RewardID, true), true
	case StockRefused:
		return stockAnswer(meta, f.FollowUpID, f.ForMember, f.RequestID, f.RewardID, false), true
	case RedemptionCancelled:
		return stockReturn(f), f.Stocked
	}
	return Event{}, false
}

// Prefixes of the follow-ups' ids, by the fact that causes them.
const (
	stockRequestPrefix = "stock-request-"
	stockAnswerPrefix  = "stock-answer-"
	stockReturnPrefix  = "stock-return-"
	voucherPrefix      = "voucher-"
)

// followUpID is a follow-up's id: the one its fact was given, or for a fact
// of before ids were given, the legacy id derived from the fact's member and
// event (which a client could compute).
func followUpID(given, prefix string, meta FactMeta) string {
	if given != "" {
		return given
	}
	return prefix + followUpKey(meta.MemberID, meta.EventID)
}

// GiveFollowUpIDs gives each fact that causes a follow-up the id that mint
// makes from the follow-up's prefix and the fact's place among facts. The
// engine mints ids no client can compute (an HMAC of a key of its own); the
// rules stay free of keys and randomness, and a replay reads the ids from
// the ledger.
func GiveFollowUpIDs(facts []Fact, mint func(prefix string, index int) string) {
	for i, f := range facts {
		switch f := f.(type) {
		case PointsTransferred:
			f.FollowUpID = mint(transferInPrefix, i)
			facts[i] = f
		case ReferralQualified:
			f.FollowUpID = mint(referralPrefix, i)
			facts[i] = f
		case PointsHeld:
			f.FollowUpID = mint(stockRequestPrefix, i)
			facts[i] = f
		case StockTaken:
			f.FollowUpID = mint(stockAnswerPrefix, i)
			facts[i] = f
		case StockRefused:
			f.FollowUpID = mint(stockAnswerPrefix, i)
			facts[i] = f
		case RedemptionCancelled:
			if f.Stocked {
				f.FollowUpID = mint(stockReturnPrefix, i)
				facts[i] = f
			}
		case VoucherIssued:
			f.Code = voucherCode(mint(voucherPrefix, i))
			facts[i] = f
		}
	}
}

// followUpKey identifies a follow-up by its fact's member and event: ids the
// engine never sees twice (unlike request ids, which a member's state
// forgets after two years).
func followUpKey(member, event string) string {
	sum := sha256.Sum256([]byte(member + "\x00" + event))
	return hex.EncodeToString(sum[:16])
}

func (x Transfers) validate(add func(field, format string, args ...any)) {
	if x.MinPoints < 0 {
		add("transfers.min_points", "must not be negative")
	}
}

func (r Referral) validate(add func(field, format string, args ...any)) {
	if r.ReferrerPoints < 0 || r.ReferredPoints < 0 {
		add("earning.referral", "points must not be negative")
	}
}

func validateTransfer(b TransferRequest, from string) error {
	switch {
	case b.RequestID == "":
		return reject(ReasonMissingField, "request_id", "is required")
	case b.ToMemberID == "":
		return reject(ReasonMissingField, "to_member_id", "is required")
	case b.ToMemberID == from:
		return reject(ReasonInvalidField, "to_member_id", "a member cannot transfer points to themselves")
	case b.Points < 1 || b.Points > maxTransferPoints:
		return reject(ReasonInvalidAmount, "points", "must be 1 to %d, got %d", int64(maxTransferPoints), b.Points)
	}
	return nil
}

// duplicateTransfer is the rejection of a transfer request id decided before.
func duplicateTransfer(id string, o RedemptionOutcome) error {
	return reject(ReasonDuplicateRequest, "request_id", "request %q was decided on %s", id, o.At.Format(time.RFC3339))
}

func decideTransfer(m *Member, meta FactMeta, b TransferRequest, p *Program) ([]Fact, error) {
	if !m.Known() {
		return nil, unknownMember()
	}
	if o, seen := m.requests[TransferRef(b.RequestID)]; seen {
		return nil, duplicateTransfer(b.RequestID, o)
	}
	refuse := func(reason RedemptionReason, format string, args ...any) ([]Fact, error) {
		return []Fact{TransferRejected{FactMeta: meta, RequestID: b.RequestID, ToMemberID: b.ToMemberID, Points: b.Points,
			Reason: reason, Detail: fmt.Sprintf(format, args...), ProgramVersion: p.Version}}, nil
	}
	switch {
	case !p.Transfers.Allowed:
		return refuse(TransferNotAllowed, "the program does not allow transfers")
	case memberStatus(m) == StatusBlocked:
		return refuse(TransferMemberBlocked, "the member's account is blocked")
	case memberStatus(m) == StatusClosed:
		return refuse(TransferMemberClosed, "the member's account is closed")
	case b.Points < p.Transfers.MinPoints:
		return refuse(TransferBelowMinimum, "at least %d points per transfer", p.Transfers.MinPoints)
	case b.Points > m.Available():
		return refuse(TransferInsufficientPoints, "transfers %d points, %d available", b.Points, m.Available())
	}
	return []Fact{PointsTransferred{FactMeta: meta, RequestID: b.RequestID, ToMemberID: b.ToMemberID, Points: b.Points,
		ProgramVersion: p.Version}}, nil
}

// decideTransferIn credits a transfer. The points follow the member id:
// a recipient with no history becomes a member with them, and a blocked or
// closed one gets them too (spending them waits for the account).
func decideTransferIn(m *Member, meta FactMeta, b TransferIn, p *Program) []Fact {
	facts := []Fact{PointsReceived{FactMeta: meta, FromMemberID: b.FromMemberID, RequestID: b.RequestID, Points: b.Points,
		ExpiresAt: p.Earning.Expiry.expiresAt(meta.OccurredAt), ProgramVersion: p.Version}}
	if !m.Known() {
		facts = append([]Fact{TierChanged{FactMeta: meta, To: p.Tiers[0].Name, Reason: TierReasonEnrolment}}, facts...)
	}
	return facts
}

// decideReferralReward is the referrer's bonus; an unknown, blocked or
// closed referrer earns nothing, which is recorded as nothing.
func decideReferralReward(m *Member, meta FactMeta, b ReferralReward, p *Program) []Fact {
	points := p.Earning.Referral.ReferrerPoints
	if !m.Known() || !m.Earns() || points <= 0 {
		return nil
	}
	return []Fact{PointsEarned{FactMeta: meta, Points: points, Rule: RuleReferrer, ProgramVersion: p.Version,
		ExpiresAt: p.Earning.Expiry.expiresAt(meta.OccurredAt), OrderID: referralOrder(b.ReferredMemberID)}}
}

// referralOrder marks a referrer's bonus with the member it was for, in the
// order id field the points ledger shows.
func referralOrder(referred string) string { return "referral:" + referred }

// decideReferral is what a referred member's first purchase adds: their own
// bonus and the fact that sends the referrer theirs.
func decideReferral(m *Member, meta FactMeta, order string, p *Program) []Fact {
	r := p.Earning.Referral
	if m.ReferredBy == "" || m.Purchases > 0 || (r.ReferrerPoints == 0 && r.ReferredPoints == 0) {
		return nil
	}
	var facts []Fact
	if r.ReferredPoints > 0 {
		facts = append(facts, PointsEarned{FactMeta: meta, Points: r.ReferredPoints, Rule: RuleReferred, OrderID: order, ProgramVersion: p.Version})
	}
	return append(facts, ReferralQualified{FactMeta: meta, ReferrerID: m.ReferredBy})
}
