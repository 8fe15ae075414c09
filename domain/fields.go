package domain

import (
	"fmt"
	"iter"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Byte limits of the strings of an input event. What is admitted to the
// ledger stays there for good, so every string is checked at the door: each
// limit leaves a table row's key well inside a PostgreSQL btree index entry
// (at most 2,704 bytes) and an event far inside a NATS message.
const (
	// MaxEventIDBytes: a UUID is 36 bytes; the id keys tables and dead-letter headers.
	MaxEventIDBytes = 128
	// MaxSourceBytes: a CloudEvents source names a publishing system, a URI at most.
	MaxSourceBytes = 256
	// MaxMemberIDBytes: upstream ids are otherwise free-form, and every table is keyed by them.
	MaxMemberIDBytes = 128
	// MaxOrderIDBytes: a shop's order id, even a composite one (store, till, number); keyed with the member id.
	MaxOrderIDBytes = 128
	// MaxRequestIDBytes: a till's or an app's request id, and a catalogue reward's id; keyed with the member id.
	MaxRequestIDBytes = 128
	// MaxChannelBytes: a store, site or app id.
	MaxChannelBytes = 128
	// MaxSKUBytes: a product id (a GTIN is 14 digits).
	MaxSKUBytes = 128
	// MaxCategoryBytes: a category, possibly a path such as "home > kitchen".
	MaxCategoryBytes = 256
	// MaxNameBytes: a name a program gives (its version, a tier, a rule), written into the facts it decides.
	MaxNameBytes = 128
	// MaxStatusReasonBytes: a reason is a sentence or two for the record.
	MaxStatusReasonBytes = 1024
	// MaxCommentBytes: a feedback comment is a paragraph, not a document.
	MaxCommentBytes = 4096
)

// TextRule says which characters a string field may hold. Every field is
// valid UTF-8 without NUL, which PostgreSQL cannot store in text or jsonb.
type TextRule int

const (
	// Identifier is for ids, codes and names: no control character at all
	// (C0, DEL, C1), since they end up in keys, logs and headers.
	Identifier TextRule = iota
	// FreeText is for what people write (comments, reasons): the only
	// control characters are tab, line feed and carriage return.
	FreeText
)

// StringField is one string of an event with the rules it must follow.
type StringField struct {
	// Name is the field as docs/events.md names it, e.g. "lines[2].sku".
	Name     string
	Value    string
	MaxBytes int
	Rule     TextRule
	// NamesMember is set for a field that names another member: the
	// engine's own members (a reward's stock) are not theirs to name.
	NamesMember bool
}

// StringFields yields every string field of e that the engine keeps (in
// the ledger, the read models or dead-letter headers), nested ones
// included. Fields with a fixed set of values (type, status, currency,
// answer) and those parsed into another type (time, birth_date) are checked
// where they are read instead.
func StringFields(e Event) iter.Seq[StringField] {
	return func(yield func(StringField) bool) {
		_ = yield(ident("id", e.ID, MaxEventIDBytes)) &&
			yield(ident("source", e.Source, MaxSourceBytes)) &&
			yield(ident("member_id", e.MemberID, MaxMemberIDBytes)) &&
			bodyStringFields(e.Body, yield)
	}
}

// bodyStringFields yields the string fields of a body, and reports whether
// yield wanted them all.
func bodyStringFields(body EventBody, yield func(StringField) bool) bool {
	if body == nil {
		return true
	}
	return body.stringFields(yield)
}

// firstLines names the fields of an order's first lines once, so that
// naming them on every purchase and refund validated costs no allocation.
var firstLines = func() (names [16]struct{ sku, category string }) {
	for i := range names {
		names[i].sku, names[i].category = lineField(i, "sku"), lineField(i, "category")
	}
	return names
}()

func skuName(i int) string {
	if i < len(firstLines) {
		return firstLines[i].sku
	}
	return lineField(i, "sku")
}

func categoryName(i int) string {
	if i < len(firstLines) {
		return firstLines[i].category
	}
	return lineField(i, "category")
}

func ident(name, value string, max int) StringField {
	return StringField{Name: name, Value: value, MaxBytes: max}
}

func freeText(name, value string, max int) StringField {
	return StringField{Name: name, Value: value, MaxBytes: max, Rule: FreeText}
}

func memberRef(name, value string) StringField {
	return StringField{Name: name, Value: value, MaxBytes: MaxMemberIDBytes, NamesMember: true}
}

// validateStrings checks every string field of e with the same rules, so
// that no field is left out of them.
func validateStrings(e Event) error {
	for f := range StringFields(e) {
		if err := f.Check(); err != nil {
			return err
		}
	}
	return nil
}

// Check returns a *RejectedError with ReasonInvalidField, naming the field,
// when the value is too long, not UTF-8, holds a character its rule does
// not allow, or names one of the engine's own members where it may not.
// The value itself is left out of the detail: it may be anything.
func (f StringField) Check() error {
	if problem := textProblem(f.Value, f.MaxBytes, f.Rule); problem != "" {
		return reject(ReasonInvalidField, f.Name, "%s", problem)
	}
	if f.NamesMember && IsReservedMemberID(f.Value) {
		return reject(ReasonInvalidField, f.Name, "ids starting with %q are the engine's own (a reward's stock)", StockMemberPrefix)
	}
	if (f.NamesMember || f.Name == "member_id") && strings.HasPrefix(f.Value, ErasedMemberPrefix) {
		return reject(ReasonInvalidField, f.Name, "ids starting with %q name erased members", ErasedMemberPrefix)
	}
	return nil
}

// textProblem says what makes s unfit for a string of at most max bytes
// under rule, or "" when nothing does. Events and programs share it: both
// write their strings into the ledger.
func textProblem(s string, max int, rule TextRule) string {
	if len(s) > max {
		return fmt.Sprintf("is %d bytes, at most %d are allowed", len(s), max)
	}
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			return fmt.Sprintf("is not valid UTF-8 (byte %d)", i)
		case unicode.IsControl(r) && !(rule == FreeText && (r == '\t' || r == '\n' || r == '\r')):
			return fmt.Sprintf("holds the control character %U at byte %d", r, i)
		}
	}
	return ""
}

// IsReservedMemberID reports whether id names one of the engine's own
// members (a reward's stock), which only the engine's own events address.
func IsReservedMemberID(id string) bool { return strings.HasPrefix(id, StockMemberPrefix) }

// ErasedMemberPrefix starts the id an erased member's records read as
// (streams.ErasedID); no event may use it.
const ErasedMemberPrefix = "erased:"
