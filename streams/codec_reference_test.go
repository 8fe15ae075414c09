package streams

// This file keeps the codecs as they were before the single-pass decoder
// (event_codec.go at d1c410c, ledger.go likewise), renamed with a ref
// prefix. They are the reference the differential tests and fuzz targets
// compare the production codecs with: do not "fix" them.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pointsledger/loyalty/domain"
)

// refDecodeEvent reads an input event in the wire format of docs/events.md: a
// CloudEvents 1.0 structured-mode JSON envelope whose data holds the body.
// Unknown fields are ignored; keys are case-sensitive. The time is returned
// in UTC.
//
// refDecodeEvent checks the form of the event only: that it is JSON, that the
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
// refDecodeEvent never panics, whatever the input (see FuzzDecodeEvent).
func refDecodeEvent(data []byte) (domain.Event, error) {
	if len(data) > MaxEventBytes {
		return domain.Event{}, refRejectWire(ReasonOversized, "", "event is %d bytes, more than the %d allowed", len(data), MaxEventBytes)
	}
	return refDecodeEventUnlimited(data)
}

// refDecodeEventUnlimited is refDecodeEvent without the size limit.
func refDecodeEventUnlimited(data []byte) (domain.Event, error) {
	if err := refCheckJSONText(data); err != nil {
		return domain.Event{}, err
	}
	env, err := refParseObject(data, "event")
	if err != nil {
		return domain.Event{}, err
	}

	var e domain.Event
	specVersion, err := env.attribute("specversion")
	if err != nil {
		return domain.Event{}, err
	}
	if specVersion != CloudEventsSpecVersion {
		return domain.Event{}, refRejectWire(domain.ReasonInvalidField, "specversion", "must be %q, got %s", CloudEventsSpecVersion, refQuote(specVersion))
	}
	typ, err := env.attribute("type")
	if err != nil {
		return domain.Event{}, err
	}
	e.Type = domain.EventType(typ)
	if _, ok := codecByType[e.Type]; !ok {
		return domain.Event{}, refRejectWire(ReasonUnknownType, "type", "%s is not an input event type", refQuote(typ))
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
			return domain.Event{}, refRejectWire(domain.ReasonInvalidField, "datacontenttype", "must be %q, got %s", EventContentType, refQuote(ct))
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
		return domain.Event{}, refRejectWire(domain.ReasonMissingField, "data", "is required")
	}
	if e.MemberID, err = body.requiredString("member_id"); err != nil {
		return domain.Event{}, err
	}
	switch e.Type {
	case domain.TypeMemberEnrolled:
		var b domain.Enrolment
		if b.Channel, _, err = body.optionalString("channel"); err == nil {
			if b.ReferredBy, _, err = body.optionalString("referred_by"); err == nil {
				var s string
				var ok bool
				if s, ok, err = body.optionalString("birth_date"); err == nil && ok {
					var perr error
					if b.Birthday, perr = domain.ParseBirthday(s); perr != nil {
						err = refRejectWire(domain.ReasonInvalidField, body.name("birth_date"), "%s", perr.Error())
					}
				}
			}
		}
		e.Body = b
	case domain.TypeTransfer:
		var b domain.TransferRequest
		if b.RequestID, err = body.requiredString("request_id"); err == nil {
			if b.ToMemberID, err = body.requiredString("to_member_id"); err == nil {
				b.Points, err = body.requiredAmount("points")
			}
		}
		e.Body = b
	case domain.TypeTransferIn:
		var b domain.TransferIn
		if b.FromMemberID, err = body.requiredString("from_member_id"); err == nil {
			if b.RequestID, err = body.requiredString("request_id"); err == nil {
				b.Points, err = body.requiredAmount("points")
			}
		}
		e.Body = b
	case domain.TypeReferralReward:
		var b domain.ReferralReward
		b.ReferredMemberID, err = body.requiredString("referred_member_id")
		e.Body = b
	case domain.TypeStockRequest:
		var b domain.StockRequest
		if b.RewardID, err = body.requiredString("reward_id"); err == nil {
			if b.MemberID, err = body.requiredString("for_member_id"); err == nil {
				if b.RequestID, err = body.requiredString("request_id"); err == nil {
					if b.Quantity, err = body.requiredAmount("quantity"); err == nil {
						if v := body.value("return"); v != nil {
							err = json.Unmarshal(v, &b.Return)
							if err != nil {
								err = refRejectWire(ReasonMalformedJSON, body.name("return"), "must be true or false, got %s", refJsonKind(v))
							}
						}
					}
				}
			}
		}
		e.Body = b
	case domain.TypeAdjustment:
		var b domain.AdjustRequest
		if b.RequestID, err = body.requiredString("request_id"); err == nil {
			if b.Points, err = body.requiredAmount("points"); err == nil {
				if b.Reason, err = body.requiredString("reason_code"); err == nil {
					if b.Note, _, err = body.optionalString("note"); err == nil {
						b.OperatorID, err = body.requiredString("operator_id")
					}
				}
			}
		}
		e.Body = b
	case domain.TypeErasure:
		var b domain.ErasureRequest
		b.Channel, _, err = body.optionalString("channel")
		e.Body = b
	case domain.TypeMemberScored:
		var b domain.Scored
		if b.FitID, err = body.requiredString("fit_id"); err == nil {
			if b.PAlivePPM, err = refRequired(body.integer("p_alive_ppm", 64, domain.ReasonInvalidField)); err == nil {
				if b.RiskBand, err = body.requiredString("risk_band"); err == nil {
					if b.PredictedValue.Minor, err = body.requiredAmount("predicted_value"); err == nil {
						if b.PredictedValue.Currency, err = body.requiredString("currency"); err == nil {
							if b.ValueBand, err = body.requiredString("value_band"); err == nil {
								b.Segment, err = body.requiredString("segment")
							}
						}
					}
				}
			}
		}
		if errors.Is(err, errRefMissing) {
			err = refRejectWire(domain.ReasonMissingField, "p_alive_ppm", "is required")
		}
		e.Body = b
	case domain.TypeAttributesUpdated:
		e.Body, err = refDecodeAttributes(body)
	case domain.TypeVoucherUse:
		var b domain.VoucherUse
		if b.RequestID, err = body.requiredString("request_id"); err == nil {
			if b.Code, err = body.requiredString("code"); err == nil {
				b.Channel, _, err = body.optionalString("channel")
			}
		}
		e.Body = b
	case domain.TypeRedemptionCancel:
		var b domain.CancelRequest
		if b.RequestID, err = body.requiredString("request_id"); err == nil {
			if b.RedemptionID, err = body.requiredString("redemption_id"); err == nil {
				if b.Reason, err = body.requiredString("reason_code"); err == nil {
					b.OperatorID, err = body.requiredString("operator_id")
				}
			}
		}
		e.Body = b
	case domain.TypeStockAnswer:
		var b domain.StockAnswer
		if b.RequestID, err = body.requiredString("request_id"); err == nil {
			if b.RewardID, err = body.requiredString("reward_id"); err == nil {
				var answer string
				if answer, err = body.requiredString("answer"); err == nil {
					b.Granted = answer == "granted"
					if !b.Granted && answer != "refused" {
						err = rejectWire(domain.ReasonInvalidField, "answer", "must be \"granted\" or \"refused\", got %s", quote(answer))
					}
				}
			}
		}
		e.Body = b
	case domain.TypeVisitRecorded:
		var b domain.Visit
		b.Channel, _, err = body.optionalString("channel")
		e.Body = b
	case domain.TypeMemberClock:
		e.Body = domain.Clock{}
	case domain.TypeMemberStatus:
		var b domain.StatusChange
		var status string
		if status, err = body.requiredString("status"); err == nil {
			b.Status = domain.MemberStatus(status)
			b.Reason, _, err = body.optionalString("reason")
		}
		e.Body = b
	case domain.TypePurchaseCompleted:
		e.Body, err = refDecodePurchase(body)
	case domain.TypePurchaseRefunded:
		e.Body, err = refDecodeRefund(body)
	case domain.TypeFeedbackSubmitted:
		e.Body, err = refDecodeFeedback(body)
	case domain.TypeRedemption:
		e.Body, err = refDecodeRedemption(body)
	case domain.TypePurchaseConfirmed:
		var b domain.Confirmation
		b.OrderID, err = body.requiredString("order_id")
		e.Body = b
	case domain.TypeTierAssigned:
		var b domain.TierAssignment
		if b.Tier, err = body.requiredString("tier"); err == nil {
			b.Reason, _, err = body.optionalString("reason")
		}
		e.Body = b
	}
	if err != nil {
		return domain.Event{}, err
	}
	return e, nil
}

var errRefMissing = errors.New("missing")

func refRequired(n int64, ok bool, err error) (int64, error) {
	if err == nil && !ok {
		err = errRefMissing
	}
	return n, err
}

func refDecodeAttributes(o refObject) (domain.EventBody, error) {
	var b domain.AttributesUpdate
	var err error
	if b.Channel, _, err = o.optionalString("channel"); err != nil {
		return b, err
	}
	attrs, ok, err := o.object("attributes")
	if err != nil {
		return b, err
	}
	if !ok {
		return b, refRejectWire(domain.ReasonMissingField, "attributes", "is required")
	}
	if len(attrs.fields) > domain.MaxAttributes {
		return b, refRejectWire(domain.ReasonInvalidField, "attributes", "holds %d attributes, at most %d are allowed", len(attrs.fields), domain.MaxAttributes)
	}
	names := make([]string, 0, len(attrs.fields))
	for name := range attrs.fields {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		a := domain.Attribute{Name: name}
		v := bytes.TrimSpace(attrs.fields[name])
		switch kind := refJsonKind(v); kind {
		case "null":
		case "string":
			a.Kind = domain.AttributeString
			if err := json.Unmarshal(v, &a.String); err != nil {
				return b, err
			}
		case "boolean":
			a.Kind, a.Bool = domain.AttributeBool, string(v) == "true"
		case "number":
			n, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil {
				return b, refRejectWire(domain.ReasonInvalidField, "attributes."+name, "must be an integer within 64 bits, without fraction or exponent")
			}
			a.Kind, a.Int = domain.AttributeInt, n
		default:
			return b, refRejectWire(domain.ReasonInvalidField, "attributes."+name, "must be a string, an integer, a boolean or null, got %s", kind)
		}
		b.Attributes = append(b.Attributes, a)
	}
	return b, nil
}

func refDecodePurchase(o refObject) (domain.EventBody, error) {
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

func refDecodeRefund(o refObject) (domain.EventBody, error) {
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
		return nil, refRejectWire(domain.ReasonMissingField, "currency", "is required with amount")
	case hasCurrency && !hasAmount:
		return nil, refRejectWire(domain.ReasonMissingField, "amount", "is required with currency")
	case !hasAmount && len(b.Lines) == 0:
		return nil, refRejectWire(domain.ReasonMissingField, "amount", "a refund needs amount and currency, or lines")
	}
	b.Amount = domain.Money{Minor: minor, Currency: currency}
	return b, nil
}

func refDecodeFeedback(o refObject) (domain.EventBody, error) {
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

func refDecodeRedemption(o refObject) (domain.EventBody, error) {
	var (
		b   domain.RedeemRequest
		err error
	)
	if b.RequestID, err = o.requiredString("request_id"); err != nil {
		return nil, err
	}
	if b.RewardID, _, err = o.optionalString("reward_id"); err != nil {
		return nil, err
	}
	if b.Quantity, _, err = o.optionalAmount("quantity"); err != nil {
		return nil, err
	}
	if b.Points, _, err = o.optionalAmount("points"); err != nil {
		return nil, err
	}
	if b.Channel, _, err = o.optionalString("channel"); err != nil {
		return nil, err
	}
	return b, nil
}

// refCheckJSONText rejects anything that is not one valid UTF-8 JSON text.
// encoding/json would replace invalid UTF-8 and lone surrogate escapes with
// U+FFFD, which could merge two different member ids into one: rejecting
// them keeps every decoded string exactly what the publisher sent.
func refCheckJSONText(data []byte) error {
	if !utf8.Valid(data) {
		return refRejectWire(ReasonMalformedJSON, "", "event is not valid UTF-8")
	}
	if !json.Valid(data) {
		detail := "event is not valid JSON"
		var syntax *json.SyntaxError
		if err := json.Unmarshal(data, new(json.RawMessage)); errors.As(err, &syntax) {
			detail = fmt.Sprintf("event is not valid JSON: %s at byte %d", syntax, syntax.Offset)
		}
		return refRejectWire(ReasonMalformedJSON, "", "%s", detail)
	}
	if i := refLoneSurrogate(data); i >= 0 {
		return refRejectWire(ReasonMalformedJSON, "", "unpaired UTF-16 surrogate escape at byte %d", i)
	}
	return nil
}

// refLoneSurrogate returns the offset of the first \u escape of a UTF-16
// surrogate that is not part of a high-low pair, or -1. It expects valid
// JSON, where a backslash only ever starts an escape inside a string.
func refLoneSurrogate(data []byte) int {
	for i := 0; i < len(data); i++ {
		if data[i] != '\\' {
			continue
		}
		r, ok := refUnicodeEscape(data, i)
		if !ok {
			i++ // a two-byte escape such as \" or \\
			continue
		}
		switch {
		case r >= 0xD800 && r < 0xDC00:
			if low, ok := refUnicodeEscape(data, i+6); !ok || low < 0xDC00 || low >= 0xE000 {
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

// refUnicodeEscape reads a \uXXXX escape at data[i:].
func refUnicodeEscape(data []byte, i int) (rune, bool) {
	if i+6 > len(data) || data[i] != '\\' || data[i+1] != 'u' {
		return 0, false
	}
	n, err := strconv.ParseUint(string(data[i+2:i+6]), 16, 16)
	if err != nil {
		return 0, false
	}
	return rune(n), true
}

// refObject is one JSON object of an event, its values still raw.
type refObject struct {
	fields map[string]json.RawMessage
	prefix string // prepended to field names in errors, e.g. "lines[2]."
}

// refParseObject reads a JSON object that refCheckJSONText has passed. Duplicate
// keys are rejected: parsers disagree on which one wins, so a publisher's
// validator and the engine could read different events.
func refParseObject(raw json.RawMessage, what string) (refObject, error) {
	if kind := refJsonKind(raw); kind != "object" {
		return refObject{}, refRejectWire(ReasonMalformedJSON, refFieldName(what), "must be a JSON object, got %s", kind)
	}
	o := refObject{fields: map[string]json.RawMessage{}}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // {
		return refObject{}, refRejectWire(ReasonMalformedJSON, refFieldName(what), "%v", err)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return refObject{}, refRejectWire(ReasonMalformedJSON, refFieldName(what), "%v", err)
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return refObject{}, refRejectWire(ReasonMalformedJSON, refFieldName(what), "%v", err)
		}
		if _, dup := o.fields[key]; dup {
			return refObject{}, refRejectWire(ReasonMalformedJSON, refFieldName(what), "duplicate key %s", refQuote(key))
		}
		o.fields[key] = v
	}
	return o, nil
}

// refFieldName turns refParseObject's description into an error field: the whole
// event has none.
func refFieldName(what string) string {
	if what == "event" {
		return ""
	}
	return what
}

func (o refObject) name(key string) string { return o.prefix + key }

// value returns a field's raw value, or nil when it is absent or null.
func (o refObject) value(key string) json.RawMessage {
	v := bytes.TrimSpace(o.fields[key])
	if len(v) == 0 || string(v) == "null" {
		return nil
	}
	return v
}

// optionalString returns a string field and whether it was present (and not null).
func (o refObject) optionalString(key string) (string, bool, error) {
	v := o.value(key)
	if v == nil {
		return "", false, nil
	}
	if kind := refJsonKind(v); kind != "string" {
		return "", true, refRejectWire(ReasonMalformedJSON, o.name(key), "must be a string, got %s", kind)
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", true, refRejectWire(ReasonMalformedJSON, o.name(key), "%v", err)
	}
	return s, true, nil
}

// attribute is an envelope attribute: present, a string, not empty.
func (o refObject) attribute(key string) (string, error) {
	s, _, err := o.optionalString(key)
	if err == nil && s == "" {
		err = refRejectWire(domain.ReasonMissingField, o.name(key), "is required")
	}
	return s, err
}

// requiredString is a data field that must be present; whether an empty value
// is acceptable is domain.Validate's call.
func (o refObject) requiredString(key string) (string, error) {
	s, ok, err := o.optionalString(key)
	if err == nil && !ok {
		err = refRejectWire(domain.ReasonMissingField, o.name(key), "is required")
	}
	return s, err
}

// integer reads an integer literal of the given bit size. A number with a
// fraction or an exponent, or out of range, is rejected with reason; any
// other JSON type is malformed.
func (o refObject) integer(key string, bitSize int, reason domain.Reason) (int64, bool, error) {
	v := o.value(key)
	if v == nil {
		return 0, false, nil
	}
	if kind := refJsonKind(v); kind != "number" {
		return 0, true, refRejectWire(ReasonMalformedJSON, o.name(key), "must be a number, got %s", kind)
	}
	if bytes.ContainsAny(v, ".eE") {
		return 0, true, refRejectWire(reason, o.name(key), "must be an integer without fraction or exponent, got %s", refQuote(string(v)))
	}
	n, err := strconv.ParseInt(string(v), 10, bitSize)
	if err != nil {
		return 0, true, refRejectWire(reason, o.name(key), "%s is out of range", refQuote(string(v)))
	}
	return n, true, nil
}

// optionalAmount reads integer minor units (or a quantity).
func (o refObject) optionalAmount(key string) (int64, bool, error) {
	return o.integer(key, 64, domain.ReasonInvalidAmount)
}

func (o refObject) requiredAmount(key string) (int64, error) {
	n, ok, err := o.optionalAmount(key)
	if err == nil && !ok {
		err = refRejectWire(domain.ReasonMissingField, o.name(key), "is required")
	}
	return n, err
}

// optionalScore reads an optional score (rating, nps); nil when absent or null.
func (o refObject) optionalScore(key string) (*int, error) {
	n, ok, err := o.integer(key, strconv.IntSize, domain.ReasonInvalidField)
	if err != nil || !ok {
		return nil, err
	}
	i := int(n)
	return &i, nil
}

// timestamp reads an RFC 3339 timestamp and returns it in UTC.
func (o refObject) timestamp(key string) (time.Time, error) {
	v := o.value(key)
	if v == nil {
		return time.Time{}, refRejectWire(domain.ReasonMissingField, o.name(key), "is required")
	}
	if kind := refJsonKind(v); kind != "string" {
		return time.Time{}, refRejectWire(domain.ReasonInvalidTimestamp, o.name(key), "must be an RFC 3339 string, got %s", kind)
	}
	s, _, err := o.optionalString(key)
	if err != nil {
		return time.Time{}, err
	}
	if s == "" {
		return time.Time{}, refRejectWire(domain.ReasonMissingField, o.name(key), "is required")
	}
	// RFC 3339 allows a lowercase t and z; Go's parser does not. Go accepts a
	// comma before the fraction; RFC 3339 does not.
	t, err := time.Parse(time.RFC3339Nano, strings.Map(refUpperTZ, s))
	if err != nil || strings.Contains(s, ",") {
		return time.Time{}, refRejectWire(domain.ReasonInvalidTimestamp, o.name(key), "%s is not RFC 3339 (like 2026-03-01T10:15:00Z)", refQuote(s))
	}
	t = t.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		return time.Time{}, refRejectWire(domain.ReasonInvalidTimestamp, o.name(key), "%s is outside years 0000-9999 in UTC", refQuote(s))
	}
	return t, nil
}

func refUpperTZ(r rune) rune {
	switch r {
	case 't':
		return 'T'
	case 'z':
		return 'Z'
	}
	return r
}

// object reads a nested object; ok is false when it is absent or null.
func (o refObject) object(key string) (refObject, bool, error) {
	v := o.value(key)
	if v == nil {
		return refObject{}, false, nil
	}
	nested, err := refParseObject(v, o.name(key))
	return nested, err == nil, err
}

// objects reads an optional array of objects, naming each element in errors.
func (o refObject) objects(key string) ([]refObject, error) {
	v := o.value(key)
	if v == nil {
		return nil, nil
	}
	if kind := refJsonKind(v); kind != "array" {
		return nil, refRejectWire(ReasonMalformedJSON, o.name(key), "must be an array, got %s", kind)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(v, &items); err != nil {
		return nil, refRejectWire(ReasonMalformedJSON, o.name(key), "%v", err)
	}
	objs := make([]refObject, 0, len(items))
	for i, item := range items {
		name := o.name(key) + "[" + strconv.Itoa(i) + "]"
		obj, err := refParseObject(item, name)
		if err != nil {
			return nil, err
		}
		obj.prefix = name + "."
		objs = append(objs, obj)
	}
	return objs, nil
}

// refJsonKind names the JSON type of a valid JSON value.
func refJsonKind(v []byte) string {
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

// refQuote renders a value for an error detail, cut short: details end up in
// dead-letter headers and logs.
func refQuote(s string) string {
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

func refRejectWire(reason domain.Reason, field, format string, args ...any) error {
	return &domain.RejectedError{Reason: reason, Field: field, Detail: fmt.Sprintf(format, args...)}
}

// The wire shapes refEncodeEvent writes. Field order is the order on the wire.
type (
	refWireEnvelope struct {
		SpecVersion     string `json:"specversion"`
		ID              string `json:"id"`
		Source          string `json:"source,omitempty"`
		Type            string `json:"type"`
		Time            string `json:"time"`
		DataContentType string `json:"datacontenttype"`
		Data            any    `json:"data"`
	}
	refWireMemberData struct { // enrolments, visits, and events without a body
		MemberID string `json:"member_id"`
		Channel  string `json:"channel,omitempty"`
	}
	refWireEnrolmentData struct {
		MemberID   string `json:"member_id"`
		Channel    string `json:"channel,omitempty"`
		ReferredBy string `json:"referred_by,omitempty"`
		BirthDate  string `json:"birth_date,omitempty"`
	}
	refWireTransferData struct {
		MemberID   string `json:"member_id"`
		RequestID  string `json:"request_id"`
		ToMemberID string `json:"to_member_id"`
		Points     int64  `json:"points"`
	}
	refWireTransferInData struct {
		MemberID     string `json:"member_id"`
		FromMemberID string `json:"from_member_id"`
		RequestID    string `json:"request_id"`
		Points       int64  `json:"points"`
	}
	refWireStockRequestData struct {
		MemberID    string `json:"member_id"`
		RewardID    string `json:"reward_id"`
		ForMemberID string `json:"for_member_id"`
		RequestID   string `json:"request_id"`
		Quantity    int64  `json:"quantity"`
		Return      bool   `json:"return,omitempty"`
	}
	refWireAdjustData struct {
		MemberID   string `json:"member_id"`
		RequestID  string `json:"request_id"`
		Points     int64  `json:"points"`
		Reason     string `json:"reason_code"`
		Note       string `json:"note,omitempty"`
		OperatorID string `json:"operator_id"`
	}
	refWireScoredData struct {
		MemberID       string `json:"member_id"`
		FitID          string `json:"fit_id"`
		PAlivePPM      int64  `json:"p_alive_ppm"`
		RiskBand       string `json:"risk_band"`
		PredictedValue int64  `json:"predicted_value"`
		Currency       string `json:"currency"`
		ValueBand      string `json:"value_band"`
		Segment        string `json:"segment"`
	}
	refWireAttributesData struct {
		MemberID   string         `json:"member_id"`
		Channel    string         `json:"channel,omitempty"`
		Attributes map[string]any `json:"attributes"`
	}
	refWireErasureData struct {
		MemberID string `json:"member_id"`
		Channel  string `json:"channel,omitempty"`
	}
	refWireVoucherUseData struct {
		MemberID  string `json:"member_id"`
		RequestID string `json:"request_id"`
		Code      string `json:"code"`
		Channel   string `json:"channel,omitempty"`
	}
	refWireCancelData struct {
		MemberID     string `json:"member_id"`
		RequestID    string `json:"request_id"`
		RedemptionID string `json:"redemption_id"`
		Reason       string `json:"reason_code"`
		OperatorID   string `json:"operator_id"`
	}
	refWireStockAnswerData struct {
		MemberID  string `json:"member_id"`
		RequestID string `json:"request_id"`
		RewardID  string `json:"reward_id"`
		Answer    string `json:"answer"`
	}
	refWireReferralData struct {
		MemberID         string `json:"member_id"`
		ReferredMemberID string `json:"referred_member_id"`
	}
	refWireStatusData struct {
		MemberID string `json:"member_id"`
		Status   string `json:"status"`
		Reason   string `json:"reason,omitempty"`
	}
	refWirePurchaseData struct {
		MemberID string                `json:"member_id"`
		OrderID  string                `json:"order_id"`
		Amount   int64                 `json:"amount"`
		Currency string                `json:"currency"`
		Channel  string                `json:"channel,omitempty"`
		Lines    []refWirePurchaseLine `json:"lines,omitempty"`
	}
	refWirePurchaseLine struct {
		SKU       string `json:"sku"`
		Category  string `json:"category,omitempty"`
		Quantity  int64  `json:"quantity"`
		UnitPrice int64  `json:"unit_price"`
	}
	refWireRefundData struct {
		MemberID string              `json:"member_id"`
		OrderID  string              `json:"order_id"`
		Amount   *int64              `json:"amount,omitempty"`
		Currency *string             `json:"currency,omitempty"`
		Lines    []refWireRefundLine `json:"lines,omitempty"`
	}
	refWireRefundLine struct {
		SKU      string `json:"sku"`
		Quantity int64  `json:"quantity"`
	}
	refWireTierData struct {
		MemberID string `json:"member_id"`
		Tier     string `json:"tier"`
		Reason   string `json:"reason,omitempty"`
	}
	refWireConfirmationData struct {
		MemberID string `json:"member_id"`
		OrderID  string `json:"order_id"`
	}
	refWireRedemptionData struct {
		MemberID  string `json:"member_id"`
		RequestID string `json:"request_id"`
		RewardID  string `json:"reward_id,omitempty"`
		Quantity  int64  `json:"quantity,omitempty"`
		Points    int64  `json:"points,omitempty"`
		Channel   string `json:"channel,omitempty"`
	}
	refWireFeedbackData struct {
		MemberID string `json:"member_id"`
		OrderID  string `json:"order_id,omitempty"`
		Rating   *int   `json:"rating,omitempty"`
		NPS      *int   `json:"nps,omitempty"`
		Comment  string `json:"comment,omitempty"`
		Channel  string `json:"channel,omitempty"`
	}
)

// refEncodeEvent writes an event in the wire format refDecodeEvent reads, as an
// upstream publisher would: specversion 1.0, datacontenttype
// application/json, the time in UTC. For every event refDecodeEvent returns,
// refDecodeEvent(refEncodeEvent(e)) gives e back.
//
// refEncodeEvent writes invalid events faithfully (an empty id, a negative
// amount, a body missing for its type) so that simulators can exercise the
// dead-letter paths; it does not enforce MaxEventBytes. It returns an error
// only for what the wire format cannot carry: a body that does not match
// Type, a string that is not valid UTF-8 (encoding/json would alter it), or
// a time outside years 0000-9999 in UTC.
func refEncodeEvent(e domain.Event) ([]byte, error) {
	if e.Body != nil && e.Body.EventType() != e.Type {
		return nil, fmt.Errorf("encode event %q: body %T does not match type %q", e.ID, e.Body, e.Type)
	}
	t := e.OccurredAt.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		return nil, fmt.Errorf("encode event %q: time %s is outside years 0000-9999", e.ID, t)
	}
	var strs refUtf8Check
	strs.check("id", e.ID)
	strs.check("source", e.Source)
	strs.check("type", string(e.Type))
	strs.check("member_id", e.MemberID)

	var data any
	switch b := e.Body.(type) {
	case nil:
		data = refWireMemberData{MemberID: e.MemberID}
	case domain.Enrolment:
		strs.check("channel", b.Channel)
		strs.check("referred_by", b.ReferredBy)
		data = refWireEnrolmentData{MemberID: e.MemberID, Channel: b.Channel, ReferredBy: b.ReferredBy, BirthDate: b.Birthday.String()}
	case domain.TransferRequest:
		strs.check("request_id", b.RequestID)
		strs.check("to_member_id", b.ToMemberID)
		data = refWireTransferData{MemberID: e.MemberID, RequestID: b.RequestID, ToMemberID: b.ToMemberID, Points: b.Points}
	case domain.TransferIn:
		strs.check("from_member_id", b.FromMemberID)
		strs.check("request_id", b.RequestID)
		data = refWireTransferInData{MemberID: e.MemberID, FromMemberID: b.FromMemberID, RequestID: b.RequestID, Points: b.Points}
	case domain.ReferralReward:
		strs.check("referred_member_id", b.ReferredMemberID)
		data = refWireReferralData{MemberID: e.MemberID, ReferredMemberID: b.ReferredMemberID}
	case domain.StockRequest:
		data = refWireStockRequestData{MemberID: e.MemberID, RewardID: b.RewardID, ForMemberID: b.MemberID, RequestID: b.RequestID,
			Quantity: b.Quantity, Return: b.Return}
	case domain.AdjustRequest:
		strs.check("request_id", b.RequestID)
		strs.check("reason_code", b.Reason)
		strs.check("note", b.Note)
		strs.check("operator_id", b.OperatorID)
		data = refWireAdjustData{MemberID: e.MemberID, RequestID: b.RequestID, Points: b.Points, Reason: b.Reason, Note: b.Note,
			OperatorID: b.OperatorID}
	case domain.ErasureRequest:
		strs.check("channel", b.Channel)
		data = refWireErasureData{MemberID: e.MemberID, Channel: b.Channel}
	case domain.Scored:
		for _, s := range []string{b.FitID, b.RiskBand, b.PredictedValue.Currency, b.ValueBand, b.Segment} {
			strs.check("scores", s)
		}
		data = refWireScoredData{MemberID: e.MemberID, FitID: b.FitID, PAlivePPM: b.PAlivePPM, RiskBand: b.RiskBand,
			PredictedValue: b.PredictedValue.Minor, Currency: b.PredictedValue.Currency, ValueBand: b.ValueBand, Segment: b.Segment}
	case domain.AttributesUpdate:
		strs.check("channel", b.Channel)
		w := refWireAttributesData{MemberID: e.MemberID, Channel: b.Channel, Attributes: map[string]any{}}
		for _, a := range b.Attributes {
			strs.check("attributes", a.Name)
			strs.check("attributes", a.String)
			switch a.Kind {
			case domain.AttributeString:
				w.Attributes[a.Name] = a.String
			case domain.AttributeInt:
				w.Attributes[a.Name] = a.Int
			case domain.AttributeBool:
				w.Attributes[a.Name] = a.Bool
			default:
				w.Attributes[a.Name] = nil
			}
		}
		data = w
	case domain.VoucherUse:
		strs.check("request_id", b.RequestID)
		strs.check("code", b.Code)
		strs.check("channel", b.Channel)
		data = refWireVoucherUseData{MemberID: e.MemberID, RequestID: b.RequestID, Code: b.Code, Channel: b.Channel}
	case domain.CancelRequest:
		strs.check("request_id", b.RequestID)
		strs.check("redemption_id", b.RedemptionID)
		strs.check("reason_code", b.Reason)
		strs.check("operator_id", b.OperatorID)
		data = refWireCancelData{MemberID: e.MemberID, RequestID: b.RequestID, RedemptionID: b.RedemptionID, Reason: b.Reason,
			OperatorID: b.OperatorID}
	case domain.StockAnswer:
		answer := "refused"
		if b.Granted {
			answer = "granted"
		}
		data = refWireStockAnswerData{MemberID: e.MemberID, RequestID: b.RequestID, RewardID: b.RewardID, Answer: answer}
	case domain.Visit:
		strs.check("channel", b.Channel)
		data = refWireMemberData{MemberID: e.MemberID, Channel: b.Channel}
	case domain.Clock:
		data = refWireMemberData{MemberID: e.MemberID}
	case domain.StatusChange:
		strs.check("status", string(b.Status))
		strs.check("reason", b.Reason)
		data = refWireStatusData{MemberID: e.MemberID, Status: string(b.Status), Reason: b.Reason}
	case domain.Purchase:
		strs.check("order_id", b.OrderID)
		strs.check("currency", b.Total.Currency)
		strs.check("channel", b.Channel)
		w := refWirePurchaseData{MemberID: e.MemberID, OrderID: b.OrderID, Amount: b.Total.Minor, Currency: b.Total.Currency, Channel: b.Channel}
		for _, l := range b.Lines {
			strs.check("lines.sku", l.SKU)
			strs.check("lines.category", l.Category)
			w.Lines = append(w.Lines, refWirePurchaseLine{SKU: l.SKU, Category: l.Category, Quantity: l.Quantity, UnitPrice: l.UnitPrice})
		}
		data = w
	case domain.Refund:
		strs.check("order_id", b.OrderID)
		strs.check("currency", b.Amount.Currency)
		w := refWireRefundData{MemberID: e.MemberID, OrderID: b.OrderID}
		if b.Amount != (domain.Money{}) || len(b.Lines) == 0 {
			w.Amount, w.Currency = &b.Amount.Minor, &b.Amount.Currency
		}
		for _, l := range b.Lines {
			strs.check("lines.sku", l.SKU)
			w.Lines = append(w.Lines, refWireRefundLine{SKU: l.SKU, Quantity: l.Quantity})
		}
		data = w
	case domain.Feedback:
		strs.check("order_id", b.OrderID)
		strs.check("comment", b.Comment)
		strs.check("channel", b.Channel)
		data = refWireFeedbackData{MemberID: e.MemberID, OrderID: b.OrderID, Rating: b.Rating, NPS: b.NPS, Comment: b.Comment, Channel: b.Channel}
	case domain.Confirmation:
		strs.check("order_id", b.OrderID)
		data = refWireConfirmationData{MemberID: e.MemberID, OrderID: b.OrderID}
	case domain.TierAssignment:
		strs.check("tier", b.Tier)
		strs.check("reason", b.Reason)
		data = refWireTierData{MemberID: e.MemberID, Tier: b.Tier, Reason: b.Reason}
	case domain.RedeemRequest:
		strs.check("request_id", b.RequestID)
		strs.check("reward_id", b.RewardID)
		strs.check("channel", b.Channel)
		data = refWireRedemptionData{MemberID: e.MemberID, RequestID: b.RequestID, RewardID: b.RewardID,
			Quantity: b.Quantity, Points: b.Points, Channel: b.Channel}
	default:
		return nil, fmt.Errorf("encode event %q: unknown body type %T", e.ID, e.Body)
	}
	if strs.err != nil {
		return nil, fmt.Errorf("encode event %q: %w", e.ID, strs.err)
	}

	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // member ids may hold '<', '>', '&': keep them readable
	err := enc.Encode(refWireEnvelope{
		SpecVersion: CloudEventsSpecVersion, ID: e.ID, Source: e.Source, Type: string(e.Type),
		Time: t.Format(time.RFC3339Nano), DataContentType: EventContentType, Data: data,
	})
	if err != nil {
		return nil, fmt.Errorf("encode event %q: %w", e.ID, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// refUtf8Check remembers the first string that is not valid UTF-8.
type refUtf8Check struct{ err error }

func (c *refUtf8Check) check(field, s string) {
	if c.err == nil && !utf8.ValidString(s) {
		c.err = fmt.Errorf("%s is not valid UTF-8: %s", field, refQuote(s))
	}
}

type refWireRecord struct {
	Version     int              `json:"v"`
	Partition   int              `json:"partition"`
	InputSeq    uint64           `json:"input_seq"`
	InputStored time.Time        `json:"input_stored"`
	EventID     string           `json:"event_id"`
	EventDigest string           `json:"event_digest"`
	MemberID    string           `json:"member_id"`
	EventType   string           `json:"event_type,omitempty"`
	After       *refWireStanding `json:"after,omitempty"`
	Facts       []refWireFact    `json:"facts"`
}

type refWireStanding struct {
	Balance int64  `json:"balance"`
	Pending int64  `json:"pending,omitempty"`
	Tier    string `json:"tier,omitempty"`
}

type refWireFact struct {
	Type                 domain.FactType `json:"type"`
	OccurredAt           time.Time       `json:"occurred_at"`
	OrderID              string          `json:"order_id,omitempty"`
	Channel              string          `json:"channel,omitempty"`
	Amount               int64           `json:"amount,omitempty"`
	Currency             string          `json:"currency,omitempty"`
	Lines                []refWireLine   `json:"lines,omitempty"`
	QualifyingSpend      int64           `json:"qualifying_spend,omitempty"`
	QualifyingSpendAfter int64           `json:"qualifying_spend_after,omitempty"`
	Rating               *int            `json:"rating,omitempty"`
	NPS                  *int            `json:"nps,omitempty"`
	Comment              string          `json:"comment,omitempty"`
	Points               int64           `json:"points,omitempty"`
	Rule                 string          `json:"rule,omitempty"`
	ProgramVersion       string          `json:"program_version,omitempty"`
	From                 string          `json:"from,omitempty"`
	To                   string          `json:"to,omitempty"`
	Reason               string          `json:"reason,omitempty"`
	ExpiresAt            *time.Time      `json:"expires_at,omitempty"`
	RequestID            string          `json:"request_id,omitempty"`
	RewardID             string          `json:"reward_id,omitempty"`
	Quantity             int64           `json:"quantity,omitempty"`
	Detail               string          `json:"detail,omitempty"`
	AvailableAt          *time.Time      `json:"available_at,omitempty"`
	Value                int64           `json:"value,omitempty"`
	NextTier             string          `json:"next_tier,omitempty"`
	Missing              int64           `json:"missing,omitempty"`
	Projected            string          `json:"projected_tier,omitempty"`
	OtherMemberID        string          `json:"other_member_id,omitempty"`
	Birthday             string          `json:"birthday,omitempty"`
	FollowUpID           string          `json:"follow_up_id,omitempty"`
	Note                 string          `json:"note,omitempty"`
	OperatorID           string          `json:"operator_id,omitempty"`
	RedemptionID         string          `json:"redemption_id,omitempty"`
	Stocked              bool            `json:"stocked,omitempty"`
	Code                 string          `json:"code,omitempty"`
	FitID                string          `json:"fit_id,omitempty"`
	PAlivePPM            int64           `json:"p_alive_ppm,omitempty"`
	RiskBand             string          `json:"risk_band,omitempty"`
	ValueBand            string          `json:"value_band,omitempty"`
	Segment              string          `json:"segment,omitempty"`
	Attributes           []refWireAttr   `json:"attributes,omitempty"`
	Experiment           string          `json:"experiment,omitempty"`
	Arm                  string          `json:"arm,omitempty"`
	Triggered            bool            `json:"triggered,omitempty"`
	Offer                string          `json:"offer,omitempty"`
	Rules                []string        `json:"rules,omitempty"`
}

type refWireAttr struct {
	Name   string  `json:"name"`
	String *string `json:"string,omitempty"`
	Int    *int64  `json:"int,omitempty"`
	Bool   *bool   `json:"bool,omitempty"`
}

type refWireLine struct {
	SKU       string `json:"sku,omitempty"`
	Category  string `json:"category,omitempty"`
	Quantity  int64  `json:"quantity"`
	UnitPrice int64  `json:"unit_price,omitempty"`
}

const refLedgerVersion = 1

// refEncodeLedgerRecord renders a record for the ledger stream.
func refEncodeLedgerRecord(r LedgerRecord) ([]byte, error) {
	w := refWireRecord{
		Version: refLedgerVersion, Partition: r.Partition, InputSeq: r.InputSeq, InputStored: r.InputStored.UTC(), EventID: r.EventID,
		EventDigest: fmt.Sprintf("%016x", r.EventDigest), MemberID: r.MemberID, EventType: string(r.EventType),
		Facts: make([]refWireFact, 0, len(r.Facts)),
	}
	if a := r.After; a != nil {
		w.After = &refWireStanding{Balance: a.Balance, Pending: a.Pending, Tier: a.Tier}
	}
	for _, f := range r.Facts {
		wf, err := refEncodeFact(f)
		if err != nil {
			return nil, err
		}
		w.Facts = append(w.Facts, wf)
	}
	return json.Marshal(w)
}

// refDecodeLedgerRecord reads a record written by refEncodeLedgerRecord.
func refDecodeLedgerRecord(data []byte) (LedgerRecord, error) {
	var w refWireRecord
	if err := json.Unmarshal(data, &w); err != nil {
		return LedgerRecord{}, fmt.Errorf("decode ledger record: %w", err)
	}
	if w.Version != refLedgerVersion {
		return LedgerRecord{}, fmt.Errorf("decode ledger record: unsupported version %d", w.Version)
	}
	r := LedgerRecord{Partition: w.Partition, InputSeq: w.InputSeq, InputStored: w.InputStored, EventID: w.EventID, MemberID: w.MemberID,
		EventType: domain.EventType(w.EventType)}
	if a := w.After; a != nil {
		r.After = &domain.Standing{Balance: a.Balance, Pending: a.Pending, Tier: a.Tier}
	}
	if _, err := fmt.Sscanf(w.EventDigest, "%x", &r.EventDigest); err != nil {
		return LedgerRecord{}, fmt.Errorf("decode ledger record: event_digest %q: %w", w.EventDigest, err)
	}
	r.Facts = make([]domain.Fact, 0, len(w.Facts))
	for i, wf := range w.Facts {
		f, err := refDecodeFact(wf, domain.FactMeta{MemberID: w.MemberID, EventID: w.EventID, OccurredAt: wf.OccurredAt.UTC()})
		if err != nil {
			return LedgerRecord{}, fmt.Errorf("decode ledger record: facts[%d]: %w", i, err)
		}
		r.Facts = append(r.Facts, f)
	}
	return r, nil
}

func refEncodeFact(f domain.Fact) (refWireFact, error) {
	w := refWireFact{Type: f.FactType(), OccurredAt: f.Meta().OccurredAt.UTC()}
	switch f := f.(type) {
	case domain.MemberEnrolled:
		w.Channel, w.OtherMemberID, w.Birthday = f.Channel, f.ReferredBy, f.Birthday.String()
	case domain.PointsTransferred:
		w.RequestID, w.OtherMemberID, w.Points, w.ProgramVersion = f.RequestID, f.ToMemberID, f.Points, f.ProgramVersion
		w.FollowUpID = f.FollowUpID
	case domain.TransferRejected:
		w.RequestID, w.OtherMemberID, w.Points, w.ProgramVersion = f.RequestID, f.ToMemberID, f.Points, f.ProgramVersion
		w.Reason, w.Detail = string(f.Reason), f.Detail
	case domain.PointsReceived:
		w.OtherMemberID, w.RequestID, w.Points, w.ProgramVersion = f.FromMemberID, f.RequestID, f.Points, f.ProgramVersion
		if !f.ExpiresAt.IsZero() {
			expires := f.ExpiresAt.UTC()
			w.ExpiresAt = &expires
		}
	case domain.ReferralQualified:
		w.OtherMemberID, w.FollowUpID = f.ReferrerID, f.FollowUpID
	case domain.PurchaseRecorded:
		w.OrderID, w.Amount, w.Currency, w.Channel = f.OrderID, f.Total.Minor, f.Total.Currency, f.Channel
		w.QualifyingSpend, w.QualifyingSpendAfter = f.QualifyingSpend, f.QualifyingSpendAfter
		for _, l := range f.Lines {
			w.Lines = append(w.Lines, refWireLine{SKU: l.SKU, Category: l.Category, Quantity: l.Quantity, UnitPrice: l.UnitPrice})
		}
	case domain.RefundRecorded:
		w.OrderID, w.Amount, w.Currency = f.OrderID, f.Amount.Minor, f.Amount.Currency
		w.QualifyingSpend, w.QualifyingSpendAfter = f.QualifyingSpend, f.QualifyingSpendAfter
		for _, l := range f.Lines {
			w.Lines = append(w.Lines, refWireLine{SKU: l.SKU, Quantity: l.Quantity})
		}
	case domain.VisitRecorded:
		w.Channel = f.Channel
	case domain.FeedbackRecorded:
		w.OrderID, w.Rating, w.NPS, w.Comment, w.Channel = f.OrderID, f.Rating, f.NPS, f.Comment, f.Channel
	case domain.PointsEarned:
		w.Points, w.Rule, w.OrderID, w.ProgramVersion, w.Triggered = f.Points, f.Rule, f.OrderID, f.ProgramVersion, f.Triggered
		if !f.ExpiresAt.IsZero() {
			expires := f.ExpiresAt.UTC()
			w.ExpiresAt = &expires
		}
		if !f.AvailableAt.IsZero() {
			available := f.AvailableAt.UTC()
			w.AvailableAt = &available
		}
	case domain.PointsReleased:
		w.OrderID, w.Points, w.ProgramVersion = f.OrderID, f.Points, f.ProgramVersion
		if !f.ExpiresAt.IsZero() {
			expires := f.ExpiresAt.UTC()
			w.ExpiresAt = &expires
		}
	case domain.PointsCancelled:
		w.OrderID, w.Points, w.ProgramVersion = f.OrderID, f.Points, f.ProgramVersion
	case domain.PurchaseConfirmed:
		w.OrderID = f.OrderID
	case domain.PointsExpired:
		w.Points, w.Rule, w.ProgramVersion = f.Points, f.Rule, f.ProgramVersion
	case domain.PointsExpiring:
		w.Points, w.ProgramVersion = f.Points, f.ProgramVersion
		if !f.ExpiresAt.IsZero() {
			expires := f.ExpiresAt.UTC()
			w.ExpiresAt = &expires
		}
	case domain.PointsDebt:
		w.Points, w.Rule, w.OrderID, w.ProgramVersion = f.Points, f.Rule, f.OrderID, f.ProgramVersion
	case domain.PointsReversed:
		w.Points, w.Rule, w.OrderID, w.ProgramVersion = f.Points, f.Rule, f.OrderID, f.ProgramVersion
	case domain.TierChanged:
		w.From, w.To, w.Reason = f.From, f.To, f.Reason
		if !f.ExpiresAt.IsZero() {
			expires := f.ExpiresAt.UTC()
			w.ExpiresAt = &expires
		}
	case domain.TierRenewed:
		w.To = f.Tier
		if !f.ExpiresAt.IsZero() {
			expires := f.ExpiresAt.UTC()
			w.ExpiresAt = &expires
		}
	case domain.TierAssigned:
		w.To, w.Reason = f.Tier, f.Reason
	case domain.TierProgress:
		w.Value, w.NextTier, w.Missing, w.Projected = f.Value, f.NextTier, f.Missing, f.Projected
	case domain.StatusChanged:
		w.From, w.To, w.Reason = string(f.From), string(f.To), f.Reason
	case domain.PointsRedeemed:
		w.Points, w.RequestID, w.RewardID, w.Quantity = f.Points, f.RequestID, f.RewardID, f.Quantity
		w.Channel, w.ProgramVersion = f.Channel, f.ProgramVersion
	case domain.PointsHeld:
		w.Points, w.RequestID, w.RewardID, w.Quantity = f.Points, f.RequestID, f.RewardID, f.Quantity
		w.Channel, w.ProgramVersion, w.FollowUpID = f.Channel, f.ProgramVersion, f.FollowUpID
	case domain.HoldRedeemed:
		w.RequestID, w.Points = f.RequestID, f.Points
	case domain.HoldReturned:
		w.RequestID, w.Points, w.ProgramVersion = f.RequestID, f.Points, f.ProgramVersion
	case domain.StockTaken:
		w.RewardID, w.OtherMemberID, w.RequestID, w.Quantity = f.RewardID, f.ForMember, f.RequestID, f.Quantity
		w.FollowUpID = f.FollowUpID
	case domain.StockRefused:
		w.RewardID, w.OtherMemberID, w.RequestID, w.Quantity = f.RewardID, f.ForMember, f.RequestID, f.Quantity
		w.FollowUpID = f.FollowUpID
	case domain.RedemptionRejected:
		w.RequestID, w.RewardID, w.Quantity, w.Points = f.RequestID, f.RewardID, f.Quantity, f.Points
		w.Reason, w.Detail, w.ProgramVersion = string(f.Reason), f.Detail, f.ProgramVersion
	case domain.PointsAdjusted:
		w.RequestID, w.Points, w.Reason, w.Note, w.OperatorID = f.RequestID, f.Points, f.Reason, f.Note, f.OperatorID
		w.ProgramVersion = f.ProgramVersion
		if !f.ExpiresAt.IsZero() {
			expires := f.ExpiresAt.UTC()
			w.ExpiresAt = &expires
		}
	case domain.AdjustmentRejected:
		w.RequestID, w.Points, w.Reason, w.Detail = f.RequestID, f.Points, string(f.Reason), f.Detail
		w.OperatorID, w.ProgramVersion = f.OperatorID, f.ProgramVersion
	case domain.RedemptionCancelled:
		w.RequestID, w.RedemptionID, w.RewardID, w.Quantity, w.Points = f.RequestID, f.RedemptionID, f.RewardID, f.Quantity, f.Points
		w.Reason, w.OperatorID, w.Stocked, w.FollowUpID, w.ProgramVersion = f.Reason, f.OperatorID, f.Stocked, f.FollowUpID, f.ProgramVersion
	case domain.CancellationRejected:
		w.RequestID, w.RedemptionID, w.Reason, w.Detail = f.RequestID, f.RedemptionID, string(f.Reason), f.Detail
		w.OperatorID, w.ProgramVersion = f.OperatorID, f.ProgramVersion
	case domain.StockReturned:
		w.RewardID, w.OtherMemberID, w.RequestID, w.Quantity = f.RewardID, f.ForMember, f.RequestID, f.Quantity
	case domain.DebtRepaid:
		w.Points, w.ProgramVersion = f.Points, f.ProgramVersion
	case domain.VoucherIssued:
		w.RequestID, w.RewardID, w.Code = f.RequestID, f.RewardID, f.Code
		if !f.ExpiresAt.IsZero() {
			expires := f.ExpiresAt.UTC()
			w.ExpiresAt = &expires
		}
	case domain.VoucherUsed:
		w.RequestID, w.Code, w.RedemptionID, w.RewardID, w.Channel = f.RequestID, f.Code, f.RedemptionID, f.RewardID, f.Channel
	case domain.VoucherRefused:
		w.RequestID, w.Code, w.Channel, w.Reason, w.Detail = f.RequestID, f.Code, f.Channel, string(f.Reason), f.Detail
	case domain.MemberErased:
		w.Channel = f.Channel
	case domain.MemberScored:
		w.FitID, w.PAlivePPM, w.RiskBand, w.ValueBand, w.Segment = f.FitID, f.PAlivePPM, f.RiskBand, f.ValueBand, f.Segment
		w.Amount, w.Currency = f.PredictedValue.Minor, f.PredictedValue.Currency
	case domain.ExperimentAssigned:
		w.Experiment, w.Arm, w.Rules = f.Experiment, f.Arm, f.Withheld
	case domain.OfferMade:
		w.Rule, w.Offer, w.ProgramVersion = f.Rule, f.Offer, f.ProgramVersion
	case domain.AttributesUpdated:
		for _, a := range f.Attributes {
			ra := refWireAttr{Name: a.Name}
			switch a.Kind {
			case domain.AttributeString:
				ra.String = &a.String
			case domain.AttributeInt:
				ra.Int = &a.Int
			case domain.AttributeBool:
				ra.Bool = &a.Bool
			}
			w.Attributes = append(w.Attributes, ra)
		}
	default:
		return w, fmt.Errorf("encode fact: unknown fact type %T", f)
	}
	return w, nil
}

func refDecodeFact(w refWireFact, meta domain.FactMeta) (domain.Fact, error) {
	switch w.Type {
	case domain.FactMemberEnrolled:
		birthday, err := domain.ParseBirthday(w.Birthday)
		if err != nil {
			return nil, err
		}
		return domain.MemberEnrolled{FactMeta: meta, Channel: w.Channel, ReferredBy: w.OtherMemberID, Birthday: birthday}, nil
	case domain.FactPointsTransferred:
		return domain.PointsTransferred{FactMeta: meta, RequestID: w.RequestID, ToMemberID: w.OtherMemberID, Points: w.Points,
			ProgramVersion: w.ProgramVersion, FollowUpID: w.FollowUpID}, nil
	case domain.FactTransferRejected:
		return domain.TransferRejected{FactMeta: meta, RequestID: w.RequestID, ToMemberID: w.OtherMemberID, Points: w.Points,
			Reason: domain.RedemptionReason(w.Reason), Detail: w.Detail, ProgramVersion: w.ProgramVersion}, nil
	case domain.FactPointsReceived:
		f := domain.PointsReceived{FactMeta: meta, FromMemberID: w.OtherMemberID, RequestID: w.RequestID, Points: w.Points,
			ProgramVersion: w.ProgramVersion}
		if w.ExpiresAt != nil {
			f.ExpiresAt = w.ExpiresAt.UTC()
		}
		return f, nil
	case domain.FactReferralQualified:
		return domain.ReferralQualified{FactMeta: meta, ReferrerID: w.OtherMemberID, FollowUpID: w.FollowUpID}, nil
	case domain.FactPurchaseRecorded:
		f := domain.PurchaseRecorded{FactMeta: meta, OrderID: w.OrderID, Total: domain.Money{Minor: w.Amount, Currency: w.Currency},
			Channel: w.Channel, QualifyingSpend: w.QualifyingSpend, QualifyingSpendAfter: w.QualifyingSpendAfter}
		for _, l := range w.Lines {
			f.Lines = append(f.Lines, domain.LineItem{SKU: l.SKU, Category: l.Category, Quantity: l.Quantity, UnitPrice: l.UnitPrice})
		}
		return f, nil
	case domain.FactRefundRecorded:
		f := domain.RefundRecorded{FactMeta: meta, OrderID: w.OrderID, Amount: domain.Money{Minor: w.Amount, Currency: w.Currency},
			QualifyingSpend: w.QualifyingSpend, QualifyingSpendAfter: w.QualifyingSpendAfter}
		for _, l := range w.Lines {
			f.Lines = append(f.Lines, domain.RefundLine{SKU: l.SKU, Quantity: l.Quantity})
		}
		return f, nil
	case domain.FactVisitRecorded:
		return domain.VisitRecorded{FactMeta: meta, Channel: w.Channel}, nil
	case domain.FactFeedbackRecorded:
		return domain.FeedbackRecorded{FactMeta: meta, OrderID: w.OrderID, Rating: w.Rating, NPS: w.NPS, Comment: w.Comment, Channel: w.Channel}, nil
	case domain.FactPointsEarned:
		f := domain.PointsEarned{FactMeta: meta, Points: w.Points, Rule: w.Rule, OrderID: w.OrderID, ProgramVersion: w.ProgramVersion,
			Triggered: w.Triggered}
		if w.ExpiresAt != nil {
			f.ExpiresAt = w.ExpiresAt.UTC()
		}
		if w.AvailableAt != nil {
			f.AvailableAt = w.AvailableAt.UTC()
		}
		return f, nil
	case domain.FactPointsReleased:
		f := domain.PointsReleased{FactMeta: meta, OrderID: w.OrderID, Points: w.Points, ProgramVersion: w.ProgramVersion}
		if w.ExpiresAt != nil {
			f.ExpiresAt = w.ExpiresAt.UTC()
		}
		return f, nil
	case domain.FactPointsCancelled:
		return domain.PointsCancelled{FactMeta: meta, OrderID: w.OrderID, Points: w.Points, ProgramVersion: w.ProgramVersion}, nil
	case domain.FactPurchaseConfirmed:
		return domain.PurchaseConfirmed{FactMeta: meta, OrderID: w.OrderID}, nil
	case domain.FactPointsExpiring:
		f := domain.PointsExpiring{FactMeta: meta, Points: w.Points, ProgramVersion: w.ProgramVersion}
		if w.ExpiresAt != nil {
			f.ExpiresAt = w.ExpiresAt.UTC()
		}
		return f, nil
	case domain.FactPointsExpired:
		return domain.PointsExpired{FactMeta: meta, Points: w.Points, Rule: w.Rule, ProgramVersion: w.ProgramVersion}, nil
	case domain.FactPointsDebt:
		return domain.PointsDebt{FactMeta: meta, Points: w.Points, Rule: w.Rule, OrderID: w.OrderID, ProgramVersion: w.ProgramVersion}, nil
	case domain.FactPointsReversed:
		return domain.PointsReversed{FactMeta: meta, Points: w.Points, Rule: w.Rule, OrderID: w.OrderID, ProgramVersion: w.ProgramVersion}, nil
	case domain.FactTierChanged:
		f := domain.TierChanged{FactMeta: meta, From: w.From, To: w.To, Reason: w.Reason}
		if w.ExpiresAt != nil {
			f.ExpiresAt = w.ExpiresAt.UTC()
		}
		return f, nil
	case domain.FactTierRenewed:
		f := domain.TierRenewed{FactMeta: meta, Tier: w.To}
		if w.ExpiresAt != nil {
			f.ExpiresAt = w.ExpiresAt.UTC()
		}
		return f, nil
	case domain.FactTierAssigned:
		return domain.TierAssigned{FactMeta: meta, Tier: w.To, Reason: w.Reason}, nil
	case domain.FactTierProgress:
		return domain.TierProgress{FactMeta: meta, TierOutlook: domain.TierOutlook{Value: w.Value, NextTier: w.NextTier,
			Missing: w.Missing, Projected: w.Projected}}, nil
	case domain.FactStatusChanged:
		return domain.StatusChanged{FactMeta: meta, From: domain.MemberStatus(w.From), To: domain.MemberStatus(w.To), Reason: w.Reason}, nil
	case domain.FactPointsRedeemed:
		return domain.PointsRedeemed{FactMeta: meta, Points: w.Points, RequestID: w.RequestID, RewardID: w.RewardID,
			Quantity: w.Quantity, Channel: w.Channel, ProgramVersion: w.ProgramVersion}, nil
	case domain.FactPointsHeld:
		return domain.PointsHeld{FactMeta: meta, Points: w.Points, RequestID: w.RequestID, RewardID: w.RewardID,
			Quantity: w.Quantity, Channel: w.Channel, ProgramVersion: w.ProgramVersion, FollowUpID: w.FollowUpID}, nil
	case domain.FactHoldRedeemed:
		return domain.HoldRedeemed{FactMeta: meta, RequestID: w.RequestID, Points: w.Points}, nil
	case domain.FactHoldReturned:
		return domain.HoldReturned{FactMeta: meta, RequestID: w.RequestID, Points: w.Points, ProgramVersion: w.ProgramVersion}, nil
	case domain.FactStockTaken:
		return domain.StockTaken{FactMeta: meta, RewardID: w.RewardID, ForMember: w.OtherMemberID, RequestID: w.RequestID, Quantity: w.Quantity,
			FollowUpID: w.FollowUpID}, nil
	case domain.FactStockRefused:
		return domain.StockRefused{FactMeta: meta, RewardID: w.RewardID, ForMember: w.OtherMemberID, RequestID: w.RequestID, Quantity: w.Quantity,
			FollowUpID: w.FollowUpID}, nil
	case domain.FactRedeemRejected:
		return domain.RedemptionRejected{FactMeta: meta, RequestID: w.RequestID, RewardID: w.RewardID, Quantity: w.Quantity,
			Points: w.Points, Reason: domain.RedemptionReason(w.Reason), Detail: w.Detail, ProgramVersion: w.ProgramVersion}, nil
	case domain.FactPointsAdjusted:
		f := domain.PointsAdjusted{FactMeta: meta, RequestID: w.RequestID, Points: w.Points, Reason: w.Reason, Note: w.Note,
			OperatorID: w.OperatorID, ProgramVersion: w.ProgramVersion}
		if w.ExpiresAt != nil {
			f.ExpiresAt = *w.ExpiresAt
		}
		return f, nil
	case domain.FactAdjustmentRejected:
		return domain.AdjustmentRejected{FactMeta: meta, RequestID: w.RequestID, Points: w.Points, Reason: domain.RedemptionReason(w.Reason),
			Detail: w.Detail, OperatorID: w.OperatorID, ProgramVersion: w.ProgramVersion}, nil
	case domain.FactRedemptionCancelled:
		return domain.RedemptionCancelled{FactMeta: meta, RequestID: w.RequestID, RedemptionID: w.RedemptionID, RewardID: w.RewardID,
			Quantity: w.Quantity, Points: w.Points, Reason: w.Reason, OperatorID: w.OperatorID, Stocked: w.Stocked,
			FollowUpID: w.FollowUpID, ProgramVersion: w.ProgramVersion}, nil
	case domain.FactCancellationRejected:
		return domain.CancellationRejected{FactMeta: meta, RequestID: w.RequestID, RedemptionID: w.RedemptionID,
			Reason: domain.RedemptionReason(w.Reason), Detail: w.Detail, OperatorID: w.OperatorID, ProgramVersion: w.ProgramVersion}, nil
	case domain.FactStockReturned:
		return domain.StockReturned{FactMeta: meta, RewardID: w.RewardID, ForMember: w.OtherMemberID, RequestID: w.RequestID, Quantity: w.Quantity}, nil
	case domain.FactDebtRepaid:
		return domain.DebtRepaid{FactMeta: meta, Points: w.Points, ProgramVersion: w.ProgramVersion}, nil
	case domain.FactVoucherIssued:
		f := domain.VoucherIssued{FactMeta: meta, RequestID: w.RequestID, RewardID: w.RewardID, Code: w.Code}
		if w.ExpiresAt != nil {
			f.ExpiresAt = *w.ExpiresAt
		}
		return f, nil
	case domain.FactVoucherUsed:
		return domain.VoucherUsed{FactMeta: meta, RequestID: w.RequestID, Code: w.Code, RedemptionID: w.RedemptionID,
			RewardID: w.RewardID, Channel: w.Channel}, nil
	case domain.FactVoucherRefused:
		return domain.VoucherRefused{FactMeta: meta, RequestID: w.RequestID, Code: w.Code, Channel: w.Channel, Reason: domain.RedemptionReason(w.Reason),
			Detail: w.Detail}, nil
	case domain.FactMemberErased:
		return domain.MemberErased{FactMeta: meta, Channel: w.Channel}, nil
	case domain.FactMemberScored:
		return domain.MemberScored{FactMeta: meta, Scores: domain.Scores{FitID: w.FitID, PAlivePPM: w.PAlivePPM, RiskBand: w.RiskBand,
			PredictedValue: domain.Money{Minor: w.Amount, Currency: w.Currency}, ValueBand: w.ValueBand, Segment: w.Segment}}, nil
	case domain.FactOfferMade:
		return domain.OfferMade{FactMeta: meta, Rule: w.Rule, Offer: w.Offer, ProgramVersion: w.ProgramVersion}, nil
	case domain.FactExperimentAssigned:
		return domain.ExperimentAssigned{FactMeta: meta, Experiment: w.Experiment, Arm: w.Arm, Withheld: w.Rules}, nil
	case domain.FactAttributesUpdated:
		f := domain.AttributesUpdated{FactMeta: meta}
		for _, ra := range w.Attributes {
			a := domain.Attribute{Name: ra.Name}
			switch {
			case ra.String != nil:
				a.Kind, a.String = domain.AttributeString, *ra.String
			case ra.Int != nil:
				a.Kind, a.Int = domain.AttributeInt, *ra.Int
			case ra.Bool != nil:
				a.Kind, a.Bool = domain.AttributeBool, *ra.Bool
			}
			f.Attributes = append(f.Attributes, a)
		}
		return f, nil
	}
	return nil, fmt.Errorf("unknown fact type %q", w.Type)
}
