package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/pointsledger/loyalty/handlers"
	"github.com/pointsledger/loyalty/streams"
)

// catchUpReport is how often serve says how far behind the demo's tables are.
const catchUpReport = 5 * time.Second

// reportCatchUp says, every few seconds, how much input the engine has yet
// to handle and how many ledger messages the read models lack, and says
// once when both are none: publishing the demo only means it is in the
// input stream.
func reportCatchUp(ctx context.Context, p pipeline, log *slog.Logger) {
	started := time.Now()
	// Each look is three NATS API calls and a query: once a second is
	// soon enough to say "caught up".
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var reported time.Time
	for {
		pending, lag, err := backlog(ctx, p)
		switch {
		case err == nil && pending == 0 && lag == 0:
			log.Info("caught up: every event published is in the read models; look around (README); churn and value scores follow at the first refit",
				"after_publishing", time.Since(started).Round(100*time.Millisecond))
			return
		case time.Since(reported) >= catchUpReport:
			reported = time.Now()
			if err != nil {
				log.Info("catching up; the engine is still starting", "detail", err)
			} else {
				log.Info("catching up", "input_pending", pending, "projection_lag_messages", lag)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// backlog is the input this engine has yet to handle (undelivered and
// unacknowledged) and the ledger messages the furthest-behind projection
// lacks.
func backlog(ctx context.Context, p pipeline) (pending uint64, lag int64, err error) {
	c, err := p.js.Consumer(ctx, streams.InputStream, handlers.EngineConsumerName(p.engineID))
	if err != nil {
		return 0, 0, fmt.Errorf("the engine's input consumer: %w", err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		return 0, 0, err
	}
	ledger, err := p.js.Stream(ctx, streams.LedgerStream)
	if err != nil {
		return 0, 0, err
	}
	last := int64(ledger.CachedInfo().State.LastSeq)
	var rows int
	if err := p.pool.QueryRow(ctx, `select count(*), coalesce(max($1 - ledger_seq), 0) from loyalty.projection_checkpoints`, last).
		Scan(&rows, &lag); err != nil {
		return 0, 0, err
	}
	if rows == 0 {
		lag = last // the projections have not started
	}
	return info.NumPending + uint64(info.NumAckPending), lag, nil
}
