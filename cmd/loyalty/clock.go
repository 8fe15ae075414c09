package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/handlers"
	"github.com/pointsledger/loyalty/projections"
	"github.com/pointsledger/loyalty/streams"
)

// runClock publishes, every interval until ctx ends, a clock event
// (loyalty.member.clock.v1) for each member who may have points to expire
// without an event of their own: the engine then decides the expiry in
// order with the member's events, and a replay of the input decides it
// again the same way. The read models only choose whom to wake; a member
// woken for nothing gets a record with no facts.
func runClock(ctx context.Context, pool *pgxpool.Pool, js jetstream.JetStream, engine *handlers.Engine, every time.Duration, log *slog.Logger) {
	if every <= 0 {
		return
	}
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	var mark projections.ClockMark // the first tick looks at all history
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		if !engine.Leading() {
			continue // the engine that holds the lease keeps the clock
		}
		now := time.Now().UTC().Truncate(time.Second)
		next, n, err := clockTick(ctx, pool, js, engine.Programs().At(now), now, mark)
		if err == nil {
			mark = next
		}
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("clock: members due for expiry not woken; trying at the next tick", "err", err)
		case n > 0:
			log.Info("clock: members woken for points due to expire or become available, or a tier review", "members", n, "at", now)
		}
	}
}

// clockTick publishes the clock events of one tick and returns the mark of
// what it looked at and how many it published; the mark moves only when all
// were stored, so a failed tick is done again.
func clockTick(ctx context.Context, pool *pgxpool.Pool, js jetstream.JetStream, p *domain.Program, now time.Time,
	mark projections.ClockMark) (projections.ClockMark, int, error) {
	inactivity := 0
	if p.Earning.Expiry.Policy == domain.ExpireOnInactivity {
		inactivity = p.Earning.Expiry.Days
	}
	grace := -1 // no tier reviews
	if d := p.TierPolicy.Downgrade; d != "" && d != domain.DowngradeNever {
		grace = p.TierPolicy.GraceDays
	}
	yearly := p.Earning.Yearly.BirthdayPoints > 0 || p.Earning.Yearly.AnniversaryPoints > 0
	ids, next, err := projections.DueForClock(ctx, pool, now, mark, inactivity, grace, yearly, p.Earning.Expiry.NoticeDays)
	if err != nil {
		return mark, 0, err
	}
	pub := streams.NewPublisher(js, nil)
	for _, id := range ids {
		ev := domain.Event{ID: fmt.Sprintf("clock-%s-%d", streams.MemberKey(id), now.Unix()), Type: domain.TypeMemberClock,
			Source: "loyalty-clock", MemberID: id, OccurredAt: now, Body: domain.Clock{}}
		if err := pub.Publish(ctx, ev); err != nil {
			return mark, 0, err
		}
	}
	if err := pub.Wait(ctx); err != nil {
		return mark, 0, err
	}
	return next, len(ids), nil
}
