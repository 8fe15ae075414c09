package projections

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

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
