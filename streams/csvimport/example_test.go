package csvimport_test

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/streams/csvimport"
)

// Bad rows come back as a *RowError naming their line, and the import goes
// on with the next row.
func ExampleReader() {
	file := "member_id,occurred_at,amount,currency,order_id\n" +
		"m-1,2026-03-01T14:30:00+01:00,12.99,EUR,A-1001\n" +
		"m-2,2026-03-01T15:00:00Z,12.999,EUR,A-1002\n" +
		"m-3,2026-03-02T09:00:00Z,1500,JPY,\n"
	r, err := csvimport.NewReader(strings.NewReader(file), "purchases.csv")
	if err != nil {
		fmt.Println(err)
		return
	}
	for {
		row, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		var rowErr *csvimport.RowError
		if errors.As(err, &rowErr) {
			fmt.Println("skipped:", rowErr)
			continue
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		p := row.Event.Body.(domain.Purchase)
		fmt.Printf("line %d: %s paid %d %s at %s, order %s\n", row.Line, row.Event.MemberID,
			p.Total.Minor, p.Total.Currency, row.Event.OccurredAt.Format("2006-01-02 15:04Z07:00"), p.OrderID)
	}
	// Output:
	// line 2: m-1 paid 1299 EUR at 2026-03-01 13:30Z, order A-1001
	// skipped: line 3: amount: "12.999" has more decimals than EUR allows (2)
	// line 4: m-3 paid 1500 JPY at 2026-03-02 09:00Z, order import-41b60bf6ffafcf25
}
