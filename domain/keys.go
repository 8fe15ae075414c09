package domain

import (
	"crypto/sha256"
	"encoding/binary"
	"time"
)

// A Key names something that may be consumed once for ever: an event id
// (scoped by the origin of its type), a member's order id, or a member's
// request id for one operation. A member forgets old orders and requests
// (see orderMemory); the engine keeps their keys in an index derived from
// the ledger, and tells the rules what it knows (Known).
type Key [16]byte

// Key kinds: the first byte hashed, so equal ids of different kinds never
// share a key.
const (
	keyEvent       = 'e'
	keyEngineEvent = 'E'
	keyOrder       = 'o'
	keyRequest     = 'r'
)

// EventKey is the key of an event id. The types only the engine publishes
// (MadeByEngine) have ids of their own: no client may publish those types,
// and a client's event that carries the same id must neither block the
// engine's nor be taken for it.
func EventKey(t EventType, id string) Key {
	if MadeByEngine(t) {
		return hashKey(keyEngineEvent, id)
	}
	return hashKey(keyEvent, id)
}

// LegacyEventKey is the key of an event id recorded before ledger records
// named their event's type: it counts for events of either origin.
func LegacyEventKey(id string) Key { return hashKey(keyEvent, id) }

// OrderKey is the key of a member's order id (order ids are unique per
// member, docs/events.md).
func OrderKey(member, order string) Key { return hashKey(keyOrder, member, order) }

// RequestKey is the key of a member's request id for one operation.
func RequestKey(member string, ref RequestRef) Key {
	return hashKey(keyRequest, member, string(rune('0'+ref.Kind)), ref.ID)
}

// hashKey hashes the parts length-prefixed, so no choice of ids makes two
// different lists hash the same bytes.
func hashKey(kind byte, parts ...string) Key {
	var buf [512]byte
	b := append(buf[:0], kind)
	for _, s := range parts {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	sum := sha256.Sum256(b)
	var k Key
	copy(k[:], sum[:16])
	return k
}

// Known is what the engine's key index knows of an event's order and
// request beyond the member's state: an input to the rules, like the
// program, so Decide stays pure.
type Known struct {
	// Order: the purchase's order id was recorded for the member.
	Order bool
	// Request: what became of the request id, when it was decided.
	Request *RedemptionOutcome
}

// KeysOf returns the keys an event's order and request have in the index,
// for the engine to look up before it decides.
func KeysOf(e Event) (order, request *Key) {
	switch b := e.Body.(type) {
	case Purchase:
		k := OrderKey(e.MemberID, b.OrderID)
		return &k, nil
	case RedeemRequest:
		k := RequestKey(e.MemberID, RedemptionRef(b.RequestID))
		return nil, &k
	case TransferRequest:
		k := RequestKey(e.MemberID, TransferRef(b.RequestID))
		return nil, &k
	case AdjustRequest:
		k := RequestKey(e.MemberID, AdjustmentRef(b.RequestID))
		return nil, &k
	case CancelRequest:
		k := RequestKey(e.MemberID, CancelRef(b.RequestID, b.RedemptionID))
		return nil, &k
	case VoucherUse:
		k := RequestKey(e.MemberID, VoucherUseRef(b.RequestID, b.Channel, b.Code))
		return nil, &k
	}
	return nil, nil
}

// A Claim is a key that facts take: an order recorded, a request decided
// (with its outcome, for the answer to a repeat).
type Claim struct {
	Key     Key
	Request *RedemptionOutcome
}

// ClaimsOf returns the keys a member's facts take, in fact order: a later
// claim of the same key (a held redemption refused for want of stock)
// replaces the earlier.
func ClaimsOf(member string, facts []Fact) []Claim {
	var claims []Claim
	request := func(ref RequestRef, at time.Time, points int64, rejected RedemptionReason) {
		claims = append(claims, Claim{Key: RequestKey(member, ref),
			Request: &RedemptionOutcome{At: at.UTC(), Points: points, Rejected: rejected}})
	}
	for _, f := range facts {
		switch f := f.(type) {
		case PurchaseRecorded:
			claims = append(claims, Claim{Key: OrderKey(member, f.OrderID)})
		case PointsRedeemed:
			request(RedemptionRef(f.RequestID), f.OccurredAt, f.Points, "")
		case PointsHeld:
			request(RedemptionRef(f.RequestID), f.OccurredAt, f.Points, "")
		case RedemptionRejected:
			request(RedemptionRef(f.RequestID), f.OccurredAt, 0, f.Reason)
		case PointsTransferred:
			request(TransferRef(f.RequestID), f.OccurredAt, f.Points, "")
		case TransferRejected:
			request(TransferRef(f.RequestID), f.OccurredAt, 0, f.Reason)
		case PointsAdjusted:
			request(AdjustmentRef(f.RequestID), f.OccurredAt, f.Points, "")
		case AdjustmentRejected:
			request(AdjustmentRef(f.RequestID), f.OccurredAt, f.Points, f.Reason) // for a repeat's conflict check
		case RedemptionCancelled:
			request(CancelRef(f.RequestID, f.RedemptionID), f.OccurredAt, f.Points, "")
		case CancellationRejected:
			request(CancelRef(f.RequestID, f.RedemptionID), f.OccurredAt, 0, f.Reason)
		case VoucherUsed:
			request(VoucherUseRef(f.RequestID, f.Channel, f.Code), f.OccurredAt, 0, "")
		case VoucherRefused:
			request(VoucherUseRef(f.RequestID, f.Channel, f.Code), f.OccurredAt, 0, f.Reason)
		}
	}
	return claims
}

// refuseKnown rejects an event whose order or request the index knows,
// with the same reasons the member's own state gives.
func refuseKnown(e Event, k Known) error {
	switch b := e.Body.(type) {
	case Purchase:
		if k.Order {
			return reject(ReasonDuplicateOrder, "order_id", "order %q was already recorded for this member", b.OrderID)
		}
	case RedeemRequest:
		if k.Request != nil {
			return duplicateRedemption(b.RequestID, *k.Request)
		}
	case TransferRequest:
		if k.Request != nil {
			return duplicateTransfer(b.RequestID, *k.Request)
		}
	case AdjustRequest, CancelRequest, VoucherUse:
		if k.Request != nil {
			return duplicateRequest(requestID(b), *k.Request)
		}
	}
	return nil
}
