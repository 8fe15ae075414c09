package handlers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/streams"
)

// The request-reply service a point of sale calls when it needs an answer
// at once (docs/service.md). It runs in the engine that holds the lease,
// next to the state it answers from.
const (
	ServiceName     = "loyalty"
	ServiceVersion  = "1.0.0"
	ServiceSubjects = "loyalty.svc"
	BalanceSubject  = ServiceSubjects + ".balance"
	RedeemSubject   = ServiceSubjects + ".redeem"
	TransferSubject = ServiceSubjects + ".transfer"
	// The back office's.
	AdjustSubject = ServiceSubjects + ".adjust"
	CancelSubject = ServiceSubjects + ".cancel"
	// ServiceSource is the source of the events the service publishes.
	ServiceSource = "loyalty-service"
)

// Error codes of the service's replies (the Nats-Service-Error-Code header).
const (
	CodeBadRequest    = "400"
	CodeUnknownMember = "404"
	// CodeConflict: the request_id was decided for another request.
	CodeConflict    = "409"
	CodeUnavailable = "503"
	CodeTimeout     = "504"
)

// maxServiceRequests bounds the redemptions waiting for the engine at once;
// beyond it a request is refused (503) rather than queued without limit.
const maxServiceRequests = 4096

// requestEventID is a new, random id for the event of a request the service
// stores. Random, not derived from the member and request ids: a client that
// could compute it could publish an event with it first and have the
// request refused as a conflict. A till's retry makes an event of its own,
// which the rules recognise by its request id.
func requestEventID(prefix string) (string, error) {
	id, err := uuid.NewRandom()
	if err != nil {
		return "", fmt.Errorf("make an event id: %w", err)
	}
	return prefix + id.String(), nil
}

// BalanceRequest asks for a member's points.
type BalanceRequest struct {
	MemberID string `json:"member_id"`
}

// BalanceReply is a member's points as the ledger has them.
type BalanceReply struct {
	MemberID  string         `json:"member_id"`
	Balance   int64          `json:"balance"`
	Available int64          `json:"available"`
	Redeemed  int64          `json:"redeemed"`
	Debt      int64          `json:"points_debt"`
	Tier      string         `json:"tier"`
	Status    string         `json:"status"`
	Expiring  []ExpiringJSON `json:"expiring"`
	// Pending is points earned that cannot be spent yet, by order.
	Pending   int64         `json:"pending"`
	PendingBy []PendingJSON `json:"pending_orders"`
	// The tier's next review (null: none), and where the member stands now.
	TierExpiresAt *time.Time `json:"tier_expires_at"`
	TierValue     int64      `json:"tier_value"`
	NextTier      string     `json:"next_tier,omitempty"`
	Missing       int64      `json:"next_tier_missing"`
	ProjectedTier string     `json:"projected_tier"`
	LedgerSeq     uint64     `json:"ledger_seq"`
}

// PendingJSON is an order's points that become available at AvailableAt.
type PendingJSON struct {
	OrderID     string    `json:"order_id"`
	Points      int64     `json:"points"`
	AvailableAt time.Time `json:"available_at"`
}

// ExpiringJSON is points that expire at ExpiresAt.
type ExpiringJSON struct {
	ExpiresAt time.Time `json:"expires_at"`
	Points    int64     `json:"points"`
}

// RedeemRequestJSON is a redemption asked of the service: the fields of
// loyalty.redemption.requested.v1's data.
type RedeemRequestJSON struct {
	MemberID  string `json:"member_id"`
	RequestID string `json:"request_id"`
	RewardID  string `json:"reward_id,omitempty"`
	Quantity  int64  `json:"quantity,omitempty"`
	Points    int64  `json:"points,omitempty"`
	Channel   string `json:"channel,omitempty"`
}

// AdjustRequestJSON is an adjustment asked of the service by the back
// office: the fields of loyalty.points.adjustment_requested.v1's data.
type AdjustRequestJSON struct {
	MemberID   string `json:"member_id"`
	RequestID  string `json:"request_id"`
	Points     int64  `json:"points"`
	ReasonCode string `json:"reason_code"`
	Note       string `json:"note,omitempty"`
	OperatorID string `json:"operator_id"`
}

// CancelRequestJSON is a redemption's cancellation asked of the service by
// the back office: the fields of loyalty.redemption.cancel_requested.v1's
// data.
type CancelRequestJSON struct {
	MemberID     string `json:"member_id"`
	RequestID    string `json:"request_id"`
	RedemptionID string `json:"redemption_id"`
	ReasonCode   string `json:"reason_code"`
	OperatorID   string `json:"operator_id"`
}

// TransferRequestJSON is a transfer asked of the service: the fields of
// loyalty.points.transfer_requested.v1's data.
type TransferRequestJSON struct {
	MemberID   string `json:"member_id"`
	RequestID  string `json:"request_id"`
	ToMemberID string `json:"to_member_id"`
	Points     int64  `json:"points"`
}

// RedeemReply is the decision on a redemption or transfer request.
// Repeated is true when the request had been decided before: the reply is
// that decision.
type RedeemReply struct {
	MemberID   string `json:"member_id"`
	RequestID  string `json:"request_id"`
	ToMemberID string `json:"to_member_id,omitempty"`
	// RedemptionID is the redemption a cancellation names.
	RedemptionID string `json:"redemption_id,omitempty"`
	Status       string `json:"status"` // accepted or rejected
	Points       int64  `json:"points"`
	RewardID     string `json:"reward_id,omitempty"`
	Quantity     int64  `json:"quantity,omitempty"`
	Reason       string `json:"reason,omitempty"`
	Detail       string `json:"detail,omitempty"`
	Balance      int64  `json:"balance"`
	Available    int64  `json:"available"`
	Repeated     bool   `json:"repeated,omitempty"`
	EventID      string `json:"event_id,omitempty"`
	LedgerSeq    uint64 `json:"ledger_seq"`
	// Vouchers are the codes an accepted redemption of a voucher reward
	// issued, one per unit.
	Vouchers []VoucherJSON `json:"vouchers,omitempty"`
}

// VoucherJSON is a voucher code issued, as the member is to be shown it.
type VoucherJSON struct {
	Code      string    `json:"code"`
	ExpiresAt time.Time `json:"expires_at"`
}

// service holds what the handlers share.
type service struct {
	e       *Engine
	js      jetstream.JetStream
	timeout time.Duration
	slots   chan struct{}
	guard   *replyGuard
}

// serveRequests starts the service unless the engine runs without one
// (NoService); stop ends it.
func (e *Engine) serveRequests() (stop func(), err error) {
	if e.cfg.NoService {
		return func() {}, nil
	}
	svc, err := e.startService(e.cfg.ServiceTimeout)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	return func() { _ = svc.stop() }, nil
}

// serviceEndpoints are the service's endpoints, under ServiceSubjects.
var serviceEndpoints = []string{"balance", "redeem", "transfer", "adjust", "cancel", "voucher_check", "voucher_use"}

// endpointSubject is the subject callers call an endpoint on; the
// endpoint's name is one token of the partitions' internal subjects.
func endpointSubject(name string) string {
	switch name {
	case "voucher_check":
		return VoucherCheckSubject
	case "voucher_use":
		return VoucherUseSubject
	}
	return ServiceSubjects + "." + name
}

// startService serves the service on the engine's connection.
func (e *Engine) startService(timeout time.Duration) (*microServer, error) {
	s := &service{e: e, js: e.js, timeout: timeout, slots: make(chan struct{}, maxServiceRequests),
		guard: &replyGuard{prefixes: e.cfg.ServiceReplyPrefixes, logger: e.cfg.Logger, refused: e.metrics.serviceRefused}}
	// Forwarded requests are answered to the forwarding engine's inbox,
	// whatever the callers' prefixes are.
	inbox := e.js.Conn().Opts.InboxPrefix
	if inbox == "" {
		inbox = nats.InboxPrefix[:len(nats.InboxPrefix)-1]
	}
	internalGuard := &replyGuard{prefixes: append(slices.Clone(s.guard.prefixes), inbox+"."), logger: s.guard.logger, refused: s.guard.refused}
	e.internal = &internalEndpoints{s: s, guard: internalGuard, subs: map[int]*nats.Subscription{}}
	svc := newMicroServer(e.js.Conn(), ServiceName, ServiceVersion,
		"Member balances and redemptions, answered from the engine's state as the ledger holds it", s.guard)
	for _, name := range serviceEndpoints {
		svc.add(name, endpointSubject(name), s.async(s.endpoint(name)), e.metrics)
	}
	return svc, svc.start()
}

// endpoint is the handler of the named endpoint.
func (s *service) endpoint(name string) micro.HandlerFunc {
	switch name {
	case "balance":
		return s.balance
	case "redeem":
		return s.redeem
	case "transfer":
		return s.transfer
	case "adjust":
		return s.adjust
	case "cancel":
		return s.cancel
	case "voucher_check":
		return s.voucherCheck
	case "voucher_use":
		return s.voucherUse
	}
	return nil
}

// async answers each request whose reply subject is a caller's inbox on a
// goroutine of its own: a redemption waits for the ledger, and must not hold
// up the requests behind it.
func (s *service) async(h micro.HandlerFunc) micro.HandlerFunc { return s.asyncGuarded(s.guard, h) }

// asyncGuarded is async with the given guard of reply subjects.
func (s *service) asyncGuarded(guard *replyGuard, h micro.HandlerFunc) micro.HandlerFunc {
	return func(req micro.Request) {
		if !guard.admit(req) {
			return
		}
		select {
		case s.slots <- struct{}{}:
		default:
			s.e.metrics.serviceRefused(refusedBusy)
			_ = req.Error(CodeUnavailable, "too many requests in flight; retry shortly", nil)
			return
		}
		go func() {
			defer func() { <-s.slots }()
			h(req)
		}()
	}
}

func (s *service) balance(req micro.Request) {
	memberID, _, err := streams.DecodeRequest("", req.Data())
	if err == nil {
		// As an event's member id is checked: the id comes back in errors
		// and in the service's statistics.
		err = domain.StringField{Name: "member_id", Value: memberID, MaxBytes: domain.MaxMemberIDBytes}.Check()
	}
	if err != nil {
		s.badRequest(req, `want {"member_id": "..."}: `+err.Error())
		return
	}
	if s.forward(req, memberID, "balance") {
		return
	}
	q := BalanceRequest{MemberID: memberID}
	state, known := s.readKnownMember(req, "balance", q.MemberID, domain.RequestRef{})
	if !known {
		return
	}
	reply := BalanceReply{MemberID: q.MemberID, Balance: state.Balance, Available: state.Available, Redeemed: state.Redeemed,
		Debt: state.Debt, Tier: state.Tier, Status: string(state.Status), LedgerSeq: state.LedgerSeq, Expiring: []ExpiringJSON{},
		PendingBy: []PendingJSON{}}
	for _, l := range state.Expiring {
		reply.Expiring = append(reply.Expiring, ExpiringJSON{ExpiresAt: l.At, Points: l.Points})
	}
	if !state.TierExpires.IsZero() {
		reply.TierExpiresAt = &state.TierExpires
	}
	o := state.Outlook
	reply.TierValue, reply.NextTier, reply.Missing, reply.ProjectedTier = o.Value, o.NextTier, o.Missing, o.Projected
	for _, po := range state.Pending {
		reply.Pending += po.Points
		reply.PendingBy = append(reply.PendingBy, PendingJSON{OrderID: po.OrderID, Points: po.Points, AvailableAt: po.AvailableAt})
	}
	_ = req.RespondJSON(reply)
}

func (s *service) redeem(req micro.Request) {
	s.publishRequest(req, "redeem", domain.TypeRedemption, "redeem-", func(body domain.EventBody) domain.RequestRef {
		return domain.RedemptionRef(body.(domain.RedeemRequest).RequestID)
	}, "request_id", "reward_id", "quantity", "points", "channel")
}

func (s *service) transfer(req micro.Request) {
	s.publishRequest(req, "transfer", domain.TypeTransfer, "transfer-request-", func(body domain.EventBody) domain.RequestRef {
		return domain.TransferRef(body.(domain.TransferRequest).RequestID)
	}, "request_id", "to_member_id", "points")
}

// adjust and cancel are the back office's: deploy/nats gives their
// subjects to the back-office role only, not to tills.
func (s *service) adjust(req micro.Request) {
	s.publishRequest(req, "adjust", domain.TypeAdjustment, "adjust-", func(body domain.EventBody) domain.RequestRef {
		return domain.AdjustmentRef(body.(domain.AdjustRequest).RequestID)
	}, "request_id", "points", "reason_code", "note", "operator_id")
}

func (s *service) cancel(req micro.Request) {
	s.publishRequest(req, "cancel", domain.TypeRedemptionCancel, "cancel-", func(body domain.EventBody) domain.RequestRef {
		b := body.(domain.CancelRequest)
		return domain.CancelRef(b.RequestID, b.RedemptionID)
	}, "request_id", "redemption_id", "reason_code", "operator_id")
}

// publishRequest reads a request whose fields are those of the data of an
// input event of type typ. It forwards the request to the engine that owns
// the member's partition, or makes it an event under an id of its own
// (idPrefix and a random part) and answers the engine's decision (see
// request). ref names the request among the member's.
func (s *service) publishRequest(req micro.Request, endpoint string, typ domain.EventType, idPrefix string,
	ref func(domain.EventBody) domain.RequestRef, fields ...string) {
	memberID, body, err := streams.DecodeRequest(typ, req.Data(), fields...)
	if err != nil {
		s.badRequest(req, "want the data of "+string(typ)+" (docs/events.md): "+err.Error())
		return
	}
	if s.forward(req, memberID, endpoint) {
		return
	}
	id, err := requestEventID(idPrefix)
	if err != nil {
		_ = req.Error(CodeUnavailable, err.Error(), nil)
		return
	}
	s.request(req, endpoint, domain.Event{ID: id, Type: typ, Source: ServiceSource, MemberID: memberID,
		OccurredAt: time.Now().UTC(), Body: body}, ref(body))
}

// request publishes a member's request as input and replies with the
// engine's decision once the ledger holds it; a request decided before is
// answered with that decision. endpoint is the service endpoint req came
// to, for forwarding it to the partition's owner.
func (s *service) request(req micro.Request, endpoint string, ev domain.Event, request domain.RequestRef) {
	var rej *domain.RejectedError
	if err := domain.Validate(ev, ev.OccurredAt); errors.As(err, &rej) {
		s.badRequest(req, err.Error())
		return
	}
	// Waiting first: a decision committed between reading the state and
	// waiting would otherwise reach nobody.
	decided, cancel := s.e.waiters.wait(requestKey(ev.MemberID, request))
	defer cancel()
	state, known := s.readKnownMember(req, endpoint, ev.MemberID, request)
	if !known {
		return
	}
	if state.Redemption != nil && !state.Redemption.Held {
		s.repeated(req, ev, state)
		return
	}
	ctx, stop := context.WithTimeout(context.Background(), s.timeout)
	defer stop()
	if state.Redemption == nil { // not held already: a held one's stock answer is on its way
		if err := publishInput(ctx, s.js, ev, s.e.preempted); err != nil {
			_ = req.Error(CodeUnavailable, "could not store the request: "+err.Error()+"; retry with the same request_id", nil)
			return
		}
	}
	select {
	case d := <-decided:
		// Another call's event with the request's id, or a call before
		// this one, decided it: this call is a repeat of that one.
		if d.State.Redemption != nil && (d.DeadLetter != nil || !decidedBy(d.Facts, ev.ID)) {
			s.repeated(req, ev, d.State)
			return
		}
		if use, ok := ev.Body.(domain.VoucherUse); ok {
			_ = answerVoucherUse(req, use, d)
			return
		}
		_ = s.answer(req, ev.MemberID, callerRequestID(ev, request), ev.ID, d)
	case <-ctx.Done():
		_ = req.Error(CodeTimeout, fmt.Sprintf("not decided within %s; retry with the same request_id for the decision", s.timeout), nil)
	}
}

// readKnownMember reads the member of a request to endpoint, with what
// became of request (see Engine.readMember). When the member is not on
// record here it answers req itself, and returns false: forwarded if the
// partition moved to another engine while it was read, unavailable while
// the engine is not serving, an unknown member otherwise.
func (s *service) readKnownMember(req micro.Request, endpoint, memberID string, request domain.RequestRef) (MemberView, bool) {
	state, ok := s.e.readMember(memberID, request)
	if !ok && s.forward(req, memberID, endpoint) {
		return state, false // the partition moved to another engine while it was read
	}
	switch {
	case !ok && isForwarded(req):
		// Handed over between the forwarding engine's look-up and this
		// one's: that engine asks the new owner.
		_ = req.Error(codeMoved, "the member's partition is no longer this engine's", nil)
		return state, false
	case !ok:
		_ = req.Error(CodeUnavailable, "the engine is not serving (starting or stopping); retry shortly", nil)
		return state, false
	case !state.Known && request.Kind == domain.RequestVoucherUse:
		// A till knows the code only: it learns nothing of the member.
		_ = req.RespondJSON(VoucherReply{Status: "rejected", Reason: string(domain.VoucherUnknown), Detail: "no voucher has this code"})
		return state, false
	case !state.Known:
		_ = req.Error(CodeUnknownMember, fmt.Sprintf("no member %q is on record", memberID), nil)
		return state, false
	}
	return state, true
}

// answer replies with the engine's decision.
func (s *service) answer(req micro.Request, memberID, requestID, eventID string, d Decision) error {
	if d.DeadLetter != nil {
		if d.State.Redemption != nil { // decided before: a retry, or a race with one (never held: answerDeadLetter)
			return req.RespondJSON(repeatedReply(memberID, requestID, d.State))
		}
		if d.DeadLetter.Reason == domain.ReasonUnknownMember {
			return req.Error(CodeUnknownMember, d.DeadLetter.Error(), nil)
		}
		return req.Error(CodeBadRequest, d.DeadLetter.Error(), nil)
	}
	reply := RedeemReply{MemberID: memberID, RequestID: requestID, Balance: d.State.Balance, Available: d.State.Available,
		EventID: eventID, LedgerSeq: d.State.LedgerSeq}
	for _, f := range d.Facts {
		switch f := f.(type) {
		case domain.PointsRedeemed:
			reply.Status, reply.Points, reply.RewardID, reply.Quantity = "accepted", f.Points, f.RewardID, f.Quantity
		case domain.RedemptionRejected:
			reply.Status, reply.Points, reply.RewardID, reply.Quantity = "rejected", 0, f.RewardID, f.Quantity
			reply.Reason, reply.Detail = string(f.Reason), f.Detail
		case domain.HoldRedeemed:
			reply.Status, reply.Points = "accepted", f.Points
		case domain.PointsTransferred:
			reply.Status, reply.Points, reply.ToMemberID = "accepted", f.Points, f.ToMemberID
		case domain.TransferRejected:
			reply.Status, reply.ToMemberID, reply.Reason, reply.Detail = "rejected", f.ToMemberID, string(f.Reason), f.Detail
		case domain.PointsAdjusted:
			reply.Status, reply.Points = "accepted", f.Points
		case domain.AdjustmentRejected:
			reply.Status, reply.Points, reply.Reason, reply.Detail = "rejected", f.Points, string(f.Reason), f.Detail
		case domain.RedemptionCancelled:
			reply.Status, reply.Points, reply.RedemptionID, reply.RewardID, reply.Quantity = "accepted", f.Points, f.RedemptionID, f.RewardID, f.Quantity
		case domain.CancellationRejected:
			reply.Status, reply.RedemptionID, reply.Reason, reply.Detail = "rejected", f.RedemptionID, string(f.Reason), f.Detail
		case domain.VoucherIssued:
			reply.Vouchers = append(reply.Vouchers, VoucherJSON{Code: domain.FormatVoucherCode(f.Code), ExpiresAt: f.ExpiresAt})
		}
	}
	return req.RespondJSON(reply)
}

// badRequest answers 400 with what was wrong, and counts it.
func (s *service) badRequest(req micro.Request, description string) {
	s.e.metrics.serviceRefused(refusedBadRequest)
	_ = req.Error(CodeBadRequest, description, nil)
}

// repeated answers a call whose request was decided before, or by another
// call's event: with that decision, marked repeated, and without what only
// the decision's own reply carries (voucher codes); a repeat that asks for
// another amount is a conflict.
func (s *service) repeated(req micro.Request, ev domain.Event, state MemberView) {
	if why := conflict(ev, state.Redemption); why != "" {
		_ = req.Error(CodeConflict, why, nil)
		return
	}
	if use, ok := ev.Body.(domain.VoucherUse); ok {
		reply := voucherAnswer(use.Code, use.RequestID, nil, state.Redemption, state.LedgerSeq)
		if status, found, _ := s.e.readVoucher(ev.MemberID, use.Code); found {
			reply.RewardID = status.RewardID
		}
		_ = req.RespondJSON(reply)
		return
	}
	_ = req.RespondJSON(repeatedReply(ev.MemberID, callerRequestID(ev, domain.RequestRef{}), state))
}

// decidedBy reports whether facts are the decision of the event id's
// request: its own record, or the end of the hold it made (the stock's
// answer decides a held redemption, in a record of the answer's).
func decidedBy(facts []domain.Fact, eventID string) bool {
	for _, f := range facts {
		switch f.(type) {
		case domain.HoldRedeemed, domain.HoldReturned:
			return true
		}
	}
	return len(facts) > 0 && facts[len(facts)-1].Meta().EventID == eventID
}

// callerRequestID is the request id as the caller gave it (a request's key
// may pair it with more: a cancellation's redemption, a use's code).
func callerRequestID(ev domain.Event, request domain.RequestRef) string {
	switch b := ev.Body.(type) {
	case domain.RedeemRequest:
		return b.RequestID
	case domain.TransferRequest:
		return b.RequestID
	case domain.AdjustRequest:
		return b.RequestID
	case domain.CancelRequest:
		return b.RequestID
	case domain.VoucherUse:
		return b.RequestID
	}
	return request.ID
}

// conflict says how a repeated request differs from the decision its
// request_id has, or "" when it does not: a retry with another amount is a
// mistake to report, never a success.
func conflict(ev domain.Event, o *domain.RedemptionOutcome) string {
	if b, ok := ev.Body.(domain.AdjustRequest); ok && o.Points != b.Points {
		return fmt.Sprintf("request_id %q was decided for an adjustment of %+d points, and this one asks for %+d: give it a new request_id",
			b.RequestID, o.Points, b.Points)
	}
	return ""
}

func repeatedReply(memberID, requestID string, state MemberView) RedeemReply {
	o := state.Redemption
	reply := RedeemReply{MemberID: memberID, RequestID: requestID, Status: "accepted", Points: o.Points,
		Balance: state.Balance, Available: state.Available, Repeated: true, LedgerSeq: state.LedgerSeq}
	if o.Rejected != "" {
		reply.Status, reply.Reason = "rejected", string(o.Rejected)
	}
	return reply
}
