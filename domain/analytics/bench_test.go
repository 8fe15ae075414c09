package analytics

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
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

// BenchmarkValidate is a holdout validation of both models in whole days:
// a year of first purchases, a year of calibration and half a year of
// holdout. One op fits BG/NBD and Pareto/NBD to the calibration histories,
// predicts every member's holdout and draws the tracking; peak-heap-MB is
// the largest heap seen while it ran.
func BenchmarkValidate(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		data := SynthesizeHoldout(trueBGNBD, n, 365, 365, 182, 1, 1)
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			peak := watchHeap()
			for range b.N {
				v, err := Validate(context.Background(), data.Holdout)
				if err != nil {
					b.Fatal(err)
				}
				for _, c := range v.Models {
					if c.Err != nil {
						b.Logf("%s: %v", c.Model, c.Err)
					}
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "members/s")
			b.ReportMetric(float64(peak())/(1<<20), "peak-heap-MB")
		})
	}
}

// watchHeap samples the heap in use every 10 ms until the returned
// function is called, which returns the largest seen.
func watchHeap() func() uint64 {
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	sample := func() {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		if m.HeapInuse > peak.Load() {
			peak.Store(m.HeapInuse)
		}
	}
	go func() {
		defer close(done)
		for {
			sample()
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	return func() uint64 {
		close(stop)
		<-done
		sample()
		return peak.Load()
	}
}
