package handlers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/handlers/keyindex"
	"github.com/pointsledger/loyalty/streams"
)

// Reasons the engine itself adds to the dead-letter reasons of domain and
// streams.
const (
	ReasonDuplicateEvent  domain.Reason = "duplicate_event"
	ReasonEventIDConflict domain.Reason = "event_id_conflict"
	ReasonSubjectMismatch domain.Reason = "subject_mismatch"
	ReasonInternalError   domain.Reason = "internal_error"
	// ReasonRecordTooLarge: the rules made more facts for one input than a
	// ledger message can hold (a member with very many orders released or
	// expiring at once). Retrying would stall the partition for good.
	ReasonRecordTooLarge domain.Reason = "record_too_large"
)

// DeadLetterReasons lists every reason a dead letter can carry.
func DeadLetterReasons() []domain.Reason {
	all := append([]domain.Reason{}, streams.WireReasons...)
	all = append(all, domain.RuleReasons...)
	return append(all, ReasonDuplicateEvent, ReasonEventIDConflict, ReasonSubjectMismatch, ReasonInternalError, ReasonRecordTooLarge)
}

// errFenced means another writer appended to the partition's ledger subject.
// EngineHeader names, on a ledger message, the engine that appended it when
// engines share the partitions: an operator (and the cluster fault test)
// can tell from the ledger which engine wrote a partition when.
const EngineHeader = streams.LedgerEngineHeader

var errFenced = errors.New("partition ledger was appended by another writer")

// input is a delivered input message with what JetStream knows about it.
type input struct {
	data []byte
	// rawSubject is the subject as the input stream stored it, subject
	// the same parsed.
	rawSubject string
	subject    streams.StoredInput
	// msgID is the publisher's Nats-Msg-Id, if it set one.
	msgID  string
	seq    uint64
	stored time.Time
}

// inputOf is the input of a message of the input stream: a CloudEvent in
// binary mode is taken in its structured form (see
// streams.StructuredFromBinary).
func inputOf(msg jetstream.Msg, subject streams.StoredInput, meta *jetstream.MsgMetadata) input {
	h := msg.Headers()
	data := msg.Data()
	if structured, ok := streams.StructuredFromBinary(h, data); ok {
		data = structured
	}
	return input{data: data, rawSubject: msg.Subject(), subject: subject, msgID: h.Get(jetstream.MsgIDHeader),
		seq: meta.Sequence.Stream, stored: meta.Timestamp}
}

// verdict is what handling an input decided; exactly one field is set.
type verdict struct {
	deadLetter  *domain.RejectedError
	redelivered bool
	record      *streams.LedgerRecord
	// transient: the key index could not tell yet (another partition holds
	// a key, or the store failed); the input is offered again.
	transient error
}

// handle takes one input through decode, validation, de-duplication and the
// rules, then stages its facts for the partition's next ledger append (see
// commit) or dead-letters it, and returns which of outcomeApplied,
// outcomeRedelivered or outcomeDeadLettered it was. An error return is
// transient (NATS unavailable): the input is retried.
func (e *Engine) handle(ctx context.Context, p *partition, in input) (string, error) {
	if p.stale {
		p.beginStaging() // held already: the state has been ahead of the ledger since
		if err := e.resync(ctx, p); err != nil {
			return "", err
		}
	}
	ev, v := e.decide(p, in)
	switch {
	case v.transient != nil:
		e.keysBroken(v.transient)
		return "", v.transient
	case v.redelivered:
		e.metrics.events.WithLabelValues(string(ev.Type), outcomeRedelivered).Inc()
		return outcomeRedelivered, nil
	case v.deadLetter != nil:
		outcome, err := e.deadLetter(ctx, in, ev, v.deadLetter)
		if err == nil {
			e.answerDeadLetter(p, ev, v.deadLetter)
		}
		return outcome, err
	}
	if err := e.ensureMemberKeys(ctx, v.record, domain.SettlesForErased(ev.Type)); errors.Is(err, streams.ErrMemberErased) {
		return e.deadLetter(ctx, in, ev, &domain.RejectedError{Reason: domain.ReasonMemberErased,
			Detail: "the member was erased: events for the id are not taken"})
	} else if err != nil {
		return "", err
	}
	encoded, err := streams.AppendSealedLedgerRecord(p.encoded[:0], *v.record, e.memberKeys)
	p.encoded = encoded
	if errors.Is(err, streams.ErrMemberKeysUnavailable) {
		return "", err // NATS is away: the input is delivered again
	}
	if err != nil {
		// Nothing was staged: the rules made a record the ledger cannot
		// hold (a time outside years 0-9999), which no retry changes.
		return e.deadLetter(ctx, in, ev, &domain.RejectedError{Reason: ReasonInternalError, Detail: "encode ledger record: " + err.Error()})
	}
	if len(encoded) > e.maxRecord {
		// Nothing was staged: with what may be pending, the record would
		// not fit the server's payload limit, and no retry makes it fit.
		return e.deadLetter(ctx, in, ev, &domain.RejectedError{Reason: ReasonRecordTooLarge,
			Detail: fmt.Sprintf("its %d facts make a ledger record of %d bytes, more than the %d a ledger message can take", len(v.record.Facts), len(encoded), e.maxRecord)})
	}
	if err := e.indexVouchers(ctx, v.record); err != nil {
		return "", err
	}
	if err := p.stage(ev.Type, *v.record, encoded); err != nil {
		e.keysBroken(err)
		return "", fmt.Errorf("event %q: %w", ev.ID, err)
	}
	return outcomeApplied, nil
}

// deadLetter publishes a rejected input and counts it.
func (e *Engine) deadLetter(ctx context.Context, in input, ev domain.Event, rej *domain.RejectedError) (string, error) {
	if err := e.publishDeadLetter(ctx, in, ev.ID, rej); err != nil {
		return "", err
	}
	e.metrics.events.WithLabelValues(typeLabel(ev.Type), outcomeDeadLettered).Inc()
	e.metrics.deadLetters.WithLabelValues(string(rej.Reason)).Inc()
	return outcomeDeadLettered, nil
}

// decide works out what to do with an input without side effects.
func (e *Engine) decide(p *partition, in input) (ev domain.Event, v verdict) {
	defer func() {
		if r := recover(); r != nil {
			v = verdict{deadLetter: &domain.RejectedError{Reason: ReasonInternalError, Detail: fmt.Sprint("panic: ", r)}}
		}
	}()
	ev, rej := e.admit(in)
	if rej != nil {
		return ev, verdict{deadLetter: rej}
	}
	if rej, err := e.refuseErased(context.Background(), p, ev); err != nil {
		return ev, verdict{transient: err}
	} else if rej != nil {
		return ev, verdict{deadLetter: rej}
	}
	digest := streams.EventDigest(ev)
	p.keys.Begin(p.id)
	seen, ok, err := eventEntry(p.keys, ev.Type, ev.ID)
	if err != nil {
		return ev, verdict{transient: err}
	}
	if ok {
		switch {
		case seen.InputSeq == in.seq:
			return ev, verdict{redelivered: true}
		case seen.Held && seen.Partition != p.id:
			return ev, verdict{transient: fmt.Errorf("event %q: %w", ev.ID, keyindex.ErrHeld)}
		default:
			return ev, verdict{deadLetter: repeated(ev.ID, seen, digest)}
		}
	}
	known, err := knownOf(p.keys, ev)
	if err != nil {
		return ev, verdict{transient: err}
	}
	m, err := p.member(ev.MemberID)
	if err != nil {
		return ev, verdict{transient: err}
	}
	facts, err := domain.DecideKnown(m, ev, e.programs.Load().At(ev.OccurredAt), known)
	var rejected *domain.RejectedError
	if errors.As(err, &rejected) {
		return ev, verdict{deadLetter: rejected}
	} else if err != nil {
		return ev, verdict{deadLetter: &domain.RejectedError{Reason: ReasonInternalError, Detail: err.Error()}}
	}
	domain.GiveFollowUpIDs(facts, FollowUpIDs(e.idKey, ev.MemberID, ev.ID))
	var after *domain.Standing
	if !domain.IsReservedMemberID(ev.MemberID) {
		s := domain.StandingAfter(m, facts)
		after = &s
	}
	return ev, verdict{record: &streams.LedgerRecord{
		Partition: p.id, InputSeq: in.seq, InputStored: in.stored, EventID: ev.ID,
		EventDigest: digest, MemberID: ev.MemberID, EventType: ev.Type, After: after, Facts: facts,
	}}
}

// repeated is the rejection of an event whose id the index holds.
func repeated(id string, seen keyindex.Entry, digest uint64) *domain.RejectedError {
	if seen.Digest == digest {
		return &domain.RejectedError{Reason: ReasonDuplicateEvent, Field: "id",
			Detail: fmt.Sprintf("event %q was already applied (input seq %d)", id, seen.InputSeq)}
	}
	return &domain.RejectedError{Reason: ReasonEventIDConflict, Field: "id",
		Detail: fmt.Sprintf("event %q was applied (input seq %d) with a different body", id, seen.InputSeq)}
}

// knownOf asks the key index about the event's order and request.
func knownOf(keys *keyindex.Index, ev domain.Event) (domain.Known, error) {
	var known domain.Known
	order, request := domain.KeysOf(ev)
	if order != nil {
		_, ok, err := keys.Get(*order)
		if err != nil {
			return known, err
		}
		known.Order = ok
	}
	if request != nil {
		e, ok, err := keys.Get(*request)
		if err != nil {
			return known, err
		}
		if ok {
			known.Request = e.Request
		}
	}
	return known, nil
}

// admit decodes and validates an input on its own.
func (e *Engine) admit(in input) (domain.Event, *domain.RejectedError) {
	var rejected *domain.RejectedError
	ev, err := streams.DecodeEvent(in.data)
	if errors.As(err, &rejected) {
		return ev, rejected
	} else if err != nil {
		return ev, &domain.RejectedError{Reason: streams.ReasonMalformedJSON, Detail: err.Error()}
	}
	if t, ok := streams.TypeForToken(in.subject.TypeToken); !ok || t != ev.Type {
		return ev, &domain.RejectedError{Reason: ReasonSubjectMismatch, Field: "type",
			Detail: fmt.Sprintf("published on type token %q but the event is %s", in.subject.TypeToken, ev.Type)}
	}
	if !streams.IsMemberKey(in.subject.MemberKey, ev.MemberID) {
		return ev, &domain.RejectedError{Reason: ReasonSubjectMismatch, Field: "member_id",
			Detail: "the subject's member key is not the key of data.member_id (see streams.MemberKey)"}
	}
	if err := domain.Validate(ev, in.stored); errors.As(err, &rejected) {
		return ev, rejected
	} else if err != nil {
		return ev, &domain.RejectedError{Reason: domain.ReasonInvalidField, Detail: err.Error()}
	}
	return ev, nil
}

// errUncommitted means the partition's staged records could not be appended
// to the ledger. They may or may not be there (an append whose
// acknowledgement was lost): the partition state has been, or must be, re-read
// from the ledger, and the inputs since the last acknowledged one must be
// delivered again.
var errUncommitted = errors.New("staged ledger records were not committed")

// slowAppend is the append time past which an append is logged: far above
// the milliseconds one takes, so it marks a server or disk in trouble.
const slowAppend = time.Second

// commit appends the partition's staged records to its ledger subject as one
// message, expecting the partition's last ledger sequence there: if another
// writer got in between, the append fails, and so does every later append of
// a process that no longer owns the partition. On any failure the staged
// records are dropped and the state is re-read from the ledger; the error
// wraps errUncommitted (and errFenced when another writer appended).
func (e *Engine) commit(ctx context.Context, p *partition) error {
	if len(p.staged) == 0 {
		if !p.stale {
			p.answerDeadLetters(true)
			p.endStaging()
		}
		return nil
	}
	start := time.Now()
	ack, err := streams.AppendLedger(ctx, e.js, streams.LedgerAppend{Partition: p.id, Message: p.pending,
		FirstInput: p.staged[0].inputSeq, LastInput: p.staged[len(p.staged)-1].inputSeq, ExpectLast: p.ledgerSeq, Engine: e.engineID})
	took := time.Since(start)
	if took > slowAppend {
		e.cfg.Logger.Warn("slow ledger append", "partition", p.id, "records", len(p.staged), "took", took.Round(time.Millisecond), "err", err)
	}
	if err == nil && !ack.Duplicate {
		p.ledgerSeq = ack.Sequence
		if kerr := p.keys.Commit(p.id, ack.Sequence); kerr != nil {
			// The records are in the ledger; their keys stay held until
			// the partition is re-read, or the engine stops (a broken
			// store is folded again at the next start).
			e.cfg.Logger.Error("key index not written; the partition is re-read", "partition", p.id, "err", kerr)
			p.stale = true
			e.keysBroken(kerr)
		}
		e.committed(p.staged, took)
		e.answerCommitted(p)
		followUps := followUpsOf(p.staged)
		p.answerDeadLetters(true)
		p.clearStaged()
		p.endStaging()
		e.snapshot(p)
		e.queueFollowUps(ctx, p, followUps) // after the view: a full queue must not hold up readers
		return nil
	}
	n := len(p.staged)
	p.clearStaged()
	p.answerDeadLetters(false)
	p.stale = true
	switch {
	case err == nil:
		// An append of these very records whose acknowledgement was lost.
		err = fmt.Errorf("%w: %d records were appended before", errUncommitted, n)
	case streams.IsWrongLastSequence(err):
		err = fmt.Errorf("%w: %d records: %w", errUncommitted, n, errFenced)
	default:
		err = fmt.Errorf("%w: %d records: append to ledger: %w", errUncommitted, n, err)
	}
	if rerr := e.resync(ctx, p); rerr != nil {
		return fmt.Errorf("%w; re-reading the partition failed (retried with the next input): %w", err, rerr)
	}
	p.endStaging()
	return err
}

// committed counts what a successful append put in the ledger.
func (e *Engine) committed(staged []stagedRecord, took time.Duration) {
	for _, r := range staged {
		e.metrics.events.WithLabelValues(string(r.eventType), outcomeApplied).Inc()
		e.countFacts(r.facts)
	}
	e.metrics.ledgerRecords.Add(float64(len(staged)))
	e.metrics.ledgerBatch.Observe(float64(len(staged)))
	e.metrics.ledgerAppend.Observe(took.Seconds())
}

// resync replaces the partition's state with a fresh fold of its ledger,
// whose keys past the index's checkpoint go into the index; only then are
// the keys of records it staged let go (those that reached the ledger are
// in the index by then).
func (e *Engine) resync(ctx context.Context, p *partition) error {
	parts, err := rebuild(ctx, e.js, []int{p.id}, p.keys, e.memory)
	if err != nil {
		return err
	}
	p.keys.Release(p.id)
	p.replaceState(parts[p.id])
	e.cfg.Logger.Warn("partition state re-read from the ledger", "partition", p.id, "ledger_seq", p.ledgerSeq)
	// An append whose answer was lost may have stored records: their
	// follow-ups were never queued, and nothing would publish them before
	// the next start. Those of the ledger folded since the snapshot are
	// queued again; a copy of one published already is recognised.
	e.queueFollowUps(ctx, p, slices.Clone(p.followUps))
	return nil
}

// snapshot writes the partition's snapshot when one is due. A store that
// fails stops the engine (keysBroken): its state can no longer be kept.
func (e *Engine) snapshot(p *partition) {
	if p.snapshotDue(e.cfg.SnapshotEvery) {
		e.snapshotIdle(p)
	}
}

// snapshotIdle writes the snapshot of a partition whose state matches the
// ledger, as one waiting for input does: the members its last appends
// changed are kept (a crash then folds nothing of them again), and members
// over the memory budget go.
func (e *Engine) snapshotIdle(p *partition) {
	if len(p.staged) > 0 || p.stale {
		return
	}
	if err := p.saveMembers(); err != nil {
		e.cfg.Logger.Error("member snapshot not written", "partition", p.id, "err", err)
		e.keysBroken(err)
	}
}

func (e *Engine) countFacts(facts []domain.Fact) {
	for _, f := range facts {
		switch f := f.(type) {
		case domain.PointsEarned:
			e.metrics.pointsIssued.Add(float64(f.Points))
		case domain.PointsReversed:
			e.metrics.pointsReversed.Add(float64(f.Points))
		case domain.PointsExpired:
			e.metrics.pointsExpired.Add(float64(f.Points))
		case domain.PointsRedeemed:
			e.metrics.pointsRedeemed.Add(float64(f.Points))
			e.metrics.redemptions.WithLabelValues(redemptionAccepted).Inc()
		case domain.RedemptionRejected:
			e.metrics.redemptions.WithLabelValues(string(f.Reason)).Inc()
		}
	}
}

// typeLabel keeps the type label to the known event types, so a flood of
// made-up types cannot blow up the metric's cardinality.
func typeLabel(t domain.EventType) string {
	for _, known := range domain.EventTypes {
		if t == known {
			return string(t)
		}
	}
	return "unknown"
}

// ensureMemberKeys makes the member keys a record is sealed with: its
// member's (ErrMemberErased for an erased member, whose key must not be
// made again, unless the record settles what was decided before the
// erasure: it then holds their token alone) and those of the other members
// its facts name, whose tokens it holds (an erased one's token still names
// them).
func (e *Engine) ensureMemberKeys(ctx context.Context, r *streams.LedgerRecord, settles bool) error {
	if e.memberKeys == nil {
		return nil
	}
	ensure := func(id string, erasedIsFine bool) error {
		err := e.memberKeys.Ensure(ctx, id)
		if erasedIsFine && errors.Is(err, streams.ErrMemberErased) {
			return nil
		}
		return err
	}
	if !domain.IsReservedMemberID(r.MemberID) {
		if err := ensure(r.MemberID, settles); err != nil {
			return err
		}
	}
	for _, other := range streams.OtherMembers(*r) {
		if err := ensure(other, true); err != nil {
			return err
		}
	}
	return nil
}

// refuseErased refuses an event for an erased member, or a transfer to
// one, before it is decided, as a member_erased dead letter: the engine
// that still has the member in memory and the one that folded the ledger
// since (where the member reads as erased:<token>) decide alike, and so
// does a replay. The engine's follow-ups that settle what was decided
// before the erasure go through (domain.SettlesForErased).
//
// The member's own state says erased while the engine has it; so only a
// member the state does not know (after a fold, in a replay) is looked up.
func (e *Engine) refuseErased(ctx context.Context, p *partition, ev domain.Event) (*domain.RejectedError, error) {
	if e.memberKeys == nil || !e.memberKeys.CanMake() || domain.SettlesForErased(ev.Type) {
		return nil, nil
	}
	check := func(field, id string) (*domain.RejectedError, error) {
		if id == "" || domain.IsReservedMemberID(id) {
			return nil, nil
		}
		erased, err := e.memberKeys.Erased(ctx, e.memberKeys.Token(id))
		if err != nil || !erased {
			return nil, err
		}
		return &domain.RejectedError{Reason: domain.ReasonMemberErased, Field: field,
			Detail: "the member was erased: no event for the id, and no transfer to it, is taken"}, nil
	}
	m, err := p.member(ev.MemberID)
	if err != nil {
		return nil, err
	}
	if !m.Known() {
		if rej, err := check("member_id", ev.MemberID); rej != nil || err != nil {
			return rej, err
		}
	}
	if t, ok := ev.Body.(domain.TransferRequest); ok {
		return check("to_member_id", t.ToMemberID)
	}
	return nil, nil
}
