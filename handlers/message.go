package handlers

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pointsledger/loyalty/streams"
)

// An input travels through the watermill router as a message of its own:
// the payload is the event as published, the metadata what JetStream told
// about it. The handler reads nothing else.
const (
	// MetadataSubject is the subject the input stream stored the event on
	// (loyalty.in.<partition>.<type-token>.<member-key>).
	MetadataSubject = "loyalty_subject"
	// MetadataInputSeq is the event's input stream sequence.
	MetadataInputSeq = "loyalty_input_seq"
	// MetadataStored is when the input stream stored it, in Unix
	// nanoseconds.
	MetadataStored = "loyalty_stored_ns"
	// MetadataMsgID is the publisher's Nats-Msg-Id, when it set one.
	MetadataMsgID = jetstream.MsgIDHeader
)

// newInputMessage is the watermill message of in, with ctx as its context.
func newInputMessage(ctx context.Context, in input) *message.Message {
	seq := strconv.FormatUint(in.seq, 10)
	msg := message.NewMessage(seq, in.data) // with an empty metadata map
	msg.Metadata[MetadataSubject] = in.rawSubject
	msg.Metadata[MetadataInputSeq] = seq
	msg.Metadata[MetadataStored] = strconv.FormatInt(in.stored.UnixNano(), 10)
	if in.msgID != "" {
		msg.Metadata[MetadataMsgID] = in.msgID
	}
	msg.SetContext(ctx)
	return msg
}

// inputOfMessage reads the input a watermill message carries.
func inputOfMessage(msg *message.Message) (input, error) {
	in := input{data: msg.Payload, rawSubject: msg.Metadata.Get(MetadataSubject), msgID: msg.Metadata.Get(MetadataMsgID)}
	var err error
	if in.subject, err = streams.ParseStoredInput(in.rawSubject); err != nil {
		return input{}, fmt.Errorf("message %s: metadata %s: %w", msg.UUID, MetadataSubject, err)
	}
	if in.seq, err = strconv.ParseUint(msg.Metadata.Get(MetadataInputSeq), 10, 64); err != nil {
		return input{}, fmt.Errorf("message %s: metadata %s: %w", msg.UUID, MetadataInputSeq, err)
	}
	ns, err := strconv.ParseInt(msg.Metadata.Get(MetadataStored), 10, 64)
	if err != nil {
		return input{}, fmt.Errorf("message %s: metadata %s: %w", msg.UUID, MetadataStored, err)
	}
	in.stored = time.Unix(0, ns).UTC()
	return in, nil
}
