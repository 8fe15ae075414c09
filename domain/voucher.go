package domain

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// A reward with voucher terms issues a code per unit redeemed
// (VoucherIssued), which a till checks and uses once
// (loyalty.voucher.use_requested.v1). The engine mints the codes from its
// secret key, as it does follow-up ids (GiveFollowUpIDs): no client can
// guess one, and a replay reads them from the ledger.

// MaxVoucherDays bounds a voucher's validity: no longer than a member
// remembers the redemption that issued it (orderMemory), so a code is never
// forgotten while it is valid.
const MaxVoucherDays = 730

// VoucherAlphabet is the codes' characters: digits and capital letters
// without 0, 1, I and O, which are read for one another. 32 of them: 5 bits
// a character.
const VoucherAlphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"

// VoucherCodeLength is the characters of a code: 80 bits of the engine's
// HMAC, written in groups of four (XXXX-XXXX-XXXX-XXXX).
const VoucherCodeLength = 16

// Reasons a voucher's use is refused (VoucherRefused facts), and the one a
// cancellation of a redemption whose voucher was used is.
const (
	VoucherUnknown     RedemptionReason = "unknown_voucher"
	VoucherAlreadyUsed RedemptionReason = "voucher_used"
	VoucherExpired     RedemptionReason = "voucher_expired"
	VoucherCancelled   RedemptionReason = "voucher_cancelled"
)

// VoucherUse is the body of TypeVoucherUse: a till uses a member's voucher
// code. The service finds the member by the code and publishes it;
// RequestID is the till's, decided once.
type VoucherUse struct {
	RequestID string
	Code      string
	Channel   string
}

func (VoucherUse) EventType() EventType { return TypeVoucherUse }

func (b VoucherUse) validate(Event) error {
	switch {
	case b.RequestID == "":
		return reject(ReasonMissingField, "request_id", "is required")
	case NormalizeVoucherCode(b.Code) == "":
		return reject(ReasonInvalidField, "code", "is not a voucher code: %d characters of %s, dashes and spaces aside", VoucherCodeLength, VoucherAlphabet)
	}
	return nil
}

func (b VoucherUse) stringFields(yield func(StringField) bool) bool {
	return yield(ident("request_id", b.RequestID, MaxRequestIDBytes)) && yield(ident("code", b.Code, MaxRequestIDBytes)) &&
		yield(ident("channel", b.Channel, MaxChannelBytes))
}

func (b VoucherUse) decide(m *Member, meta FactMeta, at time.Time, e Event, p *Program) ([]Fact, bool, error) {
	facts, err := decideVoucherUse(m, meta, b)
	return facts, false, err
}

// VoucherIssued is a voucher code for one unit of a redeemed reward, valid
// until ExpiresAt. Code is the engine's (GiveFollowUpIDs).
type VoucherIssued struct {
	FactMeta
	RequestID string // the redemption's
	RewardID  string
	Code      string
	ExpiresAt time.Time
}

func (VoucherIssued) activity() bool     { return false }
func (VoucherIssued) FactType() FactType { return FactVoucherIssued }

// VoucherUsed records a voucher's one use.
type VoucherUsed struct {
	FactMeta
	RequestID    string // the till's
	Code         string
	RedemptionID string
	RewardID     string
	Channel      string
}

func (VoucherUsed) activity() bool     { return false }
func (VoucherUsed) FactType() FactType { return FactVoucherUsed }

// VoucherRefused records a use that was refused: unknown, used, expired or
// cancelled.
type VoucherRefused struct {
	FactMeta
	RequestID string
	Code      string
	Channel   string
	Reason    RedemptionReason
	Detail    string
}

func (VoucherRefused) activity() bool     { return false }
func (VoucherRefused) FactType() FactType { return FactVoucherRefused }

// VoucherUseRef names a till's use of a voucher: its request id, channel
// and code, so that two tills whose request ids meet, or one that gives one
// id to two codes, get decisions of their own, never another's answer.
// (Length-prefixed, with the code's fixed length at the end, so no two
// triples make one ref.)
func VoucherUseRef(id, channel, code string) RequestRef {
	return RequestRef{Kind: RequestVoucherUse, ID: fmt.Sprintf("%d:%s%d:%s/%s", len(id), id, len(channel), channel, NormalizeVoucherCode(code))}
}

// voucher is what a member's state keeps of a code, for as long as it keeps
// the redemption's request.
type voucher struct {
	redemption string
	reward     string
	expires    time.Time
	used       bool
	cancelled  bool
}

// VoucherStatus is a code's state as a check reports it.
type VoucherStatus struct {
	RedemptionID string
	RewardID     string
	ExpiresAt    time.Time
	// Status is valid, used, expired, cancelled or blocked (the member's
	// account is blocked or closed).
	Status string
}

// Voucher reports the member's voucher with code (normalised), as of at.
func (m *Member) Voucher(code string, at time.Time) (VoucherStatus, bool) {
	v, ok := m.vouchers[code]
	if !ok {
		return VoucherStatus{}, false
	}
	s := VoucherStatus{RedemptionID: v.redemption, RewardID: v.reward, ExpiresAt: v.expires, Status: "valid"}
	switch {
	case memberStatus(m) != StatusActive:
		s.Status = "blocked" // the account is blocked or closed: a use is refused
	case v.used:
		s.Status = "used"
	case v.cancelled:
		s.Status = "cancelled"
	case !at.Before(v.expires):
		s.Status = "expired"
	}
	return s, true
}

// VoucherCodes lists the member's codes, for the engine's index of codes.
func (m *Member) VoucherCodes() []string {
	codes := make([]string, 0, len(m.vouchers))
	for c := range m.vouchers {
		codes = append(codes, c)
	}
	return codes
}

// NormalizeVoucherCode is a code as the engine keeps it: upper case, without
// dashes and spaces; "" when it cannot be a code.
func NormalizeVoucherCode(code string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(code) {
		switch {
		case r == '-' || r == ' ':
		case strings.ContainsRune(VoucherAlphabet, r):
			b.WriteRune(r)
		default:
			return ""
		}
		if b.Len() > VoucherCodeLength {
			return ""
		}
	}
	if b.Len() != VoucherCodeLength {
		return ""
	}
	return b.String()
}

// VoucherCodeHash is how the engine names a code wherever it must not keep
// the code itself (the vouchers bucket, loyalty.vouchers): the hex SHA-256
// of its canonical form.
func VoucherCodeHash(code string) string {
	sum := sha256.Sum256([]byte(code))
	return hex.EncodeToString(sum[:])
}

// FormatVoucherCode writes a code in groups of four, for people.
func FormatVoucherCode(code string) string {
	var parts []string
	for i := 0; i < len(code); i += 4 {
		parts = append(parts, code[i:min(i+4, len(code))])
	}
	return strings.Join(parts, "-")
}

// voucherCode makes a code from an id the engine minted: 80 bits of its
// hash in VoucherAlphabet.
func voucherCode(minted string) string {
	sum := sha256.Sum256([]byte("loyalty/voucher/v1\x00" + minted))
	var b [VoucherCodeLength]byte
	var acc uint64
	bits, j := 0, 0
	for _, x := range sum[:10] {
		acc = acc<<8 | uint64(x)
		bits += 8
		for bits >= 5 {
			bits -= 5
			b[j] = VoucherAlphabet[(acc>>bits)&31]
			j++
		}
	}
	return string(b[:])
}

// decideVouchers issues the codes of an accepted redemption of a voucher
// reward, one per unit.
func decideVouchers(meta FactMeta, request string, reward Reward, quantity int64) []Fact {
	if reward.VoucherDays == 0 {
		return nil
	}
	expires := meta.OccurredAt.AddDate(0, 0, reward.VoucherDays)
	facts := make([]Fact, 0, quantity)
	for i := range max(quantity, 1) {
		// A code the engine replaces with one of its key's
		// (GiveFollowUpIDs); this one is only for rules run without it.
		code := voucherCode(followUpID("", voucherPrefix, meta) + "/" + request + "/" + fmt.Sprint(i))
		facts = append(facts, VoucherIssued{FactMeta: meta, RequestID: request, RewardID: reward.ID, Code: code, ExpiresAt: expires})
	}
	return facts
}

func decideVoucherUse(m *Member, meta FactMeta, b VoucherUse) ([]Fact, error) {
	if !m.Known() {
		return nil, unknownMember()
	}
	if o, seen := m.requests[VoucherUseRef(b.RequestID, b.Channel, b.Code)]; seen {
		return nil, duplicateRequest(b.RequestID, o)
	}
	code := NormalizeVoucherCode(b.Code)
	refuse := func(reason RedemptionReason, format string, args ...any) ([]Fact, error) {
		return []Fact{VoucherRefused{FactMeta: meta, RequestID: b.RequestID, Code: code, Channel: b.Channel, Reason: reason,
			Detail: fmt.Sprintf(format, args...)}}, nil
	}
	s, ok := m.Voucher(code, meta.OccurredAt)
	switch {
	case ok && s.Status == "blocked" && memberStatus(m) == StatusBlocked:
		return refuse(RedeemMemberBlocked, "the member's account is blocked")
	case ok && s.Status == "blocked":
		return refuse(RedeemMemberClosed, "the member's account is closed")
	case !ok:
		return refuse(VoucherUnknown, "the member has no voucher %s", FormatVoucherCode(code))
	case s.Status == "used":
		return refuse(VoucherAlreadyUsed, "voucher %s was used already", FormatVoucherCode(code))
	case s.Status == "cancelled":
		return refuse(VoucherCancelled, "voucher %s was cancelled with its redemption", FormatVoucherCode(code))
	case s.Status == "expired":
		return refuse(VoucherExpired, "voucher %s expired at %s", FormatVoucherCode(code), s.ExpiresAt.Format(time.RFC3339))
	}
	return []Fact{VoucherUsed{FactMeta: meta, RequestID: b.RequestID, Code: code, RedemptionID: s.RedemptionID,
		RewardID: s.RewardID, Channel: b.Channel}}, nil
}

// evolveVoucher folds the facts of vouchers.
func (m *Member) evolveVoucher(f Fact) {
	m.unshare()
	switch f := f.(type) {
	case VoucherIssued:
		if m.vouchers == nil {
			m.vouchers = map[string]voucher{}
		}
		m.vouchers[f.Code] = voucher{redemption: f.RequestID, reward: f.RewardID, expires: f.ExpiresAt}
	case VoucherUsed:
		v := m.vouchers[f.Code]
		v.used = true
		m.vouchers[f.Code] = v
		m.rememberRequest(VoucherUseRef(f.RequestID, f.Channel, f.Code), RedemptionOutcome{At: f.OccurredAt})
	case VoucherRefused:
		m.rememberRequest(VoucherUseRef(f.RequestID, f.Channel, f.Code), RedemptionOutcome{At: f.OccurredAt, Rejected: f.Reason})
	}
}

// voucherUsed reports whether a code of the redemption was used.
func (m *Member) voucherUsed(redemption string) (string, bool) {
	for code, v := range m.vouchers {
		if v.redemption == redemption && v.used {
			return code, true
		}
	}
	return "", false
}

// cancelVouchers voids the codes of a cancelled redemption.
func (m *Member) cancelVouchers(redemption string) {
	for code, v := range m.vouchers {
		if v.redemption == redemption {
			v.cancelled = true
			m.vouchers[code] = v
		}
	}
}

// forgetVouchers drops the codes of a redemption the member forgets.
func (m *Member) forgetVouchers(redemption string) {
	for code, v := range m.vouchers {
		if v.redemption == redemption {
			delete(m.vouchers, code)
		}
	}
}
