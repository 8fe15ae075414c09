package projections

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/streams"
)

// Ledger messages that decode but that the engine never wrote: on a subject
// no partition has (the projections applied it: a million points for a
// member the engine does not know), claiming another partition (the engine
// could not start), or with a member id PostgreSQL cannot store (the
// projection retried for ever). Quarantine refused them all, as they
// decode. Now every reader stops at them, naming the quarantine, which
// accepts them; then they are skipped.
func TestForeignLedgerMessagesStopTheReadersAndCanBeQuarantined(t *testing.T) {
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	points := func(member string) []domain.Fact {
		return []domain.Fact{domain.PointsEarned{FactMeta: domain.FactMeta{MemberID: member, EventID: "forged", OccurredAt: at}, Points: 1_000_000, Rule: "base"}}
	}
	member := "mallory"
	p := streams.PartitionOf(member)
	for _, c := range []struct {
		name, subject string
		rec           streams.LedgerRecord
	}{
		{"on no partition's subject", streams.LedgerPrefix + ".x", streams.LedgerRecord{Partition: p, EventID: "forged", MemberID: member, Facts: points(member)}},
		{"claiming another partition", streams.LedgerSubject((p + 1) % streams.Partitions),
			streams.LedgerRecord{Partition: p, EventID: "forged", MemberID: member, Facts: points(member)}},
		{"with a NUL in its member id", streams.LedgerSubject(streams.PartitionOf("a\x00b")),
			streams.LedgerRecord{Partition: streams.PartitionOf("a\x00b"), EventID: "forged", MemberID: "a\x00b", Facts: points("a\x00b")}},
	} {
		t.Run(c.name, func(t *testing.T) {
			pool, env := migratedWithNATS(t)
			ctx := context.Background()
			good := publish(t, env.JS, newWorld(3, 3).records(10))
			data, err := streams.EncodeLedgerMessage(nil, c.rec)
			if err != nil {
				t.Fatal(err)
			}
			ack, err := env.JS.Publish(ctx, c.subject, data)
			if err != nil {
				t.Fatal(err)
			}
			run := func() error { return runMembersFor(t, pool, env.JS, 3*time.Second) }
			if err := run(); !errors.Is(err, ErrUndecodable) || !strings.Contains(err.Error(), "ledger quarantine") {
				t.Fatalf("Run = %v, want it to stop at the foreign message, naming the quarantine", err)
			}
			if _, err := streams.QuarantineLedgerMessage(ctx, env.JS, ack.Sequence, "forged", "test", at); err != nil {
				t.Fatalf("quarantine the foreign message: %v", err)
			}
			if err := run(); err != nil {
				t.Fatalf("Run with the message quarantined = %v, want it skipped", err)
			}
			var mallory int
			if err := pool.QueryRow(ctx, "select count(*) from loyalty.members where points_balance >= 1000000").Scan(&mallory); err != nil || mallory != 0 {
				t.Errorf("%d members with the forged points (%v), want none", mallory, err)
			}
			if pos, err := readCheckpoint(ctx, pool, MembersName); err != nil || pos < good[len(good)-1].Seq {
				t.Errorf("checkpoint %d (%v), want past the good records (%d)", pos, err, good[len(good)-1].Seq)
			}
		})
	}
}
