package csvimport_test

import (
	"errors"
	"io"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/uuid"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/streams/csvimport"
)

const header = "member_id,occurred_at,amount,currency,order_id\n"

// goodRow is a valid row; tests put it after a bad one to show that the
// import carries on.
const goodRow = "m-2,2026-03-02T09:00:00Z,1.00,EUR,B-2\n"

// generatedOrderID is the shape of the order id given to rows without one.
var generatedOrderID = regexp.MustCompile(`^import-[0-9a-f]{16}$`)

// result is what one call to Next gave: a row or a row error.
type result struct {
	Row csvimport.Row
	Err *csvimport.RowError
}

// readAll reads every row of input. It fails the test on any error other
// than a *RowError, and if the reader does not end with io.EOF (twice, so
// that the end is sticky) within one call per byte.
func readAll(t testing.TB, input, source string) []result {
	t.Helper()
	r, err := csvimport.NewReader(strings.NewReader(input), source)
	if err != nil {
		t.Fatalf("NewReader(%q): %v", input, err)
	}
	return readResults(t, r, input, nil)
}

// readResults calls r.Next until io.EOF, giving each row or row error to
// check (when not nil) before it keeps it. It fails the test on any error
// other than a *RowError, and if r does not end with io.EOF (twice, so that
// the end is sticky) within one call per byte of input, plus two: each
// result takes at least one byte, so the loop is bounded.
func readResults(t testing.TB, r *csvimport.Reader, input string, check func(result)) []result {
	t.Helper()
	var got []result
	for range len(input) + 2 {
		row, err := r.Next()
		if errors.Is(err, io.EOF) {
			if _, err := r.Next(); !errors.Is(err, io.EOF) {
				t.Fatalf("Next after io.EOF = %v, want io.EOF", err)
			}
			return got
		}
		var res result
		var rowErr *csvimport.RowError
		switch {
		case errors.As(err, &rowErr):
			res.Err = rowErr
		case err != nil:
			t.Fatalf("Next on %q = %v (%T), want a row, a *RowError or io.EOF", input, err, err)
		default:
			res.Row = row
		}
		if check != nil {
			check(res)
		}
		got = append(got, res)
	}
	t.Fatalf("no io.EOF after %d calls to Next on %q", len(input)+2, input)
	return nil
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

// purchase is the part of an imported event a row decides.
type purchase struct {
	Member  string
	At      time.Time
	Minor   int64
	Cur     string
	OrderID string // "generated" for an import-... id
}

func purchaseOf(t testing.TB, e domain.Event) purchase {
	t.Helper()
	p, ok := e.Body.(domain.Purchase)
	if !ok {
		t.Fatalf("event body is %T, want domain.Purchase", e.Body)
	}
	order := p.OrderID
	if generatedOrderID.MatchString(order) {
		order = "generated"
	}
	return purchase{Member: e.MemberID, At: e.OccurredAt, Minor: p.Total.Minor, Cur: p.Total.Currency, OrderID: order}
}

// checkEvent checks what every imported event has in common.
func checkEvent(t testing.TB, e domain.Event, source string) {
	t.Helper()
	if err := domain.Validate(e, e.OccurredAt); err != nil {
		t.Errorf("domain.Validate(%+v) = %v", e, err)
	}
	if got, want := e.Type, domain.TypePurchaseCompleted; got != want {
		t.Errorf("Type = %s, want %s", got, want)
	}
	if got, want := e.Source, source; got != want {
		t.Errorf("Source = %q, want %q", got, want)
	}
	if got := e.OccurredAt.Location(); got != time.UTC {
		t.Errorf("OccurredAt %s is in %s, want UTC", e.OccurredAt, got)
	}
	if id, err := uuid.Parse(e.ID); err != nil || id.Version() != 5 || id.String() != e.ID {
		t.Errorf("ID %q is not a canonical version 5 UUID (err %v)", e.ID, err)
	}
	if p, ok := e.Body.(domain.Purchase); ok {
		if got, want := p.Channel, csvimport.Channel; got != want {
			t.Errorf("Channel = %q, want %q", got, want)
		}
		if len(p.Lines) != 0 {
			t.Errorf("Lines = %v, want none", p.Lines)
		}
	}
}

func TestReaderGoodRows(t *testing.T) {
	long := strings.Repeat("x", domain.MaxMemberIDBytes)
	longOrder := strings.Repeat("o", csvimport.MaxOrderIDBytes)
	at := utc("2026-03-01T14:30:00Z")
	tests := []struct {
		name string
		row  string // after the standard header, on line 2
		want purchase
	}{
		{"EUR cents", "m-1,2026-03-01T14:30:00Z,12.99,EUR,A-1", purchase{"m-1", at, 1299, "EUR", "A-1"}},
		{"EUR one decimal", "m-1,2026-03-01T14:30:00Z,12.5,EUR,A-1", purchase{"m-1", at, 1250, "EUR", "A-1"}},
		{"EUR whole", "m-1,2026-03-01T14:30:00Z,12,EUR,A-1", purchase{"m-1", at, 1200, "EUR", "A-1"}},
		{"leading zeros", "m-1,2026-03-01T14:30:00Z,007.50,EUR,A-1", purchase{"m-1", at, 750, "EUR", "A-1"}},
		{"lower case currency", "m-1,2026-03-01T14:30:00Z,12.99,eur,A-1", purchase{"m-1", at, 1299, "EUR", "A-1"}},
		{"JPY has no minor unit", "m-1,2026-03-01T14:30:00Z,1500,JPY,A-1", purchase{"m-1", at, 1500, "JPY", "A-1"}},
		{"zero", "m-1,2026-03-01T14:30:00Z,0,EUR,A-1", purchase{"m-1", at, 0, "EUR", "A-1"}},
		{"zero with decimals", "m-1,2026-03-01T14:30:00Z,0.00,EUR,A-1", purchase{"m-1", at, 0, "EUR", "A-1"}},
		{"zero JPY", "m-1,2026-03-01T14:30:00Z,0,JPY,A-1", purchase{"m-1", at, 0, "JPY", "A-1"}},
		{"BHD three decimals", "m-1,2026-03-01T14:30:00Z,1.234,BHD,A-1", purchase{"m-1", at, 1234, "BHD", "A-1"}},
		{"BHD one decimal", "m-1,2026-03-01T14:30:00Z,1.5,BHD,A-1", purchase{"m-1", at, 1500, "BHD", "A-1"}},
		{"CLF four decimals", "m-1,2026-03-01T14:30:00Z,1.2345,CLF,A-1", purchase{"m-1", at, 12345, "CLF", "A-1"}},
		{"largest amount", "m-1,2026-03-01T14:30:00Z,10000000000.00,EUR,A-1", purchase{"m-1", at, domain.MaxAmount, "EUR", "A-1"}},
		{"largest amount JPY", "m-1,2026-03-01T14:30:00Z,1000000000000,JPY,A-1", purchase{"m-1", at, domain.MaxAmount, "JPY", "A-1"}},
		{"positive offset to UTC", "m-1,2026-03-01T15:30:00+01:00,1,EUR,A-1", purchase{"m-1", at, 100, "EUR", "A-1"}},
		{"negative offset to UTC", "m-1,2026-03-01T10:00:00-04:30,1,EUR,A-1", purchase{"m-1", at, 100, "EUR", "A-1"}},
		{"offset across midnight", "m-1,2026-03-01T23:30:00-01:00,1,EUR,A-1", purchase{"m-1", utc("2026-03-02T00:30:00Z"), 100, "EUR", "A-1"}},
		{"nanoseconds", "m-1,2026-03-01T14:30:00.123456789Z,1,EUR,A-1", purchase{"m-1", utc("2026-03-01T14:30:00.123456789Z"), 100, "EUR", "A-1"}},
		{"earliest time", "m-1,2000-01-01T00:00:00Z,1,EUR,A-1", purchase{"m-1", domain.DefaultAcceptEventsFrom, 100, "EUR", "A-1"}},
		{"last time encodable", "m-1,9999-12-31T23:59:59Z,1,EUR,A-1", purchase{"m-1", utc("9999-12-31T23:59:59Z"), 100, "EUR", "A-1"}},
		{"spaces trimmed", " m-1 , 2026-03-01T14:30:00Z , 12.99 , EUR , A-1 ", purchase{"m-1", at, 1299, "EUR", "A-1"}},
		{"quoted fields with commas", `"m,1","2026-03-01T14:30:00Z","12.99","EUR","A,1"`, purchase{"m,1", at, 1299, "EUR", "A,1"}},
		{"quoted quote", `"say ""hi""",2026-03-01T14:30:00Z,1,EUR,A-1`, purchase{`say "hi"`, at, 100, "EUR", "A-1"}},
		{"unicode member id", "ünïcødé 会员 🎉,2026-03-01T14:30:00Z,1,EUR,A-1", purchase{"ünïcødé 会员 🎉", at, 100, "EUR", "A-1"}},
		{"longest member id", long + ",2026-03-01T14:30:00Z,1,EUR,A-1", purchase{long, at, 100, "EUR", "A-1"}},
		{"longest order id", "m-1,2026-03-01T14:30:00Z,1,EUR," + longOrder, purchase{"m-1", at, 100, "EUR", longOrder}},
		{"missing order id", "m-1,2026-03-01T14:30:00Z,12.99,EUR,", purchase{"m-1", at, 1299, "EUR", "generated"}},
		{"blank order id", "m-1,2026-03-01T14:30:00Z,12.99,EUR,  ", purchase{"m-1", at, 1299, "EUR", "generated"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := readAll(t, header+tt.row+"\n", "test.csv")
			if len(got) != 1 || got[0].Err != nil {
				t.Fatalf("got %+v, want one row", got)
			}
			if got, want := got[0].Row.Line, 2; got != want {
				t.Errorf("Line = %d, want %d", got, want)
			}
			checkEvent(t, got[0].Row.Event, "test.csv")
			if got := purchaseOf(t, got[0].Row.Event); got != tt.want {
				t.Errorf("row %q\n got %+v\nwant %+v", tt.row, got, tt.want)
			}
		})
	}
}

func TestReaderBadRows(t *testing.T) {
	long := strings.Repeat("x", domain.MaxMemberIDBytes+1)
	tests := []struct {
		name   string
		row    string // after the standard header, on line 2, followed by goodRow
		field  string
		reason string // a substring of RowError.Reason
	}{
		{"too many decimals EUR", "m-1,2026-03-01T14:30:00Z,12.999,EUR,A-1", csvimport.ColAmount, `"12.999" has more decimals than EUR allows (2)`},
		{"trailing zero decimal EUR", "m-1,2026-03-01T14:30:00Z,12.990,EUR,A-1", csvimport.ColAmount, "more decimals than EUR allows (2)"},
		{"decimals JPY", "m-1,2026-03-01T14:30:00Z,12.5,JPY,A-1", csvimport.ColAmount, `"12.5" has more decimals than JPY allows (0)`},
		{"zero decimals JPY", "m-1,2026-03-01T14:30:00Z,1500.0,JPY,A-1", csvimport.ColAmount, "more decimals than JPY allows (0)"},
		{"too many decimals BHD", "m-1,2026-03-01T14:30:00Z,1.2345,BHD,A-1", csvimport.ColAmount, "more decimals than BHD allows (3)"},
		{"negative", "m-1,2026-03-01T14:30:00Z,-12.99,EUR,A-1", csvimport.ColAmount, `"-12.99" must not be negative`},
		{"negative zero", "m-1,2026-03-01T14:30:00Z,-0,EUR,A-1", csvimport.ColAmount, "must not be negative"},
		{"negative with too many decimals", "m-1,2026-03-01T14:30:00Z,-1.999,EUR,A-1", csvimport.ColAmount, "must not be negative"},
		{"not a number", "m-1,2026-03-01T14:30:00Z,abc,EUR,A-1", csvimport.ColAmount, `"abc" is not a decimal number`},
		{"thousands separator", `m-1,2026-03-01T14:30:00Z,"1,234.00",EUR,A-1`, csvimport.ColAmount, `"1,234.00" is not a decimal number`},
		{"decimal comma", `m-1,2026-03-01T14:30:00Z,"12,99",EUR,A-1`, csvimport.ColAmount, "is not a decimal number"},
		{"exponent", "m-1,2026-03-01T14:30:00Z,1e3,EUR,A-1", csvimport.ColAmount, "is not a decimal number"},
		{"plus sign", "m-1,2026-03-01T14:30:00Z,+12,EUR,A-1", csvimport.ColAmount, "is not a decimal number"},
		{"trailing point", "m-1,2026-03-01T14:30:00Z,12.,EUR,A-1", csvimport.ColAmount, "is not a decimal number"},
		{"leading point", "m-1,2026-03-01T14:30:00Z,.5,EUR,A-1", csvimport.ColAmount, "is not a decimal number"},
		{"two points", "m-1,2026-03-01T14:30:00Z,1.2.3,EUR,A-1", csvimport.ColAmount, "is not a decimal number"},
		{"inner space", "m-1,2026-03-01T14:30:00Z,1 000,EUR,A-1", csvimport.ColAmount, "is not a decimal number"},
		{"hex", "m-1,2026-03-01T14:30:00Z,0x10,EUR,A-1", csvimport.ColAmount, "is not a decimal number"},
		{"fullwidth digits", "m-1,2026-03-01T14:30:00Z,１２,EUR,A-1", csvimport.ColAmount, "is not a decimal number"},
		{"currency symbol", "m-1,2026-03-01T14:30:00Z,€12,EUR,A-1", csvimport.ColAmount, "is not a decimal number"},
		{"NaN", "m-1,2026-03-01T14:30:00Z,NaN,EUR,A-1", csvimport.ColAmount, "is not a decimal number"},
		{"missing amount", "m-1,2026-03-01T14:30:00Z,,EUR,A-1", csvimport.ColAmount, "is required"},
		{"blank amount", "m-1,2026-03-01T14:30:00Z,  ,EUR,A-1", csvimport.ColAmount, "is required"},
		{"above the largest amount", "m-1,2026-03-01T14:30:00Z,10000000000.01,EUR,A-1", csvimport.ColAmount, "is more than the largest amount accepted"},
		{"beyond int64", "m-1,2026-03-01T14:30:00Z,99999999999999999999,JPY,A-1", csvimport.ColAmount, "is more than the largest amount accepted"},
		{"date only", "m-1,2026-03-01,1,EUR,A-1", csvimport.ColOccurredAt, `"2026-03-01" is not an RFC 3339 time`},
		{"space for T", "m-1,2026-03-01 14:30:00Z,1,EUR,A-1", csvimport.ColOccurredAt, "is not an RFC 3339 time"},
		{"no offset", "m-1,2026-03-01T14:30:00,1,EUR,A-1", csvimport.ColOccurredAt, "is not an RFC 3339 time"},
		{"no such day", "m-1,2026-02-30T14:30:00Z,1,EUR,A-1", csvimport.ColOccurredAt, "is not an RFC 3339 time"},
		{"unix seconds", "m-1,1772375400,1,EUR,A-1", csvimport.ColOccurredAt, "is not an RFC 3339 time"},
		{"missing time", "m-1,,1,EUR,A-1", csvimport.ColOccurredAt, "is required"},
		{"before 1971", "m-1,1970-12-31T23:59:59Z,1,EUR,A-1", csvimport.ColOccurredAt, "is before 1971-01-01T00:00:00Z"},
		{"before 1971 once in UTC", "m-1,1971-01-01T00:30:00+01:00,1,EUR,A-1", csvimport.ColOccurredAt, "1970-12-31T23:30:00Z is before 1971-01-01T00:00:00Z"},
		{"after 9999 once in UTC", "m-1,9999-12-31T23:30:00-01:00,1,EUR,A-1", csvimport.ColOccurredAt, `"9999-12-31T23:30:00-01:00" is after the year 9999 in UTC`},
		{"unknown currency", "m-1,2026-03-01T14:30:00Z,1,EURO,A-1", csvimport.ColCurrency, `"EURO" is not an ISO 4217 currency code`},
		{"unknown currency as written", "m-1,2026-03-01T14:30:00Z,1,xxx,A-1", csvimport.ColCurrency, `"xxx" is not an ISO 4217 currency code`},
		{"currency symbol for code", "m-1,2026-03-01T14:30:00Z,1,€,A-1", csvimport.ColCurrency, "is not an ISO 4217 currency code"},
		{"missing currency", "m-1,2026-03-01T14:30:00Z,1,,A-1", csvimport.ColCurrency, "is required"},
		{"missing member id", ",2026-03-01T14:30:00Z,1,EUR,A-1", csvimport.ColMemberID, "is required"},
		{"blank member id", "  ,2026-03-01T14:30:00Z,1,EUR,A-1", csvimport.ColMemberID, "is required"},
		{"member id too long", long + ",2026-03-01T14:30:00Z,1,EUR,A-1", csvimport.ColMemberID, "is 129 bytes long, at most 128 are allowed"},
		{"member id not UTF-8", "m-\xff,2026-03-01T14:30:00Z,1,EUR,A-1", csvimport.ColMemberID, "is not valid UTF-8"},
		{"order id too long", "m-1,2026-03-01T14:30:00Z,1,EUR," + strings.Repeat("o", 129), csvimport.ColOrderID, "is 129 bytes long, at most 128 are allowed"},
		{"order id not UTF-8", "m-1,2026-03-01T14:30:00Z,1,EUR,A-\xc3", csvimport.ColOrderID, "is not valid UTF-8"},
		{"too few fields", "m-1,2026-03-01T14:30:00Z,1,EUR", "", "has 4 fields, the header has 5"},
		{"too many fields", "m-1,2026-03-01T14:30:00Z,1,EUR,A-1,x", "", "has 6 fields, the header has 5"},
		{"one field", "m-1", "", "has 1 fields, the header has 5"},
		{"bare quote", `m"1,2026-03-01T14:30:00Z,1,EUR,A-1`, "", `column 2: bare " in non-quoted-field`},
		{"text after a closing quote", `"m"1,2026-03-01T14:30:00Z,1,EUR,A-1`, "", `extraneous or missing " in quoted-field`},
		{"quote after a space", `m-1, "2026-03-01T14:30:00Z",1,EUR,A-1`, "", `bare " in non-quoted-field`},
		// The first problem in field order is the one reported.
		{"member checked first", ",x,y,z,", csvimport.ColMemberID, "is required"},
		{"currency checked before amount", "m-1,2026-03-01T14:30:00Z,x,y,", csvimport.ColCurrency, `"y" is not an ISO 4217 currency code`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := readAll(t, header+tt.row+"\n"+goodRow, "test.csv")
			if len(got) != 2 {
				t.Fatalf("got %d results %+v, want a row error and a row", len(got), got)
			}
			rowErr := got[0].Err
			if rowErr == nil {
				t.Fatalf("row %q gave %+v, want a *RowError", tt.row, got[0].Row)
			}
			if got, want := rowErr.Line, 2; got != want {
				t.Errorf("Line = %d, want %d (%v)", got, want, rowErr)
			}
			if got, want := rowErr.Field, tt.field; got != want {
				t.Errorf("Field = %q, want %q (%v)", got, want, rowErr)
			}
			if !strings.Contains(rowErr.Reason, tt.reason) {
				t.Errorf("Reason = %q, want it to contain %q", rowErr.Reason, tt.reason)
			}
			if !strings.HasPrefix(rowErr.Error(), "line 2: ") {
				t.Errorf("Error() = %q, want it to start with the line", rowErr.Error())
			}
			if tt.field != "" && !strings.HasPrefix(rowErr.Error(), "line 2: "+tt.field+": ") {
				t.Errorf("Error() = %q, want it to name the field %s", rowErr.Error(), tt.field)
			}
			next := got[1]
			if next.Err != nil {
				t.Fatalf("the row after the bad one gave %v, want a row", next.Err)
			}
			if got, want := next.Row.Line, 3; got != want {
				t.Errorf("Line of the next row = %d, want %d", got, want)
			}
			if got, want := purchaseOf(t, next.Row.Event).OrderID, "B-2"; got != want {
				t.Errorf("next row has order %q, want %q", got, want)
			}
		})
	}
}

func TestRowErrorMessage(t *testing.T) {
	tests := []struct {
		err  csvimport.RowError
		want string
	}{
		{csvimport.RowError{Line: 7, Field: "amount", Reason: `"x" is not a decimal number such as 12.99`}, `line 7: amount: "x" is not a decimal number such as 12.99`},
		{csvimport.RowError{Line: 3, Reason: "has 4 fields, the header has 5"}, "line 3: has 4 fields, the header has 5"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestLongValueIsShortenedInReason(t *testing.T) {
	// The 64-byte cut falls inside the two-byte é, so the quote ends before it.
	nines := strings.Repeat("9", 63)
	amount := nines + "é" + strings.Repeat("x", 100)
	got := readAll(t, header+"m-1,2026-03-01T14:30:00Z,"+amount+",EUR,A-1\n", "test.csv")
	if len(got) != 1 || got[0].Err == nil {
		t.Fatalf("got %+v, want one row error", got)
	}
	if got, want := got[0].Err.Reason, `"`+nines+`"... is not a decimal number such as 12.99`; got != want {
		t.Errorf("Reason = %q, want %q", got, want)
	}
}

// TestReaderFileLayouts reads files that differ only in layout: each gives
// the same purchases, on the lines given.
func TestReaderFileLayouts(t *testing.T) {
	want := []purchase{
		{"m-1", utc("2026-03-01T14:30:00Z"), 1299, "EUR", "A-1"},
		{"m-2", utc("2026-03-02T09:00:00Z"), 1500, "JPY", "generated"},
	}
	tests := []struct {
		name  string
		input string
		lines []int
	}{
		{"plain", header +
			"m-1,2026-03-01T14:30:00Z,12.99,EUR,A-1\n" +
			"m-2,2026-03-02T09:00:00Z,1500,JPY,\n", []int{2, 3}},
		{"no final newline", header +
			"m-1,2026-03-01T14:30:00Z,12.99,EUR,A-1\n" +
			"m-2,2026-03-02T09:00:00Z,1500,JPY,", []int{2, 3}},
		{"CRLF", strings.ReplaceAll(header+
			"m-1,2026-03-01T14:30:00Z,12.99,EUR,A-1\n"+
			"m-2,2026-03-02T09:00:00Z,1500,JPY,\n", "\n", "\r\n"), []int{2, 3}},
		{"BOM", "\uFEFF" + header +
			"m-1,2026-03-01T14:30:00Z,12.99,EUR,A-1\n" +
			"m-2,2026-03-02T09:00:00Z,1500,JPY,\n", []int{2, 3}},
		{"BOM and CRLF as Excel writes", "\uFEFF" + strings.ReplaceAll(header+
			"m-1,2026-03-01T14:30:00Z,12.99,EUR,A-1\n"+
			"m-2,2026-03-02T09:00:00Z,1500,JPY,\n", "\n", "\r\n"), []int{2, 3}},
		{"BOM before a quoted header", "\uFEFF\"member_id\",\"occurred_at\",\"amount\",\"currency\",\"order_id\"\n" +
			"m-1,2026-03-01T14:30:00Z,12.99,EUR,A-1\n" +
			"m-2,2026-03-02T09:00:00Z,1500,JPY,\n", []int{2, 3}},
		{"columns in another order", "currency,amount,order_id,member_id,occurred_at\n" +
			"EUR,12.99,A-1,m-1,2026-03-01T14:30:00Z\n" +
			"JPY,1500,,m-2,2026-03-02T09:00:00Z\n", []int{2, 3}},
		{"no order_id column", "member_id,occurred_at,amount,currency\n" +
			"m-1,2026-03-01T14:30:00Z,12.99,EUR\n" +
			"m-2,2026-03-02T09:00:00Z,1500,JPY\n", nil}, // checked below: A-1 is generated here
		{"other columns ignored", "store,member_id,occurred_at,amount,currency,order_id,note\n" +
			"berlin-3,m-1,2026-03-01T14:30:00Z,12.99,EUR,A-1,\"a, b\"\n" +
			"hamburg,m-2,2026-03-02T09:00:00Z,1500,JPY,,\n", []int{2, 3}},
		{"spaces around header names", " member_id , occurred_at,amount ,currency,order_id\n" +
			"m-1,2026-03-01T14:30:00Z,12.99,EUR,A-1\n" +
			"m-2,2026-03-02T09:00:00Z,1500,JPY,\n", []int{2, 3}},
		{"blank lines skipped but counted", "\n\n" + header + "\n" +
			"m-1,2026-03-01T14:30:00Z,12.99,EUR,A-1\n" +
			"   \n,,,,\n , , , , \n" +
			"m-2,2026-03-02T09:00:00Z,1500,JPY,\n\n\n", []int{5, 9}},
		{"quoted fields and an empty quoted order id", header +
			"m-1,2026-03-01T14:30:00Z,12.99,EUR,A-1\n" +
			"\"m-2\",2026-03-02T09:00:00Z,\"1500\",JPY,\"\"\n", []int{2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := readAll(t, tt.input, "test.csv")
			if len(got) != len(want) {
				t.Fatalf("got %d results %+v, want %d rows", len(got), got, len(want))
			}
			for i, g := range got {
				if g.Err != nil {
					t.Fatalf("result %d: %v, want a row", i, g.Err)
				}
				checkEvent(t, g.Row.Event, "test.csv")
				w := want[i]
				if tt.lines == nil { // no order_id column: every order id is generated
					w.OrderID = "generated"
				} else if got, want := g.Row.Line, tt.lines[i]; got != want {
					t.Errorf("row %d: Line = %d, want %d", i, got, want)
				}
				if got := purchaseOf(t, g.Row.Event); got != w {
					t.Errorf("row %d:\n got %+v\nwant %+v", i, got, w)
				}
			}
		})
	}
}

func TestReaderLinesAfterMultiLineRecord(t *testing.T) {
	input := header +
		"\"m-1\",2026-03-01T14:30:00Z,1,EUR,\"A\n1\"\n" + // lines 2-3
		"m-2,2026-03-01T14:30:00Z,1,EUR,\"B\r\n\r\n2\"\n" + // lines 4-6
		"m-3,2026-03-01T14:30:00Z,x,EUR,C-3\n" + // line 7, bad
		"m-4,2026-03-01T14:30:00Z,1,EUR,D-4\n" // line 8
	got := readAll(t, input, "test.csv")
	type summary struct {
		Line  int
		Order string
		Field string
	}
	var sums []summary
	for _, g := range got {
		if g.Err != nil {
			sums = append(sums, summary{g.Err.Line, "", g.Err.Field})
			continue
		}
		sums = append(sums, summary{g.Row.Line, purchaseOf(t, g.Row.Event).OrderID, ""})
	}
	// Order ids are identifiers, which hold no line breaks: the first two
	// rows are refused, at the lines where they start.
	want := []summary{{2, "", csvimport.ColOrderID}, {4, "", csvimport.ColOrderID}, {7, "", csvimport.ColAmount}, {8, "D-4", ""}}
	if !reflect.DeepEqual(sums, want) {
		t.Errorf("got %+v\nwant %+v", sums, want)
	}
}

func TestReaderUnterminatedQuote(t *testing.T) {
	// An opening quote without its closing one takes the rest of the file
	// into its field, so the error names the line it starts on and the
	// line the file ends on; the rows before it are imported.
	input := header +
		"m-1,2026-03-01T14:30:00Z,1,EUR,A-1\n" +
		"m-2,\"2026-03-01T14:30:00Z,1,EUR,B-2\n" +
		"m-3,2026-03-01T14:30:00Z,1,EUR,C-3\n"
	got := readAll(t, input, "test.csv")
	if len(got) != 2 || got[0].Err != nil || got[1].Err == nil {
		t.Fatalf("got %+v, want a row and a row error", got)
	}
	if got, want := got[1].Err.Line, 3; got != want {
		t.Errorf("Line = %d, want %d (%v)", got, want, got)
	}
	if got, want := got[1].Err.Reason, `extraneous or missing " in quoted-field`; !strings.HasPrefix(got, "line 4, ") || !strings.HasSuffix(got, want) {
		t.Errorf("Reason = %q, want the last line (4) and %q", got, want)
	}
}

func TestReaderBadRowsDoNotStopTheImport(t *testing.T) {
	input := header +
		"m-1,2026-03-01T14:30:00Z,12.999,EUR,A-1\n" + // 2: bad amount
		"m-2,2026-03-01T14:30:00Z,12.99,EUR,B-2\n" + // 3
		"m-3,2026-03-01T14:30:00Z,1,XYZ,C-3\n" + // 4: bad currency
		"m-4,yesterday,1,EUR,D-4\n" + // 5: bad time
		"m-5,2026-03-01T14:30:00Z,1,EUR\n" + // 6: too few fields
		"m\"6,2026-03-01T14:30:00Z,1,EUR,F-6\n" + // 7: bare quote
		"m-7,2026-03-01T14:30:00Z,7,JPY,G-7\n" // 8
	got := readAll(t, input, "test.csv")
	type summary struct {
		Line  int
		Field string
		Bad   bool
	}
	var sums []summary
	for _, g := range got {
		if g.Err != nil {
			sums = append(sums, summary{g.Err.Line, g.Err.Field, true})
		} else {
			sums = append(sums, summary{Line: g.Row.Line})
		}
	}
	want := []summary{
		{2, csvimport.ColAmount, true},
		{Line: 3},
		{4, csvimport.ColCurrency, true},
		{5, csvimport.ColOccurredAt, true},
		{6, "", true},
		{7, "", true},
		{Line: 8},
	}
	if !reflect.DeepEqual(sums, want) {
		t.Errorf("got  %+v\nwant %+v", sums, want)
	}
}

func TestReaderHeaderOnly(t *testing.T) {
	for _, input := range []string{header, strings.TrimSuffix(header, "\n"), header + "\n\n,,,,\n"} {
		if got := readAll(t, input, "test.csv"); len(got) != 0 {
			t.Errorf("%q gave %+v, want io.EOF at once", input, got)
		}
	}
}

func TestNewReaderBadHeader(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  string // a substring of the error
	}{
		{"empty file", "", "the file is empty"},
		{"only a BOM", "\uFEFF", "the file is empty"},
		{"only empty lines", "\n\r\n\n", "the file is empty"},
		{"missing header", "m-1,2026-03-01T14:30:00Z,12.99,EUR,A-1\n", "missing column member_id, occurred_at, amount, currency"},
		{"missing amount", "member_id,occurred_at,currency,order_id\n", "missing column amount (the header has \"member_id,occurred_at,currency,order_id\""},
		{"missing several", "member_id,amount\n", "missing column occurred_at, currency"},
		{"only order_id", "order_id\n", "missing column member_id, occurred_at, amount, currency"},
		{"misspelt", "member,occurred_at,amount,currency\n", "missing column member_id"},
		{"semicolons", "member_id;occurred_at;amount;currency;order_id\n", "missing column member_id, occurred_at, amount, currency"},
		{"tabs", "member_id\toccurred_at\tamount\tcurrency\n", "missing column member_id"},
		{"column twice", "member_id,occurred_at,amount,currency,member_id\n", "column member_id appears twice (columns 1 and 5)"},
		{"column twice with spaces", "order_id,member_id,occurred_at,amount,currency, order_id \n", "column order_id appears twice (columns 1 and 6)"},
		{"unparsable", "member_id,\"occurred_at\"x,amount,currency\n", `line 1: extraneous or missing " in quoted-field`},
		{"unparsable after blank lines", "\n\nmember_id,occ\"urred_at,amount,currency\n", `line 3: bare " in non-quoted-field`},
		{"UTF-16", "\xff\xfem\x00e\x00m\x00\n\x00", "missing column"},
		// Classic Mac OS line endings: without a check the whole file is
		// one header row, its last name "order_id\rm-1" an ignored column,
		// and the import silently reads nothing.
		{"CR line endings", strings.ReplaceAll(header+"m-1,2026-03-01T14:30:00Z,12.99,EUR,A-1\n", "\n", "\r"), "carriage return"},
		{"CR line endings without order_id", "member_id,occurred_at,amount,currency\rm-1,2026-03-01T14:30:00Z,12.99,EUR\r", "carriage return"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := csvimport.NewReader(strings.NewReader(tt.input), "test.csv")
			if r != nil {
				t.Errorf("NewReader returned a reader with error %v", err)
			}
			if !errors.Is(err, csvimport.ErrHeader) {
				t.Fatalf("NewReader(%q) = %v, want an error matching ErrHeader", tt.input, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestNewReaderNeedsSource(t *testing.T) {
	_, err := csvimport.NewReader(strings.NewReader(header), "")
	if err == nil || errors.Is(err, csvimport.ErrHeader) {
		t.Errorf("NewReader with no source = %v, want an error other than ErrHeader", err)
	}
}

var errDisk = errors.New("disk on fire")

func TestReadErrors(t *testing.T) {
	t.Run("in the header", func(t *testing.T) {
		_, err := csvimport.NewReader(iotest.ErrReader(errDisk), "test.csv")
		if !errors.Is(err, errDisk) || errors.Is(err, csvimport.ErrHeader) {
			t.Errorf("NewReader = %v, want it to wrap %v and not match ErrHeader", err, errDisk)
		}
	})
	t.Run("after rows", func(t *testing.T) {
		input := io.MultiReader(strings.NewReader(header+"m-1,2026-03-01T14:30:00Z,1,EUR,A-1\n"), iotest.ErrReader(errDisk))
		r, err := csvimport.NewReader(input, "test.csv")
		if err != nil {
			t.Fatal(err)
		}
		row, err := r.Next()
		if err != nil || row.Line != 2 {
			t.Fatalf("Next = %+v, %v; want the row on line 2", row, err)
		}
		for range 2 { // the error is sticky
			_, err = r.Next()
			var rowErr *csvimport.RowError
			if !errors.Is(err, errDisk) || errors.As(err, &rowErr) || errors.Is(err, io.EOF) {
				t.Errorf("Next = %v, want it to wrap %v", err, errDisk)
			}
		}
	})
	t.Run("inside a row", func(t *testing.T) {
		input := io.MultiReader(strings.NewReader(header+"m-1,2026-03-01T14:30:00Z,1,EUR,\"A"), iotest.ErrReader(errDisk))
		r, err := csvimport.NewReader(input, "test.csv")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Next(); !errors.Is(err, errDisk) {
			t.Errorf("Next = %v, want it to wrap %v", err, errDisk)
		}
	})
}
