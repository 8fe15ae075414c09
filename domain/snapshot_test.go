package domain_test

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/pointsledger/loyalty/domain"
)

// TestSnapshotsDecideAsTheFold draws random programs and histories and, at
// a random point, swaps the member for its snapshot decoded: the snapshot
// holds the whole state (equal to the fold), encodes to the same bytes, and
// the rest of the history gives the same facts as on the folded member.
func TestSnapshotsDecideAsTheFold(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := drawFullProgram(t)
		events := drawEvents(t)
		for i := range events {
			switch rapid.IntRange(0, 9).Draw(t, "extra") {
			case 0:
				events[i].Body = domain.Clock{}
			case 1:
				events[i].Body = domain.Enrolment{Channel: "app", Birthday: domain.Birthday{Month: time.Month(rapid.IntRange(1, 12).Draw(t, "month")), Day: 1}}
			}
			events[i].Type = events[i].Body.EventType()
		}
		cut := rapid.IntRange(0, len(events)).Draw(t, "cut")
		folded, restored := domain.NewMember(memberID), domain.NewMember(memberID)
		for i, e := range events {
			if i == cut {
				restored = roundTrip(t, folded)
			}
			want, werr := domain.Apply(folded, e, p)
			if i < cut {
				continue
			}
			got, gerr := domain.Apply(restored, e, p)
			if !reflect.DeepEqual(want, got) || !reflect.DeepEqual(werr, gerr) {
				t.Fatalf("event %d (%s) after a snapshot at %d: facts %v, %v; want %v, %v", i, e.Type, cut, got, gerr, want, werr)
			}
		}
		roundTrip(t, folded)
	})
}

// drawFullProgram is drawProgram with what the state keeps for expiry,
// notices, yearly bonuses and limited rules.
func drawFullProgram(t *rapid.T) *domain.Program {
	p := drawProgram(t)
	p.Tiers[1].Multiplier = domain.One // drawProgram's 1/2 is refused by Validate, which the rules need
	policy := rapid.SampledFrom([]domain.ExpiryPolicy{domain.ExpireNever, domain.ExpireAfterDays, domain.ExpireEndOfMonth, domain.ExpireOnInactivity}).Draw(t, "expiry")
	x := domain.Expiry{Policy: policy, NoticeDays: rapid.SampledFrom([]int{0, 7}).Draw(t, "notice_days")}
	if policy == domain.ExpireAfterDays || policy == domain.ExpireOnInactivity {
		x.Days = rapid.SampledFrom([]int{1, 30, 400}).Draw(t, "expiry_days")
	}
	p.Earning.Expiry = x
	p.Earning.Yearly = domain.Yearly{BirthdayPoints: 250, AnniversaryPoints: 100}
	p.Earning.Rules = append(p.Earning.Rules, domain.Rule{ID: "visit-extra", On: domain.TypeVisitRecorded, Scope: domain.ScopeEvent,
		Award: domain.Award{Points: 40}, Limit: domain.Limit{Points: 50, Per: domain.PerDay}})
	if err := p.Validate(); err != nil {
		t.Fatalf("program: %v", err)
	}
	return p
}

// roundTrip encodes and decodes m, and fails unless nothing was lost.
func roundTrip(t *rapid.T, m *domain.Member) *domain.Member {
	enc, err := m.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := domain.DecodeMember(enc)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if want := domain.Normalized(m); !reflect.DeepEqual(domain.Normalized(d), want) {
		t.Fatalf("decoded member differs:\n%+v\nwant\n%+v", d, want)
	}
	again, _ := d.AppendBinary(nil)
	if !bytes.Equal(again, enc) {
		t.Fatalf("a decoded member encodes to other bytes")
	}
	return d
}

func TestDamagedSnapshotsAreRefused(t *testing.T) {
	m := domain.NewMember("m-1")
	m.Balance = 12
	enc, _ := m.AppendBinary(nil)
	for _, b := range [][]byte{nil, {domain.StateVersion + 1}, enc[:len(enc)-1], append(enc, 0)} {
		if _, err := domain.DecodeMember(b); !errors.Is(err, domain.ErrSnapshot) {
			t.Errorf("DecodeMember(%x) = %v, want ErrSnapshot", b, err)
		}
	}
}

func FuzzDecodeMember(f *testing.F) {
	m := domain.NewMember("m-1")
	enc, _ := m.AppendBinary(nil)
	f.Add(enc)
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := domain.DecodeMember(b)
		if err != nil {
			return
		}
		again, err := d.AppendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := domain.DecodeMember(again); err != nil {
			t.Fatalf("a decoded snapshot encodes to one that does not decode: %v", err)
		}
	})
}

// TestDecideLeavesTheMemberAsItWas: Decide works on a fork of the member
// that shares its history; whatever time brings first (expiry, releases,
// reviews, yearly bonuses, notices) and whatever the event then decides,
// the member is the same afterwards, byte for byte, and a member that
// shares nothing decides the same.
func TestDecideLeavesTheMemberAsItWas(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := drawFullProgram(t)
		m := domain.NewMember(memberID)
		for i, e := range drawEvents(t) {
			before, _ := m.AppendBinary(nil)
			own := domain.Normalized(m)
			facts, err := domain.Decide(m, e, p)
			after, _ := m.AppendBinary(nil)
			if !bytes.Equal(before, after) {
				t.Fatalf("event %d (%s) changed the member it was decided on", i, e.Type)
			}
			ownFacts, ownErr := domain.Decide(own, e, p)
			if !reflect.DeepEqual(facts, ownFacts) || !reflect.DeepEqual(err, ownErr) {
				t.Fatalf("event %d (%s): %v, %v on the member; %v, %v on a copy", i, e.Type, facts, err, ownFacts, ownErr)
			}
			for _, f := range facts {
				m.Evolve(f)
			}
		}
	})
}
