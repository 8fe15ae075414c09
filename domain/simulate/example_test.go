package simulate_test

import (
	"fmt"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/domain/simulate"
)

// A simulation is a stream of events in time order; the same Config always
// gives the same events.
func Example() {
	g, err := simulate.New(simulate.Config{Members: 5, Days: 60, Seed: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	for e, ok := g.Next(); ok; e, ok = g.Next() {
		switch b := e.Body.(type) {
		case domain.Purchase:
			fmt.Printf("%s %s bought for %d %s at %s\n", e.OccurredAt.Format("2006-01-02 15:04"), e.MemberID, b.Total.Minor, b.Total.Currency, b.Channel)
		case domain.Enrolment:
			fmt.Printf("%s %s enrolled (%s)\n", e.OccurredAt.Format("2006-01-02 15:04"), e.MemberID, b.Channel)
		}
	}
	// Output:
	// 2026-01-01 00:05 m-000002 enrolled (migrated)
	// 2026-01-01 00:18 m-000004 enrolled (migrated)
	// 2026-01-01 01:22 m-000003 enrolled (migrated)
	// 2026-01-01 02:13 m-000005 enrolled (migrated)
	// 2026-01-01 12:41 m-000004 bought for 8229 GBP at store-berlin
	// 2026-01-04 15:49 m-000001 enrolled (store-hamburg)
	// 2026-01-06 17:34 m-000001 bought for 3998 EUR at store-hamburg
	// 2026-01-17 17:21 m-000001 bought for 2389 EUR at store-hamburg
	// 2026-01-27 20:14 m-000001 bought for 2898 EUR at app
	// 2026-02-04 01:13 m-000004 bought for 1456 EUR at app
	// 2026-02-22 13:05 m-000002 bought for 7439 EUR at store-munich
}
