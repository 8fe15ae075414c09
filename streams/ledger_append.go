package streams

import (
	"context"
	"errors"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// LedgerEngineHeader names the engine that appended a ledger message, for
// operators tracing a partition's writers across a cluster.
const LedgerEngineHeader = "Loyalty-Engine"

// LedgerAppend is one append to a partition's ledger subject: one message
// holding the records of a run of the partition's input.
type LedgerAppend struct {
	Partition int
	// Message is the encoded records (EncodeLedgerMessage, AppendLedgerLine).
	Message []byte
	// FirstInput and LastInput are the input sequences of the first and
	// last record: the message id, so that JetStream drops a second append
	// of the same records within its duplicate window.
	FirstInput, LastInput uint64
	// ExpectLast is the partition's last ledger sequence (0 for none): the
	// append fails if another writer appended since (a fence, not a lock).
	ExpectLast uint64
	// Engine is the appending engine's id; "" leaves the header out.
	Engine string
}

// AppendLedger publishes a, the only way anything writes the ledger. The
// ack's Duplicate means the same records were appended before; an error
// for which IsWrongLastSequence holds means another writer appended since
// a.ExpectLast.
func AppendLedger(ctx context.Context, js jetstream.JetStream, a LedgerAppend) (*jetstream.PubAck, error) {
	// The headers of jetstream.WithMsgID, WithExpectLastSequencePerSubject
	// and WithExpectStream, set directly: the options cost allocations on
	// every append.
	msg := &nats.Msg{Subject: LedgerSubject(a.Partition), Data: a.Message, Header: nats.Header{
		jetstream.MsgIDHeader: {"in-" + strconv.FormatUint(a.FirstInput, 10) + "-" +
			strconv.FormatUint(a.LastInput, 10)},
		jetstream.ExpectedLastSubjSeqHeader: {strconv.FormatUint(a.ExpectLast, 10)},
		jetstream.ExpectedStreamHeader:      {LedgerStream},
	}}
	if a.Engine != "" {
		msg.Header[LedgerEngineHeader] = []string{a.Engine}
	}
	return js.PublishMsg(ctx, msg)
}

// IsWrongLastSequence reports whether err is JetStream refusing an append
// whose expected last sequence was not the subject's: another writer
// appended first.
func IsWrongLastSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}
