package handlers

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/pointsledger/loyalty/streams"
)

// BenchmarkRouterPerInput is the engine's per-input cost outside handling:
// the subscriber's runs, the router, the retry middleware and the
// partition's worker, with a handler that only reads the inputs back, while
// input is queued faster than it is handled (the engine under load).
func BenchmarkRouterPerInput(b *testing.B) {
	for _, worker := range []bool{true, false} {
		name := "worker"
		if !worker {
			name = "router-goroutine"
		}
		b.Run(name, func(b *testing.B) {
			subject := "loyalty.in.07.purchase-completed." + streams.MemberKey("m-1")
			stored, _ := streams.ParseStoredInput(subject)
			queue := make(chan input, 1024)
			done := make(chan struct{})
			committed := make(chan uint64, 1)
			progress := &progressLog{}
			sub := &partitionSubscriber{id: 7, queue: queue, logger: slog.New(slog.DiscardHandler), batchEvery: 1000, progress: progress.progress,
				batchWithin: time.Hour, retryAfter: time.Millisecond, commit: func(context.Context) error { return nil },
				committed: func(upTo uint64) {
					select {
					case committed <- upTo:
					default:
					}
				}}
			logger := newRouterLogger(slog.New(slog.DiscardHandler))
			router, err := message.NewRouter(message.RouterConfig{CloseTimeout: time.Second}, logger)
			if err != nil {
				b.Fatal(err)
			}
			router.AddMiddleware(retryOnFailure(middleware.Retry{MaxRetries: 10, InitialInterval: time.Millisecond, Multiplier: 2}))
			handle := func(msg *message.Message) error {
				progress.start(msg)
				ins, err := inputsOfMessage(msg)
				for range ins {
					progress.handled(false)
				}
				return err
			}
			if worker {
				handle = onWorker(done, handle)
			}
			router.AddConsumerHandler("p", "t", sub, handle)
			ctx, cancel := context.WithCancel(context.Background())
			go func() { _ = router.Run(ctx) }()
			<-router.Running()
			data := make([]byte, 300)
			b.ResetTimer()
			go func() {
				for i := range b.N {
					queue <- input{data: data, rawSubject: subject, subject: stored, seq: uint64(i + 1), stored: time.Now()}
				}
			}()
			for upTo := uint64(0); upTo < uint64(b.N); {
				upTo = <-committed
			}
			b.StopTimer()
			cancel()
			close(done)
			sub.wait()
		})
	}
}
