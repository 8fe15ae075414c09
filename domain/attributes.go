package domain

import (
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits of a member's attributes (docs/events.md): a small typed map that
// upstream keeps (a home store, an age band, an opt-in) for rule
// conditions, not a customer profile.
const (
	MaxAttributes          = 32
	MaxAttributeNameBytes  = 64
	MaxAttributeValueBytes = 256
)

// AttributeKind is the type of an attribute's value.
type AttributeKind string

const (
	AttributeString AttributeKind = "string"
	AttributeInt    AttributeKind = "int"
	AttributeBool   AttributeKind = "bool"
	// AttributeRemoved: the update removes the attribute (JSON null).
	AttributeRemoved AttributeKind = ""
)

// Attribute is one named value; the field of its Kind holds it.
type Attribute struct {
	Name   string
	Kind   AttributeKind
	String string
	Int    int64
	Bool   bool
}

// Value is the attribute's value as rule conditions see it: a string, an
// int or a bool; nil when removed.
func (a Attribute) Value() any {
	switch a.Kind {
	case AttributeString:
		return a.String
	case AttributeInt:
		return int(a.Int)
	case AttributeBool:
		return a.Bool
	}
	return nil
}

// AttributesUpdate is the body of TypeAttributesUpdated: upstream sets or
// removes some of a member's attributes, the others stay. Attributes is
// sorted by name, each name once.
type AttributesUpdate struct {
	Attributes []Attribute
	Channel    string
}

func (AttributesUpdate) EventType() EventType { return TypeAttributesUpdated }

func (b AttributesUpdate) validate(Event) error {
	if len(b.Attributes) == 0 {
		return reject(ReasonMissingField, "attributes", "must set or remove at least one attribute")
	}
	if len(b.Attributes) > MaxAttributes {
		return reject(ReasonInvalidField, "attributes", "holds %d attributes, at most %d are allowed", len(b.Attributes), MaxAttributes)
	}
	for i, a := range b.Attributes {
		if !isAttributeName(a.Name) {
			return reject(ReasonInvalidField, "attributes", "name %q must be 1 to %d of a-z, 0-9 and _", cut(a.Name), MaxAttributeNameBytes)
		}
		if i > 0 && b.Attributes[i-1].Name >= a.Name {
			return reject(ReasonInvalidField, "attributes", "must be sorted by name, each name once (%q)", cut(a.Name))
		}
		if !slices.Contains([]AttributeKind{AttributeString, AttributeInt, AttributeBool, AttributeRemoved}, a.Kind) {
			return reject(ReasonInvalidField, "attributes."+a.Name, "has no value of a known kind")
		}
	}
	return nil
}

// cut shortens a name for an error message, which goes to dead-letter
// headers and logs: a name is at most 64 bytes, a bad one may be anything.
func cut(s string) string {
	const max = MaxAttributeNameBytes
	if len(s) <= max {
		return s
	}
	n := max
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

func isAttributeName(s string) bool {
	if s == "" || len(s) > MaxAttributeNameBytes {
		return false
	}
	return strings.IndexFunc(s, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') }) < 0
}

func (b AttributesUpdate) stringFields(yield func(StringField) bool) bool {
	if !yield(ident("channel", b.Channel, MaxChannelBytes)) {
		return false
	}
	// Names are held to a stricter form than any string by validate.
	for _, a := range b.Attributes {
		if !yield(ident("attributes."+a.Name, a.String, MaxAttributeValueBytes)) {
			return false
		}
	}
	return true
}

// decide records the update of a known member's attributes, and refuses
// one that would leave the member with more than MaxAttributes.
func (b AttributesUpdate) decide(m *Member, meta FactMeta, _ time.Time, _ Event, _ *Program) ([]Fact, bool, error) {
	if !m.Known() {
		return nil, false, unknownMember()
	}
	after := mergeAttributes(m.Attributes, b.Attributes)
	if len(after) > MaxAttributes {
		return nil, false, reject(ReasonInvalidField, "attributes", "the member would hold %d attributes, at most %d are allowed", len(after), MaxAttributes)
	}
	return []Fact{AttributesUpdated{FactMeta: meta, Attributes: b.Attributes}}, false, nil
}

// mergeAttributes is held with the update applied: a new slice, sorted by
// name, without the removed names.
func mergeAttributes(held, update []Attribute) []Attribute {
	out := make([]Attribute, 0, len(held)+len(update))
	i, j := 0, 0
	for i < len(held) || j < len(update) {
		switch {
		case j == len(update) || i < len(held) && held[i].Name < update[j].Name:
			out = append(out, held[i])
			i++
		default:
			if i < len(held) && held[i].Name == update[j].Name {
				i++
			}
			if update[j].Kind != AttributeRemoved {
				out = append(out, update[j])
			}
			j++
		}
	}
	return out
}

// AttributesUpdated records an update of a member's attributes as upstream
// sent it. Attributes are personal data: the ledger seals them (decision
// 032) and an erasure forgets them.
type AttributesUpdated struct {
	FactMeta
	Attributes []Attribute
}

func (AttributesUpdated) FactType() FactType { return FactAttributesUpdated }
func (AttributesUpdated) activity() bool     { return false }
