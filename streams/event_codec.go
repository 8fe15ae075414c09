package streams

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/pointsledger/loyalty/domain"
)

// Wire-level dead-letter reasons: problems with the bytes of an input event,
// found before there is an event to validate. The domain's reasons cover the
// rest (see domain/reject.go and docs/events.md).
const (
	// ReasonMalformedJSON: not UTF-8 JSON, not an object, a duplicate key, or a
	// field of the wrong JSON type (an amount sent as a string, say).
	ReasonMalformedJSON domain.Reason = "malformed_json"
	// ReasonUnknownType: the envelope's type is not one of domain.EventTypes.
	ReasonUnknownType domain.Reason = "unknown_type"
	// ReasonOversized: the message is larger than MaxEventBytes.
	ReasonOversized domain.Reason = "oversized"
)

// WireReasons lists the reasons DecodeEvent gives.
var WireReasons = []domain.Reason{ReasonMalformedJSON, ReasonUnknownType, ReasonOversized}

// MaxEventBytes bounds an input message. Real events are a few hundred bytes
// to a few KiB (a large basket); the bound keeps a broken publisher from
// making the engine parse megabytes per event.
const MaxEventBytes = 64 * 1024

// The CloudEvents attributes EncodeEvent writes and DecodeEvent expects.
const (
	CloudEventsSpecVersion = "1.0"
	EventContentType       = "application/json"
)

// DecodeEvent reads an input event in the wire format of docs/events.md: a
// CloudEvents 1.0 structured-mode JSON envelope whose data holds the body.
// Unknown fields are ignored; keys are case-sensitive. The time is returned
// in UTC.
//
// DecodeEvent checks the form of the event only: that it is JSON, that the
// fields it needs are present and have the right JSON types, that amounts are
// integers and the time parses. Ranges, currency codes and how the time
// compares with the event's arrival are domain.Validate's job.
//
// Every error is a *domain.RejectedError with one of these reasons:
//   - ReasonOversized: more than MaxEventBytes (checked before anything else);
//   - ReasonMalformedJSON: not valid UTF-8 JSON (lone surrogate escapes
//     included, since decoding them would change the string), not an object,
//     a duplicate key, or a field of the wrong JSON type;
//   - domain.ReasonMissingField: specversion, id, type, time, data, or a
//     required data field is absent, null or (for the envelope) empty;
//   - ReasonUnknownType: type is not one of domain.EventTypes;
//   - domain.ReasonInvalidField: specversion is not 1.0, datacontenttype is
//     not JSON, rating/nps is not an integer, or a stock answer is neither
//     granted nor refused;
//   - domain.ReasonInvalidTimestamp: time is not an RFC 3339 string, or lies
//     outside years 0000-9999 once in UTC;
//   - domain.ReasonInvalidAmount: amount, unit_price or quantity is a number
//     but not an integer literal (12.5, 12.0, 1e3) or does not fit in int64.
//
// DecodeEvent never panics, whatever the input (see FuzzDecodeEvent).
func DecodeEvent(data []byte) (domain.Event, error) {
	if len(data) > MaxEventBytes {
		return domain.Event{}, rejectWire(ReasonOversized, "", "event is %d bytes, more than the %d allowed", len(data), MaxEventBytes)
	}
	return decodeEvent(data)
}

// decodeEvent is DecodeEvent without the size limit.
func decodeEvent(data []byte) (domain.Event, error) {
	d := decoderPool.Get().(*decoder)
	defer d.release()
	d.data = data
	if err := d.checkJSONText(); err != nil {
		return domain.Event{}, err
	}
	start := skipSpace(data, 0)
	env, err := d.parseObject(start, "", -1)
	if err != nil {
		return domain.Event{}, err
	}

	var e domain.Event
	specVersion, err := env.attributeRaw("specversion")
	if err != nil {
		return domain.Event{}, err
	}
	if !jsonStringIs(specVersion, CloudEventsSpecVersion) {
		return domain.Event{}, rejectWire(domain.ReasonInvalidField, "specversion", "must be %q, got %s", CloudEventsSpecVersion, quote(unquote(specVersion)))
	}
	typ, err := env.attributeRaw("type")
	if err != nil {
		return domain.Event{}, err
	}
	var codec *eventCodec
	if e.Type, codec = lookupEventType(typ); codec == nil {
		return domain.Event{}, rejectWire(ReasonUnknownType, "type", "%s is not an input event type", quote(string(e.Type)))
	}
	if e.ID, err = env.attribute("id"); err != nil {
		return domain.Event{}, err
	}
	// source is required by CloudEvents but the engine does not need it, so
	// its absence is tolerated (see docs/events.md).
	if e.Source, _, err = env.optionalString("source"); err != nil {
		return domain.Event{}, err
	}
	if raw, ok, err := env.optionalRaw("datacontenttype"); err != nil {
		return domain.Event{}, err
	} else if ok && !jsonStringIs(raw, EventContentType) { // the usual value needs no parsing
		ct := unquote(raw)
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != EventContentType {
			return domain.Event{}, rejectWire(domain.ReasonInvalidField, "datacontenttype", "must be %q, got %s", EventContentType, quote(ct))
		}
	}
	if e.OccurredAt, err = env.timestamp("time"); err != nil {
		return domain.Event{}, err
	}

	body, ok, err := env.object("data")
	if err != nil {
		return domain.Event{}, err
	}
	if !ok {
		return domain.Event{}, rejectWire(domain.ReasonMissingField, "data", "is required")
	}
	if e.MemberID, e.Body, err = decodeData(codec, body); err != nil {
		return domain.Event{}, err
	}
	return e, nil
}

// decodeData reads the data object of an event: the member's id and the
// body its type's entry reads.
func decodeData(c *eventCodec, data object) (memberID string, _ domain.EventBody, err error) {
	if memberID, err = data.requiredString("member_id"); err != nil {
		return "", nil, err
	}
	body, err := c.decode(data)
	if err != nil {
		return "", nil, err
	}
	return memberID, body, nil
}

// decoder reads one event in two passes. checkJSONText validates the whole
// text and notes where each object and array ends; then the objects the
// event needs are read member by member, each value left raw until a field
// is asked for. Members are kept by index in arrays rather than in slices
// of the decoder's own arrays (which would make the compiler move it to
// the heap), so that for an event of usual size the decoder stays on the
// stack and reading allocates only the values it returns.
type decoder struct {
	data        []byte
	ends        containerEnds
	nMembers    int
	members     [48]member
	moreMembers []member
	nSpans      int
	spans       [16]span
	moreSpans   []span
}

// decoderPool keeps decoders off the stack: a decoder is a few KiB, and on
// the fresh goroutine watermill starts for every message it made the stack
// grow (and be copied) on every decode. Nothing a decode returns points into
// its decoder.
var decoderPool = sync.Pool{New: func() any { return new(decoder) }}

// release empties the decoder, keeping its spill slices' capacity, and
// returns it to the pool. The fixed arrays hold only offsets and are
// overwritten before they are read, so they are left as they are (a
// composite literal here would build a whole decoder on the stack).
func (d *decoder) release() {
	d.data = nil
	d.ends.n, d.ends.more = 0, d.ends.more[:0]
	d.nMembers, d.moreMembers = 0, d.moreMembers[:0]
	d.nSpans, d.moreSpans = 0, d.moreSpans[:0]
	decoderPool.Put(d)
}

// checkJSONText rejects anything that is not one valid UTF-8 JSON text.
// encoding/json would replace invalid UTF-8 and lone surrogate escapes with
// U+FFFD, which could merge two different member ids into one: rejecting
// them keeps every decoded string exactly what the publisher sent.
//
// The text is checked whole before any field is looked at, so an event with
// several problems is always rejected for the same one.
func (d *decoder) checkJSONText() error {
	if !utf8.Valid(d.data) {
		return rejectWire(ReasonMalformedJSON, "", "event is not valid UTF-8")
	}
	valid, lone := scanJSONText(d.data, &d.ends)
	if !valid {
		// scanJSONText agrees with json.Valid; encoding/json describes what
		// is wrong, as it did before there was a scanner of our own.
		detail := "event is not valid JSON"
		var syntax *json.SyntaxError
		if err := json.Unmarshal(d.data, new(json.RawMessage)); errors.As(err, &syntax) {
			detail = fmt.Sprintf("event is not valid JSON: %s at byte %d", syntax, syntax.Offset)
		}
		return rejectWire(ReasonMalformedJSON, "", "%s", detail)
	}
	if lone >= 0 {
		return rejectWire(ReasonMalformedJSON, "", "unpaired UTF-16 surrogate escape at byte %d", lone)
	}
	return nil
}

// member is one key and value of a JSON object: offsets in decoder.data.
type member struct {
	keyStart, keyEnd int // between the quotes
	valStart, valEnd int
	escaped          bool // the key holds an escape
}

// span is the members of one object: decoder.member(first) to last-1.
type span struct{ first, last int }

func (d *decoder) addMember(m member) {
	if d.nMembers < len(d.members) {
		d.members[d.nMembers] = m
	} else {
		d.moreMembers = append(d.moreMembers, m)
	}
	d.nMembers++
}

func (d *decoder) member(i int) *member {
	if i < len(d.members) {
		return &d.members[i]
	}
	return &d.moreMembers[i-len(d.members)]
}

func (d *decoder) addSpan(s span) {
	if d.nSpans < len(d.spans) {
		d.spans[d.nSpans] = s
	} else {
		d.moreSpans = append(d.moreSpans, s)
	}
	d.nSpans++
}

func (d *decoder) span(i int) span {
	if i < len(d.spans) {
		return d.spans[i]
	}
	return d.moreSpans[i-len(d.spans)]
}

// key returns m's key as written, between the quotes.
func (d *decoder) key(m *member) []byte { return d.data[m.keyStart:m.keyEnd] }

// keyString returns m's decoded key.
func (d *decoder) keyString(m *member) string {
	if m.escaped {
		return unquote(d.data[m.keyStart-1 : m.keyEnd+1])
	}
	return string(d.key(m))
}

// keyIs reports whether m's key decodes to key.
func (d *decoder) keyIs(m *member, key string) bool {
	if m.escaped {
		return d.keyString(m) == key
	}
	return string(d.key(m)) == key
}

func (d *decoder) sameKey(a, b *member) bool {
	switch {
	case !a.escaped && !b.escaped:
		return bytes.Equal(d.key(a), d.key(b))
	case a.escaped:
		return d.keyIs(b, d.keyString(a))
	default:
		return d.keyIs(a, d.keyString(b))
	}
}

// elements are the objects of an array, as objects reads them.
type elements struct {
	d     *decoder
	first int // the index of the first object's span
	n     int
	field string
}

func (e elements) len() int { return e.n }

func (e elements) at(i int) object {
	s := e.d.span(e.first + i)
	return object{d: e.d, first: s.first, last: s.last, field: e.field, index: i}
}

// object is one JSON object of an event, its values still raw.
type object struct {
	d           *decoder
	first, last int // its members: d.member(first) to last-1
	// field names the object in errors: "" for the event, "data", or the
	// array ("lines") when index ≥ 0 gives the object's place in it.
	field string
	index int
}

// linearKeys is how many keys an object may have before duplicates are
// looked for in a map rather than by comparing with every earlier key.
const linearKeys = 16

// parseObject reads the members of the value at d.data[start:]; field and
// index name it in errors (see object). Duplicate keys are rejected:
// parsers disagree on which one wins, so a publisher's validator and the
// engine could read different events.
func (d *decoder) parseObject(start int, field string, index int) (object, error) {
	v := d.data
	if v[start] != '{' {
		kind := jsonKind(v[start:valueEnd(v, start, &d.ends)])
		return object{}, rejectWire(ReasonMalformedJSON, elementName(field, index), "must be a JSON object, got %s", kind)
	}
	first := d.nMembers
	var seen map[string]struct{}
	for i := skipSpace(v, start+1); v[i] == '"'; {
		end, escaped := stringEnd(v, i)
		m := member{keyStart: i + 1, keyEnd: end, escaped: escaped}
		m.valStart = skipSpace(v, skipSpace(v, end+1)+1) // past the colon
		m.valEnd = valueEnd(v, m.valStart, &d.ends)
		if d.duplicate(first, &m, &seen) {
			return object{}, rejectWire(ReasonMalformedJSON, elementName(field, index), "duplicate key %s", quote(d.keyString(&m)))
		}
		d.addMember(m)
		if i = skipSpace(v, m.valEnd); v[i] == ',' {
			i = skipSpace(v, i+1)
		}
	}
	return object{d: d, first: first, last: d.nMembers, field: field, index: index}, nil
}

// duplicate reports whether m's key is among the keys of the object being
// read, the members from first on.
func (d *decoder) duplicate(first int, m *member, seen *map[string]struct{}) bool {
	if d.nMembers-first < linearKeys {
		for i := first; i < d.nMembers; i++ {
			if d.sameKey(d.member(i), m) {
				return true
			}
		}
		return false
	}
	if *seen == nil {
		*seen = make(map[string]struct{}, 2*(d.nMembers-first))
		for i := first; i < d.nMembers; i++ {
			(*seen)[d.keyString(d.member(i))] = struct{}{}
		}
	}
	key := d.keyString(m)
	if _, dup := (*seen)[key]; dup {
		return true
	}
	(*seen)[key] = struct{}{}
	return false
}

// elementName is the name of an object in errors: field, or its element
// index of the array field.
func elementName(field string, index int) string {
	if index < 0 {
		return field
	}
	return field + "[" + strconv.Itoa(index) + "]"
}

// name is a member's name in errors: the key, prefixed for an array
// element, e.g. "lines[2].sku".
func (o object) name(key string) string {
	if o.index < 0 {
		return key
	}
	return elementName(o.field, o.index) + "." + key
}

// lookup returns the member for key, or nil when it is absent or null.
func (o object) lookup(key string) *member {
	for i := o.first; i < o.last; i++ {
		if m := o.d.member(i); o.d.keyIs(m, key) {
			if o.d.data[m.valStart] == 'n' { // null
				return nil
			}
			return m
		}
	}
	return nil
}

// value returns a field's raw value, or nil when it is absent or null.
func (o object) value(key string) []byte {
	if m := o.lookup(key); m != nil {
		return o.d.data[m.valStart:m.valEnd]
	}
	return nil
}

// optionalRaw returns a string field as written, quotes included, and
// whether it was present (and not null).
func (o object) optionalRaw(key string) ([]byte, bool, error) {
	v := o.value(key)
	if v == nil {
		return nil, false, nil
	}
	if kind := jsonKind(v); kind != "string" {
		return nil, true, rejectWire(ReasonMalformedJSON, o.name(key), "must be a string, got %s", kind)
	}
	return v, true, nil
}

// optionalString returns a string field and whether it was present (and not null).
func (o object) optionalString(key string) (string, bool, error) {
	v, ok, err := o.optionalRaw(key)
	if !ok || err != nil {
		return "", ok, err
	}
	return unquote(v), true, nil
}

// attributeRaw is an envelope attribute as written: present, a string, not
// empty.
func (o object) attributeRaw(key string) ([]byte, error) {
	v, _, err := o.optionalRaw(key)
	if err == nil && len(v) <= len(`""`) { // absent, null or ""
		err = rejectWire(domain.ReasonMissingField, o.name(key), "is required")
	}
	return v, err
}

// attribute is an envelope attribute: present, a string, not empty.
func (o object) attribute(key string) (string, error) {
	v, err := o.attributeRaw(key)
	if err != nil {
		return "", err
	}
	return unquote(v), nil
}

// requiredString is a data field that must be present; whether an empty value
// is acceptable is domain.Validate's call.
func (o object) requiredString(key string) (string, error) {
	s, ok, err := o.optionalString(key)
	if err == nil && !ok {
		err = rejectWire(domain.ReasonMissingField, o.name(key), "is required")
	}
	return s, err
}

// integer reads an integer literal of the given bit size. A number with a
// fraction or an exponent, or out of range, is rejected with reason; any
// other JSON type is malformed.
func (o object) integer(key string, bitSize int, reason domain.Reason) (int64, bool, error) {
	v := o.value(key)
	if v == nil {
		return 0, false, nil
	}
	if kind := jsonKind(v); kind != "number" {
		return 0, true, rejectWire(ReasonMalformedJSON, o.name(key), "must be a number, got %s", kind)
	}
	if bytes.ContainsAny(v, ".eE") {
		return 0, true, rejectWire(reason, o.name(key), "must be an integer without fraction or exponent, got %s", quote(string(v)))
	}
	n, ok := parseInteger(v, bitSize)
	if !ok {
		return 0, true, rejectWire(reason, o.name(key), "%s is out of range", quote(string(v)))
	}
	return n, true, nil
}

// parseInteger parses a JSON integer literal as strconv.ParseInt(string(v),
// 10, bitSize) does, without allocating for up to 18 digits.
func parseInteger(v []byte, bitSize int) (int64, bool) {
	digits := v
	if digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) > 18 {
		n, err := strconv.ParseInt(string(v), 10, bitSize)
		return n, err == nil
	}
	var n int64
	for _, c := range digits {
		n = n*10 + int64(c-'0')
	}
	if v[0] == '-' {
		n = -n
	}
	if bitSize < 64 && (n < -1<<(bitSize-1) || n > 1<<(bitSize-1)-1) {
		return 0, false
	}
	return n, true
}

// optionalAmount reads integer minor units (or a quantity).
func (o object) optionalAmount(key string) (int64, bool, error) {
	return o.integer(key, 64, domain.ReasonInvalidAmount)
}

func (o object) requiredAmount(key string) (int64, error) {
	n, ok, err := o.optionalAmount(key)
	if err == nil && !ok {
		err = rejectWire(domain.ReasonMissingField, o.name(key), "is required")
	}
	return n, err
}

// requiredInteger reads an integer that is not an amount (a count, a
// probability in parts per million).
func (o object) requiredInteger(key string) (int64, error) {
	n, ok, err := o.integer(key, 64, domain.ReasonInvalidField)
	if err == nil && !ok {
		err = rejectWire(domain.ReasonMissingField, o.name(key), "is required")
	}
	return n, err
}

// optionalTrue reads an optional boolean: false when absent or null.
func (o object) optionalTrue(key string) (bool, error) {
	switch v := o.value(key); string(v) {
	case "", "null", "false":
		return false, nil
	case "true":
		return true, nil
	default:
		return false, rejectWire(ReasonMalformedJSON, o.name(key), "must be true or false, got %s", jsonKind(v))
	}
}

// optionalScore reads an optional score (rating, nps); nil when absent or null.
func (o object) optionalScore(key string) (*int, error) {
	n, ok, err := o.integer(key, strconv.IntSize, domain.ReasonInvalidField)
	if err != nil || !ok {
		return nil, err
	}
	i := int(n)
	return &i, nil
}

// timestamp reads an RFC 3339 timestamp and returns it in UTC.
func (o object) timestamp(key string) (time.Time, error) {
	v := o.value(key)
	if v == nil {
		return time.Time{}, rejectWire(domain.ReasonMissingField, o.name(key), "is required")
	}
	if kind := jsonKind(v); kind != "string" {
		return time.Time{}, rejectWire(domain.ReasonInvalidTimestamp, o.name(key), "must be an RFC 3339 string, got %s", kind)
	}
	s := unquote(v)
	if s == "" {
		return time.Time{}, rejectWire(domain.ReasonMissingField, o.name(key), "is required")
	}
	// RFC 3339 allows a lowercase t and z; Go's parser does not. Go accepts a
	// comma before the fraction; RFC 3339 does not.
	t, err := time.Parse(time.RFC3339Nano, strings.Map(upperTZ, s))
	if err != nil || strings.Contains(s, ",") {
		return time.Time{}, rejectWire(domain.ReasonInvalidTimestamp, o.name(key), "%s is not RFC 3339 (like 2026-03-01T10:15:00Z)", quote(s))
	}
	t = t.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		return time.Time{}, rejectWire(domain.ReasonInvalidTimestamp, o.name(key), "%s is outside years 0000-9999 in UTC", quote(s))
	}
	return t, nil
}

func upperTZ(r rune) rune {
	switch r {
	case 't':
		return 'T'
	case 'z':
		return 'Z'
	}
	return r
}

// object reads a nested object; ok is false when it is absent or null.
func (o object) object(key string) (object, bool, error) {
	m := o.lookup(key)
	if m == nil {
		return object{}, false, nil
	}
	nested, err := o.d.parseObject(m.valStart, o.name(key), -1)
	return nested, err == nil, err
}

// objects reads an optional array of objects, naming each element in errors.
// Every element is read before any is used, so a malformed element is
// reported before a missing field of an earlier one.
func (o object) objects(key string) (elements, error) {
	m := o.lookup(key)
	if m == nil {
		return elements{}, nil
	}
	d, data := o.d, o.d.data
	if kind := jsonKind(data[m.valStart:m.valEnd]); kind != "array" {
		return elements{}, rejectWire(ReasonMalformedJSON, o.name(key), "must be an array, got %s", kind)
	}
	name := o.name(key)
	items := elements{d: d, first: d.nSpans, field: name}
	for i := skipSpace(data, m.valStart+1); data[i] != ']'; items.n++ {
		obj, err := d.parseObject(i, name, items.n)
		if err != nil {
			return elements{}, err
		}
		d.addSpan(span{obj.first, obj.last})
		if i = skipSpace(data, valueEnd(data, i, &d.ends)); data[i] == ',' {
			i = skipSpace(data, i+1)
		}
	}
	return items, nil
}

// jsonKind names the JSON type of a valid JSON value.
func jsonKind(v []byte) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// quote renders a value for an error detail, cut short: details end up in
// dead-letter headers and logs.
func quote(s string) string {
	const max = 64
	if len(s) <= max {
		return strconv.Quote(s)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "..."
}

func rejectWire(reason domain.Reason, field, format string, args ...any) error {
	return &domain.RejectedError{Reason: reason, Field: field, Detail: fmt.Sprintf(format, args...)}
}

// EncodeEvent writes an event in the wire format DecodeEvent reads, as an
// upstream publisher would: specversion 1.0, datacontenttype
// application/json, the time in UTC. For every event DecodeEvent returns,
// DecodeEvent(EncodeEvent(e)) gives e back.
//
// EncodeEvent writes invalid events faithfully (an empty id, a negative
// amount, a body missing for its type) so that simulators can exercise the
// dead-letter paths; it does not enforce MaxEventBytes. It returns an error
// only for what the wire format cannot carry: a body that does not match
// Type, a string that is not valid UTF-8 (encoding/json would alter it), or
// a time outside years 0000-9999 in UTC.
//
// The bytes are those a json.Encoder with SetEscapeHTML(false) writes for
// the envelope: the attributes in the order below, then data with its
// fields in the order of docs/events.md, empty optional fields left out.
func EncodeEvent(e domain.Event) ([]byte, error) {
	if e.Body != nil && e.Body.EventType() != e.Type {
		return nil, fmt.Errorf("encode event %q: body %T does not match type %q", e.ID, e.Body, e.Type)
	}
	t := e.OccurredAt.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		return nil, fmt.Errorf("encode event %q: time %s is outside years 0000-9999", e.ID, t)
	}
	var strs utf8Check
	strs.check("id", e.ID)
	strs.check("source", e.Source)
	strs.check("type", string(e.Type))
	strs.check("member_id", e.MemberID)

	b := make([]byte, 0, 224+len(e.ID)+len(e.Source)+len(e.Type)+len(e.MemberID)+bodySize(e))
	b = append(b, `{"specversion":`...)
	b = appendJSONString(b, CloudEventsSpecVersion, false)
	b = append(b, `,"id":`...)
	b = appendJSONString(b, e.ID, false)
	if e.Source != "" {
		b = append(b, `,"source":`...)
		b = appendJSONString(b, e.Source, false)
	}
	b = append(b, `,"type":`...)
	b = appendJSONString(b, string(e.Type), false)
	b = append(b, `,"time":"`...)
	b = t.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","datacontenttype":`...)
	b = appendJSONString(b, EventContentType, false)
	b = append(b, `,"data":{"member_id":`...)
	b = appendJSONString(b, e.MemberID, false)
	switch c := codecByType[e.Type]; {
	case e.Body == nil:
	case c == nil:
		return nil, fmt.Errorf("encode event %q: unknown event type %q", e.ID, e.Type)
	default:
		var (
			ok  bool
			err error
		)
		if b, ok, err = c.encode(b, e.Body); !ok {
			return nil, fmt.Errorf("encode event %q: unknown body type %T", e.ID, e.Body)
		} else if err != nil && strs.err == nil {
			strs.err = err
		}
	}
	if strs.err != nil {
		return nil, fmt.Errorf("encode event %q: %w", e.ID, strs.err)
	}
	return append(b, "}}"...), nil
}

// appendEventInt appends an optional integer field: nothing when it is 0.
func appendEventInt(b []byte, key string, n int64) []byte {
	if n == 0 {
		return b
	}
	b = append(b, key...)
	return strconv.AppendInt(b, n, 10)
}

// appendEventString appends an optional string field of an event: nothing
// when it is empty.
func appendEventString(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	b = append(b, key...)
	return appendJSONString(b, s, false)
}

// bodySize estimates how many bytes EncodeEvent writes for e's body.
func bodySize(e domain.Event) int {
	if c := codecByType[e.Type]; c != nil {
		return c.size(e.Body)
	}
	return 64
}

// utf8Check remembers the first string that is not valid UTF-8.
type utf8Check struct{ err error }

func (c *utf8Check) check(field, s string) {
	if c.err == nil && !utf8.ValidString(s) {
		c.err = fmt.Errorf("%s is not valid UTF-8: %s", field, quote(s))
	}
}

// EventDigest identifies an event's content: FNV-64a over a canonical binary
// encoding of the decoded event (type, member id, time, every body field),
// with every string length-prefixed and every optional value flagged, so no
// two different events encode alike. The id and source are left out: the
// digest answers "is this re-published id the same event?", so a re-publish
// that differs only in whitespace, key order or unknown fields gets the same
// digest and any change in meaning a different one.
//
// The time enters as Unix seconds and nanoseconds rather than UnixNano,
// which overflows outside 1678-2262 and would let distinct times collide.
//
// Warning: digests are stored in the ledger (LedgerRecord.EventDigest).
// Changing this encoding makes every re-published event look like a
// conflicting one; treat it as a wire format and version it.
func EventDigest(e domain.Event) uint64 {
	d := newDigest()
	d.str("loyalty-event-digest-v1")
	d.str(string(e.Type))
	d.str(e.MemberID)
	t := e.OccurredAt.UTC()
	d.int(t.Unix())
	d.int(int64(t.Nanosecond()))
	if b := e.Body; b == nil {
		d.uint(0)
	} else if c := codecByType[b.EventType()]; c == nil || !c.digest(&d, b) {
		d.uint(legacyDigestTag)
		d.str(fmt.Sprintf("%T %#v", b, b))
	}
	return d.sum
}

// digest is 64-bit FNV-1a (as hash/fnv's New64a) over fixed-width
// integers and length-prefixed strings, computed in place: hash/fnv behind
// hash.Hash64 costs an allocation for the hasher and one per string.
type digest struct {
	sum uint64
}

const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211
)

func newDigest() digest { return digest{sum: fnvOffset64} }

func (d *digest) uint(v uint64) {
	for shift := 56; shift >= 0; shift -= 8 { // big-endian
		d.sum = (d.sum ^ uint64(byte(v>>shift))) * fnvPrime64
	}
}

func (d *digest) int(v int64) { d.uint(uint64(v)) }

func (d *digest) str(s string) {
	d.uint(uint64(len(s)))
	for i := 0; i < len(s); i++ {
		d.sum = (d.sum ^ uint64(s[i])) * fnvPrime64
	}
}

func (d *digest) optInt(p *int) {
	if p == nil {
		d.uint(0)
		return
	}
	d.uint(1)
	d.int(int64(*p))
}
