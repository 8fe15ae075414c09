package handlers

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pointsledger/loyalty/handlers/keyindex"
	"github.com/pointsledger/loyalty/streams"
)

// openKeyIndex opens the engine's key index and binds it to the ledger: an
// index folded from another ledger (the stream was made again) or past the
// ledger's end is emptied and folded again.
func (e *Engine) openKeyIndex(ctx context.Context) (*keyindex.Index, error) {
	keys, err := keyindex.OpenOrRebuild(e.cfg.KeyIndexDir, keyindex.Options{Logger: e.cfg.Logger})
	if err != nil {
		return nil, err
	}
	info, err := ledgerInfo(ctx, e.js)
	if err == nil {
		var emptied bool
		emptied, err = keys.Bind(info.Created, info.State.LastSeq)
		if emptied {
			e.cfg.Logger.Warn("key index was not folded from this ledger; it is folded again", "dir", e.cfg.KeyIndexDir)
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
