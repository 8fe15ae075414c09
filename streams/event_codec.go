package streams

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/fnv"
	"io"
	"mime"
	"strconv"
	"strings"
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
//     not JSON, or rating/nps is not an integer;
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
	if err := checkJSONText(data); err != nil {
		return domain.Event{}, err
	}
	env, err := parseObject(data, "event")
	if err != nil {
		return domain.Event{}, err
	}

	var e domain.Event
	specVersion, err := env.attribute("specversion")
	if err != nil {
		return domain.Event{}, err
	}
	if specVersion != CloudEventsSpecVersion {
		return domain.Event{}, rejectWire(domain.ReasonInvalidField, "specversion", "must be %q, got %s", CloudEventsSpecVersion, quote(specVersion))
	}
	typ, err := env.attribute("type")
	if err != nil {
		return domain.Event{}, err
	}
	e.Type = domain.EventType(typ)
	if _, ok := typeTokens[e.Type]; !ok {
		return domain.Event{}, rejectWire(ReasonUnknownType, "type", "%s is not an input event type", quote(typ))
	}
	if e.ID, err = env.attribute("id"); err != nil {
		return domain.Event{}, err
	}
	// source is required by CloudEvents but the engine does not need it, so
	// its absence is tolerated (see docs/events.md).
	if e.Source, _, err = env.optionalString("source"); err != nil {
		return domain.Event{}, err
	}
	if ct, ok, err := env.optionalString("datacontenttype"); err != nil {
		return domain.Event{}, err
	} else if ok {
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
	if e.MemberID, err = body.requiredString("member_id"); err != nil {
		return domain.Event{}, err
	}
	switch e.Type {
	case domain.TypeMemberEnrolled:
		var b domain.Enrolment
		b.Channel, _, err = body.optionalString("channel")
		e.Body = b
	case domain.TypeVisitRecorded:
		var b domain.Visit
		b.Channel, _, err = body.optionalString("channel")
		e.Body = b
	case domain.TypePurchaseCompleted:
		e.Body, err = decodePurchase(body)
	case domain.TypePurchaseRefunded:
		e.Body, err = decodeRefund(body)
	case domain.TypeFeedbackSubmitted:
		e.Body, err = decodeFeedback(body)
	}
	if err != nil {
		return domain.Event{}, err
	}
	return e, nil
}

func decodePurchase(o object) (domain.EventBody, error) {
	var (
		b   domain.Purchase
		err error
	)
	if b.OrderID, err = o.requiredString("order_id"); err != nil {
		return nil, err
	}
	if b.Total.Minor, err = o.requiredAmount("amount"); err != nil {
		return nil, err
	}
	if b.Total.Currency, err = o.requiredString("currency"); err != nil {
		return nil, err
	}
	if b.Channel, _, err = o.optionalString("channel"); err != nil {
		return nil, err
	}
	items, err := o.objects("lines")
	if err != nil {
		return nil, err
	}
	for i, l := range items {
		var line domain.LineItem
		if line.SKU, err = l.requiredString("sku"); err != nil {
			return nil, err
		}
		if line.Category, _, err = l.optionalString("category"); err != nil {
			return nil, err
		}
		if line.Quantity, err = l.requiredAmount("quantity"); err != nil {
			return nil, err
		}
		if line.UnitPrice, err = l.requiredAmount("unit_price"); err != nil {
			return nil, err
		}
		if i == 0 {
			b.Lines = make([]domain.LineItem, 0, len(items))
		}
		b.Lines = append(b.Lines, line)
	}
	return b, nil
}

func decodeRefund(o object) (domain.EventBody, error) {
	var (
		b   domain.Refund
		err error
	)
	if b.OrderID, err = o.requiredString("order_id"); err != nil {
		return nil, err
	}
	items, err := o.objects("lines")
	if err != nil {
		return nil, err
	}
	for i, l := range items {
		var line domain.RefundLine
		if line.SKU, err = l.requiredString("sku"); err != nil {
			return nil, err
		}
		if line.Quantity, err = l.requiredAmount("quantity"); err != nil {
			return nil, err
		}
		if i == 0 {
			b.Lines = make([]domain.RefundLine, 0, len(items))
		}
		b.Lines = append(b.Lines, line)
	}
	// amount and currency come as a pair; without lines the pair is required.
	minor, hasAmount, err := o.optionalAmount("amount")
	if err != nil {
		return nil, err
	}
	currency, hasCurrency, err := o.optionalString("currency")
	switch {
	case err != nil:
		return nil, err
	case hasAmount && !hasCurrency:
		return nil, rejectWire(domain.ReasonMissingField, "currency", "is required with amount")
	case hasCurrency && !hasAmount:
		return nil, rejectWire(domain.ReasonMissingField, "amount", "is required with currency")
	case !hasAmount && len(b.Lines) == 0:
		return nil, rejectWire(domain.ReasonMissingField, "amount", "a refund needs amount and currency, or lines")
	}
	b.Amount = domain.Money{Minor: minor, Currency: currency}
	return b, nil
}

func decodeFeedback(o object) (domain.EventBody, error) {
	var (
		b   domain.Feedback
		err error
	)
	if b.Rating, err = o.optionalScore("rating"); err != nil {
		return nil, err
	}
	if b.NPS, err = o.optionalScore("nps"); err != nil {
		return nil, err
	}
	if b.OrderID, _, err = o.optionalString("order_id"); err != nil {
		return nil, err
	}
	if b.Comment, _, err = o.optionalString("comment"); err != nil {
		return nil, err
	}
	if b.Channel, _, err = o.optionalString("channel"); err != nil {
		return nil, err
	}
	return b, nil
}

// checkJSONText rejects anything that is not one valid UTF-8 JSON text.
// encoding/json would replace invalid UTF-8 and lone surrogate escapes with
// U+FFFD, which could merge two different member ids into one: rejecting
// them keeps every decoded string exactly what the publisher sent.
func checkJSONText(data []byte) error {
	if !utf8.Valid(data) {
		return rejectWire(ReasonMalformedJSON, "", "event is not valid UTF-8")
	}
	if !json.Valid(data) {
		detail := "event is not valid JSON"
		var syntax *json.SyntaxError
		if err := json.Unmarshal(data, new(json.RawMessage)); errors.As(err, &syntax) {
			detail = fmt.Sprintf("event is not valid JSON: %s at byte %d", syntax, syntax.Offset)
		}
		return rejectWire(ReasonMalformedJSON, "", "%s", detail)
	}
	if i := loneSurrogate(data); i >= 0 {
		return rejectWire(ReasonMalformedJSON, "", "unpaired UTF-16 surrogate escape at byte %d", i)
	}
	return nil
}

// loneSurrogate returns the offset of the first \u escape of a UTF-16
// surrogate that is not part of a high-low pair, or -1. It expects valid
// JSON, where a backslash only ever starts an escape inside a string.
func loneSurrogate(data []byte) int {
	for i := 0; i < len(data); i++ {
		if data[i] != '\\' {
			continue
		}
		r, ok := unicodeEscape(data, i)
		if !ok {
			i++ // a two-byte escape such as \" or \\
			continue
		}
		switch {
		case r >= 0xD800 && r < 0xDC00:
			if low, ok := unicodeEscape(data, i+6); !ok || low < 0xDC00 || low >= 0xE000 {
				return i
			}
			i += 11 // the pair is 12 bytes
		case r >= 0xDC00 && r < 0xE000:
			return i
		default:
			i += 5
		}
	}
	return -1
}

// unicodeEscape reads a \uXXXX escape at data[i:].
func unicodeEscape(data []byte, i int) (rune, bool) {
	if i+6 > len(data) || data[i] != '\\' || data[i+1] != 'u' {
		return 0, false
	}
	n, err := strconv.ParseUint(string(data[i+2:i+6]), 16, 16)
	if err != nil {
		return 0, false
	}
	return rune(n), true
}

// object is one JSON object of an event, its values still raw.
type object struct {
	fields map[string]json.RawMessage
	prefix string // prepended to field names in errors, e.g. "lines[2]."
}

// parseObject reads a JSON object that checkJSONText has passed. Duplicate
// keys are rejected: parsers disagree on which one wins, so a publisher's
// validator and the engine could read different events.
func parseObject(raw json.RawMessage, what string) (object, error) {
	if kind := jsonKind(raw); kind != "object" {
		return object{}, rejectWire(ReasonMalformedJSON, fieldName(what), "must be a JSON object, got %s", kind)
	}
	o := object{fields: map[string]json.RawMessage{}}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // {
		return object{}, rejectWire(ReasonMalformedJSON, fieldName(what), "%v", err)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return object{}, rejectWire(ReasonMalformedJSON, fieldName(what), "%v", err)
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return object{}, rejectWire(ReasonMalformedJSON, fieldName(what), "%v", err)
		}
		if _, dup := o.fields[key]; dup {
			return object{}, rejectWire(ReasonMalformedJSON, fieldName(what), "duplicate key %s", quote(key))
		}
		o.fields[key] = v
	}
	return o, nil
}

// fieldName turns parseObject's description into an error field: the whole
// event has none.
func fieldName(what string) string {
	if what == "event" {
		return ""
	}
	return what
}

func (o object) name(key string) string { return o.prefix + key }

// value returns a field's raw value, or nil when it is absent or null.
func (o object) value(key string) json.RawMessage {
	v := bytes.TrimSpace(o.fields[key])
	if len(v) == 0 || string(v) == "null" {
		return nil
	}
	return v
}

// optionalString returns a string field and whether it was present (and not null).
func (o object) optionalString(key string) (string, bool, error) {
	v := o.value(key)
	if v == nil {
		return "", false, nil
	}
	if kind := jsonKind(v); kind != "string" {
		return "", true, rejectWire(ReasonMalformedJSON, o.name(key), "must be a string, got %s", kind)
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", true, rejectWire(ReasonMalformedJSON, o.name(key), "%v", err)
	}
	return s, true, nil
}

// attribute is an envelope attribute: present, a string, not empty.
func (o object) attribute(key string) (string, error) {
	s, _, err := o.optionalString(key)
	if err == nil && s == "" {
		err = rejectWire(domain.ReasonMissingField, o.name(key), "is required")
	}
	return s, err
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
	n, err := strconv.ParseInt(string(v), 10, bitSize)
	if err != nil {
		return 0, true, rejectWire(reason, o.name(key), "%s is out of range", quote(string(v)))
	}
	return n, true, nil
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
	s, _, err := o.optionalString(key)
	if err != nil {
		return time.Time{}, err
	}
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
	v := o.value(key)
	if v == nil {
		return object{}, false, nil
	}
	nested, err := parseObject(v, o.name(key))
	return nested, err == nil, err
}

// objects reads an optional array of objects, naming each element in errors.
func (o object) objects(key string) ([]object, error) {
	v := o.value(key)
	if v == nil {
		return nil, nil
	}
	if kind := jsonKind(v); kind != "array" {
		return nil, rejectWire(ReasonMalformedJSON, o.name(key), "must be an array, got %s", kind)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(v, &items); err != nil {
		return nil, rejectWire(ReasonMalformedJSON, o.name(key), "%v", err)
	}
	objs := make([]object, 0, len(items))
	for i, item := range items {
		name := o.name(key) + "[" + strconv.Itoa(i) + "]"
		obj, err := parseObject(item, name)
		if err != nil {
			return nil, err
		}
		obj.prefix = name + "."
		objs = append(objs, obj)
	}
	return objs, nil
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

// The wire shapes EncodeEvent writes. Field order is the order on the wire.
type (
	wireEnvelope struct {
		SpecVersion     string `json:"specversion"`
		ID              string `json:"id"`
		Source          string `json:"source,omitempty"`
		Type            string `json:"type"`
		Time            string `json:"time"`
		DataContentType string `json:"datacontenttype"`
		Data            any    `json:"data"`
	}
	wireMemberData struct { // enrolments, visits, and events without a body
		MemberID string `json:"member_id"`
		Channel  string `json:"channel,omitempty"`
	}
	wirePurchaseData struct {
		MemberID string             `json:"member_id"`
		OrderID  string             `json:"order_id"`
		Amount   int64              `json:"amount"`
		Currency string             `json:"currency"`
		Channel  string             `json:"channel,omitempty"`
		Lines    []wirePurchaseLine `json:"lines,omitempty"`
	}
	wirePurchaseLine struct {
		SKU       string `json:"sku"`
		Category  string `json:"category,omitempty"`
		Quantity  int64  `json:"quantity"`
		UnitPrice int64  `json:"unit_price"`
	}
	wireRefundData struct {
		MemberID string           `json:"member_id"`
		OrderID  string           `json:"order_id"`
		Amount   *int64           `json:"amount,omitempty"`
		Currency *string          `json:"currency,omitempty"`
		Lines    []wireRefundLine `json:"lines,omitempty"`
	}
	wireRefundLine struct {
		SKU      string `json:"sku"`
		Quantity int64  `json:"quantity"`
	}
	wireFeedbackData struct {
		MemberID string `json:"member_id"`
		OrderID  string `json:"order_id,omitempty"`
		Rating   *int   `json:"rating,omitempty"`
		NPS      *int   `json:"nps,omitempty"`
		Comment  string `json:"comment,omitempty"`
		Channel  string `json:"channel,omitempty"`
	}
)

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

	var data any
	switch b := e.Body.(type) {
	case nil:
		data = wireMemberData{MemberID: e.MemberID}
	case domain.Enrolment:
		strs.check("channel", b.Channel)
		data = wireMemberData{MemberID: e.MemberID, Channel: b.Channel}
	case domain.Visit:
		strs.check("channel", b.Channel)
		data = wireMemberData{MemberID: e.MemberID, Channel: b.Channel}
	case domain.Purchase:
		strs.check("order_id", b.OrderID)
		strs.check("currency", b.Total.Currency)
		strs.check("channel", b.Channel)
		w := wirePurchaseData{MemberID: e.MemberID, OrderID: b.OrderID, Amount: b.Total.Minor, Currency: b.Total.Currency, Channel: b.Channel}
		for _, l := range b.Lines {
			strs.check("lines.sku", l.SKU)
			strs.check("lines.category", l.Category)
			w.Lines = append(w.Lines, wirePurchaseLine{SKU: l.SKU, Category: l.Category, Quantity: l.Quantity, UnitPrice: l.UnitPrice})
		}
		data = w
	case domain.Refund:
		strs.check("order_id", b.OrderID)
		strs.check("currency", b.Amount.Currency)
		w := wireRefundData{MemberID: e.MemberID, OrderID: b.OrderID}
		if b.Amount != (domain.Money{}) || len(b.Lines) == 0 {
			w.Amount, w.Currency = &b.Amount.Minor, &b.Amount.Currency
		}
		for _, l := range b.Lines {
			strs.check("lines.sku", l.SKU)
			w.Lines = append(w.Lines, wireRefundLine{SKU: l.SKU, Quantity: l.Quantity})
		}
		data = w
	case domain.Feedback:
		strs.check("order_id", b.OrderID)
		strs.check("comment", b.Comment)
		strs.check("channel", b.Channel)
		data = wireFeedbackData{MemberID: e.MemberID, OrderID: b.OrderID, Rating: b.Rating, NPS: b.NPS, Comment: b.Comment, Channel: b.Channel}
	default:
		return nil, fmt.Errorf("encode event %q: unknown body type %T", e.ID, e.Body)
	}
	if strs.err != nil {
		return nil, fmt.Errorf("encode event %q: %w", e.ID, strs.err)
	}

	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // member ids may hold '<', '>', '&': keep them readable
	err := enc.Encode(wireEnvelope{
		SpecVersion: CloudEventsSpecVersion, ID: e.ID, Source: e.Source, Type: string(e.Type),
		Time: t.Format(time.RFC3339Nano), DataContentType: EventContentType, Data: data,
	})
	if err != nil {
		return nil, fmt.Errorf("encode event %q: %w", e.ID, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
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
	d := digest{h: fnv.New64a()}
	d.str("loyalty-event-digest-v1")
	d.str(string(e.Type))
	d.str(e.MemberID)
	t := e.OccurredAt.UTC()
	d.int(t.Unix())
	d.int(int64(t.Nanosecond()))
	switch b := e.Body.(type) {
	case nil:
		d.uint(0)
	case domain.Enrolment:
		d.uint(1)
		d.str(b.Channel)
	case domain.Purchase:
		d.uint(2)
		d.str(b.OrderID)
		d.int(b.Total.Minor)
		d.str(b.Total.Currency)
		d.str(b.Channel)
		d.uint(uint64(len(b.Lines)))
		for _, l := range b.Lines {
			d.str(l.SKU)
			d.str(l.Category)
			d.int(l.Quantity)
			d.int(l.UnitPrice)
		}
	case domain.Refund:
		d.uint(3)
		d.str(b.OrderID)
		d.int(b.Amount.Minor)
		d.str(b.Amount.Currency)
		d.uint(uint64(len(b.Lines)))
		for _, l := range b.Lines {
			d.str(l.SKU)
			d.int(l.Quantity)
		}
	case domain.Feedback:
		d.uint(4)
		d.str(b.OrderID)
		d.optInt(b.Rating)
		d.optInt(b.NPS)
		d.str(b.Comment)
		d.str(b.Channel)
	case domain.Visit:
		d.uint(5)
		d.str(b.Channel)
	default:
		d.uint(255)
		d.str(fmt.Sprintf("%T %#v", b, b))
	}
	return d.h.Sum64()
}

// digest writes fixed-width integers and length-prefixed strings to a hash.
type digest struct {
	h   hash.Hash64
	buf [8]byte
}

func (d *digest) uint(v uint64) {
	binary.BigEndian.PutUint64(d.buf[:], v)
	d.h.Write(d.buf[:])
}

func (d *digest) int(v int64) { d.uint(uint64(v)) }

func (d *digest) str(s string) {
	d.uint(uint64(len(s)))
	io.WriteString(d.h, s)
}

func (d *digest) optInt(p *int) {
	if p == nil {
		d.uint(0)
		return
	}
	d.uint(1)
	d.int(int64(*p))
}
