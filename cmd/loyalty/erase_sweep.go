package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pointsledger/loyalty/handlers"
	"github.com/pointsledger/loyalty/streams"
)

// memberMatcher tells whether a stored message names one of the erased
// members. It matches structure, never substrings (a member id "42" must
// not take every message with a 42 in it): an input or outbound subject
// whose last token is a member's key, a dead letter's stored subject that
// is such an input subject, a value of the vouchers bucket that is an id,
// or a JSON string that is an id under a key that names a member.
type memberMatcher struct {
	ids  map[string]bool
	keys map[string]bool
}

// memberFields are the JSON keys that name a member in the engine's input,
// outbound events and dead letters (docs/events.md, docs/outbound.md).
var memberFields = []string{"member_id", "to_member_id", "from_member_id", "for_member_id", "referred_member_id", "referred_by",
	"other_member_id"} // the last, a ledger record's of version 1

func newMemberMatcher(ids []string) memberMatcher {
	m := memberMatcher{ids: map[string]bool{}, keys: map[string]bool{}}
	for _, id := range ids {
		m.ids[id], m.keys[streams.MemberKey(id)] = true, true
	}
	return m
}

// own reports whether subject's last token is a member's key.
func (m memberMatcher) own(subject string) bool {
	return m.keys[subject[strings.LastIndexByte(subject, '.')+1:]]
}

// ownSubject reports whether subject is one of a member's own input or
// outbound subjects, the only ones that end in a member key.
func (m memberMatcher) ownSubject(subject string) bool {
	return (strings.HasPrefix(subject, streams.InputPrefix+".") || strings.HasPrefix(subject, streams.OutboundPrefix+".")) && m.own(subject)
}

func (m memberMatcher) match(subject string, header map[string][]string, data []byte) bool {
	if m.ownSubject(subject) || strings.HasPrefix(subject, "$KV."+handlers.VouchersBucket+".") && m.ids[string(data)] {
		return true
	}
	for _, v := range header[handlers.HeaderStoredSubject] {
		if strings.HasPrefix(v, streams.InputPrefix+".") && m.own(v) {
			return true
		}
	}
	if len(data) == 0 || data[0] != '{' {
		return false
	}
	var doc any
	if json.NewDecoder(bytes.NewReader(data)).Decode(&doc) != nil {
		return false
	}
	return m.names(doc)
}

// names reports whether a JSON document names an erased member in a
// member field where documents hold them: at its top (a binary-mode
// event's data), in its data (an input, outbound or dead-lettered event),
// or in the facts of a ledger record. Nowhere else: an attributes map is
// upstream's, keyed by names upstream chooses, and another member's
// attribute that happens to be called "member_id" names no member.
func (m memberMatcher) names(v any) bool {
	doc, ok := v.(map[string]any)
	if !ok {
		return false
	}
	for k, x := range doc {
		if s, ok := x.(string); ok && m.ids[s] && slices.Contains(memberFields, k) {
			return true
		}
	}
	if m.names(doc["data"]) {
		return true
	}
	facts, _ := doc["facts"].([]any)
	return slices.ContainsFunc(facts, m.names)
}

// sweepStreams deletes every message of every stream that names an erased
// member, but the ledger's (which holds tokens and sealed fields only) and
// the member keys' (which hold tokens). Input or outbound events of
// another member that name them are kept until read (a transfer to them not
// yet decided is another member's request). It returns how many messages
// it deleted and a line per stream.
func sweepStreams(ctx context.Context, js jetstream.JetStream, ids []string) (deleted int, report string, err error) {
	m := newMemberMatcher(ids)
	var out strings.Builder
	names := js.StreamNames(ctx)
	var all []string
	for name := range names.Name() {
		all = append(all, name)
	}
	if err := names.Err(); err != nil {
		return 0, "", fmt.Errorf("list streams: %w", err)
	}
	slices.Sort(all)
	for _, name := range all {
		switch name {
		case streams.LedgerStream:
			n, err := clearLedgerRecords(ctx, js, m)
			if err != nil {
				return deleted, "", err
			}
			if n > 0 {
				return deleted, "", fmt.Errorf("%s holds %d records of version 1, written before records were sealed, that name the erased members in clear: "+
					"the ledger cannot be edited, so the erasure is not complete (docs/privacy.md, decision 032)", name, n)
			}
			continue
		case "KV_" + streams.MemberKeysBucket:
			continue
		}
		n, held, err := sweepStream(ctx, js, name, m)
		deleted += n
		if n > 0 {
			fmt.Fprintf(&out, "%s: %d deleted\n", name, n)
		}
		if held > 0 {
			fmt.Fprintf(&out, "%s: %d of other members naming them kept until read (the engine or a webhook has not taken them): run loyalty member erase again later\n", name, held)
		}
		if err != nil {
			return deleted, out.String(), err
		}
	}
	return deleted, out.String(), nil
}

// sweepStream deletes the stream's messages m matches, overwriting them on
// disk. In the input stream, another member's message is deleted only once
// every input consumer has acknowledged it; held counts those kept.
func sweepStream(ctx context.Context, js jetstream.JetStream, name string, m memberMatcher) (deleted, held int, err error) {
	stream, err := js.Stream(ctx, name)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w", name, err)
	}
	floor := ^uint64(0)
	if name == streams.InputStream || name == streams.OutboundStream {
		if floor, err = ackFloor(ctx, stream, name == streams.InputStream); err != nil {
			return 0, 0, err
		}
	}
	var doomed []uint64
	var subjects []string
	err = eachMessage(ctx, stream, nil, func(msg jetstream.Msg, meta *jetstream.MsgMetadata) {
		seq := meta.Sequence.Stream
		if !m.match(msg.Subject(), msg.Headers(), msg.Data()) {
			return
		}
		if seq > floor && !m.ownSubject(msg.Subject()) {
			held++
			return
		}
		doomed, subjects = append(doomed, seq), append(subjects, msg.Subject())
	})
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w", name, err)
	}
	if bucket, ok := strings.CutPrefix(name, "KV_"); ok {
		return purgeKeys(ctx, js, bucket, subjects)
	}
	for _, seq := range doomed {
		if err := stream.SecureDeleteMsg(ctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return deleted, held, fmt.Errorf("%s: delete seq %d: %w", name, seq, err)
		}
		deleted++
	}
	return deleted, held, nil
}

// purgeKeys purges the keys of a bucket whose values (on subjects) name
// the members: a bucket's stream refuses message deletes, and a purge
// leaves a marker without the value in the key's place.
func purgeKeys(ctx context.Context, js jetstream.JetStream, bucket string, subjects []string) (deleted, held int, err error) {
	if len(subjects) == 0 {
		return 0, 0, nil
	}
	kv, err := js.KeyValue(ctx, bucket)
	if err != nil {
		return 0, 0, fmt.Errorf("bucket %s: %w", bucket, err)
	}
	for _, subject := range subjects {
		key := strings.TrimPrefix(subject, "$KV."+bucket+".")
		if err := kv.Purge(ctx, key); err != nil {
			return deleted, 0, fmt.Errorf("bucket %s: purge %s: %w", bucket, key, err)
		}
		deleted++
	}
	return deleted, 0, nil
}

// ackFloor is the last sequence every durable consumer of the stream has
// acknowledged: other members' messages after it are still to be read (an
// input not decided yet, an outbound event a webhook has not delivered).
// With no durable consumer, the input is not being read (the engines are
// stopped): nothing of it is past (needsReader); outbound events are.
func ackFloor(ctx context.Context, stream jetstream.Stream, needsReader bool) (uint64, error) {
	floor, found := ^uint64(0), false
	consumers := stream.ListConsumers(ctx)
	for c := range consumers.Info() {
		if c.Config.Durable != "" {
			floor, found = min(floor, c.AckFloor.Stream), true
		}
	}
	if err := consumers.Err(); err != nil {
		return 0, fmt.Errorf("%s consumers: %w", stream.CachedInfo().Config.Name, err)
	}
	if !found && needsReader {
		return 0, nil
	}
	return floor, nil
}

// clearLedgerRecords counts the ledger records that name the members in
// clear: version 1 records, which no key erasure reaches.
func clearLedgerRecords(ctx context.Context, js jetstream.JetStream, m memberMatcher) (int, error) {
	stream, err := js.Stream(ctx, streams.LedgerStream)
	if err != nil {
		return 0, err
	}
	n := 0
	err = eachMessage(ctx, stream, nil, func(msg jetstream.Msg, _ *jetstream.MsgMetadata) {
		for line := range bytes.SplitSeq(msg.Data(), []byte{'\n'}) {
			// Version 2 holds tokens only: not decoded at all.
			if bytes.HasPrefix(line, []byte(`{"v":1,`)) && m.match("", nil, line) {
				n++
			}
		}
	})
	return n, err
}

// eachMessage calls fn with every message the stream holds on subjects
// (all when empty), in order.
func eachMessage(ctx context.Context, stream jetstream.Stream, subjects []string, fn func(jetstream.Msg, *jetstream.MsgMetadata)) error {
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: subjects})
	if err != nil {
		return err
	}
	if cons.CachedInfo().NumPending == 0 {
		return nil
	}
	iter, err := cons.Messages()
	if err != nil {
		return err
	}
	defer iter.Stop()
	for {
		msg, err := iter.Next(jetstream.NextContext(ctx))
		if err != nil {
			return err
		}
		meta, err := msg.Metadata()
		if err != nil {
			return err
		}
		fn(msg, meta)
		if meta.NumPending == 0 {
			return nil
		}
	}
}
