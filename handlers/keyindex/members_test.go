package keyindex

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
)

// A snapshot's rows outlive the process; a row that cannot be decoded marks
// the store broken (the next start folds it again) instead of being taken
// for a member with no history; a follow-up row goes once its caller says
// it is done.
func TestSnapshotsOutliveTheProcess(t *testing.T) {
	dir := t.TempDir()
	ix := open(t, dir)
	m := domain.NewMember("m-\u00e9\x00-1") // any bytes an id may hold
	m.Balance, m.Lifetime = 120, 300
	s := ix.NewSnapshot(7)
	if _, err := s.Member(m, 41); err != nil {
		t.Fatal(err)
	}
	transfer := domain.Event{ID: "f-1", Type: domain.TypeTransferIn, MemberID: "m-2", OccurredAt: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC),
		Body: domain.TransferIn{FromMemberID: m.ID, RequestID: "t-1", Points: 5}}
	if err := s.FollowUp(transfer, []byte("encoded")); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(MemberCheckpoint{LedgerSeq: 41, Members: 3}); err != nil {
		t.Fatal(err)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}

	ix = open(t, dir)
	cp, err := ix.MembersCheckpoint(7)
	if err != nil || cp != (MemberCheckpoint{LedgerSeq: 41, Members: 3}) {
		t.Fatalf("checkpoint %+v, %v; want seq 41, 3 members", cp, err)
	}
	got, size, err := ix.Member(m.ID, cp.LedgerSeq)
	if err != nil || got == nil || got.Balance != 120 || got.Lifetime != 300 || size == 0 {
		t.Fatalf("member %+v (row %d bytes), %v; want the one saved", got, size, err)
	}
	if other, _, err := ix.Member("m-unknown", cp.LedgerSeq); other != nil || err != nil {
		t.Errorf("unknown member: %+v, %v; want none", other, err)
	}
	var seen []string
	for range 2 {
		if err := ix.FollowUps(func(b []byte) (bool, error) { seen = append(seen, string(b)); return true, nil }); err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) != 1 || seen[0] != "encoded" {
		t.Errorf("follow-ups seen %q; want the one row, once (it was done)", seen)
	}

	// A row newer than the checkpoint the caller has (the checkpoint row
	// lost or damaged), and a row that cannot be decoded, are damage.
	if _, _, err := ix.Member(m.ID, 40); !errors.Is(err, ErrBroken) {
		t.Fatalf("a row past its checkpoint: %v, want ErrBroken", err)
	}
	if err := ix.db.Set(memberKey(m.ID), []byte{41, domain.StateVersion, 0xff}, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ix.Member(m.ID, 41); !errors.Is(err, ErrBroken) {
		t.Fatalf("a damaged row: %v, want ErrBroken", err)
	}
	ix.Close()
	if _, err := os.Stat(filepath.Join(dir, brokenMark)); err != nil {
		t.Errorf("a damaged row did not mark the store broken: %v", err)
	}
}
