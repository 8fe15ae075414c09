// Package streams holds everything JetStream: the embedded server, stream and
// consumer definitions, subjects and the wire formats of events and facts.
package streams

import (
	"encoding/base64"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/pointsledger/loyalty/domain"
)

// Stream names. Renaming one orphans the data in the old stream.
const (
	InputStream      = "LOYALTY_IN"
	LedgerStream     = "LOYALTY_LEDGER"
	DeadLetterStream = "LOYALTY_DLQ"
)

// Partitions is the fixed number of member partitions. Members are spread
// over partitions by a hash of their subject key; per-member order holds
// within a partition. Changing it re-shuffles members: never change it on a
// stream with data.
const Partitions = 64

// Subject prefixes.
const (
	InputPrefix      = "loyalty.in"
	LedgerPrefix     = "loyalty.ledger"
	DeadLetterPrefix = "loyalty.dlq"
)

// ErrInvalidMemberKey is returned for a subject token that no member id maps to.
var ErrInvalidMemberKey = errors.New("invalid member key")

// MemberKey derives the subject token for a member id. Member ids may contain
// anything (dots, spaces, '*', '>', unicode), so the id's UTF-8 bytes are
// base64url-encoded without padding: reversible, and only [A-Za-z0-9_-].
func MemberKey(memberID string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(memberID))
}

// IsMemberKey reports whether key is MemberKey(memberID), without
// allocating for ids of up to 96 bytes.
func IsMemberKey(key, memberID string) bool {
	n := base64.RawURLEncoding.EncodedLen(len(memberID))
	if n != len(key) {
		return false
	}
	var idBuf [96]byte
	var keyBuf [128]byte
	var encoded []byte
	if n <= len(keyBuf) {
		encoded = keyBuf[:n]
	} else {
		encoded = make([]byte, n)
	}
	base64.RawURLEncoding.Encode(encoded, append(idBuf[:0], memberID...))
	return string(encoded) == key
}

// MemberIDFromKey reverses MemberKey.
func MemberIDFromKey(key string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(key)
	if err != nil || len(b) == 0 || !utf8.Valid(b) {
		return "", fmt.Errorf("%w: %q", ErrInvalidMemberKey, key)
	}
	return string(b), nil
}

// InputSubject is the subject upstream publishes an event on:
// loyalty.in.<type-token>.<member-key>.
func InputSubject(t domain.EventType, memberID string) (string, error) {
	c, ok := codecByType[t]
	if !ok {
		return "", fmt.Errorf("no subject for event type %q", t)
	}
	if memberID == "" || len(memberID) > domain.MaxMemberIDBytes {
		return "", fmt.Errorf("member id must be 1 to %d bytes, got %d", domain.MaxMemberIDBytes, len(memberID))
	}
	return InputPrefix + "." + c.token + "." + MemberKey(memberID), nil
}

// TypeForToken returns the event type published on a subject type token.
func TypeForToken(token string) (domain.EventType, bool) {
	if c, ok := codecByToken[token]; ok {
		return c.typ, true
	}
	return "", false
}

// StoredInput is an input subject as the stream stores it, after its subject
// transform put the partition in front: loyalty.in.<partition>.<type>.<key>.
type StoredInput struct {
	Partition int
	TypeToken string
	MemberKey string
}

// ParseStoredInput splits a stored input subject.
func ParseStoredInput(subject string) (StoredInput, error) {
	rest, ok := strings.CutPrefix(subject, InputPrefix+".")
	parts := strings.Split(rest, ".")
	if !ok || len(parts) != 3 {
		return StoredInput{}, fmt.Errorf("subject %q is not %s.<partition>.<type>.<member-key>", subject, InputPrefix)
	}
	p, err := strconv.Atoi(parts[0])
	if err != nil || p < 0 || p >= Partitions {
		return StoredInput{}, fmt.Errorf("subject %q has no valid partition", subject)
	}
	return StoredInput{Partition: p, TypeToken: parts[1], MemberKey: parts[2]}, nil
}

// PublishSubject is the subject upstream published the input on: the
// stored subject without the partition the stream put in.
func (s StoredInput) PublishSubject() string {
	return InputPrefix + "." + s.TypeToken + "." + s.MemberKey
}

// ParsePublishedInput reads a subject upstream publishes input on,
// loyalty.in.<type>.<member-key>, into a StoredInput without a partition.
func ParsePublishedInput(subject string) (StoredInput, error) {
	rest, ok := strings.CutPrefix(subject, InputPrefix+".")
	parts := strings.Split(rest, ".")
	if !ok || len(parts) != 2 || parts[0] == "" || parts[1] == "" {
		return StoredInput{}, fmt.Errorf("subject %q is not %s.<type>.<member-key>", subject, InputPrefix)
	}
	return StoredInput{TypeToken: parts[0], MemberKey: parts[1]}, nil
}

// PartitionOf is the partition the input stream's subject transform puts a
// member in: FNV-1a of the member key, modulo Partitions, as the server's
// partition() computes it (a test holds the two together).
func PartitionOf(memberID string) int {
	if t, ok := ErasedToken(memberID); ok { // the erased member's records stay where they were
		p, _ := tokenPartition(t)
		return p
	}
	h := fnv.New32a()
	h.Write([]byte(MemberKey(memberID)))
	return int(h.Sum32() % Partitions)
}

// PartitionFilter is the consumer filter for one input partition.
func PartitionFilter(partition int) string {
	return fmt.Sprintf("%s.%d.>", InputPrefix, partition)
}

// LedgerSubject is the ledger subject of one partition. All of a partition's
// records share it, so the expected last sequence on it fences a stale owner.
func LedgerSubject(partition int) string {
	return LedgerPrefix + "." + strconv.Itoa(partition)
}

// DeadLetterSubject is where rejected input goes, by reason.
func DeadLetterSubject(reason domain.Reason) string {
	return DeadLetterPrefix + "." + string(reason)
}

// LoggedSubject is a subject as the engine's logs show it: an input or
// outbound subject without its member key (the member id, reversibly
// encoded, is personal data; docs/privacy.md), any other as it is.
func LoggedSubject(subject string) string {
	if strings.HasPrefix(subject, InputPrefix+".") || strings.HasPrefix(subject, OutboundPrefix+".") {
		if i := strings.LastIndexByte(subject, '.'); i > 0 {
			return subject[:i] + ".*"
		}
	}
	return subject
}
