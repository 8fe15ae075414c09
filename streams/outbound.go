package streams

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pointsledger/loyalty/domain"
)

// The outbound stream is the public contract for systems that act on
// members (CRM, e-mail, apps): CloudEvents derived from the ledger, one per
// member-facing fact, on subjects of their own. Unlike the ledger's format
// it changes only by adding a version (.v2 beside .v1).
const (
	OutboundStream = "LOYALTY_OUT"
	OutboundPrefix = "loyalty.out"
)

// OutboundSource is the CloudEvents source of outbound events unless the
// operator names another (two deployments feeding one consumer must).
const OutboundSource = "loyalty"

// Outbound event types. A type's subject token is its name: the subject of
// an event is loyalty.out.<name>.v1.<partition>.<member key> (see
// OutboundSubject).
const (
	OutMemberEnrolled    = "member_enrolled"
	OutPointsEarned      = "points_earned"
	OutPointsAvailable   = "points_available"
	OutPointsReversed    = "points_reversed"
	OutPointsExpiring    = "points_expiring"
	OutPointsExpired     = "points_expired"
	OutPointsRedeemed    = "points_redeemed"
	OutTierChanged       = "tier_changed"
	OutRedemptionRefused = "redemption_refused"
	OutPointsAdjusted    = "points_adjusted"
	OutRedemptionCancel  = "redemption_cancelled"
	OutVoucherIssued     = "voucher_issued"
	OutVoucherUsed       = "voucher_used"
	OutOfferMade         = "offer_made"
)

// outboundVersion is the version every outbound type has today.
const outboundVersion = "v1"

// OutboundTypes lists the outbound event names, in the order the docs give.
var OutboundTypes = []string{OutMemberEnrolled, OutPointsEarned, OutPointsAvailable, OutPointsReversed, OutPointsExpiring,
	OutPointsExpired, OutPointsRedeemed, OutTierChanged, OutRedemptionRefused, OutPointsAdjusted, OutRedemptionCancel,
	OutVoucherIssued, OutVoucherUsed, OutOfferMade}

// OutboundType is the CloudEvents type of an outbound event name.
func OutboundType(name string) string { return OutboundPrefix + "." + name + "." + outboundVersion }

// OutboundSubject is where an outbound event for the member is published:
// the member's partition (PartitionOf, as for input), so that a consumer
// can split the members between workers by subject, and the member's key
// (see MemberKey), never the raw id.
func OutboundSubject(name, memberID string) string {
	return OutboundPrefix + "." + name + "." + outboundVersion + "." + strconv.Itoa(PartitionOf(memberID)) + "." + MemberKey(memberID)
}

// OutboundMemberFilter is the subject filter of every outbound event of
// one member.
func OutboundMemberFilter(memberID string) string {
	return OutboundPrefix + ".*.*." + strconv.Itoa(PartitionOf(memberID)) + "." + MemberKey(memberID)
}

// OutboundPartitionFilter is the subject filter of the outbound events of
// the named type ("*": every type) for the members of one partition.
func OutboundPartitionFilter(name string, partition int) string {
	if name == "*" {
		return OutboundPrefix + ".*.*." + strconv.Itoa(partition) + ".*"
	}
	return OutboundPrefix + "." + name + "." + outboundVersion + "." + strconv.Itoa(partition) + ".*"
}

// OutboundMember reads the partition and member key of an outbound
// subject.
func OutboundMember(subject string) (partition int, key string, ok bool) {
	rest, found := strings.CutPrefix(subject, OutboundPrefix+".")
	parts := strings.Split(rest, ".")
	if !found || len(parts) != 4 || parts[3] == "" {
		return 0, "", false
	}
	p, err := strconv.Atoi(parts[2])
	if err != nil || p < 0 || p >= Partitions || strconv.Itoa(p) != parts[2] {
		return 0, "", false
	}
	return p, parts[3], true
}

// OutboundID is the id of the outbound event made from the fact at index
// in the ledger message seq: derived from the ledger, so a restart, a
// replay or a rebuild gives the same id.
func OutboundID(seq uint64, index int) string {
	return strconv.FormatUint(seq, 10) + "-" + strconv.Itoa(index)
}

// ParseOutboundID reads an id OutboundID made.
func ParseOutboundID(id string) (seq uint64, index int, err error) {
	s, i, ok := strings.Cut(id, "-")
	if ok {
		seq, err = strconv.ParseUint(s, 10, 64)
		if err == nil {
			index, err = strconv.Atoi(i)
		}
	}
	if !ok || err != nil || seq == 0 || index < 0 {
		return 0, 0, fmt.Errorf("outbound id %q is not <ledger seq>-<fact index>", id)
	}
	return seq, index, nil
}

// OutboundEvent is one event of the outbound contract, ready to publish.
type OutboundEvent struct {
	ID       string
	Name     string // its type's name, OutPointsEarned say
	Subject  string
	MemberID string
	// Seq and Index name the ledger fact it was made from.
	Seq   uint64
	Index int
	// Data is the whole CloudEvent, in structured mode (JSON).
	Data []byte
}

// OutboundContentType is the content type of an outbound message's body.
const OutboundContentType = "application/cloudevents+json"

type cloudEvent struct {
	SpecVersion     string    `json:"specversion"`
	ID              string    `json:"id"`
	Source          string    `json:"source"`
	Type            string    `json:"type"`
	Subject         string    `json:"subject"`
	Time            time.Time `json:"time"`
	DataContentType string    `json:"datacontenttype"`
	Data            any       `json:"data"`
}

// outStanding is the member's standing after the fact, in every event's
// data; absent for facts recorded before the ledger kept it.
type outStanding struct {
	Balance       *int64  `json:"balance,omitempty"`
	PendingPoints *int64  `json:"pending_points,omitempty"`
	Tier          *string `json:"tier,omitempty"`
}

func standingOf(s *domain.Standing) outStanding {
	if s == nil {
		return outStanding{}
	}
	return outStanding{Balance: &s.Balance, PendingPoints: &s.Pending, Tier: &s.Tier}
}

type outMemberEnrolled struct {
	MemberID   string `json:"member_id"`
	Channel    string `json:"channel,omitempty"`
	ReferredBy string `json:"referred_by,omitempty"`
	outStanding
}

type outPointsEarned struct {
	MemberID    string     `json:"member_id"`
	Points      int64      `json:"points"`
	Rule        string     `json:"rule"`
	OrderID     string     `json:"order_id,omitempty"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
	AvailableAt *time.Time `json:"available_at,omitempty"`
	outStanding
}

type outPointsAvailable struct {
	MemberID  string     `json:"member_id"`
	Points    int64      `json:"points"`
	OrderID   string     `json:"order_id,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	outStanding
}

type outPointsReversed struct {
	MemberID string `json:"member_id"`
	Points   int64  `json:"points"`
	Rule     string `json:"rule"`
	OrderID  string `json:"order_id,omitempty"`
	outStanding
}

type outPointsExpiring struct {
	MemberID  string    `json:"member_id"`
	Points    int64     `json:"points"`
	ExpiresAt time.Time `json:"expires_at"`
	outStanding
}

type outPointsExpired struct {
	MemberID string `json:"member_id"`
	Points   int64  `json:"points"`
	Rule     string `json:"rule"`
	outStanding
}

type outPointsRedeemed struct {
	MemberID  string `json:"member_id"`
	Points    int64  `json:"points"`
	RequestID string `json:"request_id"`
	RewardID  string `json:"reward_id,omitempty"`
	Quantity  int64  `json:"quantity,omitempty"`
	outStanding
}

type outTierChanged struct {
	MemberID string     `json:"member_id"`
	FromTier string     `json:"from_tier,omitempty"`
	ToTier   string     `json:"to_tier"`
	Reason   string     `json:"reason"`
	ReviewAt *time.Time `json:"review_at,omitempty"`
	outStanding
}

type outRedemptionRefused struct {
	MemberID       string `json:"member_id"`
	RequestID      string `json:"request_id"`
	RewardID       string `json:"reward_id,omitempty"`
	Reason         string `json:"reason"`
	PointsReturned int64  `json:"points_returned,omitempty"`
	outStanding
}

type outPointsAdjusted struct {
	MemberID   string `json:"member_id"`
	Points     int64  `json:"points"`
	ReasonCode string `json:"reason_code"`
	RequestID  string `json:"request_id"`
	outStanding
}

type outRedemptionCancelled struct {
	MemberID       string `json:"member_id"`
	RequestID      string `json:"request_id"`
	RewardID       string `json:"reward_id,omitempty"`
	Quantity       int64  `json:"quantity,omitempty"`
	PointsReturned int64  `json:"points_returned"`
	ReasonCode     string `json:"reason_code"`
	outStanding
}

type outVoucherIssued struct {
	MemberID  string    `json:"member_id"`
	Code      string    `json:"code"`
	RewardID  string    `json:"reward_id"`
	RequestID string    `json:"request_id"`
	ExpiresAt time.Time `json:"expires_at"`
	outStanding
}

type outVoucherUsed struct {
	MemberID  string `json:"member_id"`
	Code      string `json:"code"`
	RewardID  string `json:"reward_id"`
	RequestID string `json:"request_id"`
	Channel   string `json:"channel,omitempty"`
	outStanding
}

type outOfferMade struct {
	MemberID string `json:"member_id"`
	Offer    string `json:"offer"`
	Rule     string `json:"rule"`
	outStanding
}

// outboundData is the outbound event name and data of a fact, or false
// for a fact that is not told outside (a purchase's record, tier progress,
// a reward's stock).
func outboundData(f domain.Fact, s outStanding) (string, any, bool) {
	id := f.Meta().MemberID
	switch f := f.(type) {
	case domain.MemberEnrolled:
		return OutMemberEnrolled, outMemberEnrolled{MemberID: id, Channel: f.Channel, ReferredBy: f.ReferredBy, outStanding: s}, true
	case domain.PointsEarned:
		return OutPointsEarned, outPointsEarned{MemberID: id, Points: f.Points, Rule: f.Rule, OrderID: f.OrderID,
			ExpiresAt: timeOrNil(f.ExpiresAt), AvailableAt: timeOrNil(f.AvailableAt), outStanding: s}, true
	case domain.PointsReleased:
		return OutPointsAvailable, outPointsAvailable{MemberID: id, Points: f.Points, OrderID: f.OrderID,
			ExpiresAt: timeOrNil(f.ExpiresAt), outStanding: s}, true
	case domain.PointsReversed:
		return OutPointsReversed, outPointsReversed{MemberID: id, Points: f.Points, Rule: f.Rule, OrderID: f.OrderID, outStanding: s}, true
	case domain.PointsExpiring:
		return OutPointsExpiring, outPointsExpiring{MemberID: id, Points: f.Points, ExpiresAt: f.ExpiresAt.UTC(), outStanding: s}, true
	case domain.PointsExpired:
		return OutPointsExpired, outPointsExpired{MemberID: id, Points: f.Points, Rule: f.Rule, outStanding: s}, true
	case domain.PointsRedeemed:
		return OutPointsRedeemed, outPointsRedeemed{MemberID: id, Points: f.Points, RequestID: f.RequestID, RewardID: f.RewardID,
			Quantity: f.Quantity, outStanding: s}, true
	case domain.HoldRedeemed:
		return OutPointsRedeemed, outPointsRedeemed{MemberID: id, Points: f.Points, RequestID: f.RequestID, outStanding: s}, true
	case domain.TierChanged:
		return OutTierChanged, outTierChanged{MemberID: id, FromTier: f.From, ToTier: f.To, Reason: f.Reason,
			ReviewAt: timeOrNil(f.ExpiresAt), outStanding: s}, true
	case domain.RedemptionRejected:
		return OutRedemptionRefused, outRedemptionRefused{MemberID: id, RequestID: f.RequestID, RewardID: f.RewardID,
			Reason: string(f.Reason), outStanding: s}, true
	case domain.DebtRepaid:
		return OutPointsReversed, outPointsReversed{MemberID: id, Points: f.Points, Rule: domain.RuleDebtRepayment, outStanding: s}, true
	case domain.PointsAdjusted:
		// The operator's note stays in the engine: it is for the record,
		// not for the member's channels.
		return OutPointsAdjusted, outPointsAdjusted{MemberID: id, Points: f.Points, ReasonCode: f.Reason, RequestID: f.RequestID,
			outStanding: s}, true
	case domain.RedemptionCancelled:
		return OutRedemptionCancel, outRedemptionCancelled{MemberID: id, RequestID: f.RedemptionID, RewardID: f.RewardID,
			Quantity: f.Quantity, PointsReturned: f.Points, ReasonCode: f.Reason, outStanding: s}, true
	case domain.VoucherIssued:
		return OutVoucherIssued, outVoucherIssued{MemberID: id, Code: domain.FormatVoucherCode(f.Code), RewardID: f.RewardID,
			RequestID: f.RequestID, ExpiresAt: f.ExpiresAt.UTC(), outStanding: s}, true
	case domain.OfferMade:
		return OutOfferMade, outOfferMade{MemberID: id, Offer: f.Offer, Rule: f.Rule, outStanding: s}, true
	case domain.VoucherUsed:
		return OutVoucherUsed, outVoucherUsed{MemberID: id, Code: domain.FormatVoucherCode(f.Code), RewardID: f.RewardID,
			RequestID: f.RedemptionID, Channel: f.Channel, outStanding: s}, true
	}
	return "", nil, false
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// OutboundOf is the outbound events a ledger record gives, in its facts'
// order. The record must have been read from the ledger (Seq set). A
// record of the engine's own members (a reward's stock) gives none.
func OutboundOf(r LedgerRecord, source string) ([]OutboundEvent, error) {
	if domain.IsReservedMemberID(r.MemberID) {
		return nil, nil
	}
	var standings []domain.Standing
	if r.After != nil {
		standings = domain.StandingsOf(*r.After, r.Facts)
	}
	var out []OutboundEvent
	for i, f := range r.Facts {
		var s outStanding
		if standings != nil {
			s = standingOf(&standings[i])
		}
		name, data, ok := outboundData(f, s)
		if !ok {
			continue
		}
		if refused, ok := data.(outRedemptionRefused); ok {
			// A held redemption the stock refused: its points come back
			// by the next fact, which the member is told of with it.
			if j, back := returnedHold(r.Facts, i, refused.RequestID); back != nil {
				refused.PointsReturned = back.Points
				if standings != nil {
					refused.outStanding = standingOf(&standings[j])
				}
				data = refused
			}
		}
		index := r.FirstFact + i
		ev := OutboundEvent{ID: OutboundID(r.Seq, index), Name: name, MemberID: r.MemberID,
			Subject: OutboundSubject(name, r.MemberID), Seq: r.Seq, Index: index}
		var body bytes.Buffer
		enc := json.NewEncoder(&body)
		enc.SetEscapeHTML(false) // member ids and reasons as written
		if err := enc.Encode(cloudEvent{SpecVersion: "1.0", ID: ev.ID, Source: source, Type: OutboundType(name),
			Subject: r.MemberID, Time: f.Meta().OccurredAt.UTC(), DataContentType: "application/json", Data: data}); err != nil {
			return nil, fmt.Errorf("outbound event for ledger fact %s: %w", ev.ID, err)
		}
		ev.Data = bytes.TrimSuffix(body.Bytes(), []byte("\n"))
		out = append(out, ev)
	}
	return out, nil
}

// returnedHold finds the HoldReturned giving back the points of request
// after facts[i], a refusal.
func returnedHold(facts []domain.Fact, i int, request string) (int, *domain.HoldReturned) {
	for j := i + 1; j < len(facts); j++ {
		if h, ok := facts[j].(domain.HoldReturned); ok && h.RequestID == request {
			return j, &h
		}
	}
	return 0, nil
}
