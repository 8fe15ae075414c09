package domain_test

import (
	"strings"
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
)

// index is a test's key index: the claims of every fact folded so far.
type index map[domain.Key]domain.Claim

func (ix index) apply(t *testing.T, m *domain.Member, e domain.Event, p *domain.Program) ([]domain.Fact, error) {
	t.Helper()
	facts, err := domain.DecideKnown(m, e, p, ix.known(e))
	if err != nil {
		return nil, err
	}
	for _, f := range facts {
		m.Evolve(f)
	}
	for _, c := range domain.ClaimsOf(e.MemberID, facts) {
		ix[c.Key] = c
	}
	return facts, nil
}

func (ix index) known(e domain.Event) domain.Known {
	var k domain.Known
	order, request := domain.KeysOf(e)
	if order != nil {
		_, k.Order = ix[*order]
	}
	if request != nil {
		if c, ok := ix[*request]; ok {
			k.Request = c.Request
		}
	}
	return k
}

// A member's state forgets orders and requests two years behind its latest
// activity; what the index knows of them still refuses their repeats, years
// later, with the reason a recent repeat gets.
func TestRepeatsOlderThanTheMemberRemembersAreRefused(t *testing.T) {
	p := testProgram()
	p.Transfers = domain.Transfers{Allowed: true, MinPoints: 1}
	withCatalogue(true, 1)(p)
	ix := index{}
	m := domain.NewMember(memberID)
	old := time.Date(2022, 5, 1, 10, 0, 0, 0, time.UTC)
	history := []domain.Event{
		event("e-enrol", old.Add(-day), domain.Enrolment{Channel: "app"}),
		buy("e-buy", old, "o-2022", eur(40_00)),
		redeemPoints("e-redeem", old.Add(day), "r-2022", 30),
		event("e-move", old.Add(2*day), domain.TransferRequest{RequestID: "t-2022", ToMemberID: "m-2", Points: 5}),
	}
	// Three years of later activity: a purchase a month.
	for i := range 36 {
		at := old.AddDate(0, i+1, 3)
		history = append(history, buy("e-later-"+at.Format("200601"), at, "o-"+at.Format("200601"), eur(10_00)))
	}
	for _, e := range history {
		if _, err := ix.apply(t, m, e, p); err != nil {
			t.Fatalf("history %s: %v", e.ID, err)
		}
	}
	now := old.AddDate(3, 2, 0)
	repeats := []struct {
		event  domain.Event
		detail string
	}{
		{buy("e-buy-again", now, "o-2022", eur(40_00)), `order "o-2022" was already recorded`},
		{redeemPoints("e-redeem-again", now, "r-2022", 30), `request "r-2022" was decided on 2022-05-02T10:00:00Z (redeemed 30 points)`},
		{event("e-move-again", now, domain.TransferRequest{RequestID: "t-2022", ToMemberID: "m-2", Points: 5}), `request "t-2022" was decided on 2022-05-03T10:00:00Z`},
	}
	for _, r := range repeats {
		if facts, err := domain.Decide(m, r.event, p); err != nil {
			t.Fatalf("%s: the member's state alone refuses it (%v): it did not forget, and this test shows nothing", r.event.ID, err)
		} else if len(facts) == 0 {
			t.Fatalf("%s: the member's state alone decides nothing", r.event.ID)
		}
		_, err := ix.apply(t, m, r.event, p)
		rej := rejection(err)
		want := domain.ReasonDuplicateOrder
		if _, ok := r.event.Body.(domain.Purchase); !ok {
			want = domain.ReasonDuplicateRequest
		}
		if rej == nil || rej.Reason != want || !strings.Contains(rej.Detail, r.detail) {
			t.Errorf("%s with what the index knows: %v, want %s naming %s", r.event.ID, err, want, r.detail)
		}
	}
	// Request ids are the client's per operation: a transfer may reuse a
	// redemption's, and another member's order ids are its own.
	if _, err := ix.apply(t, m, event("e-move-r", now, domain.TransferRequest{RequestID: "r-2022", ToMemberID: "m-2", Points: 5}), p); err != nil {
		t.Errorf("a transfer reusing a redemption's request id: %v", err)
	}
	other := domain.NewMember("m-3")
	enrol := domain.Event{ID: "e-3", Type: domain.TypeMemberEnrolled, Source: "test", MemberID: "m-3", OccurredAt: now, Body: domain.Enrolment{}}
	purchase := domain.Event{ID: "e-4", Type: domain.TypePurchaseCompleted, Source: "test", MemberID: "m-3", OccurredAt: now,
		Body: domain.Purchase{OrderID: "o-2022", Total: eur(40_00)}}
	for _, e := range []domain.Event{enrol, purchase} {
		if _, err := ix.apply(t, other, e, p); err != nil {
			t.Errorf("member m-3's own order o-2022: %v", err)
		}
	}
}

// The outcome a request key keeps is the member's own record of it: a held
// redemption later refused for want of stock is remembered refused.
func TestARequestClaimKeepsItsLastOutcome(t *testing.T) {
	at := t0
	claims := domain.ClaimsOf(memberID, []domain.Fact{
		domain.PointsHeld{FactMeta: meta("e-1", at), RequestID: "r-1", Points: 80},
		domain.RedemptionRejected{FactMeta: meta("e-2", at.Add(time.Hour)), RequestID: "r-1", Reason: domain.RedeemOutOfStock},
	})
	ix := index{}
	for _, c := range claims {
		ix[c.Key] = c
	}
	got := ix.known(redeemPoints("e-3", at, "r-1", 80)).Request
	if got == nil || got.Rejected != domain.RedeemOutOfStock || !got.At.Equal(at.Add(time.Hour)) {
		t.Errorf("outcome %+v, want refused out_of_stock at %s", got, at.Add(time.Hour))
	}
}
