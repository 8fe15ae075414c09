package streams

import (
	"time"

	"github.com/pointsledger/loyalty/domain"
)

// MaxRequestBytes bounds a service request: the data of one event.
const MaxRequestBytes = MaxEventBytes

// DecodeRequest reads a service request, the JSON object that would be the
// data of an event of type t, by DecodeEvent's rules: one valid UTF-8 JSON
// text, keys matched exactly (not case-insensitively) and never repeated,
// each field of the type checked as in an event. Unlike an event it refuses
// any key but member_id and fields: a till's typo must fail loudly, not
// redeem the wrong thing. With t empty only member_id is read.
//
// The errors are *domain.RejectedError, as DecodeEvent's.
func DecodeRequest(t domain.EventType, data []byte, fields ...string) (memberID string, body domain.EventBody, err error) {
	d := decoderPool.Get().(*decoder)
	defer d.release()
	o, err := parseRequest(d, data, append(fields, "member_id"))
	if err != nil {
		return "", nil, err
	}
	if t == "" {
		memberID, err = o.requiredString("member_id")
		return memberID, nil, err
	}
	c := codecByType[t]
	if c == nil {
		return "", nil, rejectWire(ReasonUnknownType, "type", "%s is not an input event type", quote(string(t)))
	}
	return decodeData(c, o)
}

// onlyKeys refuses a key of o that is not one of keys.
func (o object) onlyKeys(keys []string) error {
next:
	for i := o.first; i < o.last; i++ {
		m := o.d.member(i)
		for _, k := range keys {
			if o.d.keyIs(m, k) {
				continue next
			}
		}
		return rejectWire(domain.ReasonInvalidField, "", "%s is not a field of this request", quote(o.d.keyString(m)))
	}
	return nil
}

// DecodeVoucherRequest reads a till's voucher check ({"code": ...}) or use
// (with request_id and an optional channel), by DecodeRequest's rules. The
// code comes back canonical (domain.NormalizeVoucherCode); a use is
// checked as the event it becomes, member aside.
func DecodeVoucherRequest(data []byte, use bool) (domain.VoucherUse, error) {
	var b domain.VoucherUse
	keys := []string{"code"}
	if use {
		keys = append(keys, "request_id", "channel")
	}
	d := decoderPool.Get().(*decoder)
	defer d.release()
	o, err := parseRequest(d, data, keys)
	if err != nil {
		return b, err
	}
	if b.Code, err = o.requiredString("code"); err != nil {
		return b, err
	}
	if use {
		if b.RequestID, err = o.requiredString("request_id"); err != nil {
			return b, err
		}
		if b.Channel, _, err = o.optionalString("channel"); err != nil {
			return b, err
		}
	} else {
		b.RequestID = "check" // checked like a use's, never kept
	}
	// As the event it becomes: its own member and time are the service's.
	now := time.Now().UTC()
	if err := domain.Validate(domain.Event{ID: "voucher-request", Type: domain.TypeVoucherUse, MemberID: "voucher-request",
		OccurredAt: now, Body: b}, now); err != nil {
		return b, err
	}
	b.Code = domain.NormalizeVoucherCode(b.Code)
	if !use {
		b.RequestID = ""
	}
	return b, nil
}

// parseRequest reads a service request's JSON object with d, by
// DecodeEvent's rules, refusing an oversized one and any key but keys.
func parseRequest(d *decoder, data []byte, keys []string) (object, error) {
	if len(data) > MaxRequestBytes {
		return object{}, rejectWire(ReasonOversized, "", "request is %d bytes, more than the %d allowed", len(data), MaxRequestBytes)
	}
	d.data = data
	if err := d.checkJSONText(); err != nil {
		return object{}, err
	}
	o, err := d.parseObject(skipSpace(data, 0), "", -1)
	if err != nil {
		return object{}, err
	}
	return o, o.onlyKeys(keys)
}
