package streams

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pointsledger/loyalty/domain"
)

// QuarantineBucket is the key-value bucket of ledger messages set aside by
// an operator (`loyalty ledger quarantine`): one key per ledger sequence.
// The ledger itself is never edited (it denies delete and purge): a
// quarantined message stays where it is, and every reader of the ledger
// skips it. The bucket keeps each key's history, so a quarantine that was
// taken back is still on record.
const QuarantineBucket = "LOYALTY_LEDGER_QUARANTINE"

// ErrDecodable is returned by QuarantineLedgerMessage for a message that
// decodes: only what no reader can decode is set aside, so that quarantine
// can never be used to drop facts from the ledger.
var ErrDecodable = errors.New("the ledger message decodes: only messages that cannot be decoded are quarantined")

// Quarantined is one quarantined ledger message and who set it aside, why
// and when.
type Quarantined struct {
	Seq     uint64    `json:"seq"`
	Subject string    `json:"subject"`
	SHA256  string    `json:"sha256"` // of the message's data: a key never covers another message
	Reason  string    `json:"reason"`
	By      string    `json:"by"`
	At      time.Time `json:"at"`
	Error   string    `json:"decode_error"`
}

// Quarantine is the set of quarantined ledger messages, by sequence.
type Quarantine map[uint64]Quarantined

// keyValues is the part of jetstream.JetStream that LoadQuarantine uses.
type keyValues interface {
	KeyValue(ctx context.Context, bucket string) (jetstream.KeyValue, error)
}

// LoadQuarantine reads the quarantined messages; none when the bucket does
// not exist.
func LoadQuarantine(ctx context.Context, js keyValues) (Quarantine, error) {
	kv, err := js.KeyValue(ctx, QuarantineBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return Quarantine{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("quarantine bucket %s: %w", QuarantineBucket, err)
	}
	q := Quarantine{}
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", QuarantineBucket, err)
	}
	for key := range keys.Keys() {
		entry, err := kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // taken back meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("read %s %s: %w", QuarantineBucket, key, err)
		}
		var e Quarantined
		if err := json.Unmarshal(entry.Value(), &e); err != nil {
			return nil, fmt.Errorf("%s %s: %w", QuarantineBucket, key, err)
		}
		q[e.Seq] = e
	}
	return q, nil
}

// Decode decodes the ledger message at seq on subject and checks that it
// is one the engine wrote (CheckLedgerMessage), or reports it skipped when
// it is quarantined: the key names it and the digest matches. A message
// that fails either and is not quarantined is an error that says how to
// quarantine it.
func (q Quarantine) Decode(seq uint64, subject string, data []byte, keys *MemberKeys) (recs []LedgerRecord, skipped bool, err error) {
	recs, err = DecodeLedgerMessageWith(data, keys)
	if err == nil {
		err = CheckLedgerMessage(subject, recs)
	}
	if err == nil {
		err = checkLedgerText(data)
	}
	if err == nil {
		return recs, false, nil
	}
	if e, ok := q[seq]; ok && e.SHA256 == digestHex(data) {
		return nil, true, nil
	}
	if errors.Is(err, ErrMemberKeysUnavailable) { // the bucket failed to answer, not the message
		return nil, false, err
	}
	return nil, false, fmt.Errorf("%w (after checking it, set it aside with `loyalty ledger quarantine %d --reason ...`: docs/operations.md)", err, seq)
}

// QuarantineLedgerMessage sets the ledger message at seq aside, recording
// reason and by, once it has checked that the message cannot be decoded. It
// returns the entry; quarantining a message twice is refused.
func QuarantineLedgerMessage(ctx context.Context, js jetstream.JetStream, seq uint64, reason, by string, now time.Time) (Quarantined, error) {
	if strings.TrimSpace(reason) == "" {
		return Quarantined{}, errors.New("a reason is required: it is the audit trail of why a ledger message is skipped")
	}
	stream, err := js.Stream(ctx, LedgerStream)
	if err != nil {
		return Quarantined{}, fmt.Errorf("ledger stream: %w", err)
	}
	msg, err := stream.GetMsg(ctx, seq)
	if err != nil {
		return Quarantined{}, fmt.Errorf("%s seq %d: %w", LedgerStream, seq, err)
	}
	recs, decodeErr := DecodeLedgerMessageWith(msg.Data, ReadMemberKeys(js))
	if errors.Is(decodeErr, ErrMemberKeysUnavailable) {
		return Quarantined{}, fmt.Errorf("%s seq %d: %w", LedgerStream, seq, decodeErr)
	}
	if decodeErr == nil {
		decodeErr = CheckLedgerMessage(msg.Subject, recs)
	}
	if decodeErr == nil {
		decodeErr = checkLedgerText(msg.Data)
	}
	if decodeErr == nil {
		return Quarantined{}, fmt.Errorf("%s seq %d: %w", LedgerStream, seq, ErrDecodable)
	}
	kv, err := KeyValueBucket(ctx, js, jetstream.KeyValueConfig{
		Bucket: QuarantineBucket, Description: "Ledger messages set aside by an operator: readers skip them (loyalty ledger quarantine)",
		History: 64, Storage: jetstream.FileStorage,
	})
	if err != nil {
		return Quarantined{}, fmt.Errorf("quarantine bucket %s: %w", QuarantineBucket, err)
	}
	e := Quarantined{Seq: seq, Subject: msg.Subject, SHA256: digestHex(msg.Data), Reason: reason, By: by, At: now.UTC(), Error: decodeErr.Error()}
	value, err := json.Marshal(e)
	if err != nil {
		return Quarantined{}, err
	}
	if _, err := kv.Create(ctx, strconv.FormatUint(seq, 10), value); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return Quarantined{}, fmt.Errorf("%s seq %d is quarantined already", LedgerStream, seq)
		}
		return Quarantined{}, fmt.Errorf("record the quarantine of seq %d: %w", seq, err)
	}
	return e, nil
}

// maxLedgerEventIDBytes bounds a record's event id: an input's id (at most
// domain.MaxEventIDBytes) or one the engine made from a member key.
const maxLedgerEventIDBytes = 512

// CheckLedgerMessage returns what shows that records, decoded from a ledger
// message on subject, are not ones the engine appended: a subject that is
// no partition's, a record that claims another partition or whose member
// belongs to another, or a member or event id the engine would never have
// admitted (one PostgreSQL cannot store, for instance). Such a message
// decodes but is foreign; every reader stops at it, and it may be
// quarantined.
func CheckLedgerMessage(subject string, recs []LedgerRecord) error {
	p, ok := LedgerPartition(subject)
	if !ok {
		return fmt.Errorf("subject %q is not a partition's ledger subject", subject)
	}
	for i, r := range recs {
		switch {
		case r.Partition != p:
			return fmt.Errorf("record %d claims partition %d on %s", i, r.Partition, subject)
		case PartitionOf(r.MemberID) != p:
			return fmt.Errorf("record %d is of a member of partition %d, not %d", i, PartitionOf(r.MemberID), p)
		// Lengths only: ledgers written before the admission rules hold ids
		// with characters those rules refuse now, and they are the engine's.
		// What PostgreSQL cannot store is checkLedgerText's.
		case len(r.MemberID) > domain.MaxMemberIDBytes:
			return fmt.Errorf("record %d: member_id is %d bytes, more than the engine ever admitted", i, len(r.MemberID))
		case len(r.EventID) > maxLedgerEventIDBytes:
			return fmt.Errorf("record %d: event_id is %d bytes, more than the engine ever writes", i, len(r.EventID))
		}
		for _, f := range r.Facts {
			if name, n := longestID(f); len(r.MemberID)+n > maxLedgerKeyBytes {
				return fmt.Errorf("record %d: a %s fact's %s is %d bytes, more than PostgreSQL can index with the member id", i, f.FactType(), name, n)
			}
		}
	}
	return nil
}

// maxLedgerKeyBytes bounds a fact's id with its member id: the read models
// key rows by both (purchases by member and order id, redemptions by member
// and request id), and a btree entry holds at most about 2,700 bytes. A
// record past it stops a projection for good, and was never the engine's:
// ledgers from before the admission limits hold ids far below it.
const maxLedgerKeyBytes = 2600

// idFields are, per fact type, the indexes of its string fields named ...ID
// (the embedded FactMeta's are checked with the record).
var idFields sync.Map // reflect.Type -> []int

// longestID returns the name and length of the fact's longest id field.
func longestID(f domain.Fact) (string, int) {
	v := reflect.ValueOf(f)
	if v.Kind() != reflect.Struct {
		return "", 0
	}
	t := v.Type()
	fields, ok := idFields.Load(t)
	if !ok {
		var idx []int
		for i := range t.NumField() {
			sf := t.Field(i)
			if !sf.Anonymous && sf.Type.Kind() == reflect.String && strings.HasSuffix(sf.Name, "ID") {
				idx = append(idx, i)
			}
		}
		fields, _ = idFields.LoadOrStore(t, idx)
	}
	name, longest := "", 0
	for _, i := range fields.([]int) {
		if n := v.Field(i).Len(); n > longest {
			name, longest = wireName(t.Field(i).Name), n
		}
	}
	return name, longest
}

// wireName is a Go field name as the wire spells it: ToMemberID, to_member_id.
func wireName(field string) string {
	field = strings.TrimSuffix(field, "ID") + "Id"
	var b strings.Builder
	for i, r := range field {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// checkLedgerText refuses a ledger message whose text holds what no string
// the engine admits holds, and PostgreSQL cannot store: invalid UTF-8, or a
// NUL (in JSON, the escape \u0000 that is not itself an escaped backslash
// followed by "u0000").
func checkLedgerText(data []byte) error {
	if !utf8.Valid(data) {
		return errors.New("the message is not valid UTF-8")
	}
	for i := 0; ; {
		j := bytes.Index(data[i:], []byte(`\u0000`))
		if j < 0 {
			return nil
		}
		at := i + j
		backslashes := 0
		for k := at; k >= 0 && data[k] == '\\'; k-- {
			backslashes++
		}
		if backslashes%2 == 1 {
			return fmt.Errorf("a string holds a NUL character (byte %d)", at)
		}
		i = at + 1
	}
}

// LedgerPartition is the partition whose ledger subject subject is.
func LedgerPartition(subject string) (int, bool) {
	token, ok := strings.CutPrefix(subject, LedgerPrefix+".")
	if !ok {
		return 0, false
	}
	p, err := strconv.Atoi(token)
	if err != nil || p < 0 || p >= Partitions || strconv.Itoa(p) != token {
		return 0, false
	}
	return p, true
}

func digestHex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// Sorted is the entries by sequence.
func (q Quarantine) Sorted() []Quarantined {
	all := slices.Collect(maps.Values(q))
	slices.SortFunc(all, func(a, b Quarantined) int { return cmp.Compare(a.Seq, b.Seq) })
	return all
}
