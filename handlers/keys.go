package handlers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pointsledger/loyalty/handlers/keyindex"
	"github.com/pointsledger/loyalty/streams"
)

// openKeyIndex opens the engine's key index and binds it to the ledger: an
// index folded from another ledger (the stream was made again) or past the
// ledger's end is emptied and folded again.
func (e *Engine) openKeyIndex(ctx context.Context, quarantine streams.Quarantine) (*keyindex.Index, error) {
	keys, err := keyindex.OpenOrRebuild(e.cfg.KeyIndexDir, keyindex.Options{Logger: e.cfg.Logger, Counters: e.metrics.keys})
	if err != nil {
		return nil, err
	}
	info, err := ledgerInfo(ctx, e.js)
	if err == nil {
		var emptied bool
		emptied, err = keys.Bind(info.Created, info.State.LastSeq, e.keyScope(quarantine))
		switch {
		case emptied:
			e.cfg.Logger.Warn("key index and member snapshots are emptied and folded again from the whole ledger: "+keys.EmptiedBecause(),
				"dir", e.cfg.KeyIndexDir)
		case keys.Empty() && info.State.Msgs > 0:
			e.cfg.Logger.Info("key index is empty; the whole ledger is folded into it", "dir", e.cfg.KeyIndexDir, "ledger_messages", info.State.Msgs)
		case !keys.FilterSaved() && e.cfg.KeyIndexDir != "" && info.State.Msgs > 0:
			e.cfg.Logger.Info("key index filter not saved at the last stop (a crash): it is read back from the store in the background; look-ups go to the store until then",
				"dir", e.cfg.KeyIndexDir)
		}
	}
	if err != nil {
		_ = keys.Close()
		return nil, err
	}
	return keys, nil
}

func ledgerInfo(ctx context.Context, js jetstream.JetStream) (*jetstream.StreamInfo, error) {
	stream, err := js.Stream(ctx, streams.LedgerStream)
	if err != nil {
		return nil, fmt.Errorf("ledger stream: %w", err)
	}
	return stream.CachedInfo(), nil
}

// keysBroken stops the engine when its key index store fails: nothing it
// answers is trusted any more, and the next start empties it and folds it
// again from the ledger (keyindex.ErrBroken). Input handled meanwhile is
// retried, never applied without its keys.
func (e *Engine) keysBroken(err error) {
	if !errors.Is(err, keyindex.ErrBroken) {
		return
	}
	select {
	case e.keysFailed <- err:
	default:
	}
}

// keyScope names the part of the ledger the index folds: the partitions and
// the messages set aside by quarantine (whose keys a fold does not give).
func (e *Engine) keyScope(quarantine streams.Quarantine) string {
	h := sha256.New()
	fmt.Fprintf(h, "partitions %v\nquarantined", e.cfg.Partitions)
	for _, seq := range slices.Sorted(maps.Keys(quarantine)) {
		fmt.Fprintf(h, " %d:%s", seq, quarantine[seq].SHA256)
	}
	return hex.EncodeToString(h.Sum(nil))
}
