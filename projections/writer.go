package projections

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// writerPoll is how often a standby runner tries for the writer's lock, and
// how often the writer checks that its session (which holds the lock) is
// still there.
const writerPoll = time.Second

// RunAsWriter is Run for a runner that several engines start: one of them
// writes the read models and the others stand by, each taking over within
// writerPoll of the writer's end (decision 025). The writer is whoever
// holds a PostgreSQL session-level advisory lock, on a connection of its
// own: PostgreSQL lets it go when the session ends, a process that dies
// included, and a writer that loses its session stops writing. Two writers
// at once (one whose session PostgreSQL has not yet noticed is gone) would
// still apply each record once: the checkpoint row lock serialises them.
func (r *Runner) RunAsWriter(ctx context.Context) error {
	standingBy := false
	for ctx.Err() == nil {
		conn, err := r.takeWriterLock(ctx)
		if err != nil {
			if ctx.Err() == nil {
				r.log.Warn("projection writer lock not tried; trying again", "err", err)
			}
			if !sleep(ctx, writerPoll) {
				return nil
			}
			continue
		}
		if conn == nil {
			if !standingBy {
				r.log.Info("another engine writes the read models; this one stands by to take over")
				standingBy = true
			}
			if !sleep(ctx, writerPoll) {
				return nil
			}
			continue
		}
		standingBy = false
		r.log.Info("this engine writes the read models")
		err = r.runWhileLocked(ctx, conn)
		if err != nil {
			return err
		}
	}
	return nil
}

// takeWriterLock opens a session and takes the writer's lock in it: nil
// when another session holds it.
func (r *Runner) takeWriterLock(ctx context.Context) (*pgx.Conn, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, r.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, err
	}
	var got bool
	if err := conn.QueryRow(cctx, "select pg_try_advisory_lock(hashtext($1))", r.writerLock()).Scan(&got); err != nil || !got {
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	return conn, nil
}

func (r *Runner) writerLock() string { return "loyalty.projections.writer:" + r.name }

// runWhileLocked runs the projections until ctx ends or the lock's session
// is lost, then closes the session (which lets go of the lock).
func (r *Runner) runWhileLocked(ctx context.Context, conn *pgx.Conn) error {
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		defer stop()
		t := time.NewTicker(writerPoll)
		defer t.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-t.C:
			}
			pctx, cancel := context.WithTimeout(runCtx, writerPoll)
			err := conn.Ping(pctx)
			cancel()
			if err != nil && runCtx.Err() == nil {
				r.log.Error("projection writer lost its lock's session; it stops writing, and whichever engine takes the lock next writes", "err", err)
				return
			}
		}
	}()
	r.cfg.Metrics.writer.Set(1)
	err := r.Run(runCtx)
	r.cfg.Metrics.writer.Set(0)
	stop()
	<-watched
	closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if cerr := conn.Close(closeCtx); cerr != nil {
		r.log.Warn("projection writer session not closed cleanly; PostgreSQL lets its lock go when it notices", "err", cerr)
	}
	if err != nil {
		return fmt.Errorf("projections: %w", err)
	}
	return nil
}
