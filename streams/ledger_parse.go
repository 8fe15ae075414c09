package streams

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/pointsledger/loyalty/domain"
)

// ledgerParser reads a ledger record without reflection. It accepts only
// input it reads exactly as json.Unmarshal into wireRecord would: one JSON
// object of wireRecord's keys spelled exactly, each at most once, event_id
// and member_id before facts (the facts need them), values of the types the
// fields hold (no null, no number that does not fit, no fraction or
// exponent), known fact types only, and white space anywhere JSON allows it.
// That covers every record EncodeLedgerRecord writes. On anything else it
// gives up, and DecodeLedgerRecord falls back to json.Unmarshal, which then
// decides (a key in another case, an unknown key, a duplicate, a syntax or
// type error).
type ledgerParser struct {
	data []byte
	i    int
	// recent are strings already decoded from this record: a record repeats
	// its order id and program version in several facts.
	recent  [8]string
	nRecent int
	// keys reveal a version 2 record; err is why reading one failed,
	// which no other decoder would change.
	keys *MemberKeys
	err  error
}

// parsedRecord is what ledgerParser.record reads: the record, and the
// fields DecodeLedgerRecord checks before it returns it.
type parsedRecord struct {
	LedgerRecord
	version int
	digest  []byte // the event_digest string as written, quotes included; nil when absent
	sealed  string
	// revealed is set once a version 2 record's member is revealed, from
	// token.
	revealed bool
	token    string
}

func (p *ledgerParser) space() { p.i = skipSpace(p.data, p.i) }

// peek returns the byte at p.i, or 0 at the end.
func (p *ledgerParser) peek() byte {
	if p.i < len(p.data) {
		return p.data[p.i]
	}
	return 0
}

// nextKey moves to the next member of an object whose '{' (first) or
// previous value has been read, and returns its key. done is true at the
// closing '}'.
func (p *ledgerParser) nextKey(first bool) (key []byte, done, ok bool) {
	p.space()
	switch c := p.peek(); {
	case c == '}':
		p.i++
		return nil, true, true
	case !first && c != ',':
		return nil, false, false
	case !first:
		p.i++
		p.space()
	}
	if p.peek() != '"' {
		return nil, false, false
	}
	start := p.i + 1
	end := bytes.IndexByte(p.data[start:], '"')
	if end < 0 {
		return nil, false, false
	}
	key = p.data[start : start+end]
	for _, c := range key {
		if c < 0x20 || c == '\\' { // not a key of ours
			return nil, false, false
		}
	}
	p.i = start + end + 1
	p.space()
	if p.peek() != ':' {
		return nil, false, false
	}
	p.i++
	p.space()
	return key, false, true
}

// nextElement moves to the next element of an array whose '[' (first) or
// previous element has been read. done is true at the closing ']', which it
// reads.
func (p *ledgerParser) nextElement(first bool) (done, ok bool) {
	p.space()
	switch c := p.peek(); {
	case c == ']':
		p.i++
		return true, true
	case !first && c != ',':
		return false, false
	case !first:
		p.i++
		p.space()
	}
	return false, true
}

// record reads the whole input.
func (p *ledgerParser) record(r *parsedRecord) bool {
	p.space()
	if p.peek() != '{' {
		return false
	}
	p.i++
	const version, eventID, memberID = 1 << 0, 1 << 4, 1 << 6
	var seen uint64
	for first := true; ; first = false {
		key, done, ok := p.nextKey(first)
		if !ok {
			return false
		}
		if done {
			break
		}
		var bit uint64
		switch string(key) {
		case "v":
			bit, ok = version, p.integer(&r.version)
		case "partition":
			bit, ok = 1<<1, p.integer(&r.Partition)
		case "input_seq":
			bit, ok = 1<<2, p.uint64(&r.InputSeq)
		case "input_stored":
			bit, ok = 1<<3, p.time(&r.InputStored)
		case "event_id":
			bit, ok = eventID, p.string(&r.EventID)
		case "event_digest":
			bit = 1 << 5
			r.digest, ok = p.rawString()
		case "member_id":
			bit, ok = memberID, p.string(&r.MemberID)
		case "event_type":
			var t string
			bit, ok = 1<<8, p.string(&t)
			r.EventType = domain.EventType(t)
		case "after":
			r.After = new(domain.Standing)
			bit, ok = 1<<9, p.standing(r.After)
		case "sealed": // before the facts, which it opens; after them, json.Unmarshal's way
			bit, ok = 1<<10, seen&(1<<7) == 0 && p.string(&r.sealed)
		case "facts":
			bit = 1 << 7
			ok = seen&(eventID|memberID|version) == eventID|memberID|version
			var rv *revealing
			if ok {
				rv, ok = p.reveal(r)
			}
			if ok {
				r.Facts, ok = p.factList(r.MemberID, r.EventID, rv)
			}
		default:
			return false
		}
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
	}
	p.space()
	return p.i == len(p.data)
}

// reveal reads a version 2 record's member and sealed fields, setting its
// member id; the facts still to be read are given to rv.fact.
func (p *ledgerParser) reveal(r *parsedRecord) (rv *revealing, ok bool) {
	switch {
	case r.version == sealedLedgerVersion:
		if rv, p.err = reveal(p.keys, r.MemberID, r.EventID, r.sealed); p.err != nil {
			return nil, false
		}
		r.token, r.MemberID, r.revealed = r.MemberID, rv.member.id, true
		return rv, true
	case r.sealed != "":
		p.err = fmt.Errorf("version %d has no sealed fields", r.version)
		return nil, false
	}
	return nil, true
}

func (p *ledgerParser) factList(memberID, eventID string, rv *revealing) ([]domain.Fact, bool) {
	if p.peek() != '[' {
		return nil, false
	}
	p.i++
	var buf [8]domain.Fact
	facts := buf[:0]
	w := wireFactPool.Get().(*wireFact)
	defer func() {
		*w = wireFact{} // keeps nothing of the record alive
		wireFactPool.Put(w)
	}()
	for first := true; ; first = false {
		done, ok := p.nextElement(first)
		if !ok {
			return nil, false
		}
		if done {
			return append(make([]domain.Fact, 0, len(facts)), facts...), true
		}
		*w = wireFact{}
		var lineBuf [8]wireLine
		lines, ok := p.fact(w, lineBuf[:0])
		if !ok {
			return nil, false
		}
		if p.err = rv.fact(w, len(facts)); p.err != nil {
			return nil, false
		}
		f, err := decodeFact(w, lines, domain.FactMeta{MemberID: memberID, EventID: eventID, OccurredAt: w.OccurredAt.UTC()})
		if err != nil {
			return nil, false
		}
		facts = append(facts, f)
	}
}

// fact reads a fact into w but for its lines, which it returns appended
// to lines (nil when the fact has none).
func (p *ledgerParser) fact(w *wireFact, lines []wireLine) ([]wireLine, bool) {
	if p.peek() != '{' {
		return nil, false
	}
	p.i++
	var (
		seen     uint64 // a bit per key, so a repeated key goes to json.Unmarshal
		hasLines bool
	)
	for first := true; ; first = false {
		key, done, ok := p.nextKey(first)
		if !ok {
			return nil, false
		}
		if done {
			if !hasLines {
				lines = nil
			}
			return lines, true
		}
		var bit uint64
		switch string(key) {
		case "type":
			bit, ok = 1<<0, p.factType(w)
		case "occurred_at":
			bit, ok = 1<<1, p.time(&w.OccurredAt)
		case "order_id":
			bit, ok = 1<<2, p.string(&w.OrderID)
		case "channel":
			bit, ok = 1<<3, p.string(&w.Channel)
		case "amount":
			bit, ok = 1<<4, p.int64(&w.Amount)
		case "currency":
			bit, ok = 1<<5, p.string(&w.Currency)
		case "lines":
			bit, hasLines = 1<<6, true
			lines, ok = p.lineList(lines)
		case "qualifying_spend":
			bit, ok = 1<<7, p.int64(&w.QualifyingSpend)
		case "qualifying_spend_after":
			bit, ok = 1<<8, p.int64(&w.QualifyingSpendAfter)
		case "rating":
			bit, ok = 1<<9, p.intPointer(&w.Rating)
		case "nps":
			bit, ok = 1<<10, p.intPointer(&w.NPS)
		case "comment":
			bit, ok = 1<<11, p.string(&w.Comment)
		case "points":
			bit, ok = 1<<12, p.int64(&w.Points)
		case "rule":
			bit, ok = 1<<13, p.string(&w.Rule)
		case "program_version":
			bit, ok = 1<<14, p.string(&w.ProgramVersion)
		case "from":
			bit, ok = 1<<15, p.string(&w.From)
		case "to":
			bit, ok = 1<<16, p.string(&w.To)
		case "reason":
			bit, ok = 1<<17, p.string(&w.Reason)
		case "expires_at":
			bit, ok = 1<<18, p.timePointer(&w.ExpiresAt)
		case "request_id":
			bit, ok = 1<<19, p.string(&w.RequestID)
		case "reward_id":
			bit, ok = 1<<20, p.string(&w.RewardID)
		case "quantity":
			bit, ok = 1<<21, p.int64(&w.Quantity)
		case "detail":
			bit, ok = 1<<22, p.string(&w.Detail)
		case "available_at":
			bit, ok = 1<<23, p.timePointer(&w.AvailableAt)
		case "value":
			bit, ok = 1<<24, p.int64(&w.Value)
		case "next_tier":
			bit, ok = 1<<25, p.string(&w.NextTier)
		case "missing":
			bit, ok = 1<<26, p.int64(&w.Missing)
		case "projected_tier":
			bit, ok = 1<<27, p.string(&w.Projected)
		case "other_member_id":
			bit, ok = 1<<28, p.string(&w.OtherMemberID)
		case "birthday":
			bit, ok = 1<<29, p.string(&w.Birthday)
		case "follow_up_id":
			bit, ok = 1<<30, p.string(&w.FollowUpID)
		case "note":
			bit, ok = 1<<31, p.string(&w.Note)
		case "operator_id":
			bit, ok = 1<<32, p.string(&w.OperatorID)
		case "redemption_id":
			bit, ok = 1<<33, p.string(&w.RedemptionID)
		case "stocked":
			bit, ok = 1<<34, p.literalTrue(&w.Stocked)
		case "code":
			bit, ok = 1<<35, p.string(&w.Code)
		case "fit_id":
			bit, ok = 1<<36, p.string(&w.FitID)
		case "p_alive_ppm":
			bit, ok = 1<<37, p.int64(&w.PAlivePPM)
		case "risk_band":
			bit, ok = 1<<38, p.string(&w.RiskBand)
		case "value_band":
			bit, ok = 1<<39, p.string(&w.ValueBand)
		case "segment":
			bit, ok = 1<<40, p.string(&w.Segment)
		case "experiment":
			bit, ok = 1<<41, p.string(&w.Experiment)
		case "arm":
			bit, ok = 1<<42, p.string(&w.Arm)
		case "triggered":
			bit, ok = 1<<43, p.literalTrue(&w.Triggered)
		case "offer":
			bit, ok = 1<<44, p.string(&w.Offer)
		default:
			return nil, false
		}
		if !ok || seen&bit != 0 {
			return nil, false
		}
		seen |= bit
	}
}

// lineList reads an array of lines, appending them to lines.
func (p *ledgerParser) lineList(lines []wireLine) ([]wireLine, bool) {
	if p.peek() != '[' {
		return nil, false
	}
	p.i++
	for first := true; ; first = false {
		done, ok := p.nextElement(first)
		if !ok {
			return nil, false
		}
		if done {
			return lines, true
		}
		var l wireLine
		if !p.line(&l) {
			return nil, false
		}
		lines = append(lines, l)
	}
}

func (p *ledgerParser) line(w *wireLine) bool {
	if p.peek() != '{' {
		return false
	}
	p.i++
	var seen uint64
	for first := true; ; first = false {
		key, done, ok := p.nextKey(first)
		if !ok {
			return false
		}
		if done {
			return true
		}
		var bit uint64
		switch string(key) {
		case "sku":
			bit, ok = 1<<0, p.string(&w.SKU)
		case "category":
			bit, ok = 1<<1, p.string(&w.Category)
		case "quantity":
			bit, ok = 1<<2, p.int64(&w.Quantity)
		case "unit_price":
			bit, ok = 1<<3, p.int64(&w.UnitPrice)
		default:
			return false
		}
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
	}
}

// standing reads a record's "after" object.
func (p *ledgerParser) standing(s *domain.Standing) bool {
	if p.peek() != '{' {
		return false
	}
	p.i++
	var seen uint64
	for first := true; ; first = false {
		key, done, ok := p.nextKey(first)
		if !ok {
			return false
		}
		if done {
			return seen&1 != 0 // json.Unmarshal takes a missing balance as 0; let it
		}
		var bit uint64
		switch string(key) {
		case "balance":
			bit, ok = 1<<0, p.int64(&s.Balance)
		case "pending":
			bit, ok = 1<<1, p.int64(&s.Pending)
		case "tier":
			bit, ok = 1<<2, p.string(&s.Tier)
		default:
			return false
		}
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
	}
}

// rawString returns the JSON string at p.i, quotes included.
func (p *ledgerParser) rawString() ([]byte, bool) {
	if p.peek() != '"' {
		return nil, false
	}
	lone := -1
	end, ok := scanString(p.data, p.i, &lone)
	if !ok {
		return nil, false
	}
	raw := p.data[p.i:end]
	p.i = end
	return raw, true
}

// string reads a string. One without escapes and in valid UTF-8 is taken as
// it is; json.Unmarshal decodes any other (it replaces invalid UTF-8 and
// lone surrogates with U+FFFD).
func (p *ledgerParser) string(dst *string) bool {
	raw, ok := p.rawString()
	if !ok {
		return false
	}
	if s := raw[1 : len(raw)-1]; bytes.IndexByte(s, '\\') < 0 && utf8.Valid(s) {
		*dst = p.intern(s)
		return true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return false
	}
	*dst = s
	return true
}

// intern returns string(s), reusing a string of the record's that has the
// same bytes, or a constant facts often hold.
func (p *ledgerParser) intern(s []byte) string {
	switch string(s) {
	case "":
		return ""
	case domain.RuleBase:
		return domain.RuleBase
	case domain.RuleTierBonus:
		return domain.RuleTierBonus
	case domain.RuleFirstPurchaseBonus:
		return domain.RuleFirstPurchaseBonus
	case domain.RuleFeedbackBonus:
		return domain.RuleFeedbackBonus
	case domain.RuleVisitBonus:
		return domain.RuleVisitBonus
	case domain.RuleRefund:
		return domain.RuleRefund
	case domain.TierReasonEnrolment:
		return domain.TierReasonEnrolment
	case domain.TierReasonQualifyingSpend:
		return domain.TierReasonQualifyingSpend
	}
	n := min(p.nRecent, len(p.recent))
	for _, r := range p.recent[:n] {
		if r == string(s) {
			return r
		}
	}
	str := string(s)
	p.recent[p.nRecent%len(p.recent)] = str
	p.nRecent++
	return str
}

// factType reads a fact's type into w: the constant, and its entry in
// factCodecs, for a known one.
func (p *ledgerParser) factType(w *wireFact) bool {
	raw, ok := p.rawString()
	if !ok {
		return false
	}
	if c := factCodecByType[string(raw[1:len(raw)-1])]; c != nil { // no allocation for a known type
		w.Type, w.codec = c.typ, c
		return true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return false
	}
	w.Type = domain.FactType(s)
	return true
}

// time reads a time as json.Unmarshal does: by time.Time's UnmarshalJSON.
func (p *ledgerParser) time(dst *time.Time) bool {
	raw, ok := p.rawString()
	return ok && dst.UnmarshalJSON(raw) == nil
}

func (p *ledgerParser) timePointer(dst **time.Time) bool {
	var t time.Time
	if !p.time(&t) {
		return false
	}
	*dst = &t
	return true
}

// number returns the integer literal at p.i: -?(0|[1-9][0-9]*), not
// followed by a fraction or an exponent.
func (p *ledgerParser) number() ([]byte, bool) {
	start := p.i
	if p.peek() == '-' {
		p.i++
	}
	switch c := p.peek(); {
	case c == '0':
		p.i++
	case '1' <= c && c <= '9':
		p.i = skipDigits(p.data, p.i+1)
	default:
		return nil, false
	}
	switch p.peek() {
	case '.', 'e', 'E':
		return nil, false
	}
	return p.data[start:p.i], true
}

// literalTrue reads the literal true, the only value an omitempty boolean
// is written with.
func (p *ledgerParser) literalTrue(dst *bool) bool {
	if !bytes.HasPrefix(p.data[p.i:], []byte("true")) {
		return false
	}
	p.i += len("true")
	*dst = true
	return true
}

func (p *ledgerParser) int64(dst *int64) bool {
	v, ok := p.number()
	if ok {
		*dst, ok = parseInteger(v, 64)
	}
	return ok
}

func (p *ledgerParser) integer(dst *int) bool {
	v, ok := p.number()
	if !ok {
		return false
	}
	n, ok := parseInteger(v, strconv.IntSize)
	*dst = int(n)
	return ok
}

func (p *ledgerParser) intPointer(dst **int) bool {
	var n int
	if !p.integer(&n) {
		return false
	}
	*dst = &n
	return true
}

func (p *ledgerParser) uint64(dst *uint64) bool {
	v, ok := p.number()
	if !ok || v[0] == '-' {
		return false
	}
	if len(v) > 19 {
		n, err := strconv.ParseUint(string(v), 10, 64)
		*dst = n
		return err == nil
	}
	var n uint64
	for _, c := range v {
		n = n*10 + uint64(c-'0')
	}
	*dst = n
	return true
}
