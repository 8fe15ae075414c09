//go:build chaos

package main_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/handlers"
	"github.com/pointsledger/loyalty/programs"
	"github.com/pointsledger/loyalty/projections"
	"github.com/pointsledger/loyalty/streams"
)

// storedMsg is a message as a stream holds it.
type storedMsg struct {
	seq     uint64
	stored  time.Time
	subject string
	header  map[string][]string
	data    []byte
}

// readStream reads every message of a stream, in order (streamMessages),
// with what the checks look at.
func readStream(t *testing.T, js jetstream.JetStream, stream string) []storedMsg {
	t.Helper()
	var out []storedMsg
	for _, msg := range streamMessages(t, js, stream) {
		meta, err := msg.Metadata()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, storedMsg{seq: meta.Sequence.Stream, stored: meta.Timestamp.UTC(), subject: msg.Subject(),
			header: msg.Headers(), data: msg.Data()})
	}
	return out
}

// reference is the fold of the stored input through domain/, input by input.
type reference struct {
	members    map[string]*domain.Member
	facts      map[uint64][]domain.Fact // input seq -> facts of an applied input
	deadLetter map[uint64]domain.Reason // input seq -> reason it must be dead-lettered with
	simulated  int
}

func foldStoredInput(t *testing.T, input []storedMsg, injected map[string]domain.Reason, idKey []byte) reference {
	t.Helper()
	program, err := programs.Parse([]byte(chaosProgram))
	if err != nil {
		t.Fatal(err)
	}
	ref := reference{members: map[string]*domain.Member{}, facts: map[uint64][]domain.Fact{}, deadLetter: map[uint64]domain.Reason{}}
	seen := map[string]bool{}
	storedBad := map[string]int{}
	for _, m := range input {
		msgID := first(m.header[jetstream.MsgIDHeader])
		if reason, ok := injected[msgID]; ok {
			ref.deadLetter[m.seq] = reason
			storedBad[msgID]++
			continue
		}
		if strings.HasPrefix(msgID, "bad-") {
			t.Errorf("input seq %d: %s is stored but was never reported published", m.seq, msgID)
			continue
		}
		ref.simulated++
		e, err := streams.DecodeEvent(m.data)
		if err != nil {
			t.Fatalf("input seq %d: a simulated event does not decode: %v", m.seq, err)
		}
		// In the engine's order: validation, then the ids already
		// applied, then the rules.
		if err := domain.Validate(e, m.stored); err != nil {
			ref.deadLetter[m.seq] = reasonOf(t, err)
			continue
		}
		if seen[e.ID] {
			ref.deadLetter[m.seq] = handlers.ReasonDuplicateEvent
			continue
		}
		mem := ref.members[e.MemberID]
		if mem == nil {
			mem = domain.NewMember(e.MemberID)
		}
		facts, err := domain.Apply(mem, e, program)
		if err != nil {
			ref.deadLetter[m.seq] = reasonOf(t, err)
			continue
		}
		domain.GiveFollowUpIDs(facts, handlers.FollowUpIDs(idKey, e.MemberID, e.ID))
		seen[e.ID] = true
		ref.members[e.MemberID] = mem
		ref.facts[m.seq] = facts
	}
	for id := range injected {
		if storedBad[id] != 1 {
			t.Errorf("injected input %s is stored %d times", id, storedBad[id])
		}
	}
	return ref
}

func reasonOf(t *testing.T, err error) domain.Reason {
	t.Helper()
	var rej *domain.RejectedError
	if !errors.As(err, &rej) {
		t.Fatalf("the rules failed: %v", err)
	}
	return rej.Reason
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// checkAgainstStoredInput compares the input stream, the ledger, the dead
// letters and every read model with the reference fold, and returns the
// counts.
func checkAgainstStoredInput(t *testing.T, ctx context.Context, js jetstream.JetStream, pool *pgxpool.Pool,
	events []domain.Event, injected map[string]domain.Reason) string {
	t.Helper()
	input := readStream(t, js, streams.InputStream)
	checkNothingDropped(t, input, events)
	idKey, err := handlers.ReadFollowUpIDKey(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	ref := foldStoredInput(t, input, injected, idKey)

	keys := streams.ReadMemberKeys(js)
	ledger := checkLedger(t, readStream(t, js, streams.LedgerStream), keys, ref)
	followUps := checkFollowUps(t, input, ref)
	dlq := checkDeadLetters(t, readStream(t, js, streams.DeadLetterStream), ref)

	assertMembersEqual(t, pool, ref.members)
	assertLedgerInvariants(t, pool)
	checkTables(t, ctx, pool, ref)
	return fmt.Sprintf("counts: %d inputs stored (%d simulated, %d injected invalid, %d follow-ups: transfers received, referral bonuses, stock requests and answers); "+
		"%d ledger records in %d messages, one per applied input; %d dead letters (%d injected, %d rejected by the rules), "+
		"exactly as the reference; %d members",
		len(input), ref.simulated, len(injected), followUps, ledger.records, ledger.messages, dlq, len(injected), dlq-len(injected), len(ref.members))
}

// checkFollowUps: for every fact of the reference that implies an event for
// another member (domain.FollowUp), that event is in the input, and applied;
// the engine published it whatever the crashes between its fact's append and
// the publish. A copy published again is allowed (and dead-lettered as a
// duplicate by the reference too), a missing one is not.
func checkFollowUps(t *testing.T, input []storedMsg, ref reference) int {
	t.Helper()
	stored := map[string]bool{}
	for _, m := range input {
		stored[first(m.header[jetstream.MsgIDHeader])] = true
	}
	want, missing := 0, 0
	for _, facts := range ref.facts {
		for _, f := range facts {
			ev, ok := domain.FollowUp(f)
			if !ok {
				continue
			}
			want++
			if !stored[ev.ID] {
				if missing++; missing <= 5 {
					t.Errorf("the follow-up %s (%s for %q) of a ledger fact was never published", ev.ID, ev.Type, ev.MemberID)
				}
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d follow-up events were never published", missing, want)
	}
	return want
}

// checkNothingDropped: every simulated event is in the input stream once.
func checkNothingDropped(t *testing.T, input []storedMsg, events []domain.Event) {
	t.Helper()
	stored := map[string]int{}
	for _, m := range input {
		stored[first(m.header[jetstream.MsgIDHeader])]++
	}
	missing, doubled := 0, 0
	for _, e := range events {
		switch stored[e.ID] {
		case 0:
			missing++
		case 1:
		default:
			doubled++
		}
	}
	if missing > 0 || doubled > 0 {
		t.Errorf("of %d simulated events, %d are not in the input stream and %d are there more than once", len(events), missing, doubled)
	}
}

type ledgerCounts struct{ records, messages int }

// checkLedger: one record per applied input, with the reference's facts,
// and none for any other input.
func checkLedger(t *testing.T, msgs []storedMsg, keys *streams.MemberKeys, ref reference) ledgerCounts {
	t.Helper()
	bySeq := map[uint64]int{}
	byEvent := map[string]int{}
	counts := ledgerCounts{messages: len(msgs)}
	mismatched := 0
	for _, m := range msgs {
		recs, err := streams.DecodeLedgerMessageWith(m.data, keys)
		if err != nil {
			t.Fatalf("ledger seq %d: %v", m.seq, err)
		}
		for _, r := range recs {
			counts.records++
			bySeq[r.InputSeq]++
			byEvent[r.EventID]++
			want, ok := ref.facts[r.InputSeq]
			if !ok {
				t.Errorf("ledger seq %d holds facts for input seq %d, which the reference does not apply", m.seq, r.InputSeq)
				continue
			}
			if (len(r.Facts) > 0 || len(want) > 0) && !reflect.DeepEqual(r.Facts, want) { // a record of no facts decodes as empty, not nil
				if mismatched++; mismatched <= 5 {
					t.Errorf("input seq %d: ledger facts %+v, reference %+v", r.InputSeq, r.Facts, want)
				}
			}
		}
	}
	for seq := range ref.facts {
		if bySeq[seq] != 1 {
			t.Errorf("input seq %d has %d ledger records, want 1", seq, bySeq[seq])
		}
	}
	for id, n := range byEvent {
		if n != 1 {
			t.Errorf("event %q has %d ledger records, want 1", id, n)
		}
	}
	if mismatched > 0 {
		t.Errorf("%d ledger records differ from the reference", mismatched)
	}
	return counts
}

// checkDeadLetters: exactly the inputs the reference rejects, each once,
// with its reason.
func checkDeadLetters(t *testing.T, msgs []storedMsg, ref reference) int {
	t.Helper()
	got := map[uint64]int{}
	wrong := 0
	for _, m := range msgs {
		seq, err := strconv.ParseUint(first(m.header[handlers.HeaderInputSeq]), 10, 64)
		if err != nil {
			t.Fatalf("dead letter %d without an input seq: %v", m.seq, m.header)
		}
		got[seq]++
		want, ok := ref.deadLetter[seq]
		reason := domain.Reason(first(m.header[handlers.HeaderReason]))
		switch {
		case !ok:
			t.Errorf("input seq %d dead-lettered as %s (%s), but the reference applies it", seq, reason, first(m.header[handlers.HeaderError]))
		case reason != want:
			if wrong++; wrong <= 5 {
				t.Errorf("input seq %d dead-lettered as %s, want %s", seq, reason, want)
			}
		}
	}
	for seq := range ref.deadLetter {
		if got[seq] != 1 {
			t.Errorf("input seq %d (%s) has %d dead letters, want 1", seq, ref.deadLetter[seq], got[seq])
		}
	}
	return len(msgs)
}

// finalRedemptions is each redemption request as the reference leaves it:
// a hold ends accepted or rejected (with no points: the stock's refusal,
// domain.RedemptionRejected out_of_stock, has Points 0) by its stock's
// answer. The rows are in no particular order (checkTables sorts them).
func finalRedemptions(ref reference) []string {
	type request struct{ member, request string }
	type outcome struct {
		status string
		points int64
	}
	final := map[request]outcome{}
	for _, seq := range slices.Sorted(maps.Keys(ref.facts)) {
		for _, f := range ref.facts[seq] {
			member := f.Meta().MemberID
			switch f := f.(type) {
			case domain.PointsRedeemed:
				final[request{member, f.RequestID}] = outcome{"accepted", f.Points}
			case domain.PointsHeld:
				final[request{member, f.RequestID}] = outcome{"held", f.Points}
			case domain.HoldRedeemed:
				final[request{member, f.RequestID}] = outcome{"accepted", f.Points}
			case domain.RedemptionRejected:
				final[request{member, f.RequestID}] = outcome{"rejected", f.Points}
			}
		}
	}
	out := make([]string, 0, len(final))
	for key, o := range final {
		out = append(out, fmt.Sprintf("%s %s %d", key.request, o.status, o.points))
	}
	return out
}

// checkTables compares each append-only read model with the reference's
// facts, row for row.
func checkTables(t *testing.T, ctx context.Context, pool *pgxpool.Pool, ref reference) {
	t.Helper()
	want := map[string][]string{}
	add := func(table, row string) { want[table] = append(want[table], row) }
	for _, facts := range ref.facts {
		for _, f := range facts {
			id := f.Meta().EventID
			// A points_ledger row is the fact's event, its rule and the points it moves.
			ledgerRow := func(rule string, points int64) { add("points_ledger", fmt.Sprintf("%s %s %d", id, rule, points)) }
			switch f := f.(type) {
			case domain.PointsEarned:
				ledgerRow(f.Rule, f.Points)
			case domain.PointsReversed:
				ledgerRow(f.Rule, -f.Points)
			case domain.PointsExpired:
				ledgerRow(f.Rule, -f.Points)
			case domain.PointsRedeemed:
				ledgerRow(projections.RedeemRule, -f.Points)
			case domain.PointsHeld:
				ledgerRow(projections.RedeemRule, -f.Points)
			case domain.HoldReturned:
				ledgerRow(projections.ReturnRule, f.Points)
			case domain.PointsReleased:
				ledgerRow(projections.ReleaseRule, f.Points)
				ledgerRow(projections.ReleaseRule, -f.Points)
			case domain.PointsCancelled:
				ledgerRow(projections.CancelRule, -f.Points)
			case domain.PointsTransferred:
				ledgerRow(domain.RuleTransferOut, -f.Points)
			case domain.PointsReceived:
				ledgerRow(domain.RuleTransferIn, f.Points)
			case domain.PointsExpiring:
				add("expiry_notices", fmt.Sprintf("%s %d", id, f.Points))
			case domain.TierChanged:
				add("tier_changes", fmt.Sprintf("%s %s", id, f.To))
			case domain.PurchaseRecorded:
				add("purchases", fmt.Sprintf("%s %d", id, f.Total.Minor))
			case domain.RefundRecorded:
				add("refunds", fmt.Sprintf("%s %d", id, f.Amount.Minor))
			case domain.VisitRecorded:
				add("visits", id)
			case domain.FeedbackRecorded:
				add("feedback", id)
			}
		}
	}
	for _, row := range finalRedemptions(ref) {
		add("redemptions", row)
	}
	queries := map[string]string{
		"points_ledger":  `select source_event_id || ' ' || rule || ' ' || points from loyalty.points_ledger`,
		"tier_changes":   `select source_event_id || ' ' || to_tier from loyalty.tier_changes`,
		"purchases":      `select event_id || ' ' || amount from loyalty.purchases`,
		"refunds":        `select event_id || ' ' || amount from loyalty.refunds`,
		"visits":         `select event_id from loyalty.visits`,
		"feedback":       `select event_id from loyalty.feedback`,
		"redemptions":    `select request_id || ' ' || status || ' ' || points from loyalty.redemptions`,
		"expiry_notices": `select source_event_id || ' ' || points from loyalty.expiry_notices`,
	}
	for table, q := range queries {
		rows, err := pool.Query(ctx, q)
		if err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		var got []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			got = append(got, s)
		}
		rows.Close()
		slices.Sort(got)
		w := want[table]
		slices.Sort(w)
		if !slices.Equal(got, w) {
			t.Errorf("loyalty.%s has %d rows, the reference %d; they differ", table, len(got), len(w))
		} else {
			t.Logf("loyalty.%s: %d rows, as the reference", table, len(got))
		}
	}
}
