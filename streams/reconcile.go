package streams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrStreamIncompatible is returned by EnsureStreams when an existing
// stream has a setting the engine cannot work with (a ledger that drops
// records, a store in memory): it names the setting and how to fix it.
var ErrStreamIncompatible = errors.New("a stream's settings are incompatible with the engine")

// ensureStream creates the stream, or updates an existing one to what the
// engine owns of it and leaves the rest as it is.
func ensureStream(ctx context.Context, js jetstream.JetStream, want jetstream.StreamConfig, log *slog.Logger) error {
	s, err := js.Stream(ctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if _, err = js.CreateStream(ctx, want); errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return ensureStream(ctx, js, want, log) // another engine created it meanwhile
		}
		return err
	} else if err != nil {
		return err
	}
	have := s.CachedInfo().Config
	if problems := incompatible(have); len(problems) > 0 {
		return fmt.Errorf("%w: %s: %s", ErrStreamIncompatible, have.Name, strings.Join(problems, "; "))
	}
	next, left := reconcileStream(have, want)
	for _, l := range left {
		log.Info("stream setting left as it is set", "stream", have.Name, "setting", l.setting, "set", l.set, "engine_default", l.ours)
	}
	if reflect.DeepEqual(next, have) {
		return nil
	}
	if next.Replicas > have.Replicas {
		log.Info("stream replicas raised", "stream", have.Name, "from", have.Replicas, "to", next.Replicas)
	}
	_, err = js.UpdateStream(ctx, next)
	return err
}

// leftAlone is a setting of an existing stream that differs from what the
// engine would create, and that the engine leaves as it is.
type leftAlone struct {
	setting   string
	set, ours any
}

// reconcileStream is the update of an existing stream: what the engine owns
// (subjects, subject transform, duplicate window, description, the
// ledger's deny delete and purge) as the engine defines it; replicas never
// lowered; limits, placement, storage and everything else as they are set.
func reconcileStream(have, want jetstream.StreamConfig) (jetstream.StreamConfig, []leftAlone) {
	next := have
	next.Description, next.Subjects, next.SubjectTransform, next.Duplicates = want.Description, want.Subjects, want.SubjectTransform, want.Duplicates
	next.DenyDelete = have.DenyDelete || want.DenyDelete
	next.DenyPurge = have.DenyPurge || want.DenyPurge
	next.Replicas = max(have.Replicas, want.Replicas)
	if have.PersistMode == jetstream.AsyncPersistMode {
		// Replicated streams must sync, and a stream's persistence cannot
		// change: the replicas stay (see docs/operations.md).
		next.Replicas = have.Replicas
	}
	var left []leftAlone
	note := func(setting string, set, ours any) {
		if !reflect.DeepEqual(set, ours) {
			left = append(left, leftAlone{setting, set, ours})
		}
	}
	if have.Replicas != next.Replicas || have.Replicas > want.Replicas {
		note("replicas", have.Replicas, want.Replicas)
	}
	note("max_msgs", have.MaxMsgs, normLimit(want.MaxMsgs))
	note("max_bytes", have.MaxBytes, normLimit(want.MaxBytes))
	note("max_age", have.MaxAge, want.MaxAge)
	note("max_msg_size", have.MaxMsgSize, normLimit32(want.MaxMsgSize))
	note("max_msgs_per_subject", have.MaxMsgsPerSubject, normLimit(want.MaxMsgsPerSubject))
	note("storage", have.Storage, want.Storage)
	note("placement", have.Placement, want.Placement)
	return next, left
}

// The server reports an unset limit as -1.
func normLimit(v int64) int64 {
	if v == 0 {
		return -1
	}
	return v
}

func normLimit32(v int32) int32 {
	if v == 0 {
		return -1
	}
	return v
}

// incompatible lists the settings of an existing stream the engine cannot
// work with, each with how to fix it.
func incompatible(have jetstream.StreamConfig) []string {
	var problems []string
	if have.Storage == jetstream.MemoryStorage {
		problems = append(problems, "storage is memory, which a server restart empties: recreate the stream with file storage from a backup")
	}
	switch have.Name {
	case LedgerStream:
		if have.Retention != jetstream.LimitsPolicy {
			problems = append(problems, fmt.Sprintf("retention is %s: the ledger keeps every record (limits retention, no limits)", have.Retention))
		}
		limits := []struct {
			setting string
			set     bool
			value   any
		}{{"max_msgs", have.MaxMsgs > 0, have.MaxMsgs}, {"max_bytes", have.MaxBytes > 0, have.MaxBytes},
			{"max_msgs_per_subject", have.MaxMsgsPerSubject > 0, have.MaxMsgsPerSubject}, {"max_age", have.MaxAge > 0, have.MaxAge}}
		for _, l := range limits {
			if l.set {
				problems = append(problems, fmt.Sprintf("%s is %v: the ledger keeps every record; remove the limit (nats stream edit %s --%s=-1)",
					l.setting, l.value, LedgerStream, strings.ReplaceAll(l.setting, "_", "-")))
			}
		}
	case InputStream:
		if have.Retention != jetstream.LimitsPolicy {
			problems = append(problems, fmt.Sprintf("retention is %s: the engine's backtest and replays read the input again (limits retention)", have.Retention))
		}
	}
	return problems
}

// bucketAttemptTimeout bounds one try at a key-value bucket.
const bucketAttemptTimeout = 2 * time.Second

// KeyValueBucket creates or updates one of the engine's key-value buckets
// with cfg, never lowering the replicas it has: an operator's replication
// of it survives every start. cfg.Replicas 0 is DefaultReplicas.
func KeyValueBucket(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (kv jetstream.KeyValue, err error) {
	if cfg.Replicas == 0 {
		cfg.Replicas = DefaultReplicas(js.Conn())
	}
	// A bucket another engine is creating at the same moment does not
	// answer until its stream has a leader: short tries, logged.
	err = whenReady(ctx, slog.Default(), "the bucket "+cfg.Bucket, bucketAttemptTimeout, func(ctx context.Context) error {
		c := cfg
		if s, err := js.Stream(ctx, "KV_"+c.Bucket); err == nil {
			c.Replicas = max(c.Replicas, s.CachedInfo().Config.Replicas)
		} else if !errors.Is(err, jetstream.ErrStreamNotFound) {
			return err
		}
		kv, err = js.CreateOrUpdateKeyValue(ctx, c)
		return err
	})
	return kv, err
}
