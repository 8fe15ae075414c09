package handlers

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/pointsledger/loyalty/streams"
)

// A partition's input travels through the watermill router as runs: one
// message carries every input the partition had queued when it was sent
// (up to the room left in its batch), in stream order, so that the
// router's work per message (a goroutine, its context values, the
// middleware, the hand-offs) is paid once per run under load instead of
// once per event. A quiet partition sends runs of one.
//
// The payload is the run's inputs, each framed as
//
//	uvarint input seq | varint stored (Unix ns) | uvarint n | n bytes: the stored subject |
//	uvarint n | n bytes: the publisher's Nats-Msg-Id | uvarint n | n bytes: the event
//
// and the metadata says what it holds, for logs and tools. The handler
// reads the inputs from the payload and from nothing else.
const (
	// MetadataInputs is how many inputs the run holds.
	MetadataInputs = "loyalty_inputs"
	// MetadataFirstSeq and MetadataLastSeq are the input stream sequences
	// of its first and last input.
	MetadataFirstSeq = "loyalty_first_seq"
	MetadataLastSeq  = "loyalty_last_seq"
)

// newRunMessage is the watermill message of a run of inputs, with ctx as
// its context.
func newRunMessage(ctx context.Context, inputs []input) *message.Message {
	size := 0
	for _, in := range inputs {
		size += 5*binary.MaxVarintLen64 + len(in.rawSubject) + len(in.msgID) + len(in.data)
	}
	payload := make([]byte, 0, size)
	for _, in := range inputs {
		payload = binary.AppendUvarint(payload, in.seq)
		payload = binary.AppendVarint(payload, in.stored.UnixNano())
		payload = appendFramed(payload, in.rawSubject)
		payload = appendFramed(payload, in.msgID)
		payload = binary.AppendUvarint(payload, uint64(len(in.data)))
		payload = append(payload, in.data...)
	}
	first := strconv.FormatUint(inputs[0].seq, 10)
	msg := message.NewMessage(first, payload) // with an empty metadata map
	msg.Metadata[MetadataInputs] = strconv.Itoa(len(inputs))
	msg.Metadata[MetadataFirstSeq] = first
	msg.Metadata[MetadataLastSeq] = strconv.FormatUint(inputs[len(inputs)-1].seq, 10)
	msg.SetContext(ctx)
	return msg
}

func appendFramed(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// errBadRun is a message payload that is not a run of inputs.
var errBadRun = errors.New("not a run of inputs")

// inputsOfMessage reads the run of inputs a watermill message carries. The
// events are slices of the payload, not copies.
func inputsOfMessage(msg *message.Message) ([]input, error) {
	r := runReader{b: msg.Payload}
	var inputs []input
	for len(r.b) > 0 {
		var in input
		in.seq = r.uvarint()
		in.stored = time.Unix(0, r.varint()).UTC()
		in.rawSubject = string(r.framed())
		in.msgID = string(r.framed())
		in.data = r.framed()
		if r.err != nil {
			return nil, fmt.Errorf("message %s, input %d: %w", msg.UUID, len(inputs), r.err)
		}
		var err error
		if in.subject, err = streams.ParseStoredInput(in.rawSubject); err != nil {
			return nil, fmt.Errorf("message %s, input %d: %w: %w", msg.UUID, len(inputs), errBadRun, err)
		}
		inputs = append(inputs, in)
	}
	if len(inputs) == 0 {
		return nil, fmt.Errorf("message %s: %w: no input", msg.UUID, errBadRun)
	}
	return inputs, nil
}

// runReader reads a run's framing, remembering the first error.
type runReader struct {
	b   []byte
	err error
}

func (r *runReader) uvarint() uint64 { return r.skip(binary.Uvarint(r.b)) }

func (r *runReader) varint() int64 {
	v, n := binary.Varint(r.b)
	return int64(r.skip(uint64(v), n))
}

// skip passes the n bytes a varint v took, or fails for n <= 0.
func (r *runReader) skip(v uint64, n int) uint64 {
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *runReader) framed() []byte {
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		r.fail()
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *runReader) fail() {
	if r.err == nil {
		r.err = fmt.Errorf("%w: truncated or malformed framing", errBadRun)
	}
	r.b = nil
}
