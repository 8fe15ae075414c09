package domain

import (
	"fmt"
	"time"
)

// Adjustments are the programme's limits on the back office's manual
// corrections of a member's points (AdjustRequest). MaxPoints 0: the
// programme allows none.
type Adjustments struct {
	// MaxPoints bounds one adjustment, credit or debit.
	MaxPoints int64
	// AllowNegative lets a debit take the balance below zero.
	AllowNegative bool
}

// RuleAdjustment is the rule of the points an adjustment moves, in the
// points ledger.
const RuleAdjustment = "adjustment"

// MaxBalance bounds a balance adjustments may make, either way: far beyond
// any programme, far within what an int64 and PostgreSQL's bigint hold.
const MaxBalance = 1000 * MaxPointsPerEvent

// MaxAdjustNoteBytes bounds an adjustment's note: a sentence or two.
const MaxAdjustNoteBytes = 1024

// Reasons an adjustment is refused (AdjustmentRejected facts).
const (
	AdjustNotAllowed         RedemptionReason = "adjustments_not_allowed"
	AdjustTooLarge           RedemptionReason = "adjustment_too_large"
	AdjustInsufficientPoints RedemptionReason = "insufficient_points"
	AdjustMemberClosed       RedemptionReason = "member_closed"
)

// AdjustRequest is the body of TypeAdjustment: the back office credits
// (Points > 0) or debits (Points < 0) a member's points by hand. Reason is a
// code to report on, Note what the operator wrote, OperatorID who did it.
type AdjustRequest struct {
	RequestID  string
	Points     int64
	Reason     string
	Note       string
	OperatorID string
}

func (AdjustRequest) EventType() EventType { return TypeAdjustment }

func (b AdjustRequest) validate(Event) error {
	switch {
	case b.RequestID == "":
		return reject(ReasonMissingField, "request_id", "is required")
	case b.Points == 0 || b.Points > MaxPointsPerEvent || b.Points < -MaxPointsPerEvent:
		return reject(ReasonInvalidAmount, "points", "must be a credit of 1 to %d or a debit of -1 to -%d, got %d",
			int64(MaxPointsPerEvent), int64(MaxPointsPerEvent), b.Points)
	case b.Reason == "":
		return reject(ReasonMissingField, "reason_code", "is required: a code such as missing_points or goodwill")
	case b.OperatorID == "":
		return reject(ReasonMissingField, "operator_id", "is required: who made the adjustment")
	}
	return nil
}

func (b AdjustRequest) stringFields(yield func(StringField) bool) bool {
	return yield(ident("request_id", b.RequestID, MaxRequestIDBytes)) && yield(ident("reason_code", b.Reason, MaxNameBytes)) &&
		yield(freeText("note", b.Note, MaxAdjustNoteBytes)) && yield(ident("operator_id", b.OperatorID, MaxNameBytes))
}

func (b AdjustRequest) decide(m *Member, meta FactMeta, at time.Time, e Event, p *Program) ([]Fact, bool, error) {
	facts, err := decideAdjustment(m, meta, b, p)
	return facts, false, err
}

// PointsAdjusted records a manual credit (Points > 0) or debit (Points < 0).
// A credit expires as points earned at its time would (ExpiresAt).
type PointsAdjusted struct {
	FactMeta
	RequestID      string
	Points         int64
	Reason         string
	Note           string
	OperatorID     string
	ExpiresAt      time.Time
	ProgramVersion string
}

func (f PointsAdjusted) pointsDelta() int64 { return f.Points }
func (PointsAdjusted) activity() bool       { return false }
func (PointsAdjusted) FactType() FactType   { return FactPointsAdjusted }

// AdjustmentRejected records an adjustment the programme's limits refused.
type AdjustmentRejected struct {
	FactMeta
	RequestID      string
	Points         int64
	Reason         RedemptionReason
	Detail         string
	OperatorID     string
	ProgramVersion string
}

func (AdjustmentRejected) activity() bool     { return false }
func (AdjustmentRejected) FactType() FactType { return FactAdjustmentRejected }

// AdjustmentRef names an adjustment request.
func AdjustmentRef(id string) RequestRef { return RequestRef{Kind: RequestAdjustment, ID: id} }

func (a Adjustments) validate(add func(field, format string, args ...any)) {
	if a.MaxPoints < 0 || a.MaxPoints > MaxPointsPerEvent {
		add("adjustments.max_points", "must be 0 (no adjustments) to %d, got %d", int64(MaxPointsPerEvent), a.MaxPoints)
	}
}

func decideAdjustment(m *Member, meta FactMeta, b AdjustRequest, p *Program) ([]Fact, error) {
	if !m.Known() {
		return nil, unknownMember()
	}
	if o, seen := m.requests[AdjustmentRef(b.RequestID)]; seen {
		return nil, duplicateRequest(b.RequestID, o)
	}
	refuse := func(reason RedemptionReason, format string, args ...any) ([]Fact, error) {
		return []Fact{AdjustmentRejected{FactMeta: meta, RequestID: b.RequestID, Points: b.Points, Reason: reason,
			Detail: fmt.Sprintf(format, args...), OperatorID: b.OperatorID, ProgramVersion: p.Version}}, nil
	}
	limit := p.Adjustments.MaxPoints
	switch {
	case limit == 0:
		return refuse(AdjustNotAllowed, "program %s allows no adjustments (set adjustments.max_points)", p.Version)
	case b.Points > limit || -b.Points > limit:
		return refuse(AdjustTooLarge, "at most %d points per adjustment under program %s, got %d", limit, p.Version, b.Points)
	case memberStatus(m) == StatusClosed:
		return refuse(AdjustMemberClosed, "the member's account is closed")
	case m.Balance+b.Points > MaxBalance || m.Balance+b.Points < -MaxBalance:
		return refuse(AdjustTooLarge, "the balance would be %d, beyond the %d a balance may hold", m.Balance+b.Points, int64(MaxBalance))
	case b.Points < 0 && !p.Adjustments.AllowNegative && -b.Points > m.Available():
		return refuse(AdjustInsufficientPoints, "a debit of %d points, %d available, and program %s keeps balances at 0 or above",
			-b.Points, m.Available(), p.Version)
	}
	f := PointsAdjusted{FactMeta: meta, RequestID: b.RequestID, Points: b.Points, Reason: b.Reason, Note: b.Note,
		OperatorID: b.OperatorID, ProgramVersion: p.Version}
	if b.Points > 0 {
		f.ExpiresAt = p.Earning.Expiry.expiresAt(meta.OccurredAt)
	}
	return []Fact{f}, nil
}

// evolveAdjustment folds an adjustment, accepted or refused.
func (m *Member) evolveAdjustment(f Fact) {
	switch f := f.(type) {
	case PointsAdjusted:
		m.Balance += f.Points
		if f.Points > 0 {
			m.addCappedLot(f.ExpiresAt, f.Points)
		} else {
			m.drawLots(-f.Points)
		}
		m.rememberRequest(AdjustmentRef(f.RequestID), RedemptionOutcome{At: f.OccurredAt, Points: f.Points})
	case AdjustmentRejected:
		m.rememberRequest(AdjustmentRef(f.RequestID), RedemptionOutcome{At: f.OccurredAt, Points: f.Points, Rejected: f.Reason})
	}
}

// duplicateRequest is the rejection of a back-office request id decided
// before.
func duplicateRequest(id string, o RedemptionOutcome) error {
	outcome := "accepted"
	if o.Rejected != "" {
		outcome = "refused: " + string(o.Rejected)
	}
	return reject(ReasonDuplicateRequest, "request_id", "request %q was decided on %s (%s)", id, o.At.Format(time.RFC3339), outcome)
}

// requestID is the request id of a back-office request body.
func requestID(b EventBody) string {
	switch b := b.(type) {
	case AdjustRequest:
		return b.RequestID
	case CancelRequest:
		return b.RequestID
	case VoucherUse:
		return b.RequestID
	}
	return ""
}
