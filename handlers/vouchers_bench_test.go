package handlers_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/streams"
)

// BenchmarkVoucherRedemptions is what issuing voucher codes costs the
// engine: redemptions of a plain reward against those of a voucher reward,
// whose codes are written to LOYALTY_VOUCHERS before the append, by members
// spread over every partition, published upstream-style as fast as they go
// (asynchronously). It reports redemptions per second, publish to ledger.
// It reports redemptions per second.
func BenchmarkVoucherRedemptions(b *testing.B) {
	const members = 5000
	for _, reward := range []string{"mug", "card"} {
		b.Run(reward, func(b *testing.B) {
			env, _ := startRunningEngine(b)
			at := time.Now().UTC().Add(-time.Hour)
			buys := make([]domain.Event, members)
			for i := range buys {
				buys[i] = purchase(fmt.Sprintf("p-%d", i), fmt.Sprintf("m-%d", i), "o-1", 1_000_00, at)
			}
			publish(b, env.JS, buys...)
			waitForRecords(b, env.JS, members)
			b.ResetTimer()
			for n := range b.N {
				redemptions := make([]domain.Event, members)
				for i := range redemptions {
					redemptions[i] = domain.Event{ID: fmt.Sprintf("r-%d-%d", n, i), Type: domain.TypeRedemption, Source: "bench",
						MemberID: fmt.Sprintf("m-%d", i), OccurredAt: at.Add(time.Minute),
						Body: domain.RedeemRequest{RequestID: fmt.Sprintf("till-%d", n), RewardID: reward}}
				}
				start := time.Now()
				pub := streams.NewPublisher(env.JS, nil)
				for _, e := range redemptions {
					if err := pub.Publish(context.Background(), e); err != nil {
						b.Fatal(err)
					}
				}
				if err := pub.Wait(context.Background()); err != nil {
					b.Fatal(err)
				}
				waitForRecords(b, env.JS, members*(n+2))
				b.ReportMetric(float64(members)/time.Since(start).Seconds(), "redemptions/s")
			}
		})
	}
}
