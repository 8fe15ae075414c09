package streams

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// LedgerReaderConfig says what a LedgerReader reads.
type LedgerReaderConfig struct {
	// From is the first ledger sequence read (0 or 1: from the start).
	From uint64
	// Subjects limits the reading to these partitions' subjects
	// (LedgerSubject); empty reads every partition.
	Subjects []string
	// Pull is how many messages are fetched ahead; 0 means 1,000.
	Pull int
	// Quarantine is the quarantine to apply; nil loads it.
	Quarantine *Quarantine
	// Keys reveal the members of version 2 records; nil opens the bucket.
	Keys *MemberKeys
}

// LedgerReader reads the ledger in stream order through an ordered consumer
// (which JetStream recreates by itself after a server restart), for the
// engine's rebuild, the projections and their rebuild alike. Each message
// is decoded only when its records are asked for, and checked against the
// quarantine.
type LedgerReader struct {
	iter       jetstream.MessagesContext
	quarantine Quarantine
	keys       *MemberKeys
	pending    uint64
}

// NewLedgerReader starts reading the ledger as cfg says. Stop it when done.
func NewLedgerReader(ctx context.Context, js jetstream.JetStream, cfg LedgerReaderConfig) (*LedgerReader, error) {
	r := &LedgerReader{}
	if cfg.Quarantine != nil {
		r.quarantine = *cfg.Quarantine
	} else {
		q, err := LoadQuarantine(ctx, js)
		if err != nil {
			return nil, err
		}
		r.quarantine = q
	}
	r.keys = cfg.Keys
	if r.keys == nil {
		r.keys = ReadMemberKeys(js)
	}
	occ := jetstream.OrderedConsumerConfig{FilterSubjects: cfg.Subjects}
	if cfg.From > 1 {
		occ.DeliverPolicy, occ.OptStartSeq = jetstream.DeliverByStartSequencePolicy, cfg.From
	}
	cons, err := js.OrderedConsumer(ctx, LedgerStream, occ)
	if err != nil {
		return nil, fmt.Errorf("%s consumer from seq %d: %w", LedgerStream, max(cfg.From, 1), err)
	}
	r.pending = cons.CachedInfo().NumPending
	pull := cfg.Pull
	if pull <= 0 {
		pull = 1000
	}
	if r.iter, err = cons.Messages(jetstream.PullMaxMessages(pull)); err != nil {
		return nil, fmt.Errorf("read %s: %w", LedgerStream, err)
	}
	return r, nil
}

// Pending is how many messages there were to read when the reader started:
// with none, Next would wait for the next append.
func (r *LedgerReader) Pending() uint64 { return r.pending }

// Next returns the next message, waiting for one until ctx ends.
func (r *LedgerReader) Next(ctx context.Context) (LedgerMessage, error) {
	msg, err := r.iter.Next(jetstream.NextContext(ctx))
	if err != nil {
		if ctx.Err() != nil {
			return LedgerMessage{}, ctx.Err()
		}
		return LedgerMessage{}, err
	}
	meta, err := msg.Metadata()
	if err != nil {
		return LedgerMessage{}, fmt.Errorf("%s message metadata: %w", LedgerStream, err)
	}
	return LedgerMessage{Seq: meta.Sequence.Stream, Subject: msg.Subject(), Stored: meta.Timestamp.UTC(),
		Pending: meta.NumPending, data: msg.Data(), quarantine: r.quarantine, keys: r.keys}, nil
}

// Stop ends the reading.
func (r *LedgerReader) Stop() { r.iter.Stop() }

// LedgerMessage is one message of the ledger as a LedgerReader read it.
type LedgerMessage struct {
	Seq     uint64
	Subject string
	Stored  time.Time
	// Pending is how many messages were left after this one when it was
	// delivered.
	Pending    uint64
	data       []byte
	quarantine Quarantine
	keys       *MemberKeys
}

// Records decodes the message's records, with Seq and Stored set, and
// checks them (Quarantine.Decode): skipped is true, with no records, for a
// message the quarantine sets aside.
func (m LedgerMessage) Records() (recs []LedgerRecord, skipped bool, err error) {
	recs, skipped, err = m.quarantine.Decode(m.Seq, m.Subject, m.data, m.keys)
	if err != nil {
		return nil, false, fmt.Errorf("%s seq %d: %w", LedgerStream, m.Seq, err)
	}
	for i := range recs {
		recs[i].Seq, recs[i].Stored = m.Seq, m.Stored
	}
	return recs, skipped, nil
}
