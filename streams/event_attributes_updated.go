package streams

import (
	"bytes"
	"slices"
	"strconv"
	"strings"

	"github.com/pointsledger/loyalty/domain"
)

// loyalty.member.attributes_updated.v1, published on
// loyalty.in.attributes-updated.<key> by upstream (a CRM, a preference
// centre) to set or remove some of a member's attributes:
//
//	"data": {"member_id": "m-1", "channel": "crm",
//	         "attributes": {"home_store": "s-12", "age_band": "35-44", "sms_opt_in": true, "visits_2025": 14, "old_key": null}}
//
// A value is a string, an integer or a boolean; null removes the attribute.
// Keys are 1 to 64 of a-z, 0-9 and _, at most 32 of them.
var attributesUpdated = newEventCodec("attributes-updated", 19, decodeAttributes, encodeAttributes, digestAttributes)

func decodeAttributes(o object) (b domain.AttributesUpdate, err error) {
	if b.Channel, _, err = o.optionalString("channel"); err != nil {
		return b, err
	}
	attrs, ok, err := o.object("attributes")
	if err != nil {
		return b, err
	}
	if !ok {
		return b, rejectWire(domain.ReasonMissingField, "attributes", "is required")
	}
	if n := attrs.last - attrs.first; n > domain.MaxAttributes {
		return b, rejectWire(domain.ReasonInvalidField, "attributes", "holds %d attributes, at most %d are allowed", n, domain.MaxAttributes)
	}
	// In name order, so that of two bad values the error names the same
	// one however the publisher ordered the keys.
	members := make([]*member, 0, attrs.last-attrs.first)
	for i := attrs.first; i < attrs.last; i++ {
		members = append(members, attrs.d.member(i))
	}
	slices.SortFunc(members, func(x, y *member) int { return strings.Compare(attrs.d.keyString(x), attrs.d.keyString(y)) })
	for _, m := range members {
		a, err := decodeAttribute(attrs.d.keyString(m), attrs.d.data[m.valStart:m.valEnd])
		if err != nil {
			return b, err
		}
		b.Attributes = append(b.Attributes, a)
	}
	return b, nil
}

func decodeAttribute(name string, v []byte) (domain.Attribute, error) {
	a := domain.Attribute{Name: name}
	field := "attributes." + name
	switch kind := jsonKind(v); kind {
	case "null":
	case "string":
		a.Kind, a.String = domain.AttributeString, unquote(v)
	case "boolean":
		a.Kind, a.Bool = domain.AttributeBool, v[0] == 't'
	case "number":
		n, ok := parseInteger(v, 64)
		if bytes.ContainsAny(v, ".eE") || !ok {
			// the value is not repeated: attributes are personal data, and the
			// reason goes to dead-letter headers and logs
			return a, rejectWire(domain.ReasonInvalidField, field, "must be an integer within 64 bits, without fraction or exponent")
		}
		a.Kind, a.Int = domain.AttributeInt, n
	default:
		return a, rejectWire(domain.ReasonInvalidField, field, "must be a string, an integer, a boolean or null, got %s", kind)
	}
	return a, nil
}

func encodeAttributes(b []byte, body domain.AttributesUpdate) ([]byte, error) {
	var strs utf8Check
	strs.check("channel", body.Channel)
	b = appendEventString(b, `,"channel":`, body.Channel)
	b = append(b, `,"attributes":{`...)
	for i, a := range body.Attributes {
		strs.check("attributes", a.Name)
		strs.check("attributes."+a.Name, a.String)
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, a.Name, false)
		b = append(b, ':')
		switch a.Kind {
		case domain.AttributeString:
			b = appendJSONString(b, a.String, false)
		case domain.AttributeInt:
			b = strconv.AppendInt(b, a.Int, 10)
		case domain.AttributeBool:
			b = strconv.AppendBool(b, a.Bool)
		default:
			b = append(b, "null"...)
		}
	}
	return append(b, '}'), strs.err
}

func digestAttributes(d *digest, b domain.AttributesUpdate) {
	d.str(b.Channel)
	d.uint(uint64(len(b.Attributes)))
	for _, a := range b.Attributes {
		d.str(a.Name)
		d.str(string(a.Kind))
		d.str(a.String)
		d.int(a.Int)
		if a.Bool {
			d.uint(1)
		} else {
			d.uint(0)
		}
	}
}
