// Package csvimport reads past purchases from a CSV file, for
// `loyalty import purchases.csv`, as loyalty.purchase.completed.v1 events.
//
// The file needs a header row naming its columns; order does not matter and
// other columns are ignored:
//
//	member_id    required; any text (surrounding whitespace is trimmed)
//	occurred_at  required; RFC 3339 with any offset, e.g. 2026-03-01T14:30:00+01:00
//	amount       required; what the member paid, in major units: 12.99, 12.5, 12
//	currency     required; ISO 4217 code (EUR, usd)
//	order_id     optional column and value; derived from the row when empty
//
// Amounts are parsed as text, never as floats. An amount with more decimals
// than its currency has (12.999 EUR, 12.5 JPY), a negative amount or one in
// any other notation (1,234.00, 1e3) is an error, never rounded.
//
// Importing the same file twice gives the same events with the same ids, so
// the engine awards nothing twice. Event ids are derived from the row's
// content (member, order, time, amount, currency); when order_id is empty,
// the order id is "import-" and 16 hex digits of a SHA-256 over the member,
// time, amount, currency and the row's line number. Rows without an order
// id therefore keep their ids only while they stay on the same line: editing
// lines above them (adding or removing rows) gives them new order and event
// ids, and importing that file again would count them twice. Give rows an
// order_id when a file may be edited and imported again.
package csvimport

import (
	"bufio"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/pointsledger/loyalty/domain"
)

// Column names in the header.
const (
	ColMemberID   = "member_id"
	ColOccurredAt = "occurred_at"
	ColAmount     = "amount"
	ColCurrency   = "currency"
	ColOrderID    = "order_id"
)

// Channel is the Channel of every imported purchase.
const Channel = "import"

// MaxOrderIDBytes bounds order ids: the engine's own limit.
const MaxOrderIDBytes = domain.MaxOrderIDBytes

// namespace is the UUID namespace of imported event ids. Changing it gives
// every row a new id, so re-importing an old file would count it twice:
// never change it.
var namespace = uuid.MustParse("37af55e6-7c9f-47dc-b11f-6d0b41074f8c")

// ErrHeader is matched (errors.Is) by every header problem NewReader reports.
var ErrHeader = errors.New("bad CSV header")

// Row is one good row of the file: its line and the purchase it records.
type Row struct {
	// Line is the line the row starts on; the header is line 1 (or later,
	// after blank lines).
	Line  int
	Event domain.Event
}

// RowError says why a row was not imported. Field is the column at fault,
// or empty when the row as a whole is malformed.
type RowError struct {
	Line   int
	Field  string
	Reason string
}

func (e *RowError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Reason)
	}
	return fmt.Sprintf("line %d: %s: %s", e.Line, e.Field, e.Reason)
}

// Reader reads purchases from a CSV file, row by row.
type Reader struct {
	csv    *csv.Reader
	source string
	width  int // fields in the header
	cols   [5]int
	err    error // sticky: io.EOF or a read error
}

// Indexes into Reader.cols.
const (
	memberCol = iota
	occurredCol
	amountCol
	currencyCol
	orderCol
)

var columns = [...]string{ColMemberID, ColOccurredAt, ColAmount, ColCurrency, ColOrderID}

// NewReader reads and checks the header of a CSV file. Events get source as
// their Source (the file name, say). A UTF-8 byte order mark at the start is
// skipped.
//
// It returns an error matching ErrHeader if the file is empty, the header
// cannot be parsed, names a column twice or lacks a required column (the
// error lists every missing one) or holds a carriage return (a file whose
// lines end in CR alone), and the reader's error if reading fails.
func NewReader(r io.Reader, source string) (*Reader, error) {
	if source == "" {
		return nil, errors.New("csvimport: source is required")
	}
	br := bufio.NewReader(r)
	if bom, err := br.Peek(3); err == nil && string(bom) == "\uFEFF" {
		_, _ = br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	var pe *csv.ParseError
	switch {
	case err == io.EOF:
		return nil, fmt.Errorf("%w: the file is empty; the first line must name the columns %s", ErrHeader, strings.Join(columns[:], ","))
	case errors.As(err, &pe):
		return nil, fmt.Errorf("%w: line %d: %v", ErrHeader, pe.StartLine, pe.Err)
	case err != nil:
		return nil, fmt.Errorf("csvimport: reading the header: %w", err)
	}
	for _, name := range header {
		if strings.ContainsRune(name, '\r') {
			// csv ends lines at \n only: a file with lines ending in \r alone
			// is one long header whose last name swallows the rows, so
			// without this check it would import nothing and say so quietly.
			line, _ := cr.FieldPos(0)
			return nil, fmt.Errorf("%w: line %d holds a carriage return: the file's lines end in CR alone (classic Mac OS); save it with LF or CRLF line endings", ErrHeader, line)
		}
	}
	rd := &Reader{csv: cr, source: source, width: len(header), cols: [5]int{-1, -1, -1, -1, -1}}
	for i, name := range header {
		name = strings.TrimSpace(name)
		for c, want := range columns {
			if name != want {
				continue
			}
			if rd.cols[c] >= 0 {
				return nil, fmt.Errorf("%w: column %s appears twice (columns %d and %d)", ErrHeader, name, rd.cols[c]+1, i+1)
			}
			rd.cols[c] = i
		}
	}
	var missing []string
	for c := range orderCol { // order_id is optional
		if rd.cols[c] < 0 {
			missing = append(missing, columns[c])
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: missing column %s (the header has %q; required: member_id, occurred_at, amount, currency; optional: order_id)",
			ErrHeader, strings.Join(missing, ", "), strings.Join(header, ","))
	}
	return rd, nil
}

// Next returns the next row. At the end of the file it returns io.EOF. For a
// bad row it returns a *RowError and moves on: the next call returns the
// following row, so bad rows never stop an import. Blank rows (empty, or
// only whitespace and commas) are skipped. Any other error is a read error
// from the underlying reader, and is returned from then on.
func (r *Reader) Next() (Row, error) {
	for r.err == nil {
		rec, err := r.csv.Read()
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return Row{}, &RowError{Line: pe.StartLine, Reason: parseReason(pe)}
			}
			if err != io.EOF {
				err = fmt.Errorf("csvimport: %w", err)
			}
			r.err = err
			break
		}
		if blank(rec) {
			continue
		}
		line, _ := r.csv.FieldPos(0)
		if len(rec) != r.width {
			return Row{}, &RowError{Line: line, Reason: fmt.Sprintf("has %d fields, the header has %d", len(rec), r.width)}
		}
		e, rerr := r.event(rec, line)
		if rerr != nil {
			rerr.Line = line
			return Row{}, rerr
		}
		return Row{Line: line, Event: e}, nil
	}
	return Row{}, r.err
}

func parseReason(pe *csv.ParseError) string {
	if pe.Line != pe.StartLine {
		return fmt.Sprintf("line %d, column %d: %v", pe.Line, pe.Column, pe.Err)
	}
	return fmt.Sprintf("column %d: %v", pe.Column, pe.Err)
}

func blank(rec []string) bool {
	for _, f := range rec {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

// event turns a row into a purchase; the RowError's Line is left to the caller.
func (r *Reader) event(rec []string, line int) (domain.Event, *RowError) {
	field := func(c int) string { return strings.TrimSpace(rec[r.cols[c]]) }
	memberID := field(memberCol)
	switch {
	case memberID == "":
		return domain.Event{}, &RowError{Field: ColMemberID, Reason: "is required"}
	case !utf8.ValidString(memberID):
		return domain.Event{}, &RowError{Field: ColMemberID, Reason: "is not valid UTF-8"}
	case len(memberID) > domain.MaxMemberIDBytes:
		return domain.Event{}, &RowError{Field: ColMemberID, Reason: fmt.Sprintf("is %d bytes long, at most %d are allowed", len(memberID), domain.MaxMemberIDBytes)}
	}

	occurredText := field(occurredCol)
	if occurredText == "" {
		return domain.Event{}, &RowError{Field: ColOccurredAt, Reason: "is required"}
	}
	occurredAt, err := time.Parse(time.RFC3339, occurredText)
	if err != nil {
		return domain.Event{}, &RowError{Field: ColOccurredAt, Reason: fmt.Sprintf("%s is not an RFC 3339 time such as 2026-03-01T14:30:00Z", quote(occurredText))}
	}
	occurredAt = occurredAt.UTC()
	if occurredAt.Year() > 9999 {
		// 9999-12-31T23:30:00-01:00 is in year 10000 once in UTC, which the
		// wire format cannot carry: publishing it would stop the import.
		return domain.Event{}, &RowError{Field: ColOccurredAt, Reason: fmt.Sprintf("%s is after the year 9999 in UTC", quote(occurredText))}
	}

	currency := strings.ToUpper(field(currencyCol))
	if currency == "" {
		return domain.Event{}, &RowError{Field: ColCurrency, Reason: "is required"}
	}
	if _, ok := domain.Currencies[currency]; !ok {
		return domain.Event{}, &RowError{Field: ColCurrency, Reason: fmt.Sprintf("%s is not an ISO 4217 currency code", quote(field(currencyCol)))}
	}

	amount, reason := parseAmount(field(amountCol), currency)
	if reason != "" {
		return domain.Event{}, &RowError{Field: ColAmount, Reason: reason}
	}

	orderID := ""
	if r.cols[orderCol] >= 0 {
		orderID = field(orderCol)
	}
	switch {
	case !utf8.ValidString(orderID):
		return domain.Event{}, &RowError{Field: ColOrderID, Reason: "is not valid UTF-8"}
	case len(orderID) > MaxOrderIDBytes:
		return domain.Event{}, &RowError{Field: ColOrderID, Reason: fmt.Sprintf("is %d bytes long, at most %d are allowed", len(orderID), MaxOrderIDBytes)}
	}
	when := occurredAt.Format(time.RFC3339Nano)
	minor := strconv.FormatInt(amount, 10)
	if orderID == "" {
		sum := sha256.Sum256(fields(memberID, when, minor, currency, strconv.Itoa(line)))
		orderID = "import-" + hex.EncodeToString(sum[:8])
	}

	e := domain.Event{
		ID:         uuid.NewSHA1(namespace, fields(memberID, orderID, when, minor, currency)).String(),
		Type:       domain.TypePurchaseCompleted,
		Source:     r.source,
		MemberID:   memberID,
		OccurredAt: occurredAt,
		Body: domain.Purchase{
			OrderID: orderID,
			Total:   domain.Money{Minor: amount, Currency: currency},
			Channel: Channel,
		},
	}
	// What the engine will check on arrival, except the future-time check:
	// an importer has no clock to compare with.
	if err := domain.Validate(e, e.OccurredAt); err != nil {
		var re *domain.RejectedError
		if errors.As(err, &re) {
			return domain.Event{}, &RowError{Field: re.Field, Reason: re.Detail}
		}
		return domain.Event{}, &RowError{Reason: err.Error()}
	}
	return e, nil
}

// fields encodes values unambiguously (each prefixed by its length) for
// hashing: "a|b" and "a", "b" must not collide.
func fields(values ...string) []byte {
	var b []byte
	for _, v := range values {
		b = strconv.AppendInt(b, int64(len(v)), 10)
		b = append(b, ':')
		b = append(b, v...)
	}
	return b
}

// parseAmount reads a decimal in major units as minor units of currency. It
// returns a reason when the text is not a valid amount.
func parseAmount(s, currency string) (int64, string) {
	if s == "" {
		return 0, "is required"
	}
	digits := domain.Currencies[currency]
	whole, frac, hasPoint := strings.Cut(s, ".")
	if strings.HasPrefix(whole, "-") && isDigits(strings.TrimPrefix(whole, "-")) && (!hasPoint || isDigits(frac)) {
		return 0, fmt.Sprintf("%s must not be negative", quote(s))
	}
	if !isDigits(whole) || hasPoint && !isDigits(frac) {
		return 0, fmt.Sprintf("%s is not a decimal number such as 12.99", quote(s))
	}
	if len(frac) > digits {
		return 0, fmt.Sprintf("%s has more decimals than %s allows (%d)", quote(s), currency, digits)
	}
	frac += strings.Repeat("0", digits-len(frac))
	whole = strings.TrimLeft(whole, "0")
	if len(whole)+len(frac) > 18 { // beyond MaxAmount, and guards the arithmetic below
		return 0, fmt.Sprintf("%s is more than the largest amount accepted", quote(s))
	}
	var v int64
	for _, d := range []byte(whole + frac) {
		v = v*10 + int64(d-'0')
	}
	if v > domain.MaxAmount {
		return 0, fmt.Sprintf("%s is more than the largest amount accepted", quote(s))
	}
	return v, ""
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// quote quotes a value for an error message, shortened if long.
func quote(s string) string {
	const limit = 64
	if len(s) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut]) + "..."
	}
	return strconv.Quote(s)
}
