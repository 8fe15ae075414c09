package handlers

import (
	"context"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/streams"
)

// Dead-letter headers. The original payload is kept byte for byte as the
// message body, so a dead letter can be replayed after a fix.
const (
	HeaderReason = "Loyalty-Reason"
	HeaderError  = "Loyalty-Error"
	// HeaderOriginalSubject is the subject the input was published on;
	// HeaderStoredSubject the one the input stream stored it under, with
	// the member's partition the stream's transform put in.
	HeaderOriginalSubject = "Loyalty-Original-Subject"
	HeaderStoredSubject   = "Loyalty-Stored-Subject"
	HeaderInputSeq        = "Loyalty-Input-Seq"
	HeaderEventID         = "Loyalty-Event-Id"
	// HeaderOriginalMsgID is the input's Nats-Msg-Id, when it had one: the
	// id upstream gave the message, even one whose body cannot be read.
	HeaderOriginalMsgID = "Loyalty-Original-Msg-Id"
	// HeaderTruncated is set, to the payload's size, when the payload was
	// too large to be copied whole into a dead letter: it is cut, and the
	// original stays in LOYALTY_IN at Loyalty-Input-Seq.
	HeaderTruncated = "Loyalty-Truncated"
)

// maxErrorHeader bounds the Loyalty-Error header.
const maxErrorHeader = 1024

// deadLetterRoom is what a dead letter's headers may take of the server's
// payload limit; the body gets the rest.
const deadLetterRoom = 8 << 10

// publishDeadLetter stores a rejected input with its reason. The message id
// is the input sequence, so a redelivered input is dead-lettered once.
func (e *Engine) publishDeadLetter(ctx context.Context, in input, eventID string, rej *domain.RejectedError) error {
	msg := &nats.Msg{
		Subject: streams.DeadLetterSubject(rej.Reason),
		Data:    in.data,
		Header:  nats.Header{},
	}
	// The input can be as large as the server takes; with the headers it
	// would not be, and a dead letter that can never be published would stop
	// the partition.
	if room := int(e.js.Conn().MaxPayload()) - deadLetterRoom; len(msg.Data) > room {
		msg.Header.Set(HeaderTruncated, strconv.Itoa(len(msg.Data)))
		msg.Data = msg.Data[:max(room, 0)]
	}
	msg.Header.Set(HeaderReason, string(rej.Reason))
	msg.Header.Set(HeaderError, truncate(rej.Error(), maxErrorHeader))
	msg.Header.Set(HeaderOriginalSubject, publishedSubject(in))
	msg.Header.Set(HeaderStoredSubject, in.rawSubject)
	msg.Header.Set(HeaderInputSeq, strconv.FormatUint(in.seq, 10))
	if eventID != "" {
		msg.Header.Set(HeaderEventID, eventID)
	}
	if id := in.msgID; id != "" {
		msg.Header.Set(HeaderOriginalMsgID, truncate(id, maxErrorHeader))
	}
	if _, err := e.js.PublishMsg(ctx, msg, jetstream.WithMsgID(fmt.Sprintf("dlq-%d", in.seq))); err != nil {
		return fmt.Errorf("dead-letter input seq %d: %w", in.seq, err)
	}
	e.cfg.Logger.Info("event dead-lettered", "reason", rej.Reason, "input_seq", in.seq, "error", rej.Error())
	return nil
}

// truncate cuts s to at most n bytes, at a UTF-8 boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("...")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// publishedSubject is the subject in was published on: its stored subject
// without the partition (the intake hands on only inputs whose subject
// parsed), or the stored one when it holds none.
func publishedSubject(in input) string {
	if in.subject.TypeToken == "" {
		return in.rawSubject
	}
	return in.subject.PublishSubject()
}
