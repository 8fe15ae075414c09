package analytics

import (
	"fmt"
	"math"
	"testing"
)

// BenchmarkFit fits both models to populations drawn from the issue's
// parameters, in whole days as the read models give them (two years of
// first purchases); one op is one fit of BG/NBD and Gamma-Gamma.
func BenchmarkFit(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		data := Synthesize(trueBGNBD, trueGG, n, 30, 730, 1)
		for i, h := range data.Histories {
			data.Histories[i] = History{Frequency: h.Frequency, Recency: math.Round(h.Recency), Age: math.Ceil(h.Age)}
		}
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			for range b.N {
				if _, err := FitBGNBD(data.Histories); err != nil {
					b.Fatal(err)
				}
				if _, err := FitGammaGamma(data.Spends); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "members/s")
		})
	}
}

// BenchmarkScore is the per-member work of a refit on one core: P(alive),
// expected purchases over 30, 90 and 365 days, expected spend and the
// 12-month discounted value. One op is one member.
func BenchmarkScore(b *testing.B) {
	data := Synthesize(trueBGNBD, trueGG, 10_000, 30, 730, 2)
	v := ValueSettings{Months: 12, MonthLength: 30, AnnualDiscountRate: 0.1, Margin: 1}
	b.ResetTimer()
	sink := 0.0
	for i := range b.N {
		h, s := data.Histories[i%len(data.Histories)], data.Spends[i%len(data.Spends)]
		sink += trueBGNBD.ProbabilityAlive(h) + trueBGNBD.ExpectedPurchases(h, 30) + trueBGNBD.ExpectedPurchases(h, 90) +
			trueBGNBD.ExpectedPurchases(h, 365)
		sink += PredictValue(trueBGNBD, h, trueGG.ExpectedSpend(s), v).Discounted
	}
	if sink < 0 {
		b.Fatal("negative scores")
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "members/s")
}
