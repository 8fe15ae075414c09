package domain

import (
	"fmt"
	"time"
)

// A redemption the back office cancels gives the member back its points, in
// the lots they were taken from (with their own expiry dates), frees its
// units of the reward's per-member limit, and returns a stocked reward's
// units to its stock (a StockRequest that returns, for the stock's member).

// MaxCancelDays bounds the programme's redemption.cancel_days: a member
// remembers what a redemption took for as long as it remembers the request
// (orderMemory), which is longer.
const MaxCancelDays = 365

// Reasons a cancellation is refused (CancellationRejected facts).
const (
	CancelUnknownRedemption RedemptionReason = "unknown_redemption"
	CancelAlreadyCancelled  RedemptionReason = "already_cancelled"
	CancelWindowClosed      RedemptionReason = "cancel_window_closed"
	CancelRedemptionPending RedemptionReason = "redemption_pending"
	CancelRedemptionRefused RedemptionReason = "redemption_refused"
)

// CancelRequest is the body of TypeRedemptionCancel: the back office
// cancels the member's redemption RedemptionID (its request id). RequestID
// is the cancellation's own id; Reason a code to report on.
type CancelRequest struct {
	RequestID    string
	RedemptionID string
	Reason       string
	OperatorID   string
}

func (CancelRequest) EventType() EventType { return TypeRedemptionCancel }

func (b CancelRequest) validate(Event) error {
	switch {
	case b.RequestID == "":
		return reject(ReasonMissingField, "request_id", "is required")
	case b.RedemptionID == "":
		return reject(ReasonMissingField, "redemption_id", "is required: the request_id of the redemption to cancel")
	case b.Reason == "":
		return reject(ReasonMissingField, "reason_code", "is required: a code such as customer_request or till_error")
	case b.OperatorID == "":
		return reject(ReasonMissingField, "operator_id", "is required: who cancelled")
	}
	return nil
}

func (b CancelRequest) stringFields(yield func(StringField) bool) bool {
	return yield(ident("request_id", b.RequestID, MaxRequestIDBytes)) && yield(ident("redemption_id", b.RedemptionID, MaxRequestIDBytes)) &&
		yield(ident("reason_code", b.Reason, MaxNameBytes)) && yield(ident("operator_id", b.OperatorID, MaxNameBytes))
}

func (b CancelRequest) decide(m *Member, meta FactMeta, at time.Time, e Event, p *Program) ([]Fact, bool, error) {
	facts, err := decideCancel(m, meta, b, p)
	return facts, false, err
}

// RedemptionCancelled gives a redemption's Points back to the lots they
// came from. Stocked: the reward has a stock, to which Quantity units
// return (the follow-up FollowUpID).
type RedemptionCancelled struct {
	FactMeta
	RequestID      string
	RedemptionID   string
	RewardID       string
	Quantity       int64
	Points         int64
	Reason         string
	OperatorID     string
	Stocked        bool
	FollowUpID     string // see PointsHeld
	ProgramVersion string
}

func (f RedemptionCancelled) pointsDelta() int64 { return f.Points }
func (RedemptionCancelled) activity() bool       { return false }
func (RedemptionCancelled) FactType() FactType   { return FactRedemptionCancelled }

// CancellationRejected records a cancellation that was refused.
type CancellationRejected struct {
	FactMeta
	RequestID      string
	RedemptionID   string
	Reason         RedemptionReason
	Detail         string
	OperatorID     string
	ProgramVersion string
}

func (CancellationRejected) activity() bool     { return false }
func (CancellationRejected) FactType() FactType { return FactCancellationRejected }

// StockReturned gives a cancelled redemption's units back to the reward's
// stock: a fact of the stock's member.
type StockReturned struct {
	FactMeta
	RewardID  string
	ForMember string
	RequestID string
	Quantity  int64
}

func (StockReturned) activity() bool     { return false }
func (StockReturned) FactType() FactType { return FactStockReturned }

// CancelRef names a cancellation request: its id and the redemption it
// cancels, so that one id given to two redemptions is two requests, never
// the first one's answer for the second. (Length-prefixed, so no two pairs
// make one ref.)
func CancelRef(id, redemption string) RequestRef {
	return RequestRef{Kind: RequestCancel, ID: fmt.Sprintf("%d:%s/%s", len(id), id, redemption)}
}

// spent is what a member remembers of an accepted redemption, to cancel it.
type spent struct {
	at        time.Time
	points    int64
	reward    string
	quantity  int64
	lots      []lot // what it took from each lot
	stocked   bool
	cancelled bool
}

func decideCancel(m *Member, meta FactMeta, b CancelRequest, p *Program) ([]Fact, error) {
	if !m.Known() {
		return nil, unknownMember()
	}
	if o, seen := m.requests[CancelRef(b.RequestID, b.RedemptionID)]; seen {
		return nil, duplicateRequest(b.RequestID, o)
	}
	refuse := func(reason RedemptionReason, format string, args ...any) ([]Fact, error) {
		return []Fact{CancellationRejected{FactMeta: meta, RequestID: b.RequestID, RedemptionID: b.RedemptionID, Reason: reason,
			Detail: fmt.Sprintf(format, args...), OperatorID: b.OperatorID, ProgramVersion: p.Version}}, nil
	}
	s, ok := m.spent[b.RedemptionID]
	if !ok {
		o, decided := m.requests[RedemptionRef(b.RedemptionID)]
		switch {
		case m.holds[b.RedemptionID].points > 0:
			return refuse(CancelRedemptionPending, "redemption %q waits for its reward's stock; cancel it once it is answered", b.RedemptionID)
		case decided && o.Rejected != "":
			return refuse(CancelRedemptionRefused, "redemption %q was refused (%s): nothing to cancel", b.RedemptionID, o.Rejected)
		case decided:
			return refuse(CancelWindowClosed, "redemption %q of %s is too old to cancel", b.RedemptionID, o.At.Format(time.RFC3339))
		}
		return refuse(CancelUnknownRedemption, "the member has no redemption %q", b.RedemptionID)
	}
	if s.cancelled {
		return refuse(CancelAlreadyCancelled, "redemption %q was cancelled already", b.RedemptionID)
	}
	if code, used := m.voucherUsed(b.RedemptionID); used {
		return refuse(VoucherAlreadyUsed, "redemption %q's voucher %s was used", b.RedemptionID, FormatVoucherCode(code))
	}
	if days := p.Redemption.CancelDays; days == 0 {
		return refuse(CancelWindowClosed, "program %s allows no cancellations (set redemption.cancel_days)", p.Version)
	} else if meta.OccurredAt.Sub(s.at) > time.Duration(days)*24*time.Hour {
		return refuse(CancelWindowClosed, "program %s cancels redemptions up to %d days old; %q was on %s",
			p.Version, days, b.RedemptionID, s.at.Format(time.RFC3339))
	}
	cancelled := RedemptionCancelled{FactMeta: meta, RequestID: b.RequestID, RedemptionID: b.RedemptionID, RewardID: s.reward,
		Quantity: s.quantity, Points: s.points, Reason: b.Reason, OperatorID: b.OperatorID, Stocked: s.stocked, ProgramVersion: p.Version}
	// Points whose lot's date has passed come back expired: they expire
	// at the cancellation, as they would have had they never been spent.
	after := m.fork()
	after.Evolve(cancelled)
	facts := []Fact{cancelled}
	back := cancelled.Points
	for _, f := range decideExpiry(after, meta, p) {
		x := f.(PointsExpired)
		x.OccurredAt = meta.OccurredAt
		after.Evolve(x)
		back -= x.Points
		facts = append(facts, x)
	}
	// Points that come back while refunds are owed pay the debt first: a
	// refund of the order that earned them would otherwise leave the member
	// both the money and the points.
	if pay := min(after.Debt, back, max(after.Balance, 0)); pay > 0 {
		facts = append(facts, DebtRepaid{FactMeta: meta, Points: pay, ProgramVersion: p.Version})
	}
	return facts, nil
}

// evolveCancel folds a cancellation, accepted or refused.
func (m *Member) evolveCancel(f Fact) {
	m.unshare()
	switch f := f.(type) {
	case RedemptionCancelled:
		m.Balance += f.Points
		m.Redeemed -= f.Points
		s := m.spent[f.RedemptionID]
		if s.reward != "" {
			m.rewardDays = addDay(m.rewardDays, s.reward, s.at, -s.quantity)
		}
		// The latest-expiring lots first, as a hold returns (HoldReturned).
		for i := len(s.lots) - 1; i >= 0; i-- {
			m.addCappedLot(s.lots[i].expires, s.lots[i].remaining)
		}
		m.spent[f.RedemptionID] = spent{at: s.at, cancelled: true}
		m.cancelVouchers(f.RedemptionID)
		m.rememberRequest(CancelRef(f.RequestID, f.RedemptionID), RedemptionOutcome{At: f.OccurredAt, Points: f.Points})
	case CancellationRejected:
		m.rememberRequest(CancelRef(f.RequestID, f.RedemptionID), RedemptionOutcome{At: f.OccurredAt, Rejected: f.Reason})
	case StockReturned:
		if m.stockTaken[f.RewardID] > 0 {
			m.stockTaken[f.RewardID] = max(m.stockTaken[f.RewardID]-f.Quantity, 0)
		}
	}
}

// rememberSpent keeps what an accepted redemption took, for as long as the
// member remembers its request.
func (m *Member) rememberSpent(request string, s spent) {
	m.unshare()
	if m.spent == nil {
		m.spent = map[string]spent{}
	}
	m.spent[request] = s
}

// stockReturn is the event a stocked redemption's cancellation makes the
// engine publish (see FollowUp): its units go back to the reward's stock.
func stockReturn(f RedemptionCancelled) Event {
	meta := f.FactMeta
	return Event{ID: followUpID(f.FollowUpID, stockReturnPrefix, meta), Type: TypeStockRequest, Source: FollowUpSource,
		MemberID: StockMemberPrefix + f.RewardID, OccurredAt: meta.OccurredAt,
		Body: StockRequest{RewardID: f.RewardID, MemberID: meta.MemberID, RequestID: f.RedemptionID, Quantity: f.Quantity, Return: true}}
}
