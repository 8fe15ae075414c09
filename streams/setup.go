package streams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// StreamsConfig sizes the streams the engine creates.
type StreamsConfig struct {
	// Replicas for every stream the engine creates; 0: DefaultReplicas.
	// An existing stream's replicas are never lowered.
	Replicas int
	// DuplicateWindow is how long JetStream de-duplicates by Nats-Msg-Id.
	// The engine is idempotent beyond it; the window only saves work.
	DuplicateWindow time.Duration
	// RecreateMissing lets EnsureStreams create a stream that is missing
	// while others of the engine's exist, accepting what it held as lost.
	RecreateMissing bool
	// Logger gets the settings of existing streams left as they are set
	// (nil: not logged).
	Logger *slog.Logger
}

// ErrStreamMissing is returned by EnsureStreams when some of the engine's
// streams exist and others do not, or all are gone but the engine's buckets
// show it ran here: a stream was deleted, or the server lost it.
// Starting on an empty one would be quiet damage: on an empty ledger the
// engine forgets every member's points, on an empty input stream it skips
// the first inputs (it resumes after the input sequence the ledger names).
var ErrStreamMissing = errors.New("a stream of the engine's is missing while the others exist")

func (c *StreamsConfig) setDefaults() {
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.DuplicateWindow == 0 {
		c.DuplicateWindow = 2 * time.Minute
	}
}

// fileStream is what the engine's streams share: kept in files under the
// limits policy, with c's replicas and duplicate window (defaults applied).
func fileStream(c StreamsConfig, name, description string, subjects ...string) jetstream.StreamConfig {
	c.setDefaults()
	return jetstream.StreamConfig{
		Name:        name,
		Description: description,
		Subjects:    subjects,
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Replicas:    c.Replicas,
		Duplicates:  c.DuplicateWindow,
	}
}

// InputStreamConfig is the stream upstream publishes into. A subject transform
// puts a partition number, hashed from the member key, in front of every
// subject, so one consumer per partition sees each member's events in order.
func InputStreamConfig(c StreamsConfig) jetstream.StreamConfig {
	cfg := fileStream(c, InputStream, "Member activity from upstream systems", InputPrefix+".*.*")
	cfg.SubjectTransform = &jetstream.SubjectTransformConfig{
		Source:      InputPrefix + ".*.*",
		Destination: fmt.Sprintf("%s.{{partition(%d,2)}}.{{wildcard(1)}}.{{wildcard(2)}}", InputPrefix, Partitions),
	}
	// Larger than MaxEventBytes so that oversized events are stored and
	// dead-lettered with a reason instead of bouncing at the publisher.
	cfg.MaxMsgSize = 1 << 20
	return cfg
}

// LedgerStreamConfig is the event store: every fact, forever.
func LedgerStreamConfig(c StreamsConfig) jetstream.StreamConfig {
	cfg := fileStream(c, LedgerStream, "Loyalty facts: the event store every read model is built from", LedgerPrefix+".*")
	cfg.DenyDelete, cfg.DenyPurge = true, true
	return cfg
}

// DeadLetterStreamConfig holds input the engine could not apply, with the
// reason in headers.
func DeadLetterStreamConfig(c StreamsConfig) jetstream.StreamConfig {
	cfg := fileStream(c, DeadLetterStream, "Rejected input events with the reason in headers", DeadLetterPrefix+".>")
	cfg.MaxMsgSize = 2 << 20
	return cfg
}

// OutboundStreamConfig is the public outbound contract (see OutboundOf):
// derived from the ledger, so it can be made again if lost.
func OutboundStreamConfig(c StreamsConfig) jetstream.StreamConfig {
	cfg := fileStream(c, OutboundStream, "Member-facing loyalty events for CRM, e-mail and apps (CloudEvents)", OutboundPrefix+".>")
	// The relay is fenced by the expected last sequence, not by message
	// ids; a short window keeps a message someone else published with an
	// event's id from holding that event up for long.
	cfg.Duplicates = time.Second
	// On one server, written without a sync of the store per message,
	// whatever the server's sync setting: every event is derived from the
	// ledger, so a tail lost to a power cut is relayed again, the same
	// events with the same ids at the same sequences (decision 029). The
	// server refuses the mode for replicated streams.
	if cfg.Replicas == 1 {
		cfg.PersistMode = jetstream.AsyncPersistMode
	}
	return cfg
}

// DefaultReplicas is 3 when the connection's server is part of a cluster
// of three or more servers, else 1.
func DefaultReplicas(nc *nats.Conn) int {
	if nc != nil && nc.ConnectedClusterName() != "" && len(nc.Servers()) >= 3 {
		return 3
	}
	return 1
}

// EnsureStreams creates the engine's streams, or brings existing ones to
// what the engine owns of them (see reconcileStream). It is safe to run at
// every start and from several processes. Settings it leaves as an operator
// set them are logged to c.Logger.
//
// The streams are created together, on first start. When some exist and
// others do not, it returns ErrStreamMissing, naming them, unless
// c.RecreateMissing.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, c StreamsConfig) error {
	if c.Replicas == 0 {
		c.Replicas = DefaultReplicas(js.Conn())
	}
	logger := c.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// A partial set may be another engine's first start: checked with
	// time to wait for it.
	return whenReady(ctx, logger, "the streams", attemptTimeout+partialStreamsWait, func(ctx context.Context) error {
		return ensureStreams(ctx, js, c, logger)
	})
}

// whenReady runs do, again while NATS is not ready for it: a cluster just
// started (or electing leaders) refuses or does not answer for a while,
// which is waited out, within clusterReadyWait.
func whenReady(ctx context.Context, logger *slog.Logger, what string, timeout time.Duration, do func(context.Context) error) error {
	deadline := time.Now().Add(clusterReadyWait)
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, timeout)
		err := do(actx)
		cancel()
		if err == nil || ctx.Err() != nil || !clusterNotReady(err) {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the NATS servers did not accept %s within %s: %w", what, clusterReadyWait, err)
		}
		logger.Warn("NATS is not ready yet (a cluster starting, or electing a leader); trying again", "for", what, "err", err, "attempt", attempt)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(time.Duration(attempt)*500*time.Millisecond, 5*time.Second)):
		}
	}
}

// clusterReadyWait bounds how long EnsureStreams waits for a NATS system
// that is not ready; attemptTimeout bounds one try of a single request.
const (
	clusterReadyWait = time.Minute
	attemptTimeout   = 5 * time.Second
)

// clusterNotReady tells an error of a cluster not ready yet (no peers to
// place a stream on, JetStream temporarily unavailable, no answer in time)
// from one that waiting does not mend.
func clusterNotReady(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode == 10005 || apiErr.ErrorCode == 10008 || apiErr.Code == 503
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders)
}

func ensureStreams(ctx context.Context, js jetstream.JetStream, c StreamsConfig, logger *slog.Logger) error {
	cfgs := []jetstream.StreamConfig{InputStreamConfig(c), LedgerStreamConfig(c), DeadLetterStreamConfig(c)}
	if !c.RecreateMissing {
		if err := checkNoneMissing(ctx, js, cfgs); err != nil {
			return err
		}
	}
	for _, cfg := range cfgs {
		if err := ensureStream(ctx, js, cfg, logger); err != nil {
			if errors.Is(err, context.Canceled) {
				return err
			}
			return fmt.Errorf("ensure stream %s: %w", cfg.Name, err)
		}
	}
	// Not among those checked above: it is derived, and it is new to
	// engines upgraded from versions without it.
	if err := ensureStream(ctx, js, OutboundStreamConfig(c), logger); err != nil {
		return fmt.Errorf("ensure stream %s: %w", OutboundStream, err)
	}
	return nil
}

// evidenceOfUse are streams the engine makes once it has run (the key-value
// buckets of its lease, its dead-letter replays and its quarantine): with
// them present, the three streams all missing is a loss, not a first start.
var evidenceOfUse = []string{"KV_LOYALTY_LEASES", "KV_LOYALTY_SECRETS", "KV_LOYALTY_DLQ_REPLAYS", "KV_" + QuarantineBucket}

// partialStreamsWait is how long a start that finds some of the streams
// waits for the others before it calls them missing.
const partialStreamsWait = 5 * time.Second

// checkNoneMissing returns ErrStreamMissing when some of the streams exist
// and others do not, or when all are missing but the engine has run here
// before (evidenceOfUse).
func checkNoneMissing(ctx context.Context, js jetstream.JetStream, cfgs []jetstream.StreamConfig) error {
	names := make([]string, len(cfgs))
	for i, cfg := range cfgs {
		names[i] = cfg.Name
	}
	missing, present, err := splitByPresence(ctx, js, names)
	// Engines started together on a new NATS system create the streams at
	// the same moment: one finds some made by another and the rest not
	// yet. A loss stays partial; a first start by another is soon whole.
	for waited := time.Duration(0); err == nil && len(missing) > 0 && len(present) > 0 && waited < partialStreamsWait; waited += 100 * time.Millisecond {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		missing, present, err = splitByPresence(ctx, js, names)
	}
	if err != nil || len(missing) == 0 {
		return err
	}
	if len(present) == 0 {
		if _, present, err = splitByPresence(ctx, js, evidenceOfUse); err != nil || len(present) == 0 {
			return err
		}
	}
	return fmt.Errorf("%w: %s missing, %s present. It was deleted or lost: restore it from a backup of the NATS store, "+
		"or start once with --recreate-missing-streams to accept an empty one (docs/operations.md, \"A stream is missing\")",
		ErrStreamMissing, strings.Join(missing, " and "), strings.Join(present, " and "))
}

// splitByPresence splits the named streams into those missing and those present.
func splitByPresence(ctx context.Context, js jetstream.JetStream, names []string) (missing, present []string, err error) {
	for _, name := range names {
		_, err := js.Stream(ctx, name)
		switch {
		case errors.Is(err, jetstream.ErrStreamNotFound):
			missing = append(missing, name)
		case err != nil:
			return nil, nil, fmt.Errorf("look up stream %s: %w", name, err)
		default:
			present = append(present, name)
		}
	}
	return missing, present, nil
}

// ErrLedgerTruncated is returned by CheckLedgerWhole when messages are gone
// from the ledger: the event store keeps every record, and an engine that
// folded what is left would have forgotten what they held.
var ErrLedgerTruncated = errors.New("the ledger has lost records")

// CheckLedgerWhole returns ErrLedgerTruncated when the ledger stream does
// not hold every message it was given: it starts after sequence 1 (a limit
// such as max_msgs, set on the stream, dropped the oldest), or has messages
// deleted in between. The ledger denies delete and purge, but an update of
// its limits by a user allowed to update streams removes messages all the
// same.
func CheckLedgerWhole(ctx context.Context, js jetstream.JetStream) error {
	s, err := js.Stream(ctx, LedgerStream)
	if err != nil {
		return fmt.Errorf("look up stream %s: %w", LedgerStream, err)
	}
	st := s.CachedInfo().State
	if st.LastSeq == 0 || (st.FirstSeq <= 1 && st.NumDeleted == 0) {
		return nil
	}
	return fmt.Errorf("%w: %s holds %d messages of sequences %d to %d (%d deleted in between). Restore it from a backup of the NATS store; "+
		"if that cannot be done, delete the stream, start with --recreate-missing-streams and rebuild the projections "+
		"(docs/operations.md, \"A stream is missing\")", ErrLedgerTruncated, LedgerStream, st.Msgs, st.FirstSeq, st.LastSeq, st.NumDeleted)
}
