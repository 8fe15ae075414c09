package handlers

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pointsledger/loyalty/handlers/keyindex"
	"github.com/pointsledger/loyalty/streams"
)

// watchEvery is how often a sharing engine looks at who is live and whether
// its partitions must change.
const watchEvery = 500 * time.Millisecond

// joinDelay is how long a sharing engine waits after joining before it
// takes partitions, so that engines started together see each other first
// instead of taking everything and handing most of it over again.
const joinDelay = 2 * watchEvery

// sharedConsumerInactive is how long the server keeps the input consumer of
// a sharing engine that stopped pulling (one that died): each engine makes
// its own, again whenever its partitions change.
const sharedConsumerInactive = 2 * time.Minute

// sharing is the state of an engine that shares the partitions with others
// (decision 025). Between runs of the input (epochs) its control goroutine
// hands over the partitions it must give up and takes those it is given;
// during one, watch ends the epoch when the assignment changes. keep, on a
// goroutine of its own, renews the leases and records the progress.
type sharing struct {
	e   *Engine
	own *ownership
	w   *working
	// parts is the partitions whose state this engine holds: the ones it
	// owns, between epochs also ones it is about to give up or drop.
	parts map[int]*partition
	// lost is signalled by keep when a lease was lost.
	lost chan struct{}

	mu sync.Mutex
	// handled is each held partition's input sequence up to which its
	// input is handled, as of the start of the epoch (or its end, after).
	handled map[int]uint64
	// written is what the progress bucket was last given.
	written map[int]uint64
	// epoch is the partitions of the running epoch and marks its intake's
	// watermark (nil between epochs).
	epoch []int
	marks *watermark
	// legacy is the ack floor of the input consumer of an engine that did
	// not share (the "engine" consumer), for partitions with no progress.
	legacy       uint64
	legacyLoaded bool
	// inputCreated is when the input stream was made, the identity the
	// progress is recorded against.
	inputCreated time.Time
}

// runShared is Run for an engine that shares the partitions: it joins the
// engines, and until ctx ends takes its share, runs their input, and hands
// over what the others are given. At the end it hands everything over.
func (e *Engine) runShared(ctx context.Context) error {
	own, err := newOwnership(ctx, e.js, e.cfg.EngineID, e.cfg.Logger)
	if err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	e.engineID = own.id()
	e.id.Store(&e.engineID)
	if !e.waitForEngineOfAllPartitions(ctx, own) {
		return nil
	}
	if err := own.heartbeat(ctx); err != nil {
		return fmt.Errorf("engine: join the engines: %w", err)
	}
	s := &sharing{e: e, own: own, parts: map[int]*partition{}, lost: make(chan struct{}, 1),
		handled: map[int]uint64{}, written: map[int]uint64{}}
	keepCtx, stopKeeping := context.WithCancel(context.WithoutCancel(ctx))
	kept := make(chan struct{})
	go func() { defer close(kept); s.keep(keepCtx) }()
	defer func() {
		stopKeeping()
		<-kept
		end, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalFlushTimeout)
		defer cancel()
		s.handOver(end, own.holds())
		if err := e.js.DeleteConsumer(end, streams.InputStream, s.consumerName()); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			e.cfg.Logger.Warn("input consumer not deleted; the server deletes it once unused for "+sharedConsumerInactive.String(), "err", err)
		}
		own.leave(end)
		e.leading.Store(false)
		e.cfg.Logger.Info("engine left the engines sharing the partitions", "engine", own.id())
	}()
	e.cfg.Logger.Info("engine joined the engines sharing the partitions", "engine", own.id())
	start := time.Now()
	w, err := e.open(ctx)
	if err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	defer w.close()
	s.w = w
	defer func() { releaseAll(s.parts) }()
	input, err := e.js.Stream(ctx, streams.InputStream)
	if err != nil {
		return fmt.Errorf("engine: input stream: %w", err)
	}
	s.inputCreated = input.CachedInfo().Created
	if err := e.checkServer(); err != nil {
		return err
	}
	followCtx, stopFollowing := context.WithCancel(ctx)
	defer stopFollowing()
	go e.publishFollowUps(followCtx)
	defer e.parts.Store(nil)
	stopService, err := e.serveRequests()
	if err != nil {
		return err
	}
	defer stopService()
	if !e.cfg.NoService {
		defer e.internal.stop()
	}
	if !sleepCtx(ctx, joinDelay) {
		return nil
	}
	primed := false
	for failures := 0; ctx.Err() == nil; {
		err := s.settle(ctx)
		if err == nil && !primed {
			w.keys.Prime()
			e.logRebuilt(s.parts, start)
			primed = true
		}
		if err == nil {
			err = e.republishFollowUps(ctx, w.keys, s.parts)
		}
		if err == nil {
			err = s.run(ctx)
		}
		if err == nil || ctx.Err() != nil {
			failures = 0
			continue
		}
		// A store that failed is not trusted (the next start folds it
		// again); anything else (NATS slow or electing a leader) is tried
		// again, as the partitions' own appends are.
		if errors.Is(err, keyindex.ErrBroken) || errors.Is(err, keyindex.ErrClosed) {
			return fmt.Errorf("engine: %w", err)
		}
		failures++
		d := retryDelay(time.Second, failures)
		e.cfg.Logger.Warn("partitions not taken or run; trying again", "err", err, "attempt", failures, "backoff", d)
		if !sleepCtx(ctx, d) {
			return nil
		}
	}
	return nil
}

// ID is the engine's id among the engines sharing the partitions, as its
// lease keys and ledger messages (EngineHeader) name it; "" before Run
// starts or when it does not share them.
func (e *Engine) ID() string {
	if id := e.id.Load(); id != nil {
		return *id
	}
	return ""
}

// waitForEngineOfAllPartitions waits while an engine that does not share
// (one of an earlier version, decision 009) holds every partition. It
// returns false when ctx ended first.
func (e *Engine) waitForEngineOfAllPartitions(ctx context.Context, own *ownership) bool {
	for logged := false; ; logged = true {
		entry, err := own.kv.Get(ctx, ConsumerName(nil))
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return true
		}
		if err == nil && !logged {
			e.cfg.Logger.Warn("an engine that does not share the partitions (an earlier version) holds them all; this one waits until it stops",
				"holder", string(entry.Value()))
		}
		if !sleepCtx(ctx, leaseTTL/5) {
			return false
		}
	}
}

// keep renews the membership and the leases every third of the TTL, and
// records the progress of the running epoch, until ctx ends.
func (s *sharing) keep(ctx context.Context) {
	onEveryTick(ctx, leaseTTL/3, func() {
		if err := s.own.heartbeat(ctx); err != nil && ctx.Err() == nil {
			s.e.cfg.Logger.Warn("engine membership not renewed; trying again", "err", err)
		}
		if lost := s.own.renew(ctx); len(lost) > 0 {
			select {
			case s.lost <- struct{}{}:
			default:
			}
		}
		s.recordProgress(ctx)
	})
}

// recordProgress writes, for each partition of the running epoch, the
// input sequence up to which its input is committed: where its next owner
// starts if this engine dies.
func (s *sharing) recordProgress(ctx context.Context) {
	s.mu.Lock()
	var through uint64
	if s.marks != nil {
		through = s.marks.through()
	}
	due := map[int]uint64{}
	for _, p := range s.epoch {
		if v := max(s.handled[p], through); v > s.written[p] {
			due[p] = v
		}
	}
	s.mu.Unlock()
	for p, v := range due {
		if err := s.own.setHandled(ctx, p, v, s.inputCreated); err != nil {
			if ctx.Err() == nil {
				s.e.cfg.Logger.Warn("partition progress not recorded; its next owner reads more input again", "partition", p, "err", err)
			}
			return
		}
		s.mu.Lock()
		s.written[p] = max(s.written[p], v)
		s.mu.Unlock()
	}
}

// wanted returns the partitions the assignment gives this engine now.
func (s *sharing) wanted(ctx context.Context) ([]int, error) {
	live, err := s.own.live(ctx)
	if err != nil {
		return nil, err
	}
	return partitionsOf(assign(append(live, s.own.id())), s.own.id()), nil
}

// settle makes the partitions this engine holds the ones it is given, as
// far as it can now: it drops those whose lease it lost, hands over those
// it is no longer given, takes those it is given whose lease is free, and
// rebuilds the ones it took.
func (s *sharing) settle(ctx context.Context) error {
	want, err := s.wanted(ctx)
	for attempt := 1; err != nil; attempt++ {
		s.e.cfg.Logger.Warn("engines not listed; trying again", "err", err)
		if !sleepCtx(ctx, retryDelay(time.Second, attempt)) {
			return nil
		}
		want, err = s.wanted(ctx)
	}
	held := s.own.holds()
	keep := map[int]*partition{}
	for _, p := range held {
		if s.parts[p] != nil && slices.Contains(want, p) {
			keep[p] = s.parts[p]
		}
	}
	s.e.parts.Store(&keep) // the service stops answering for the others now
	s.serveInternal(keep)
	var lost, give []int
	for p := range s.parts {
		switch {
		case !slices.Contains(held, p):
			lost = append(lost, p)
		case !slices.Contains(want, p):
			give = append(give, p)
		}
	}
	s.handOver(ctx, give)
	s.drop(append(lost, give...))
	if len(give) > 0 {
		s.e.cfg.Logger.Info("partitions handed over to other engines", "partitions", fmtPartitions(give))
	}
	for _, p := range want {
		if !slices.Contains(held, p) {
			if _, err := s.own.take(ctx, p); err != nil && ctx.Err() == nil {
				s.e.cfg.Logger.Warn("partition lease not taken; trying again", "partition", p, "err", err)
			}
		}
	}
	if err := s.load(ctx); err != nil {
		return err
	}
	parts := maps.Clone(s.parts)
	s.e.parts.Store(&parts)
	s.serveInternal(parts)
	s.e.leading.Store(s.parts[0] != nil)
	s.e.metrics.partitionsOwned.Set(float64(len(s.parts)))
	return nil
}

// serveInternal answers forwarded requests for exactly these partitions.
func (s *sharing) serveInternal(parts map[int]*partition) {
	if s.e.internal == nil {
		return
	}
	if err := s.e.internal.serve(parts); err != nil {
		s.e.cfg.Logger.Warn("service: forwarded requests not answered for some partitions; their callers retry", "err", err)
	}
}

// load rebuilds the partitions whose lease this engine took, and reads
// where their input is handled up to.
func (s *sharing) load(ctx context.Context) error {
	var gained []int
	for _, p := range s.own.holds() {
		if s.parts[p] == nil {
			gained = append(gained, p)
		}
	}
	if len(gained) == 0 {
		return nil
	}
	start := time.Now()
	handled := map[int]uint64{}
	input, err := s.e.js.Stream(ctx, streams.InputStream)
	if err != nil {
		return fmt.Errorf("input stream: %w", err)
	}
	last := input.CachedInfo().State.LastSeq
	for _, p := range gained {
		seq, err := s.own.handled(ctx, p, s.inputCreated, last)
		if err != nil {
			return fmt.Errorf("progress of partition %d: %w", p, err)
		}
		if seq == 0 {
			seq = s.legacyFloor(ctx)
		}
		handled[p] = seq
	}
	parts, err := s.e.loadPartitions(ctx, s.w, gained)
	if err != nil {
		return err
	}
	read := 0
	for id, p := range parts {
		s.parts[id] = p
		read += p.read
	}
	s.mu.Lock()
	maps.Copy(s.handled, handled)
	maps.Copy(s.written, handled)
	s.mu.Unlock()
	s.e.cfg.Logger.Info("partitions taken over", "partitions", fmtPartitions(gained), "ledger_messages_read", read,
		"took", time.Since(start).Round(time.Millisecond))
	return nil
}

// legacyFloor is the ack floor of the "engine" input consumer of an engine
// that did not share the partitions, 0 when there is none: input up to it
// was handled.
func (s *sharing) legacyFloor(ctx context.Context) uint64 {
	if !s.legacyLoaded {
		if c, err := s.e.js.Consumer(ctx, streams.InputStream, ConsumerName(nil)); err == nil {
			s.legacy = c.CachedInfo().AckFloor.Stream
		}
		s.legacyLoaded = true
	}
	return s.legacy
}

// handOver records where the partitions' input is handled up to, then lets
// go of their leases: the next owner starts from there at once.
func (s *sharing) handOver(ctx context.Context, give []int) {
	if len(give) == 0 {
		return
	}
	s.mu.Lock()
	handled := maps.Clone(s.handled)
	s.mu.Unlock()
	for _, p := range give {
		if s.parts[p] == nil {
			continue
		}
		if err := s.own.setHandled(ctx, p, handled[p], s.inputCreated); err != nil {
			s.e.cfg.Logger.Warn("partition progress not recorded at hand-over; its next owner reads more input again", "partition", p, "err", err)
		}
	}
	s.own.release(ctx, give)
}

// drop forgets the state of partitions this engine no longer owns.
func (s *sharing) drop(ids []int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		if p := s.parts[id]; p != nil {
			p.cache.release()
			s.w.keys.Release(id)
			delete(s.parts, id)
		}
		delete(s.handled, id)
		delete(s.written, id)
	}
}

// run runs one epoch: the input of the partitions held now, until the
// assignment changes, a lease is lost, or ctx ends.
func (s *sharing) run(ctx context.Context) error {
	ids := slices.Sorted(maps.Keys(s.parts))
	epochCtx, end := context.WithCancel(ctx)
	defer end()
	watched := make(chan struct{})
	go func() { defer close(watched); s.watch(epochCtx, ids, end) }()
	defer func() { end(); <-watched }()
	if len(ids) == 0 {
		<-epochCtx.Done()
		return nil
	}
	s.mu.Lock()
	handled := maps.Clone(s.handled)
	s.mu.Unlock()
	cons, err := s.consumer(ctx, ids, handled)
	if err != nil {
		return fmt.Errorf("engine: input consumer: %w", err)
	}
	through, err := s.e.consume(epochCtx, s.parts, ids, cons, handled, nil, func(m *watermark) {
		s.mu.Lock()
		s.epoch, s.marks = ids, m
		s.mu.Unlock()
	})
	s.mu.Lock()
	for _, p := range ids {
		s.handled[p] = max(s.handled[p], through)
	}
	s.epoch, s.marks = nil, nil
	s.mu.Unlock()
	return err
}

// watch ends the epoch (end) when this engine must give up a partition, has
// taken one, or lost one, until ctx ends.
func (s *sharing) watch(ctx context.Context, ids []int, end func()) {
	t := time.NewTicker(watchEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.lost:
			end()
			return
		case <-t.C:
		}
		want, err := s.wanted(ctx)
		if err != nil {
			continue
		}
		held := s.own.holds()
		if !slices.Equal(held, ids) {
			end()
			return
		}
		for _, p := range held {
			if !slices.Contains(want, p) {
				end()
				return
			}
		}
		for _, p := range want {
			if took, _ := s.own.take(ctx, p); took && !slices.Contains(ids, p) {
				end()
				return
			}
		}
	}
}

// consumer makes this engine's input consumer for an epoch: filtered to its
// partitions, from the first input one of them has not handled.
func (s *sharing) consumer(ctx context.Context, ids []int, handled map[int]uint64) (jetstream.Consumer, error) {
	name := s.consumerName()
	if err := s.e.js.DeleteConsumer(ctx, streams.InputStream, name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, fmt.Errorf("delete consumer %s: %w", name, err)
	}
	from := handled[ids[0]]
	for _, p := range ids {
		from = min(from, handled[p])
	}
	// Not filtered to the partitions: JetStream finds the next message of a
	// filtered consumer by scanning (decision 007), which with two engines
	// cost four fifths of the throughput; input of other engines'
	// partitions is acknowledged unread (intake.others).
	cfg := inputConsumerConfig(nil)
	cfg.Durable = name
	cfg.Description = fmt.Sprintf("Loyalty engine %s, %d member partitions", s.own.id(), len(ids))
	cfg.InactiveThreshold = sharedConsumerInactive
	if from > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, from+1
	}
	return s.e.js.CreateConsumer(ctx, streams.InputStream, cfg)
}

// consumerName is this engine's input consumer: "engine-" and its id.
func (s *sharing) consumerName() string { return EngineConsumerName(s.own.id()) }

// EngineConsumerName is the name of the input consumer of the engine with
// the given id when engines share the partitions.
func EngineConsumerName(engineID string) string {
	return "engine-" + strings.ReplaceAll(engineID, "-", "")
}

// fmtPartitions lists partitions for a log line.
func fmtPartitions(ids []int) string {
	slices.Sort(ids)
	var b strings.Builder
	for i, p := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%d", p)
	}
	return b.String()
}
