package streams

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pointsledger/loyalty/domain"
)

// MemberKeysBucket maps each member's token to their id and the key their
// personal data is sealed under in the ledger (decision 032). Replacing a
// member's entry by the erased marker (Erase) is what erases them from the
// ledger, which cannot itself be edited: their records then read as
// ErasedID(token), without the sealed fields.
const MemberKeysBucket = "LOYALTY_MEMBER_KEYS"

// keySubject is the bucket's subject of token's entry.
func keySubject(token string) string { return "$KV." + MemberKeysBucket + "." + token }

// ErrMemberKeysUnavailable wraps a failure to read the bucket (NATS
// restarting, say), which says nothing of the record being read: readers
// retry it as they retry NATS, never take the record for undecodable.
var ErrMemberKeysUnavailable = errors.New("member keys")

// ErrMemberErased is returned for a member whose key was erased.
var ErrMemberErased = errors.New("the member was erased")

// erasedValue is an erased member's entry: it stays, so that the engine
// never makes the member a key again (their old records would read as the
// new member's), and so that a reader tells an erased member from a token
// no one wrote.
const erasedValue = "erased"

const memberKeyBytes = 32

// MemberToken is the member's pseudonym in the ledger: "t", the member's
// partition in two digits (so that partition checks hold without the id),
// "-" and 128 bits of an HMAC of the id under the deployment's secret, so
// that no one without the secret can tell whose it is.
func MemberToken(secret []byte, memberID string) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("loyalty/member-token/v1\x00" + memberID))
	return fmt.Sprintf("t%02d-%s", PartitionOf(memberID), hex.EncodeToString(mac.Sum(nil)[:16]))
}

// IsMemberToken reports whether s has MemberToken's form.
func IsMemberToken(s string) bool {
	_, ok := tokenPartition(s)
	return ok
}

// tokenPartition is the partition a token names.
func tokenPartition(token string) (int, bool) {
	if len(token) != 36 || token[0] != 't' || token[3] != '-' {
		return 0, false
	}
	p, err := strconv.Atoi(token[1:3])
	if err != nil || p < 0 || p >= Partitions {
		return 0, false
	}
	for _, c := range token[4:] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return 0, false
		}
	}
	return p, true
}

// ErasedID is the member id an erased member's records read as.
func ErasedID(token string) string { return domain.ErasedMemberPrefix + token }

// ErasedToken returns the token of an id ErasedID made.
func ErasedToken(id string) (string, bool) {
	t, ok := strings.CutPrefix(id, domain.ErasedMemberPrefix)
	return t, ok && IsMemberToken(t)
}

// MemberKeys reads and writes MemberKeysBucket through a cache. Readers
// (projections, the outbound relay, export) reveal tokens; the engine,
// which holds the secret, also makes entries (Ensure) and seals records.
type MemberKeys struct {
	js     jetstream.JetStream
	secret []byte

	mu      sync.Mutex
	kv      jetstream.KeyValue // opened at the first look-up when nil
	stream  jetstream.Stream
	byToken map[string]memberEntry
	tokens  map[string]string // id -> token, the engine's
	// erasing are the tokens of members whose erasure was read in the
	// ledger: their entries are read from the bucket every time until it
	// says erased, so that a long-running reader does not go on revealing
	// them from its cache after the key is erased.
	erasing map[string]bool
}

type memberEntry struct {
	id     string
	key    []byte
	erased bool
}

// memberKeysCached bounds each cache map: a full map is dropped and
// filled again from the bucket.
const memberKeysCached = 1 << 18

// lookupTimeout bounds one read of the bucket.
const lookupTimeout = 10 * time.Second

// OpenMemberKeys makes or opens the bucket. With secret, the keys can make
// entries and seal records (the engine); without, only reveal.
//
// The bucket's stream is made here rather than by the key-value API, which
// denies deletes: an erasure must overwrite the member's key where the
// server stored it (Erase), or the bytes would stay in its files, and with
// them everything sealed under the key.
func OpenMemberKeys(ctx context.Context, js jetstream.JetStream, secret []byte) (*MemberKeys, error) {
	cfg := jetstream.StreamConfig{
		Name: "KV_" + MemberKeysBucket, Subjects: []string{"$KV." + MemberKeysBucket + ".>"},
		Description:       "Loyalty member keys: each member's ledger token, id and data key (loyalty member erase overwrites them)",
		MaxMsgsPerSubject: 1, MaxMsgs: -1, MaxBytes: -1, MaxConsumers: -1, Storage: jetstream.FileStorage,
		Replicas: DefaultReplicas(js.Conn()), AllowRollup: true, AllowDirect: true, Discard: jetstream.DiscardNew,
		Duplicates: 2 * time.Minute,
	}
	var stream jetstream.Stream
	err := whenReady(ctx, slog.Default(), "the bucket "+MemberKeysBucket, bucketAttemptTimeout, func(ctx context.Context) error {
		c := cfg
		if s, err := js.Stream(ctx, c.Name); err == nil {
			if s.CachedInfo().Config.DenyDelete {
				return fmt.Errorf("%w: stream %s denies deletes, so an erasure could not overwrite a member's key; "+
					"it was made by an earlier version: delete it while no engine runs (nats stream rm %s) and start again",
					errBadMemberKeys, c.Name, c.Name)
			}
			c.Replicas = max(c.Replicas, s.CachedInfo().Config.Replicas)
		} else if !errors.Is(err, jetstream.ErrStreamNotFound) {
			return err
		}
		var err error
		stream, err = js.CreateOrUpdateStream(ctx, c)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("member keys bucket %s: %w", MemberKeysBucket, err)
	}
	kv, err := js.KeyValue(ctx, MemberKeysBucket)
	if err != nil {
		return nil, fmt.Errorf("member keys bucket %s: %w", MemberKeysBucket, err)
	}
	k := newMemberKeys(js, secret)
	k.kv, k.stream = kv, stream
	return k, nil
}

// errBadMemberKeys is a bucket no retry mends.
var errBadMemberKeys = errors.New("member keys bucket")

// ReadMemberKeys gives the keys for revealing tokens. The bucket is opened
// at the first look-up (the engine makes it when it first starts).
func ReadMemberKeys(js jetstream.JetStream) *MemberKeys { return newMemberKeys(js, nil) }

func newMemberKeys(js jetstream.JetStream, secret []byte) *MemberKeys {
	return &MemberKeys{js: js, secret: secret, byToken: map[string]memberEntry{}, tokens: map[string]string{}, erasing: map[string]bool{}}
}

// bucket returns the bucket and its stream, opening them the first time.
func (k *MemberKeys) bucket(ctx context.Context) (jetstream.KeyValue, jetstream.Stream, error) {
	k.mu.Lock()
	kv, stream := k.kv, k.stream
	k.mu.Unlock()
	if kv != nil {
		return kv, stream, nil
	}
	kv, err := k.js.KeyValue(ctx, MemberKeysBucket)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: bucket %s: %w", ErrMemberKeysUnavailable, MemberKeysBucket, err)
	}
	if stream, err = k.js.Stream(ctx, "KV_"+MemberKeysBucket); err != nil {
		return nil, nil, fmt.Errorf("%w: bucket %s: %w", ErrMemberKeysUnavailable, MemberKeysBucket, err)
	}
	k.mu.Lock()
	k.kv, k.stream = kv, stream
	k.mu.Unlock()
	return kv, stream, nil
}

// CanMake reports whether the keys hold the secret: they can make tokens
// and entries.
func (k *MemberKeys) CanMake() bool { return k != nil && k.secret != nil }

// ReadMemberKeysAs is ReadMemberKeys with the deployment's secret, for a
// replay that decides as the engine does (tokens, erased members) and
// writes nothing.
func ReadMemberKeysAs(js jetstream.JetStream, secret []byte) *MemberKeys {
	return newMemberKeys(js, secret)
}

// Token is the member's token (the engine's keys only).
func (k *MemberKeys) Token(memberID string) string {
	k.mu.Lock()
	t, ok := k.tokens[memberID]
	k.mu.Unlock()
	if ok {
		return t
	}
	t = MemberToken(k.secret, memberID)
	k.mu.Lock()
	if len(k.tokens) >= memberKeysCached {
		clear(k.tokens)
	}
	k.tokens[memberID] = t
	k.mu.Unlock()
	return t
}

// Ensure makes the member's entry if there is none, before a record that
// names them is written, and returns ErrMemberErased for an erased member.
func (k *MemberKeys) Ensure(ctx context.Context, memberID string) error {
	if k.secret == nil {
		return errors.New("member keys opened without the secret cannot make entries")
	}
	token := k.Token(memberID)
	e, ok, err := k.entry(ctx, token, true)
	if err != nil {
		return err
	}
	if ok {
		return k.check(e, token, memberID)
	}
	key := make([]byte, memberKeyBytes)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	kv, _, err := k.bucket(ctx)
	if err != nil {
		return err
	}
	_, err = kv.Create(ctx, token, append(key, memberID...))
	if errors.Is(err, jetstream.ErrKeyExists) { // another engine, or an erasure, came first
		k.forget(token)
		if e, ok, err = k.entry(ctx, token, true); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("member key %s exists and cannot be read", token)
		}
		return k.check(e, token, memberID)
	}
	if err != nil {
		return fmt.Errorf("make member key %s: %w", token, err)
	}
	k.keep(token, memberEntry{id: memberID, key: key})
	return nil
}

func (k *MemberKeys) check(e memberEntry, token, memberID string) error {
	switch {
	case e.erased:
		return ErrMemberErased
	case e.id != memberID:
		return fmt.Errorf("member key %s belongs to another member id", token)
	}
	return nil
}

// Reveal returns the id of the member behind token, or erased true once
// they are erased.
func (k *MemberKeys) Reveal(ctx context.Context, token string) (id string, erased bool, err error) {
	e, err := k.reveal(ctx, token)
	return e.id, e.erased, err
}

// reveal returns the member behind token: their id and key, or
// ErasedID(token) and no key when erased. A token with no entry is an
// error: the engine makes the entry before any record names it.
func (k *MemberKeys) reveal(ctx context.Context, token string) (memberEntry, error) {
	if k == nil {
		return memberEntry{}, errors.New("a version 2 record is read without the member keys")
	}
	e, ok, err := k.entry(ctx, token, true)
	if err != nil {
		return memberEntry{}, err
	}
	if !ok {
		return memberEntry{}, fmt.Errorf("no member key %s in %s", token, MemberKeysBucket)
	}
	if e.erased {
		e.id = ErasedID(token)
	}
	return e, nil
}

// entry reads token's entry through the cache. A key not found is looked
// up again from the stream's leader before it is believed: a direct get
// may be answered by a replica behind the one that stored it.
func (k *MemberKeys) entry(ctx context.Context, token string, confirm bool) (memberEntry, bool, error) {
	k.mu.Lock()
	e, ok := k.byToken[token]
	k.mu.Unlock()
	if ok {
		return e, true, nil
	}
	return k.read(ctx, token, confirm)
}

// read reads token's entry from the bucket and caches it.
func (k *MemberKeys) read(ctx context.Context, token string, confirm bool) (memberEntry, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	kv, stream, err := k.bucket(ctx)
	if err != nil {
		return memberEntry{}, false, err
	}
	var value []byte
	entry, err := kv.Get(ctx, token)
	switch {
	case err == nil:
		value = entry.Value()
	case errors.Is(err, jetstream.ErrKeyNotFound) && !confirm:
		return memberEntry{}, false, nil
	case errors.Is(err, jetstream.ErrKeyNotFound):
		msg, err := stream.GetLastMsgForSubject(ctx, keySubject(token))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return memberEntry{}, false, nil
		}
		if err != nil {
			return memberEntry{}, false, fmt.Errorf("%w: read %s: %w", ErrMemberKeysUnavailable, token, err)
		}
		if len(msg.Data) == 0 { // a delete or purge marker: only Erase erases, by its marker
			// not an outage: no retry brings it back, and readers must say so
			// (and let the operator set the record aside) rather than wait
			return memberEntry{}, false, fmt.Errorf("%w: %s was deleted by hand, not erased (loyalty member erase): "+
				"the member's sealed records cannot be read", errBadMemberKeys, token)
		}
		value = msg.Data
	default:
		return memberEntry{}, false, fmt.Errorf("%w: read %s: %w", ErrMemberKeysUnavailable, token, err)
	}
	e, err := parseMemberEntry(value)
	if err != nil {
		return memberEntry{}, false, fmt.Errorf("member key %s: %w", token, err)
	}
	k.keep(token, e)
	return e, true, nil
}

func parseMemberEntry(v []byte) (memberEntry, error) {
	if string(v) == erasedValue {
		return memberEntry{erased: true}, nil
	}
	if len(v) <= memberKeyBytes {
		return memberEntry{}, fmt.Errorf("an entry of %d bytes is neither a key and an id nor %q", len(v), erasedValue)
	}
	return memberEntry{key: v[:memberKeyBytes:memberKeyBytes], id: string(v[memberKeyBytes:])}, nil
}

func (k *MemberKeys) keep(token string, e memberEntry) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.erasing[token] {
		if !e.erased {
			return // read again next time
		}
		delete(k.erasing, token)
	}
	if len(k.byToken) >= memberKeysCached {
		clear(k.byToken)
	}
	k.byToken[token] = e
}

// erasingMember is told that the ledger records the erasure of token's
// member: see erasing.
func (k *MemberKeys) erasingMember(token string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if e, ok := k.byToken[token]; ok && e.erased {
		return
	}
	delete(k.byToken, token)
	k.erasing[token] = true
}

func (k *MemberKeys) forget(token string) {
	k.mu.Lock()
	delete(k.byToken, token)
	k.mu.Unlock()
}

// Erase replaces the member's entry by the erased marker, which keeps only
// the token: from then on their records read as ErasedID(token) and their
// sealed fields cannot be opened. The entry's message is first
// overwritten where the server stored it (a secure delete), then the
// marker put: a reader between the two finds no entry, an error it retries.
func (k *MemberKeys) Erase(ctx context.Context, token string) error {
	kv, stream, err := k.bucket(ctx)
	if err != nil {
		return err
	}
	// From the stream's leader: a direct get may be answered by a replica behind.
	msg, err := stream.GetLastMsgForSubject(ctx, keySubject(token))
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
	case err != nil:
		return fmt.Errorf("erase member key %s: %w", token, err)
	case string(msg.Data) != erasedValue:
		if err := stream.SecureDeleteMsg(ctx, msg.Sequence); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return fmt.Errorf("erase member key %s: overwrite it: %w", token, err)
		}
	}
	if _, err := kv.Put(ctx, token, []byte(erasedValue)); err != nil {
		return fmt.Errorf("erase member key %s: %w", token, err)
	}
	k.keep(token, memberEntry{erased: true})
	return nil
}

// Erased reports whether token's entry is the erased marker. A key the
// direct get does not find is taken as not erased without asking the
// leader: a replica behind it may miss a marker just put, and then the
// entry's creation (Ensure), which the leader decides, finds it. A member
// cached as not erased is read again from the bucket: another process may
// have erased them since.
func (k *MemberKeys) Erased(ctx context.Context, token string) (bool, error) {
	k.mu.Lock()
	e, ok := k.byToken[token]
	k.mu.Unlock()
	if ok && e.erased {
		return true, nil
	}
	// Read afresh, never dropped from the cache meanwhile: another
	// partition may be sealing a record of the member with the key.
	e, ok, err := k.read(ctx, token, false)
	return ok && e.erased, err
}

// sealFor encrypts plaintext under the member's key (from the cache, which
// Ensure filled), bound to the record by aad.
func (k *MemberKeys) sealFor(memberID string, plaintext, aad []byte) ([]byte, error) {
	token := k.Token(memberID)
	e, ok, err := k.entry(context.Background(), token, true) // Ensure cached it; a full cache may have dropped it
	if err != nil {
		return nil, err
	}
	if !ok || e.erased || e.id != memberID {
		return nil, fmt.Errorf("no member key made for the record's member (Ensure first)")
	}
	gcm, err := newGCM(e.key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize(), gcm.NonceSize()+len(plaintext)+gcm.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return gcm.Seal(nonce, nonce, plaintext, aad), nil
}

// open decrypts what sealFor sealed.
func openSealed(key, sealed, aad []byte) ([]byte, error) {
	gcm, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	if len(sealed) < gcm.NonceSize() {
		return nil, errors.New("sealed fields too short")
	}
	return gcm.Open(nil, sealed[:gcm.NonceSize()], sealed[gcm.NonceSize():], aad)
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
