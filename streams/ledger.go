package streams

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/pointsledger/loyalty/domain"
)

// LedgerRecord is every fact one input event caused, written together so
// that an input is either wholly in the ledger or not at all. A ledger
// message holds one or more records of one partition (see
// EncodeLedgerMessage), appended in one write.
type LedgerRecord struct {
	// Seq is the ledger stream sequence of the message holding the record;
	// set when read, not written.
	Seq uint64
	// FirstFact is the position of the record's first fact among the facts of
	// its message (0 for the message's first record), so that (Seq,
	// FirstFact+i) names a fact; set when read.
	FirstFact int
	// Stored is when the ledger stream stored the record; set when read.
	Stored time.Time
	// Partition and InputSeq locate the input event this record answers.
	Partition int
	InputSeq  uint64
	// InputStored is when the input stream stored the event, for measuring
	// event-to-table latency.
	InputStored time.Time
	EventID     string
	// EventDigest identifies the event's content, so a re-published id with a
	// different body is told apart from a plain duplicate.
	EventDigest uint64
	MemberID    string
	// EventType is the input event's type; "" in records written before it
	// was kept. It tells an event the engine made from an upstream one that
	// carries the same id (see handlers' seen events).
	EventType domain.EventType
	// After is the member's standing once the facts are folded in, for the
	// outbound events, which tell it; nil in records written before it was
	// kept, and in records of the engine's own members (a reward's stock).
	After *domain.Standing
	Facts []domain.Fact
}

type wireRecord struct {
	Version     int           `json:"v"`
	Partition   int           `json:"partition"`
	InputSeq    uint64        `json:"input_seq"`
	InputStored time.Time     `json:"input_stored"`
	EventID     string        `json:"event_id"`
	EventDigest string        `json:"event_digest"`
	MemberID    string        `json:"member_id"`
	EventType   string        `json:"event_type,omitempty"`
	After       *wireStanding `json:"after,omitempty"`
	Sealed      string        `json:"sealed,omitempty"`
	Facts       []wireFact    `json:"facts"`
}

type wireStanding struct {
	Balance int64  `json:"balance"`
	Pending int64  `json:"pending,omitempty"`
	Tier    string `json:"tier,omitempty"`
}

func wireStandingOf(s *domain.Standing) *wireStanding {
	if s == nil {
		return nil
	}
	return &wireStanding{Balance: s.Balance, Pending: s.Pending, Tier: s.Tier}
}

func (w *wireStanding) standing() *domain.Standing {
	if w == nil {
		return nil
	}
	return &domain.Standing{Balance: w.Balance, Pending: w.Pending, Tier: w.Tier}
}

type wireFact struct {
	Type                 domain.FactType `json:"type"`
	OccurredAt           time.Time       `json:"occurred_at"`
	OrderID              string          `json:"order_id,omitempty"`
	Channel              string          `json:"channel,omitempty"`
	Amount               int64           `json:"amount,omitempty"`
	Currency             string          `json:"currency,omitempty"`
	Lines                []wireLine      `json:"lines,omitempty"`
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
	Experiment           string          `json:"experiment,omitempty"`
	Arm                  string          `json:"arm,omitempty"`
	Triggered            bool            `json:"triggered,omitempty"`
	Offer                string          `json:"offer,omitempty"`
	// Rules are an experiment's rules withheld from an arm; the parser
	// leaves a record holding them to json.Unmarshal.
	Rules []string `json:"rules,omitempty"`
	// Attributes are personal: a version 2 record seals them. The parser
	// leaves a record holding them to json.Unmarshal.
	Attributes []wireAttribute `json:"attributes,omitempty"`

	// items and refundItems are the fact's lines as the fact codecs read and
	// write them; Lines is only for encoding/json (see wireLines).
	items       []domain.LineItem
	refundItems []domain.RefundLine
	// codec is Type's entry in factCodecs when the parser found it.
	codec *factCodec
}

// wireLines is w's lines as Lines holds them, for encoding/json.
func (w *wireFact) wireLines() []wireLine {
	var lines []wireLine
	for _, l := range w.items {
		lines = append(lines, wireLine{SKU: l.SKU, Category: l.Category, Quantity: l.Quantity, UnitPrice: l.UnitPrice})
	}
	for _, l := range w.refundItems {
		lines = append(lines, wireLine{SKU: l.SKU, Quantity: l.Quantity})
	}
	return lines
}

// wireAttribute is one attribute of an update: the field of its kind is
// set, none when the update removes it.
type wireAttribute struct {
	Name   string  `json:"name"`
	String *string `json:"string,omitempty"`
	Int    *int64  `json:"int,omitempty"`
	Bool   *bool   `json:"bool,omitempty"`
}

func appendWireAttributes(b []byte, as []wireAttribute) []byte {
	b = append(b, '[')
	for i, a := range as {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = appendJSONString(b, a.Name, true)
		if a.String != nil {
			b = append(b, `,"string":`...)
			b = appendJSONString(b, *a.String, true)
		}
		if a.Int != nil {
			b = append(b, `,"int":`...)
			b = strconv.AppendInt(b, *a.Int, 10)
		}
		if a.Bool != nil {
			b = append(b, `,"bool":`...)
			b = strconv.AppendBool(b, *a.Bool)
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

type wireLine struct {
	SKU       string `json:"sku,omitempty"`
	Category  string `json:"category,omitempty"`
	Quantity  int64  `json:"quantity"`
	UnitPrice int64  `json:"unit_price,omitempty"`
}

const ledgerVersion = 1

// EncodeLedgerRecord renders a record for the ledger stream.
//
// It writes the bytes json.Marshal writes for wireRecord, field by field
// rather than by reflection; a time json.Marshal refuses (outside years
// 0000-9999) goes to json.Marshal, for its error.
func EncodeLedgerRecord(r LedgerRecord) ([]byte, error) {
	return AppendLedgerRecord(make([]byte, 0, 256+320*len(r.Facts)), r)
}

// AppendLedgerRecord is EncodeLedgerRecord appending to dst, so that the
// engine encodes every record into one buffer it reuses. On error dst is
// returned as it was.
func AppendLedgerRecord(dst []byte, r LedgerRecord) ([]byte, error) {
	return appendRecord(dst, r, nil)
}

// appendRecord writes version 1, or with s version 2.
func appendRecord(dst []byte, r LedgerRecord, s *sealing) ([]byte, error) {
	inputStored := r.InputStored.UTC()
	if !marshalableTime(inputStored) {
		return appendReflect(dst, r, s)
	}
	version, memberID := ledgerVersion, r.MemberID
	if s != nil {
		version, memberID = sealedLedgerVersion, s.token
	}
	b := append(dst, `{"v":`...)
	b = strconv.AppendInt(b, int64(version), 10)
	b = append(b, `,"partition":`...)
	b = strconv.AppendInt(b, int64(r.Partition), 10)
	b = append(b, `,"input_seq":`...)
	b = strconv.AppendUint(b, r.InputSeq, 10)
	b = append(b, `,"input_stored":`...)
	b = appendJSONTime(b, inputStored)
	b = append(b, `,"event_id":`...)
	b = appendJSONString(b, r.EventID, true)
	b = append(b, `,"event_digest":"`...)
	b = appendDigest(b, r.EventDigest)
	b = append(b, `","member_id":`...)
	b = appendJSONString(b, memberID, true)
	if r.EventType != "" {
		b = append(b, `,"event_type":`...)
		b = appendJSONString(b, string(r.EventType), true)
	}
	if a := r.After; a != nil {
		b = append(b, `,"after":{"balance":`...)
		b = strconv.AppendInt(b, a.Balance, 10)
		if a.Pending != 0 {
			b = append(b, `,"pending":`...)
			b = strconv.AppendInt(b, a.Pending, 10)
		}
		if a.Tier != "" {
			b = append(b, `,"tier":`...)
			b = appendJSONString(b, a.Tier, true)
		}
		b = append(b, '}')
	}
	if s != nil && s.sealed != "" {
		b = append(b, `,"sealed":`...)
		b = appendJSONString(b, s.sealed, true)
	}
	b = append(b, `,"facts":[`...)
	wf := wireFactPool.Get().(*wireFact)
	defer func() {
		*wf = wireFact{} // keeps nothing of r alive
		wireFactPool.Put(wf)
	}()
	for i, f := range r.Facts {
		if err := encodeFact(wf, f); err != nil {
			return dst, err
		}
		if !marshalableTime(wf.OccurredAt) || wf.ExpiresAt != nil && !marshalableTime(*wf.ExpiresAt) ||
			wf.AvailableAt != nil && !marshalableTime(*wf.AvailableAt) {
			return appendReflect(dst, r, s)
		}
		s.wire(wf)
		if i > 0 {
			b = append(b, ',')
		}
		b = appendWireFact(b, wf)
	}
	return append(b, "]}"...), nil
}

// appendReflect appends encodeLedgerRecordReflect's bytes to dst.
func appendReflect(dst []byte, r LedgerRecord, s *sealing) ([]byte, error) {
	enc, err := encodeLedgerRecordReflect(r, s)
	if err != nil {
		return dst, err
	}
	return append(dst, enc...), nil
}

// encodeLedgerRecordReflect is EncodeLedgerRecord by json.Marshal.
func encodeLedgerRecordReflect(r LedgerRecord, s *sealing) ([]byte, error) {
	w := wireRecord{
		Version: ledgerVersion, Partition: r.Partition, InputSeq: r.InputSeq, InputStored: r.InputStored.UTC(), EventID: r.EventID,
		EventDigest: fmt.Sprintf("%016x", r.EventDigest), MemberID: r.MemberID, EventType: string(r.EventType),
		After: wireStandingOf(r.After), Facts: make([]wireFact, 0, len(r.Facts)),
	}
	if s != nil {
		w.Version, w.MemberID, w.Sealed = sealedLedgerVersion, s.token, s.sealed
	}
	for _, f := range r.Facts {
		var wf wireFact
		if err := encodeFact(&wf, f); err != nil {
			return nil, err
		}
		s.wire(&wf)
		wf.Lines = wf.wireLines()
		w.Facts = append(w.Facts, wf)
	}
	return json.Marshal(w)
}

// marshalableTime reports whether time.Time's MarshalJSON accepts t, a time
// in UTC: RFC 3339 has room for years 0000-9999 only.
func marshalableTime(t time.Time) bool {
	y := t.Year()
	return y >= 0 && y <= 9999
}

// appendJSONTime appends t, a time in UTC that marshalableTime accepts, as
// time.Time's MarshalJSON writes it.
func appendJSONTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendDigest appends d as fmt's %016x does.
func appendDigest(b []byte, d uint64) []byte {
	for shift := 60; shift >= 0; shift -= 4 {
		b = append(b, hexDigits[d>>uint(shift)&0xF])
	}
	return b
}

// appendWireFact appends w as json.Marshal writes it: the fields in the
// order of wireFact, omitempty honoured. A field added to wireFact must be
// added here too (TestLedgerCodecMatchesReference compares the two), and to
// ledgerParser.fact, or records holding it take json.Unmarshal's slower way.
func appendWireFact(b []byte, w *wireFact) []byte {
	b = append(b, `{"type":`...)
	b = appendJSONString(b, string(w.Type), true)
	b = append(b, `,"occurred_at":`...)
	b = appendJSONTime(b, w.OccurredAt)
	b = appendOptString(b, `,"order_id":`, w.OrderID)
	b = appendOptString(b, `,"channel":`, w.Channel)
	b = appendOptInt(b, `,"amount":`, w.Amount)
	b = appendOptString(b, `,"currency":`, w.Currency)
	if len(w.items) > 0 || len(w.refundItems) > 0 {
		b = append(b, `,"lines":[`...)
		for i, l := range w.items {
			b = appendWireLine(b, i, l.SKU, l.Category, l.Quantity, l.UnitPrice)
		}
		for i, l := range w.refundItems {
			b = appendWireLine(b, i, l.SKU, "", l.Quantity, 0)
		}
		b = append(b, ']')
	}
	b = appendOptInt(b, `,"qualifying_spend":`, w.QualifyingSpend)
	b = appendOptInt(b, `,"qualifying_spend_after":`, w.QualifyingSpendAfter)
	b = appendOptIntPointer(b, `,"rating":`, w.Rating)
	b = appendOptIntPointer(b, `,"nps":`, w.NPS)
	b = appendOptString(b, `,"comment":`, w.Comment)
	b = appendOptInt(b, `,"points":`, w.Points)
	b = appendOptString(b, `,"rule":`, w.Rule)
	b = appendOptString(b, `,"program_version":`, w.ProgramVersion)
	b = appendOptString(b, `,"from":`, w.From)
	b = appendOptString(b, `,"to":`, w.To)
	b = appendOptString(b, `,"reason":`, w.Reason)
	if w.ExpiresAt != nil {
		b = append(b, `,"expires_at":`...)
		b = appendJSONTime(b, *w.ExpiresAt)
	}
	b = appendOptString(b, `,"request_id":`, w.RequestID)
	b = appendOptString(b, `,"reward_id":`, w.RewardID)
	b = appendOptInt(b, `,"quantity":`, w.Quantity)
	b = appendOptString(b, `,"detail":`, w.Detail)
	if w.AvailableAt != nil {
		b = append(b, `,"available_at":`...)
		b = appendJSONTime(b, *w.AvailableAt)
	}
	b = appendOptInt(b, `,"value":`, w.Value)
	b = appendOptString(b, `,"next_tier":`, w.NextTier)
	b = appendOptInt(b, `,"missing":`, w.Missing)
	b = appendOptString(b, `,"projected_tier":`, w.Projected)
	b = appendOptString(b, `,"other_member_id":`, w.OtherMemberID)
	b = appendOptString(b, `,"birthday":`, w.Birthday)
	b = appendOptString(b, `,"follow_up_id":`, w.FollowUpID)
	b = appendOptString(b, `,"note":`, w.Note)
	b = appendOptString(b, `,"operator_id":`, w.OperatorID)
	b = appendOptString(b, `,"redemption_id":`, w.RedemptionID)
	if w.Stocked {
		b = append(b, `,"stocked":true`...)
	}
	b = appendOptString(b, `,"code":`, w.Code)
	b = appendOptString(b, `,"fit_id":`, w.FitID)
	b = appendOptInt(b, `,"p_alive_ppm":`, w.PAlivePPM)
	b = appendOptString(b, `,"risk_band":`, w.RiskBand)
	b = appendOptString(b, `,"value_band":`, w.ValueBand)
	b = appendOptString(b, `,"segment":`, w.Segment)
	b = appendOptString(b, `,"experiment":`, w.Experiment)
	b = appendOptString(b, `,"arm":`, w.Arm)
	if w.Triggered {
		b = append(b, `,"triggered":true`...)
	}
	b = appendOptString(b, `,"offer":`, w.Offer)
	if len(w.Rules) > 0 {
		b = append(b, `,"rules":[`...)
		for i, r := range w.Rules {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, r, true)
		}
		b = append(b, ']')
	}
	if len(w.Attributes) > 0 {
		b = append(b, `,"attributes":`...)
		b = appendWireAttributes(b, w.Attributes)
	}
	return append(b, '}')
}

// appendWireLine appends the i-th line of a fact as json.Marshal writes a
// wireLine.
func appendWireLine(b []byte, i int, sku, category string, quantity, unitPrice int64) []byte {
	if i > 0 {
		b = append(b, ',')
	}
	b = append(b, '{')
	if sku != "" {
		b = append(b, `"sku":`...)
		b = appendJSONString(b, sku, true)
		b = append(b, ',')
	}
	if category != "" {
		b = append(b, `"category":`...)
		b = appendJSONString(b, category, true)
		b = append(b, ',')
	}
	b = append(b, `"quantity":`...)
	b = strconv.AppendInt(b, quantity, 10)
	b = appendOptInt(b, `,"unit_price":`, unitPrice)
	return append(b, '}')
}

func appendOptString(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	b = append(b, key...)
	return appendJSONString(b, s, true)
}

func appendOptInt(b []byte, key string, n int64) []byte {
	if n == 0 {
		return b
	}
	b = append(b, key...)
	return strconv.AppendInt(b, n, 10)
}

func appendOptIntPointer(b []byte, key string, n *int) []byte {
	if n != nil {
		b = strconv.AppendInt(append(b, key...), int64(*n), 10)
	}
	return b
}

// EncodeLedgerMessage renders records for one ledger message: each record as
// EncodeLedgerRecord writes it, one per line (JSON Lines). Compact JSON has no
// raw newline, so the lines split unambiguously, and a message of one record
// is exactly that record.
func EncodeLedgerMessage(buf []byte, records ...LedgerRecord) ([]byte, error) {
	for _, r := range records {
		line, err := EncodeLedgerRecord(r)
		if err != nil {
			return buf, err
		}
		buf = AppendLedgerLine(buf, line)
	}
	return buf, nil
}

// AppendLedgerLine appends one encoded record (EncodeLedgerRecord's output)
// to a ledger message being built in buf.
func AppendLedgerLine(buf, record []byte) []byte {
	if len(buf) > 0 {
		buf = append(buf, '\n')
	}
	return append(buf, record...)
}

// DecodeLedgerMessage reads the records of a ledger message written by
// EncodeLedgerMessage, in order, with FirstFact set; Seq and Stored are the
// caller's to set. A message with no record, or an empty line, is an error.
func DecodeLedgerMessage(data []byte) ([]LedgerRecord, error) {
	return DecodeLedgerMessageWith(data, nil)
}

// DecodeLedgerMessageWith is DecodeLedgerMessage revealing version 2
// records' members through keys.
func DecodeLedgerMessageWith(data []byte, keys *MemberKeys) ([]LedgerRecord, error) {
	records := make([]LedgerRecord, 0, bytes.Count(data, []byte{'\n'})+1)
	facts := 0
	for line := range bytes.SplitSeq(data, []byte{'\n'}) {
		r, err := DecodeLedgerRecordWith(line, keys)
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", len(records), err)
		}
		r.FirstFact = facts
		facts += len(r.Facts)
		records = append(records, r)
	}
	return records, nil
}

// DecodeLedgerRecord reads a record written by EncodeLedgerRecord.
//
// A record as EncodeLedgerRecord writes it is read by a parser made for the
// format (see ledgerParser); anything else (another key, a null, a duplicate
// key, a number that does not fit) goes to json.Unmarshal, so every input
// decodes, or fails, exactly as json.Unmarshal into wireRecord has it.
func DecodeLedgerRecord(data []byte) (LedgerRecord, error) {
	return DecodeLedgerRecordWith(data, nil)
}

// DecodeLedgerRecordWith is DecodeLedgerRecord revealing a version 2
// record's members and sealed fields through keys; without keys a version
// 2 record is an error.
func DecodeLedgerRecordWith(data []byte, keys *MemberKeys) (LedgerRecord, error) {
	p := ledgerParser{data: data, keys: keys}
	var r parsedRecord
	if !p.record(&r) {
		if p.err != nil {
			return LedgerRecord{}, fmt.Errorf("decode ledger record: %w", p.err)
		}
		return decodeLedgerRecordReflect(data, keys)
	}
	if r.version != ledgerVersion && r.version != sealedLedgerVersion {
		return LedgerRecord{}, fmt.Errorf("decode ledger record: unsupported version %d", r.version)
	}
	if !r.revealed { // a record with no facts key
		if _, ok := p.reveal(&r); !ok {
			return LedgerRecord{}, fmt.Errorf("decode ledger record: %w", p.err)
		}
	}
	if r.version == sealedLedgerVersion {
		noteErasure(keys, r.token, r.Facts)
	}
	var ok bool
	if r.digest != nil {
		r.EventDigest, ok = parseDigest(r.digest[1 : len(r.digest)-1])
	}
	if !ok {
		var digest string
		if r.digest != nil {
			if err := json.Unmarshal(r.digest, &digest); err != nil {
				return decodeLedgerRecordReflect(data, keys)
			}
		}
		var d uint64
		if _, err := fmt.Sscanf(digest, "%x", &d); err != nil {
			return LedgerRecord{}, fmt.Errorf("decode ledger record: event_digest %q: %w", digest, err)
		}
		r.EventDigest = d
	}
	if r.Facts == nil { // no facts key: json.Unmarshal's way gives an empty list
		r.Facts = make([]domain.Fact, 0)
	}
	return r.LedgerRecord, nil
}

// decodeLedgerRecordReflect is DecodeLedgerRecord by json.Unmarshal.
func decodeLedgerRecordReflect(data []byte, keys *MemberKeys) (LedgerRecord, error) {
	var w wireRecord
	if err := json.Unmarshal(data, &w); err != nil {
		return LedgerRecord{}, fmt.Errorf("decode ledger record: %w", err)
	}
	var rv *revealing
	var token string
	switch {
	case w.Version == sealedLedgerVersion:
		var err error
		if rv, err = reveal(keys, w.MemberID, w.EventID, w.Sealed); err != nil {
			return LedgerRecord{}, fmt.Errorf("decode ledger record: %w", err)
		}
		token = w.MemberID
		w.MemberID = rv.member.id
	case w.Version != ledgerVersion:
		return LedgerRecord{}, fmt.Errorf("decode ledger record: unsupported version %d", w.Version)
	case w.Sealed != "":
		return LedgerRecord{}, fmt.Errorf("decode ledger record: version %d has no sealed fields", w.Version)
	}
	r := LedgerRecord{Partition: w.Partition, InputSeq: w.InputSeq, InputStored: w.InputStored, EventID: w.EventID, MemberID: w.MemberID,
		EventType: domain.EventType(w.EventType), After: w.After.standing()}
	if _, err := fmt.Sscanf(w.EventDigest, "%x", &r.EventDigest); err != nil {
		return LedgerRecord{}, fmt.Errorf("decode ledger record: event_digest %q: %w", w.EventDigest, err)
	}
	r.Facts = make([]domain.Fact, 0, len(w.Facts))
	for i := range w.Facts {
		wf := &w.Facts[i]
		if err := rv.fact(wf, i); err != nil {
			return LedgerRecord{}, fmt.Errorf("decode ledger record: facts[%d]: %w", i, err)
		}
		f, err := decodeFact(wf, wf.Lines, domain.FactMeta{MemberID: w.MemberID, EventID: w.EventID, OccurredAt: wf.OccurredAt.UTC()})
		if err != nil {
			return LedgerRecord{}, fmt.Errorf("decode ledger record: facts[%d]: %w", i, err)
		}
		r.Facts = append(r.Facts, f)
	}
	noteErasure(keys, token, r.Facts)
	return r, nil
}

// noteErasure tells keys of a member whose erasure a record holds.
func noteErasure(keys *MemberKeys, token string, facts []domain.Fact) {
	if keys == nil || token == "" {
		return
	}
	for _, f := range facts {
		if f.FactType() == domain.FactMemberErased {
			keys.erasingMember(token)
		}
	}
}

// parseDigest reads the 16 hexadecimal digits EncodeLedgerRecord writes,
// which fmt.Sscanf's %x reads alike; ok is false for anything else.
func parseDigest(s []byte) (uint64, bool) {
	if len(s) != 16 {
		return 0, false
	}
	var d uint64
	for _, c := range s {
		v, ok := hexValue(c)
		if !ok {
			return 0, false
		}
		d = d<<4 | uint64(v)
	}
	return d, true
}
