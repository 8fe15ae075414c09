package projections

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pointsledger/loyalty/domain/analytics"
	"github.com/pointsledger/loyalty/streams"
)

// BenchmarkMembersProjection measures the members projection's write path:
// batches of 1000 ledger records (about 2.5 facts each, over 5000 members),
// each applied with its checkpoint in one transaction, as the runner does.
func BenchmarkMembersProjection(b *testing.B) {
	benchmarkProjection(b, Members{}, 1000)
}

// BenchmarkActivityProjection is the same for the activity projection.
func BenchmarkActivityProjection(b *testing.B) {
	benchmarkProjection(b, Activity{}, 1000)
}

func benchmarkProjection(b *testing.B, p Projection, batchSize int) {
	pool := migrated(b)
	ctx := context.Background()
	if err := ensureCheckpoint(ctx, pool, p.Name()); err != nil {
		b.Fatal(err)
	}
	w := newWorld(42, 5000)
	var seq uint64
	nextBatch := func() []streams.LedgerRecord {
		batch := w.records(batchSize)
		for i := range batch {
			seq++
			batch[i].Seq = seq
		}
		return batch
	}
	// Warm up: every member gets a row, so the upserts are mostly updates,
	// as in steady state.
	for range 5 {
		applyBatch(b, ctx, pool, p, nextBatch())
	}
	facts := 0
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		batch := nextBatch()
		for _, r := range batch {
			facts += len(r.Facts)
		}
		b.StartTimer()
		applyBatch(b, ctx, pool, p, batch)
	}
	b.StopTimer()
	secs := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N*batchSize)/secs, "records/s")
	b.ReportMetric(float64(facts)/secs, "facts/s")
}

func applyBatch(b testing.TB, ctx context.Context, pool *pgxpool.Pool, p Projection, batch []streams.LedgerRecord) {
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_, _, err := applyInTx(ctx, tx, p, batch)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkFitModels is a whole refit against PostgreSQL: read every
// member's purchase days, fit both models, score every member and replace
// member_churn and member_ltv. One op is one refit; members/s is members
// refitted per second.
func BenchmarkFitModels(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			pool := migrated(b)
			seedPurchaseDaysOnly(b, pool, n)
			if _, err := pool.Exec(context.Background(), "analyze loyalty.member_purchase_days"); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				cfg := testFitConfig("command")
				last, stage := time.Now(), "start"
				cfg.Progress = func(next string, done, total int) {
					if next != stage {
						b.Logf("%s: %s", stage, time.Since(last).Round(time.Millisecond))
						last, stage = time.Now(), next
					}
				}
				res, err := FitModels(context.Background(), pool, cfg)
				b.Logf("%s and writing: %s", stage, time.Since(last).Round(time.Millisecond))
				if err != nil {
					b.Fatal(err)
				}
				if res.Members != n {
					b.Fatalf("refitted %d members, want %d", res.Members, n)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "members/s")
		})
	}
}

// BenchmarkValidateModels is a whole validation against PostgreSQL: read
// every member's calibration history and holdout from member_purchase_days
// (a year of first purchases, a year of calibration, half a year of
// holdout), fit both models, compare and write the tables. One op is one
// validation.
func BenchmarkValidateModels(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			pool := migrated(b)
			day0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
			data := analytics.SynthesizeHoldout(analytics.BGNBD{R: 0.25, Alpha: 4, A: 0.8, B: 2.5}, n, 365, 365, 182, 1, 1)
			var rows [][]any
			for i, ds := range data.PurchaseDays {
				for _, d := range ds {
					rows = append(rows, []any{fmt.Sprintf("member-%07d", i), day0.AddDate(0, 0, int(d)), int32(1), int64(2500)})
				}
			}
			ctx := context.Background()
			if _, err := pool.CopyFrom(ctx, pgx.Identifier{Schema, "member_purchase_days"},
				[]string{"member_id", "day", "orders", "spend"}, pgx.CopyFromRows(rows)); err != nil {
				b.Fatal(err)
			}
			if _, err := pool.Exec(ctx, "analyze loyalty.member_purchase_days"); err != nil {
				b.Fatal(err)
			}
			cfg := ValidateConfig{CalibrationEnd: day0.AddDate(0, 0, 364), HoldoutEnd: day0.AddDate(0, 0, 364+182),
				TimeUnit: "day", Reason: "command"}
			b.ResetTimer()
			for range b.N {
				res, err := ValidateModels(ctx, pool, cfg)
				if err != nil {
					b.Fatal(err)
				}
				if res.Members != n {
					b.Fatalf("validated %d members, want %d", res.Members, n)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "members/s")
		})
	}
}
