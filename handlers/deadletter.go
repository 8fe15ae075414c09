package handlers

import (
	"context"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/streams"
)

// Dead-letter headers. The original payload is kept byte for byte as the
// message body, so a dead letter can be replayed after a fix.
const (
	HeaderReason          = "Loyalty-Reason"
	HeaderError           = "Loyalty-Error"
	HeaderOriginalSubject = "Loyalty-Original-Subject"
	HeaderInputSeq        = "Loyalty-Input-Seq"
	HeaderEventID         = "Loyalty-Event-Id"
)

// publishDeadLetter stores a rejected input with its reason. The message id
// is the input sequence, so a redelivered input is dead-lettered once.
func (e *Engine) publishDeadLetter(ctx context.Context, in input, eventID string, rej *domain.RejectedError) error {
	msg := &nats.Msg{
		Subject: streams.DeadLetterSubject(rej.Reason),
		Data:    in.msg.Data(),
		Header:  nats.Header{},
	}
	msg.Header.Set(HeaderReason, string(rej.Reason))
	msg.Header.Set(HeaderError, rej.Error())
	msg.Header.Set(HeaderOriginalSubject, in.msg.Subject())
	msg.Header.Set(HeaderInputSeq, strconv.FormatUint(in.seq, 10))
	if eventID != "" {
		msg.Header.Set(HeaderEventID, eventID)
	}
	if _, err := e.js.PublishMsg(ctx, msg, jetstream.WithMsgID(fmt.Sprintf("dlq-%d", in.seq))); err != nil {
		return fmt.Errorf("dead-letter input seq %d: %w", in.seq, err)
	}
	e.cfg.Logger.Info("event dead-lettered", "reason", rej.Reason, "input_seq", in.seq, "error", rej.Error())
	return nil
}
