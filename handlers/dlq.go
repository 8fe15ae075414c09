package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/streams"
)

// ReplayBucket records which dead letters were replayed, so that a replay
// is done once: key dlq-<sequence>, value a Replayed.
const ReplayBucket = "LOYALTY_DLQ_REPLAYS"

// DeadLetter is a message of the dead-letter stream, as its headers describe
// it. ID is its sequence in LOYALTY_DLQ.
type DeadLetter struct {
	ID              uint64        `json:"id"`
	At              time.Time     `json:"at"`
	Reason          domain.Reason `json:"reason"`
	Error           string        `json:"error"`
	OriginalSubject string        `json:"original_subject"`
	InputSeq        uint64        `json:"input_seq"`
	EventID         string        `json:"event_id,omitempty"`
	MsgID           string        `json:"msg_id,omitempty"`
	Truncated       bool          `json:"truncated,omitempty"`
	Replayed        *Replayed     `json:"replayed,omitempty"`
	Body            []byte        `json:"-"`
}

// Replayed is when a dead letter was published again, and where it landed.
type Replayed struct {
	At       time.Time `json:"at"`
	InputSeq uint64    `json:"input_seq"`
	// Of names the dead letter replayed (deadLetterIdentity): a dead-letter
	// stream made again numbers its messages from 1, and a record of the
	// old stream's message must not pass for the new one's. Empty in
	// records written before it was kept.
	Of string `json:"of,omitempty"`
}

// deadLetterIdentity tells a dead letter from another with the same
// sequence in a dead-letter stream made again: the input it came from and
// when it was stored.
func deadLetterIdentity(dl DeadLetter) string {
	return strconv.FormatUint(dl.InputSeq, 10) + "@" + dl.At.UTC().Format(time.RFC3339Nano)
}

// DeadLetters reads and replays the dead-letter stream.
type DeadLetters struct {
	js      jetstream.JetStream
	replays jetstream.KeyValue
}

// OpenDeadLetters opens the dead-letter stream and the replay record.
func OpenDeadLetters(ctx context.Context, js jetstream.JetStream) (*DeadLetters, error) {
	kv, err := streams.KeyValueBucket(ctx, js, jetstream.KeyValueConfig{
		Bucket:      ReplayBucket,
		Description: "Dead letters replayed into LOYALTY_IN",
		History:     1,
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("replay record %s: %w", ReplayBucket, err)
	}
	return &DeadLetters{js: js, replays: kv}, nil
}

// ErrNoDeadLetter is returned for an ID the stream does not hold.
var ErrNoDeadLetter = errors.New("no such dead letter")

// Get returns one dead letter.
func (d *DeadLetters) Get(ctx context.Context, id uint64) (DeadLetter, error) {
	s, err := d.js.Stream(ctx, streams.DeadLetterStream)
	if err != nil {
		return DeadLetter{}, err
	}
	raw, err := s.GetMsg(ctx, id)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return DeadLetter{}, fmt.Errorf("%w: %d is not in %s", ErrNoDeadLetter, id, streams.DeadLetterStream)
	}
	if err != nil {
		return DeadLetter{}, err
	}
	dl := parseDeadLetter(raw.Sequence, raw.Time, raw.Header, raw.Data)
	dl.Replayed, err = d.replayed(ctx, dl)
	return dl, err
}

// List returns the dead letters after the given ID, oldest first, at most
// limit of them (0: all), only those of reason when it is not empty.
func (d *DeadLetters) List(ctx context.Context, after uint64, reason domain.Reason, limit int) ([]DeadLetter, error) {
	s, err := d.js.Stream(ctx, streams.DeadLetterStream)
	if err != nil {
		return nil, err
	}
	filter := streams.DeadLetterPrefix + ".>"
	if reason != "" {
		filter = streams.DeadLetterSubject(reason)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return nil, err
	}
	var out []DeadLetter
	if info.State.LastSeq <= after {
		return out, nil
	}
	cons, err := d.js.OrderedConsumer(ctx, streams.DeadLetterStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{filter}, DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: after + 1,
	})
	if err != nil {
		return nil, err
	}
	for limit == 0 || len(out) < limit {
		batch, err := cons.FetchNoWait(500)
		if err != nil {
			return nil, err
		}
		n := 0
		for msg := range batch.Messages() {
			n++
			meta, err := msg.Metadata()
			if err != nil {
				return nil, err
			}
			dl := parseDeadLetter(meta.Sequence.Stream, meta.Timestamp, msg.Headers(), msg.Data())
			if dl.Replayed, err = d.replayed(ctx, dl); err != nil {
				return nil, err
			}
			out = append(out, dl)
			if limit > 0 && len(out) == limit {
				break
			}
		}
		if err := batch.Error(); err != nil {
			return nil, err
		}
		if n == 0 {
			break
		}
	}
	return out, nil
}

// Newest returns the newest dead letters with an ID between after and
// before (exclusive; before 0: no upper bound), of reason when it is not
// empty, at most limit of them (0: all), newest first, and how many there
// are in that range in all. It reads the range's headers only, then the
// dead letters it returns.
func (d *DeadLetters) Newest(ctx context.Context, after, before uint64, reason domain.Reason, limit int) ([]DeadLetter, int, error) {
	s, err := d.js.Stream(ctx, streams.DeadLetterStream)
	if err != nil {
		return nil, 0, err
	}
	filter := streams.DeadLetterPrefix + ".>"
	if reason != "" {
		filter = streams.DeadLetterSubject(reason)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return nil, 0, err
	}
	if info.State.Msgs == 0 || info.State.LastSeq <= after {
		return nil, 0, nil
	}
	cons, err := d.js.OrderedConsumer(ctx, streams.DeadLetterStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{filter}, DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: after + 1,
		HeadersOnly: true,
	})
	if err != nil {
		return nil, 0, err
	}
	var seqs []uint64 // the newest limit of the range, oldest first
	total := 0
	for done := false; !done; {
		batch, err := cons.FetchNoWait(1000)
		if err != nil {
			return nil, 0, err
		}
		n := 0
		for msg := range batch.Messages() {
			n++
			meta, err := msg.Metadata()
			if err != nil {
				return nil, 0, err
			}
			seq := meta.Sequence.Stream
			if before > 0 && seq >= before {
				done = true
				break
			}
			total++
			if seqs = append(seqs, seq); limit > 0 && len(seqs) > limit {
				seqs = seqs[1:]
			}
		}
		if err := batch.Error(); err != nil {
			return nil, 0, err
		}
		done = done || n == 0
	}
	out := make([]DeadLetter, 0, len(seqs))
	for i := len(seqs) - 1; i >= 0; i-- {
		dl, err := d.Get(ctx, seqs[i])
		if err != nil {
			return nil, 0, err
		}
		out = append(out, dl)
	}
	return out, total, nil
}

func parseDeadLetter(seq uint64, at time.Time, h nats.Header, body []byte) DeadLetter {
	inputSeq, _ := strconv.ParseUint(h.Get(HeaderInputSeq), 10, 64)
	return DeadLetter{
		ID: seq, At: at.UTC(), Reason: domain.Reason(h.Get(HeaderReason)), Error: h.Get(HeaderError),
		OriginalSubject: h.Get(HeaderOriginalSubject), InputSeq: inputSeq, EventID: h.Get(HeaderEventID),
		MsgID: h.Get(HeaderOriginalMsgID), Truncated: h.Get(HeaderTruncated) != "", Body: body,
	}
}

func replayKey(id uint64) string { return "dlq-" + strconv.FormatUint(id, 10) }

func (d *DeadLetters) replayed(ctx context.Context, dl DeadLetter) (*Replayed, error) {
	id := dl.ID
	entry, err := d.replays.Get(ctx, replayKey(id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r Replayed
	if err := json.Unmarshal(entry.Value(), &r); err != nil {
		return nil, fmt.Errorf("replay record %s: %w", replayKey(id), err)
	}
	if r.Of != "" && r.Of != deadLetterIdentity(dl) {
		return nil, nil // of the message this sequence had in an earlier stream
	}
	return &r, nil
}

// Replay publishes the dead letter's event again, as it was published, on
// its original subject, for the engine to apply after a fix to the program
// or the contract. A dead letter is replayed once: replaying it again
// returns the first replay with done false. The original is read from
// LOYALTY_IN when the dead letter holds only a cut copy.
//
// Its message id is replay-<ID>-<input seq>, and the engine recognises an event id it
// has applied, so a replay repeated after a crash between publishing and
// recording it is harmless.
func (d *DeadLetters) Replay(ctx context.Context, id uint64) (r Replayed, done bool, err error) {
	dl, err := d.Get(ctx, id)
	if err != nil {
		return Replayed{}, false, err
	}
	if dl.Replayed != nil {
		return *dl.Replayed, false, nil
	}
	body := dl.Body
	if dl.Truncated {
		in, err := d.js.Stream(ctx, streams.InputStream)
		if err != nil {
			return Replayed{}, false, err
		}
		raw, err := in.GetMsg(ctx, dl.InputSeq)
		if err != nil {
			return Replayed{}, false, fmt.Errorf("dead letter %d holds a cut copy and the original (%s seq %d) cannot be read: %w",
				id, streams.InputStream, dl.InputSeq, err)
		}
		body = raw.Data
	}
	subject, err := replaySubject(dl.OriginalSubject)
	if err != nil {
		return Replayed{}, false, fmt.Errorf("dead letter %d cannot be replayed: %s header: %w", id, HeaderOriginalSubject, err)
	}
	msg := &nats.Msg{Subject: subject, Data: body, Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, "replay-"+strconv.FormatUint(id, 10)+"-"+strconv.FormatUint(dl.InputSeq, 10))
	ack, err := d.js.PublishMsg(ctx, msg)
	if err != nil {
		return Replayed{}, false, fmt.Errorf("replay dead letter %d to %s: %w", id, msg.Subject, err)
	}
	r = Replayed{At: time.Now().UTC(), InputSeq: ack.Sequence, Of: deadLetterIdentity(dl)}
	value, err := json.Marshal(r)
	if err != nil {
		return Replayed{}, false, err
	}
	if _, err := d.replays.Put(ctx, replayKey(id), value); err != nil {
		return Replayed{}, false, fmt.Errorf("dead letter %d was replayed (%s seq %d) but not recorded as such: %w",
			id, streams.InputStream, ack.Sequence, err)
	}
	return r, true, nil
}

// replaySubject is the subject a dead letter is published again on: the
// one it was published on. Dead letters from before that was recorded hold
// the stored subject, whose partition the stream's transform adds again.
func replaySubject(original string) (string, error) {
	if stored, err := streams.ParseStoredInput(original); err == nil {
		return stored.PublishSubject(), nil
	}
	if _, err := streams.ParsePublishedInput(original); err != nil {
		return "", err
	}
	return original, nil
}
