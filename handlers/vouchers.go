package handlers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/streams"
)

// A till knows a voucher's code, not its member, and a member's state lives
// in the member's partition. VouchersBucket tells the service whose a code
// is: one key per code, its SHA-256, holding the member's token (the id,
// for codes issued before tokens), which the member keys reveal. The engine
// writes it before the ledger append that issues the code, so a code a
// member has seen is always found; a key whose append then failed names a
// member who has no such voucher, and the member's partition refuses its use
// as unknown.
const VouchersBucket = "LOYALTY_VOUCHERS"

// Subjects of the tills' voucher calls.
const (
	VoucherCheckSubject = ServiceSubjects + ".voucher.check"
	VoucherUseSubject   = ServiceSubjects + ".voucher.use"
)

// VoucherRequestJSON is a till's check or use of a voucher code.
type VoucherRequestJSON struct {
	Code      string `json:"code"`
	RequestID string `json:"request_id,omitempty"` // use only
	Channel   string `json:"channel,omitempty"`    // use only
}

// VoucherReply answers a check (Status valid, used, expired, cancelled or
// unknown) or a use (accepted or rejected, with the reason). It names no
// member and no balance: a till learns what the code is worth, nothing more.
type VoucherReply struct {
	Code      string     `json:"code"`
	RequestID string     `json:"request_id,omitempty"`
	Status    string     `json:"status"`
	RewardID  string     `json:"reward_id,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	Reason    string     `json:"reason,omitempty"`
	Detail    string     `json:"detail,omitempty"`
	Repeated  bool       `json:"repeated,omitempty"`
	LedgerSeq uint64     `json:"ledger_seq,omitempty"`
}

// openVouchers makes or opens the bucket of codes.
func openVouchers(ctx context.Context, js jetstream.JetStream) (jetstream.KeyValue, error) {
	kv, err := streams.KeyValueBucket(ctx, js, jetstream.KeyValueConfig{
		Bucket: VouchersBucket, Description: "Loyalty voucher codes: the member of each code, by the code's SHA-256",
		History: 1, Storage: jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("vouchers bucket %s: %w", VouchersBucket, err)
	}
	return kv, nil
}

// voucherKey is a code's key in VouchersBucket: the code never is.
func voucherKey(code string) string { return "code." + domain.VoucherCodeHash(code) }

// indexVouchers writes the member of each code a record issues: their
// token, never their id, so that an erasure (of the token's key) leaves
// the bucket nothing to read and nothing to delete.
func (e *Engine) indexVouchers(ctx context.Context, rec *streams.LedgerRecord) error {
	for _, f := range rec.Facts {
		if v, ok := f.(domain.VoucherIssued); ok {
			member := rec.MemberID
			if e.memberKeys != nil {
				member = e.memberKeys.Token(member)
			}
			if _, err := e.vouchers.Put(ctx, voucherKey(v.Code), []byte(member)); err != nil {
				return fmt.Errorf("index voucher of redemption %q: %w", v.RequestID, err)
			}
		}
	}
	return nil
}

// voucherMember finds whose a code is; "" when nobody's.
func (s *service) voucherMember(ctx context.Context, code string) (string, error) {
	kv := s.e.vouchers
	if kv == nil {
		return "", errors.New("the engine is starting")
	}
	entry, err := kv.Get(ctx, voucherKey(code))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	member := string(entry.Value())
	if !streams.IsMemberToken(member) || s.e.memberKeys == nil {
		return member, nil // an id, written before tokens were
	}
	id, erased, err := s.e.memberKeys.Reveal(ctx, member)
	if erased {
		return "", err // an erased member's code is no one's
	}
	return id, err
}

// readVoucher reads a member's voucher from this engine's state; ok is
// false when it owns no state.
func (e *Engine) readVoucher(memberID, code string) (status domain.VoucherStatus, found, ok bool) {
	ok = e.withCommittedMember(memberID, func(_ *partition, m *domain.Member) {
		if m != nil {
			status, found = m.Voucher(code, time.Now().UTC())
		}
	})
	return status, found, ok
}

// voucherRequest reads a check or use; the code comes back canonical.
func (s *service) voucherRequest(req micro.Request, use bool) (domain.VoucherUse, string, bool) {
	body, err := streams.DecodeVoucherRequest(req.Data(), use)
	if err != nil {
		s.badRequest(req, `want {"code": "..."`+map[bool]string{true: `, "request_id": "...", "channel": "..."}`, false: `}`}[use]+": "+err.Error())
		return body, "", false
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	member, err := s.voucherMember(ctx, body.Code)
	if err != nil {
		_ = req.Error(CodeUnavailable, "could not look the code up: "+err.Error()+"; retry shortly", nil)
		return body, "", false
	}
	if member == "" {
		reply := VoucherReply{Code: domain.FormatVoucherCode(body.Code), RequestID: body.RequestID, Status: "unknown"}
		if use {
			reply.Status, reply.Reason, reply.Detail = "rejected", string(domain.VoucherUnknown), "no voucher has this code"
		}
		_ = req.RespondJSON(reply)
		return body, "", false
	}
	return body, member, true
}

func (s *service) voucherCheck(req micro.Request) {
	body, member, ok := s.voucherRequest(req, false)
	if !ok || s.forward(req, member, "voucher_check") {
		return
	}
	status, found, ok := s.e.readVoucher(member, body.Code)
	switch {
	case !ok && isForwarded(req):
		_ = req.Error(codeMoved, "the member's partition is no longer this engine's", nil)
	case !ok:
		_ = req.Error(CodeUnavailable, "the engine is not serving (starting or stopping); retry shortly", nil)
	case !found:
		_ = req.RespondJSON(VoucherReply{Code: domain.FormatVoucherCode(body.Code), Status: "unknown"})
	default:
		expires := status.ExpiresAt
		_ = req.RespondJSON(VoucherReply{Code: domain.FormatVoucherCode(body.Code), Status: status.Status, RewardID: status.RewardID,
			ExpiresAt: &expires})
	}
}

func (s *service) voucherUse(req micro.Request) {
	body, member, ok := s.voucherRequest(req, true)
	if !ok || s.forward(req, member, "voucher_use") {
		return
	}
	id, err := requestEventID("voucher-use-")
	if err != nil {
		_ = req.Error(CodeUnavailable, err.Error(), nil)
		return
	}
	s.request(req, "voucher_use", domain.Event{ID: id, Type: domain.TypeVoucherUse, Source: ServiceSource, MemberID: member,
		OccurredAt: time.Now().UTC(), Body: body}, domain.VoucherUseRef(body.RequestID, body.Channel, body.Code))
}

// voucherAnswer is the reply to a use the ledger decided (facts), or decided
// before (o).
func voucherAnswer(code, requestID string, facts []domain.Fact, o *domain.RedemptionOutcome, seq uint64) VoucherReply {
	reply := VoucherReply{Code: domain.FormatVoucherCode(code), RequestID: requestID, LedgerSeq: seq}
	for _, f := range facts {
		switch f := f.(type) {
		case domain.VoucherUsed:
			reply.Status, reply.RewardID = "accepted", f.RewardID
		case domain.VoucherRefused:
			reply.Status, reply.Reason, reply.Detail = "rejected", string(f.Reason), f.Detail
		}
	}
	if o != nil {
		reply.Status, reply.Repeated = "accepted", true
		if o.Rejected != "" {
			reply.Status, reply.Reason = "rejected", string(o.Rejected)
		}
	}
	return reply
}

// answerVoucherUse replies with the decision on a use. A dead letter is
// answered by its reason and field alone: its detail may name the member.
func answerVoucherUse(req micro.Request, use domain.VoucherUse, d Decision) error {
	if d.DeadLetter != nil {
		if d.State.Redemption != nil {
			return req.RespondJSON(voucherAnswer(use.Code, use.RequestID, nil, d.State.Redemption, d.State.LedgerSeq))
		}
		return req.Error(CodeBadRequest, fmt.Sprintf("%s: %s", d.DeadLetter.Reason, d.DeadLetter.Field), nil)
	}
	return req.RespondJSON(voucherAnswer(use.Code, use.RequestID, d.Facts, nil, d.State.LedgerSeq))
}
