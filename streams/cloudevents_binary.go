package streams

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/nats-io/nats.go"
)

// CloudEvents over NATS come in two content modes (CloudEvents NATS
// protocol binding): structured, the whole event as JSON in the payload,
// which DecodeEvent reads; and binary, what the CloudEvents SDKs send by
// default, where each attribute is a header named ce-<attribute>, the
// payload is the data, and datacontenttype is the content-type header.
// A binary-mode input is rewritten into its structured form when it
// arrives, so that everything after (decoding, digests, dead letters and
// their replay) sees one form.

// binaryAttributePrefix opens the header of an attribute in binary mode.
const binaryAttributePrefix = "ce-"

// StructuredFromBinary returns the structured form of a binary-mode event,
// and false for a message that is not one (it has no ce-specversion
// header). The rewrite never fails and never repairs: the attributes and
// the data go into the JSON as they came, so that DecodeEvent refuses what
// it would refuse in structured mode (an attribute sent twice becomes a
// duplicate key, bytes that are not UTF-8 stay so, a payload that is not
// one JSON value becomes a string where data must be an object).
func StructuredFromBinary(h nats.Header, payload []byte) ([]byte, bool) {
	var names []string
	binary := false
	for name := range h {
		lower := strings.ToLower(name)
		if strings.HasPrefix(lower, binaryAttributePrefix) || lower == "content-type" {
			names = append(names, name)
			binary = binary || lower == binaryAttributePrefix+"specversion"
		}
	}
	if !binary {
		return nil, false
	}
	slices.Sort(names) // the same message, the same bytes
	b := make([]byte, 0, len(payload)+64*len(names)+32)
	b = append(b, '{')
	for _, name := range names {
		key := strings.ToLower(name)
		if key == "content-type" {
			key = "datacontenttype"
		} else {
			key = key[len(binaryAttributePrefix):]
		}
		for _, v := range h[name] {
			b = appendMember(b, key, v)
		}
	}
	b = appendRawString(b, "data")
	b = append(b, ':')
	if json.Valid(payload) {
		b = append(b, payload...)
	} else {
		b = appendRawString(b, string(payload))
	}
	return append(b, '}'), true
}

func appendMember(b []byte, key, value string) []byte {
	b = appendRawString(b, key)
	b = append(b, ':')
	b = appendRawString(b, value)
	return append(b, ',')
}

// appendRawString appends s as a JSON string, escaping what JSON requires
// and nothing else: bytes that are not UTF-8 are kept, for DecodeEvent to
// refuse.
func appendRawString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
