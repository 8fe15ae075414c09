package streams

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// StreamsConfig sizes the streams the engine creates.
type StreamsConfig struct {
	// Replicas for every stream (1 on a single server, 3 in a cluster).
	Replicas int
	// DuplicateWindow is how long JetStream de-duplicates by Nats-Msg-Id.
	// The engine is idempotent beyond it; the window only saves work.
	DuplicateWindow time.Duration
}

func (c *StreamsConfig) setDefaults() {
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.DuplicateWindow == 0 {
		c.DuplicateWindow = 2 * time.Minute
	}
}

// InputStreamConfig is the stream upstream publishes into. A subject transform
// puts a partition number, hashed from the member key, in front of every
// subject, so one consumer per partition sees each member's events in order.
func InputStreamConfig(c StreamsConfig) jetstream.StreamConfig {
	c.setDefaults()
	return jetstream.StreamConfig{
		Name:        InputStream,
		Description: "Member activity from upstream systems",
		Subjects:    []string{InputPrefix + ".*.*"},
		SubjectTransform: &jetstream.SubjectTransformConfig{
			Source:      InputPrefix + ".*.*",
			Destination: fmt.Sprintf("%s.{{partition(%d,2)}}.{{wildcard(1)}}.{{wildcard(2)}}", InputPrefix, Partitions),
		},
		Storage:    jetstream.FileStorage,
		Retention:  jetstream.LimitsPolicy,
		Replicas:   c.Replicas,
		Duplicates: c.DuplicateWindow,
		// Larger than MaxEventBytes so that oversized events are stored and
		// dead-lettered with a reason instead of bouncing at the publisher.
		MaxMsgSize: 1 << 20,
	}
}

// LedgerStreamConfig is the event store: every fact, forever.
func LedgerStreamConfig(c StreamsConfig) jetstream.StreamConfig {
	c.setDefaults()
	return jetstream.StreamConfig{
		Name:        LedgerStream,
		Description: "Loyalty facts: the event store every read model is built from",
		Subjects:    []string{LedgerPrefix + ".*"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Replicas:    c.Replicas,
		Duplicates:  c.DuplicateWindow,
		DenyDelete:  true,
		DenyPurge:   true,
	}
}

// DeadLetterStreamConfig holds input the engine could not apply, with the
// reason in headers.
func DeadLetterStreamConfig(c StreamsConfig) jetstream.StreamConfig {
	c.setDefaults()
	return jetstream.StreamConfig{
		Name:        DeadLetterStream,
		Description: "Rejected input events with the reason in headers",
		Subjects:    []string{DeadLetterPrefix + ".>"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Replicas:    c.Replicas,
		Duplicates:  c.DuplicateWindow,
		MaxMsgSize:  2 << 20,
	}
}

// EnsureStreams creates the engine's streams or updates them to the current
// definitions. It is safe to run at every start and from several processes.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, c StreamsConfig) error {
	for _, cfg := range []jetstream.StreamConfig{InputStreamConfig(c), LedgerStreamConfig(c), DeadLetterStreamConfig(c)} {
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return err
			}
			return fmt.Errorf("ensure stream %s: %w", cfg.Name, err)
		}
	}
	return nil
}
