package streams

import "github.com/pointsledger/loyalty/domain"

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
	if len(data) > MaxRequestBytes {
		return "", nil, rejectWire(ReasonOversized, "", "request is %d bytes, more than the %d allowed", len(data), MaxRequestBytes)
	}
	d := decoderPool.Get().(*decoder)
	defer d.release()
	d.data = data
	if err := d.checkJSONText(); err != nil {
		return "", nil, err
	}
	o, err := d.parseObject(skipSpace(data, 0), "", -1)
	if err != nil {
		return "", nil, err
	}
	if err := o.onlyKeys(append(fields, "member_id")); err != nil {
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
