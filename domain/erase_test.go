package domain_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
)

func erase(id string, at time.Time) domain.Event {
	return event(id, at, domain.ErasureRequest{Channel: "back-office"})
}

func TestErasures(t *testing.T) {
	at := t0.Add(time.Hour)
	erasedAt := at.Add(time.Hour)
	later := erasedAt.Add(time.Hour)
	withBirthday := event("e-enrol", enrolAt, domain.Enrolment{Channel: "app", ReferredBy: "m-9", Birthday: domain.Birthday{Month: time.May, Day: 17}})
	runRuleCases(t, []ruleCase{
		{
			name:  "a member on record",
			given: []domain.Event{enrolled(), firstBuy},
			when:  erase("e-1", at),
			want:  []domain.Fact{domain.MemberErased{FactMeta: meta("e-1", at), Channel: "back-office"}},
		},
		{
			name:   "an unknown member",
			when:   erase("e-1", at),
			reason: domain.ReasonUnknownMember,
			field:  "member_id",
		},
		{
			name:   "a member erased already",
			given:  []domain.Event{withBirthday, firstBuy, erase("e-1", at)},
			when:   erase("e-2", later),
			reason: domain.ReasonMemberErased,
			field:  "member_id",
		},
		{
			name:   "a purchase after the erasure",
			given:  []domain.Event{enrolled(), firstBuy, erase("e-1", at)},
			when:   buy("e-2", later, "o-2", eur(50)),
			reason: domain.ReasonMemberErased,
			field:  "member_id",
		},
		{
			name:   "an enrolment after the erasure",
			given:  []domain.Event{enrolled(), erase("e-1", at)},
			when:   event("e-2", later, domain.Enrolment{Channel: "app"}),
			reason: domain.ReasonMemberErased,
			field:  "member_id",
		},
		{
			name:   "a redemption after the erasure",
			given:  []domain.Event{enrolled(), firstBuy, erase("e-1", at)},
			when:   redeem("e-2", later, "r-1", "coffee", 1),
			reason: domain.ReasonMemberErased,
			field:  "member_id",
		},
		{
			name:  "points another member sent before the erasure, arriving after it",
			given: []domain.Event{enrolled(), firstBuy, erase("e-1", at)},
			when:  event("e-2", later, domain.TransferIn{RequestID: "t-1", FromMemberID: "m-9", Points: 30}),
			want: []domain.Fact{domain.PointsReceived{FactMeta: meta("e-2", later), FromMemberID: "m-9", RequestID: "t-1", Points: 30,
				ProgramVersion: version}},
		},
		{
			name:   "the clock after the erasure, even with points due to expire",
			given:  []domain.Event{enrolled(), firstBuy, erase("e-1", at)},
			when:   event("e-2", later.AddDate(5, 0, 0), domain.Clock{}),
			reason: domain.ReasonMemberErased,
			field:  "member_id",
		},
	})
}

// An erasure changes no figure of the member's, and forgets what is
// personal in their state: their birthday and who referred them. The
// snapshot keeps that they were erased.
func TestErasureKeepsThePointsAndForgetsThePerson(t *testing.T) {
	p := testProgram()
	m := domain.NewMember(memberID)
	history := []domain.Event{
		event("e-enrol", enrolAt, domain.Enrolment{Channel: "app", ReferredBy: "m-9", Birthday: domain.Birthday{Month: time.May, Day: 17}}),
		firstBuy,
	}
	for _, e := range history {
		if _, err := domain.Apply(m, e, p); err != nil {
			t.Fatal(err)
		}
	}
	before := *m
	at := firstBuyAt.Add(time.Hour)
	if _, err := domain.Apply(m, erase("e-erase", at), p); err != nil {
		t.Fatal(err)
	}
	if m.Balance != before.Balance || m.Lifetime != before.Lifetime || m.Tier != before.Tier || m.Purchases != before.Purchases || m.Pending != before.Pending {
		t.Errorf("the erasure changed the member's figures: %+v, was %+v", m, before)
	}
	if !m.LastActivity.Equal(before.LastActivity) {
		t.Errorf("the erasure moved the last activity from %v to %v", before.LastActivity, m.LastActivity)
	}
	if !m.Birthday.IsZero() || m.ReferredBy != "" || !m.ErasedAt.Equal(at) {
		t.Errorf("after the erasure: birthday %v, referred by %q, erased at %v", m.Birthday, m.ReferredBy, m.ErasedAt)
	}
	b, err := m.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	back, err := domain.DecodeMember(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, m) {
		t.Errorf("snapshot round trip:\n%+v\nwant\n%+v", back, m)
	}
	var rej *domain.RejectedError
	if _, err := domain.Decide(back, buy("e-after", at.Add(time.Hour), "o-9", eur(10)), p); !errors.As(err, &rej) || rej.Reason != domain.ReasonMemberErased {
		t.Errorf("a purchase for the member read back from the snapshot: %v, want %s", err, domain.ReasonMemberErased)
	}
}

// No event may name an erased member's id: it is what their records read
// as once their key is gone.
func TestErasedIDsAreRefused(t *testing.T) {
	received := t0.Add(time.Hour)
	erased := domain.ErasedMemberPrefix + "t07-0123456789abcdef0123456789abcdef"
	for name, e := range map[string]domain.Event{
		"as the member":         {ID: "e-1", Type: domain.TypeMemberEnrolled, MemberID: erased, OccurredAt: received, Body: domain.Enrolment{}},
		"as the referrer":       {ID: "e-1", Type: domain.TypeMemberEnrolled, MemberID: "m-1", OccurredAt: received, Body: domain.Enrolment{ReferredBy: erased}},
		"as a transfer's payee": {ID: "e-1", Type: domain.TypeTransfer, MemberID: "m-1", OccurredAt: received, Body: domain.TransferRequest{RequestID: "t-1", ToMemberID: erased, Points: 5}},
		"as the member erased":  {ID: "e-1", Type: domain.TypeErasure, MemberID: erased, OccurredAt: received, Body: domain.ErasureRequest{}},
	} {
		var rej *domain.RejectedError
		if err := domain.Validate(e, received); !errors.As(err, &rej) || rej.Reason != domain.ReasonInvalidField {
			t.Errorf("%s: Validate = %v, want invalid_field", name, err)
		}
	}
}
