package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pointsledger/loyalty/streams"
)

// RunnerConfig tunes a Runner. The zero value is usable.
type RunnerConfig struct {
	// BatchSize is the most ledger records applied in one transaction.
	// Default 3000: when the projections fall behind, fewer and larger
	// transactions cost PostgreSQL less CPU per record (docs/benchmarks.md);
	// when they keep up, MaxWait closes a batch long before it is full.
	BatchSize int
	// MaxWait is how long a partial batch waits for more records before it
	// is applied anyway: the added latency when the ledger is quiet.
	// Default 50ms.
	MaxWait time.Duration
	// Logger receives retries and lifecycle events. Default: discard.
	Logger *slog.Logger
	// Metrics to record into. Default: unregistered metrics.
	Metrics *Metrics
	// Committed, when set, is called after each committed batch, for each
	// projection, with the records it applied and the commit time, on the
	// goroutine that committed it (calls for different projections may run
	// at the same time): it must return quickly. Benchmarks use it to
	// measure event-to-table latency exactly rather than from histogram
	// buckets.
	Committed func(projection string, applied []streams.LedgerRecord, at time.Time)
}

// Retry delays for failed batches and consumers: exponential between these
// bounds, with jitter so that runners of several processes do not retry in
// step.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 30 * time.Second
)

// maxBatchSize bounds BatchSize: a batch is one transaction and is held in
// memory, with its arrays sent as single parameters.
const maxBatchSize = 100_000

func (c *RunnerConfig) setDefaults() {
	if c.BatchSize == 0 {
		c.BatchSize = 3000
	}
	if c.MaxWait == 0 {
		c.MaxWait = 50 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports every problem with the configuration.
func (c RunnerConfig) Validate() error {
	var errs []error
	if c.BatchSize < 1 || c.BatchSize > maxBatchSize {
		errs = append(errs, fmt.Errorf("BatchSize must be 1 to %d, got %d", maxBatchSize, c.BatchSize))
	}
	if c.MaxWait < 0 {
		errs = append(errs, fmt.Errorf("MaxWait must not be negative, got %s", c.MaxWait))
	}
	return errors.Join(errs...)
}

// ErrUndecodable is returned by Run for a ledger record that cannot be
// decoded. That is a bug (a writer and this reader disagree on the ledger
// format), not a transient condition: the projection stops at the record
// instead of skipping it.
var ErrUndecodable = errors.New("ledger record cannot be decoded")

// ErrAlreadyRunning is returned by Run when the Runner is already running.
var ErrAlreadyRunning = errors.New("projection runner is already running")

// Runner feeds one or more Projections from the LOYALTY_LEDGER stream. With
// several, the ledger is read and decoded once for all of them, and each
// batch is applied to each projection in a transaction of its own that also
// moves that projection's checkpoint.
type Runner struct {
	pool    *pgxpool.Pool
	js      jetstream.JetStream
	ps      []Projection
	name    string
	cfg     RunnerConfig
	log     *slog.Logger
	metrics []projectionMetrics
	// checkpoints are the projections' last committed sequences, for the
	// lag; in ps order.
	checkpointSeqs []atomic.Uint64
	running        atomic.Bool
	watching       atomic.Bool
}

// NewRunner prepares a runner for p; Run starts it. Run at most one runner
// per projection name and database: a second one is harmless (the checkpoint
// row lock serialises them and each record is applied once) but only wastes
// work.
func NewRunner(pool *pgxpool.Pool, js jetstream.JetStream, p Projection, cfg RunnerConfig) (*Runner, error) {
	return NewSharedRunner(pool, js, []Projection{p}, cfg)
}

// NewSharedRunner prepares one runner for several projections: it reads the
// ledger once, from the lowest of their checkpoints, and applies every batch
// to each of them, each in its own transactions on a goroutine of its own,
// each projection skipping the records at or below its own checkpoint. That
// saves reading and decoding the ledger once per projection; the price is
// that the projections advance together, a few batches apart at most:
// one that fails holds the others back, and one being rebuilt from the start
// of the ledger makes the others wait until it has caught up.
func NewSharedRunner(pool *pgxpool.Pool, js jetstream.JetStream, ps []Projection, cfg RunnerConfig) (*Runner, error) {
	cfg.setDefaults()
	var errs []error
	if pool == nil {
		errs = append(errs, errors.New("a PostgreSQL pool is required"))
	}
	if js == nil {
		errs = append(errs, errors.New("a JetStream context is required"))
	}
	if len(ps) == 0 {
		errs = append(errs, errors.New("a projection is required"))
	}
	names := map[string]bool{}
	for _, p := range ps {
		switch {
		case p == nil:
			errs = append(errs, errors.New("a projection is required"))
		case p.Name() == "":
			errs = append(errs, errors.New("the projection has no name"))
		case names[p.Name()]:
			errs = append(errs, fmt.Errorf("projection %q is given twice", p.Name()))
		default:
			names[p.Name()] = true
		}
	}
	errs = append(errs, cfg.Validate())
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("projection runner: %w", err)
	}
	if cfg.Metrics == nil {
		m, err := NewMetrics(nil)
		if err != nil {
			return nil, err
		}
		cfg.Metrics = m
	}
	// In name order, so that the runner's name does not depend on the
	// order given.
	ps = slices.SortedFunc(slices.Values(ps), func(a, b Projection) int { return strings.Compare(a.Name(), b.Name()) })
	r := &Runner{pool: pool, js: js, ps: ps, cfg: cfg, checkpointSeqs: make([]atomic.Uint64, len(ps))}
	var all []string
	for _, p := range ps {
		all = append(all, p.Name())
		r.metrics = append(r.metrics, cfg.Metrics.forProjection(p.Name()))
	}
	r.name = strings.Join(all, "+")
	r.log = cfg.Logger.With("projection", r.name)
	return r, nil
}

// Position returns the projection's checkpoint: the ledger sequence of the
// last record it committed, 0 before the first. For a shared runner it is
// the lowest checkpoint of its projections.
func (r *Runner) Position(ctx context.Context) (uint64, error) {
	cps, err := r.checkpoints(ctx)
	if err != nil {
		return 0, err
	}
	return slices.Min(cps), nil
}

// checkpoints reads every projection's checkpoint, in r.ps order.
func (r *Runner) checkpoints(ctx context.Context) ([]uint64, error) {
	cps := make([]uint64, len(r.ps))
	for i, p := range r.ps {
		var err error
		if cps[i], err = readCheckpoint(ctx, r.pool, p.Name()); err != nil {
			return nil, err
		}
	}
	return cps, nil
}

// Run applies the ledger to the projection from the record after its
// checkpoint, in batches of up to BatchSize records (or what arrived within
// MaxWait), each in one transaction with the new checkpoint. It keeps
// following the ledger until ctx ends, then returns nil promptly; a batch in
// flight is rolled back and applied again by the next run.
//
// PostgreSQL and NATS errors are retried with exponential backoff (100 ms to
// 30 s, with jitter), logged and counted in loyalty_projection_errors_total;
// a batch is never skipped. Run returns an error only for a record it cannot
// decode (ErrUndecodable, naming the sequence), after applying the records
// before it, or ErrAlreadyRunning.
func (r *Runner) Run(ctx context.Context) error {
	if !r.running.CompareAndSwap(false, true) {
		return ErrAlreadyRunning
	}
	defer r.running.Store(false)
	lagCtx, stopLag := context.WithCancel(ctx)
	defer stopLag()
	go r.WatchLag(lagCtx)

	pos, err := r.startPosition(ctx)
	if errors.Is(err, ErrLedgerReplaced) {
		err = fmt.Errorf("%w. If the ledger cannot be restored, build the projections from the one there is: "+
			"loyalty projections rebuild all (docs/operations.md, \"A stream is missing\")", err)
		r.log.Error("projection refused to start", "err", err)
		return err
	}
	if err != nil {
		return nil // ctx ended
	}
	r.log.Info("projection started", "checkpoint", pos)
	failures := 0
	for ctx.Err() == nil {
		next, progressed, err := r.follow(ctx, pos)
		pos = next
		if errors.Is(err, ErrUndecodable) {
			r.countError()
			r.log.Error("projection stopped at a ledger record it cannot decode", "err", err)
			return err
		}
		if ctx.Err() != nil {
			break
		}
		if progressed {
			failures = 0
		}
		r.countError()
		d := backoff(failures)
		failures++
		r.log.Warn("reading the ledger failed; retrying", "err", err, "checkpoint", pos, "attempt", failures, "backoff", d)
		if !sleep(ctx, d) {
			break
		}
	}
	r.log.Info("projection stopped", "checkpoint", pos)
	return nil
}

// countError counts a failed attempt against every projection of the
// runner: none of them progressed.
func (r *Runner) countError() {
	for _, m := range r.metrics {
		m.errors.Inc()
	}
}

// ensureCheckpoints creates the checkpoint rows that are missing.
func (r *Runner) ensureCheckpoints(ctx context.Context) error {
	for _, p := range r.ps {
		if err := ensureCheckpoint(ctx, r.pool, p.Name()); err != nil {
			return err
		}
	}
	return nil
}

// startPosition ensures the checkpoint rows exist, checks that they count
// in the ledger stream there is (checkLedger) and reads the lowest,
// retrying until it succeeds or ctx ends (ctx's error). It returns
// ErrLedgerReplaced at once.
func (r *Runner) startPosition(ctx context.Context) (uint64, error) {
	for attempt := 0; ; attempt++ {
		err := r.ensureCheckpoints(ctx)
		var cps []uint64
		if err == nil {
			cps, err = r.checkpoints(ctx)
		}
		if err == nil {
			err = r.checkLedger(ctx, cps)
		}
		if err == nil {
			for i, cp := range cps {
				r.setCheckpoint(i, cp)
			}
			return slices.Min(cps), nil
		}
		if errors.Is(err, ErrLedgerReplaced) {
			return 0, err
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		r.countError()
		d := backoff(attempt)
		r.log.Warn("reading the checkpoint failed; retrying", "err", err, "attempt", attempt+1, "backoff", d)
		if !sleep(ctx, d) {
			return 0, ctx.Err()
		}
	}
}

// follow consumes the ledger after pos with a fresh ordered consumer until
// ctx ends or reading fails. It returns the new position and whether any
// batch committed.
func (r *Runner) follow(ctx context.Context, pos uint64) (uint64, bool, error) {
	reader, err := streams.NewLedgerReader(ctx, r.js, streams.LedgerReaderConfig{From: pos + 1,
		Pull: min(max(2*r.cfg.BatchSize, 100), 10_000)})
	if err != nil {
		return pos, false, err
	}
	defer reader.Stop()
	// The next batch is read and decoded while the last ones commit, so
	// the Go side and PostgreSQL work at the same time.
	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	reads := r.readAhead(readCtx, reader)
	lanes := r.startLanes(ctx, pos)
	var readErr error
	for rd := range reads {
		if len(rd.batch) > 0 && !lanes.send(ctx, rd.batch) {
			break
		}
		if rd.err != nil {
			readErr = rd.err
			break
		}
	}
	pos, progressed := lanes.finish()
	if ctx.Err() != nil {
		return pos, progressed, ctx.Err()
	}
	return pos, progressed, readErr
}

// laneDepth is how many batches may wait for each projection of a shared
// runner, so one projection may be up to laneDepth+1 batches ahead of the
// slowest: enough that a projection with a cheap batch does not wait for one
// with a costly batch, few enough to bound the memory.
const laneDepth = 2

// lanes apply batches to each projection of the runner on a goroutine of
// its own, in order, so that the projections do not wait for each other
// batch by batch (while one commits a costly batch, another commits the
// next ones); the reader waits only when a lane is laneDepth batches behind.
type lanes struct {
	queues []chan []streams.LedgerRecord
	// checkpoints[i] is written by lane i's goroutine until wg is done.
	checkpoints []uint64
	progressed  []bool
	wg          sync.WaitGroup
}

func (r *Runner) startLanes(ctx context.Context, pos uint64) *lanes {
	l := &lanes{queues: make([]chan []streams.LedgerRecord, len(r.ps)), checkpoints: make([]uint64, len(r.ps)),
		progressed: make([]bool, len(r.ps))}
	for i := range r.ps {
		l.queues[i] = make(chan []streams.LedgerRecord, laneDepth)
		l.checkpoints[i] = pos
		l.wg.Go(func() {
			for batch := range l.queues[i] {
				cp, ok := r.commitOne(ctx, i, batch)
				if !ok {
					return // ctx ended: send stops too
				}
				l.checkpoints[i], l.progressed[i] = cp, true
			}
		})
	}
	return l
}

// send queues the batch for every projection; false when ctx ended first.
func (l *lanes) send(ctx context.Context, batch []streams.LedgerRecord) bool {
	for _, q := range l.queues {
		select {
		case q <- batch:
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// finish waits until every lane has committed what it was sent (or ctx
// ended) and returns the lowest checkpoint, from which reading resumes, and
// whether any batch committed.
func (l *lanes) finish() (uint64, bool) {
	for _, q := range l.queues {
		close(q)
	}
	l.wg.Wait()
	return slices.Min(l.checkpoints), slices.Contains(l.progressed, true)
}

// batchRead is a batch read ahead and the error that ended it.
type batchRead struct {
	batch []streams.LedgerRecord
	err   error
}

// readAhead collects batches on a goroutine of its own, one ahead of the
// reader, until ctx ends or reading fails (the last read carries the error).
func (r *Runner) readAhead(ctx context.Context, reader *streams.LedgerReader) <-chan batchRead {
	reads := make(chan batchRead, 1)
	go func() {
		defer close(reads)
		for {
			batch, err := r.collect(ctx, reader)
			select {
			case reads <- batchRead{batch, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return reads
}

// collect reads the next batch: it waits as long as it takes for a first
// message, then up to MaxWait for more, until the batch holds BatchSize
// records (a message's records all go in one batch, so it may hold a few
// more). It returns the records read before any error.
func (r *Runner) collect(ctx context.Context, reader *streams.LedgerReader) ([]streams.LedgerRecord, error) {
	msg, err := reader.Next(ctx)
	if err != nil {
		return nil, err
	}
	batch := make([]streams.LedgerRecord, 0, r.cfg.BatchSize)
	if batch, err = r.decode(batch, msg); err != nil {
		return nil, err
	}
	wait, cancel := context.WithTimeout(ctx, r.cfg.MaxWait)
	defer cancel()
	for len(batch) < r.cfg.BatchSize {
		msg, err := reader.Next(wait)
		if err != nil {
			if wait.Err() != nil {
				return batch, nil // MaxWait is up (or ctx ended: commit sees it)
			}
			return batch, err
		}
		if batch, err = r.decode(batch, msg); err != nil {
			return batch, err
		}
	}
	return batch, nil
}

// decode appends the records of a ledger message to batch. On error batch
// is returned as it was.
func (r *Runner) decode(batch []streams.LedgerRecord, msg streams.LedgerMessage) ([]streams.LedgerRecord, error) {
	recs, skipped, err := msg.Records()
	if errors.Is(err, streams.ErrMemberKeysUnavailable) {
		return batch, fmt.Errorf("projection %q: %w", r.name, err) // NATS is away: retried
	}
	if err != nil {
		return batch, fmt.Errorf("projection %q: %w: %w", r.name, ErrUndecodable, err)
	}
	if skipped {
		r.log.Warn("quarantined ledger message skipped", "seq", msg.Seq)
	}
	return append(batch, recs...), nil
}

// commitOne applies the batch to projection i in one transaction with its
// checkpoint, retrying until it commits or ctx ends (false).
func (r *Runner) commitOne(ctx context.Context, i int, batch []streams.LedgerRecord) (uint64, bool) {
	p := r.ps[i]
	for attempt := 0; ; attempt++ {
		start := time.Now()
		var checkpoint uint64
		var applied int
		err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
			// The tables are derived from the ledger and the checkpoint is
			// in the same transaction: if PostgreSQL crashes before this
			// commit is on disk, the checkpoint goes back with the rows and
			// the batch is applied again. So the commit need not wait for
			// the WAL flush (docs/decisions/008).
			if _, err := tx.Exec(ctx, "set local synchronous_commit = off"); err != nil {
				return fmt.Errorf("set synchronous_commit: %w", err)
			}
			var err error
			checkpoint, applied, err = applyInTx(ctx, tx, p, batch)
			return err
		})
		if err == nil {
			r.observe(i, batch[len(batch)-applied:], checkpoint, start, time.Now())
			return checkpoint, true
		}
		if ctx.Err() != nil {
			return 0, false
		}
		if errors.Is(err, errNoCheckpoint) {
			err = errors.Join(err, ensureCheckpoint(ctx, r.pool, p.Name()))
		}
		r.metrics[i].errors.Inc()
		d := backoff(attempt)
		r.log.Warn("projection batch failed; retrying the same batch", "to", p.Name(), "err", err,
			"first_seq", batch[0].Seq, "last_seq", batch[len(batch)-1].Seq, "records", len(batch),
			"attempt", attempt+1, "backoff", d)
		if !sleep(ctx, d) {
			return 0, false
		}
	}
}

func (r *Runner) observe(i int, applied []streams.LedgerRecord, checkpoint uint64, start, committed time.Time) {
	m, name := r.metrics[i], r.ps[i].Name()
	r.setCheckpoint(i, checkpoint)
	if len(applied) == 0 {
		r.log.Debug("batch already applied", "to", name, "checkpoint", checkpoint)
		return
	}
	m.batchSize.Observe(float64(len(applied)))
	m.batchSeconds.Observe(committed.Sub(start).Seconds())
	for _, rec := range applied {
		if !rec.InputStored.IsZero() {
			m.eventToTable.Observe(committed.Sub(rec.InputStored).Seconds())
		}
	}
	if r.cfg.Committed != nil {
		r.cfg.Committed(name, applied, committed)
	}
	r.log.Debug("batch committed", "to", name, "records", len(applied), "checkpoint", checkpoint, "seconds", committed.Sub(start).Seconds())
}

func (r *Runner) setCheckpoint(i int, seq uint64) {
	r.checkpointSeqs[i].Store(seq)
	r.metrics[i].position.Set(float64(seq))
}

// lagInterval is how often the projections' lag is measured.
const lagInterval = 5 * time.Second

// WatchLag keeps loyalty_projection_lag_records current until ctx ends: the
// ledger's last sequence less each checkpoint. Run starts it; start it
// before Run too when Run must wait (serve waits for PostgreSQL first), so
// that the lag shows while PostgreSQL is down, which is when it matters.
// Until a checkpoint has been read the whole ledger counts as lag: nothing
// is confirmed projected. A second call while one runs returns at once.
func (r *Runner) WatchLag(ctx context.Context) {
	if !r.watching.CompareAndSwap(false, true) {
		return
	}
	defer r.watching.Store(false)
	ticker := time.NewTicker(lagInterval)
	defer ticker.Stop()
	for {
		// A runner standing by (another engine writes, RunAsWriter)
		// reports the writer's checkpoints, not its own stale ones.
		if !r.running.Load() {
			if cps, err := r.checkpoints(ctx); err == nil {
				for i, cp := range cps {
					r.setCheckpoint(i, cp)
				}
			}
		}
		if s, err := r.js.Stream(ctx, streams.LedgerStream); err == nil {
			last := s.CachedInfo().State.LastSeq
			for i := range r.ps {
				cp := r.checkpointSeqs[i].Load()
				r.metrics[i].lag.Set(float64(last - min(cp, last)))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// backoff is the delay before retry number attempt+1: 100 ms doubling up to
// 30 s, times a random factor in [0.8, 1.2), kept within those bounds.
func backoff(attempt int) time.Duration {
	d := maxBackoff
	if attempt < 20 {
		d = min(minBackoff<<attempt, maxBackoff)
	}
	d = time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
	return min(max(d, minBackoff), maxBackoff)
}

// sleep waits for d or until ctx ends (false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
