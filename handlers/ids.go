package handlers

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pointsledger/loyalty/streams"
)

// SecretsBucket holds the engine's secrets: the key its follow-up ids are
// made with. It lives in the engine's account, which upstream users cannot
// read (deploy/nats/permissions.conf).
const SecretsBucket = "LOYALTY_SECRETS"

// followUpKeyName is the key of the follow-up ids' secret in SecretsBucket.
const followUpKeyName = "follow-up-ids.k1"

// loadIDKey returns the deployment's key for follow-up ids, making it the
// first time. Engines that start together agree: the first to create it
// wins, and the others read it.
func loadIDKey(ctx context.Context, js jetstream.JetStream) ([]byte, error) {
	kv, err := streams.KeyValueBucket(ctx, js, jetstream.KeyValueConfig{
		Bucket: SecretsBucket, Description: "Loyalty engine secrets: the key of follow-up event ids",
		History: 1, Storage: jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("secrets bucket %s: %w", SecretsBucket, err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if _, err := kv.Create(ctx, followUpKeyName, key); err == nil {
		return key, nil
	} else if !errors.Is(err, jetstream.ErrKeyExists) {
		return nil, fmt.Errorf("make the follow-up id key: %w", err)
	}
	entry, err := kv.Get(ctx, followUpKeyName)
	if err != nil {
		return nil, fmt.Errorf("read the follow-up id key: %w", err)
	}
	if len(entry.Value()) != 32 {
		return nil, fmt.Errorf("%s %s holds %d bytes, not a key of 32", SecretsBucket, followUpKeyName, len(entry.Value()))
	}
	return entry.Value(), nil
}

// ReadFollowUpIDKey returns the deployment's key for follow-up ids, for
// checks that decide the ledger's input again (it makes none).
func ReadFollowUpIDKey(ctx context.Context, js jetstream.JetStream) ([]byte, error) {
	kv, err := js.KeyValue(ctx, SecretsBucket)
	if err != nil {
		return nil, fmt.Errorf("secrets bucket %s: %w", SecretsBucket, err)
	}
	entry, err := kv.Get(ctx, followUpKeyName)
	if err != nil {
		return nil, fmt.Errorf("read the follow-up id key: %w", err)
	}
	return entry.Value(), nil
}

// FollowUpIDs mints the ids of the follow-ups of an input's facts (for
// domain.GiveFollowUpIDs): an HMAC of the input's member and event and the
// fact's place, under the deployment's key, so that the same decision gives
// the same ids (a redelivered input decided again) and no client can
// compute them.
func FollowUpIDs(key []byte, memberID, eventID string) func(prefix string, index int) string {
	return func(prefix string, index int) string {
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte("loyalty/follow-up/v1\x00" + memberID + "\x00" + eventID + "\x00" + strconv.Itoa(index)))
		return prefix + "k1-" + hex.EncodeToString(mac.Sum(nil)[:16])
	}
}
