package domain_test

import (
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
)

func withTransfers(p *domain.Program) {
	p.Transfers = domain.Transfers{Allowed: true, MinPoints: 50}
	p.Earning.Referral = domain.Referral{ReferrerPoints: 300, ReferredPoints: 100}
}

func transfer(id string, at time.Time, request, to string, points int64) domain.Event {
	return event(id, at, domain.TransferRequest{RequestID: request, ToMemberID: to, Points: points})
}

func transferRefused(id string, at time.Time, request, to string, points int64, reason domain.RedemptionReason, detail string) domain.TransferRejected {
	return domain.TransferRejected{FactMeta: meta(id, at), RequestID: request, ToMemberID: to, Points: points,
		Reason: reason, Detail: detail, ProgramVersion: version}
}

// firstBuy leaves the member 201 points.
func TestTransfers(t *testing.T) {
	at := t0.Add(time.Hour)
	runRuleCases(t, []ruleCase{
		{
			name:    "points go out to another member",
			program: withTransfers,
			given:   []domain.Event{enrolled(), firstBuy},
			when:    transfer("e-1", at, "t-1", "m-2", 150),
			want: []domain.Fact{domain.PointsTransferred{FactMeta: meta("e-1", at), RequestID: "t-1", ToMemberID: "m-2", Points: 150,
				ProgramVersion: version}},
		},
		{
			name:    "not more than are available",
			program: withTransfers,
			given:   []domain.Event{enrolled(), firstBuy},
			when:    transfer("e-1", at, "t-1", "m-2", 250),
			want:    []domain.Fact{transferRefused("e-1", at, "t-1", "m-2", 250, domain.TransferInsufficientPoints, "transfers 250 points, 201 available")},
		},
		{
			name:    "not fewer than the minimum",
			program: withTransfers,
			given:   []domain.Event{enrolled(), firstBuy},
			when:    transfer("e-1", at, "t-1", "m-2", 10),
			want:    []domain.Fact{transferRefused("e-1", at, "t-1", "m-2", 10, domain.TransferBelowMinimum, "at least 50 points per transfer")},
		},
		{
			name:  "not under a program without transfers",
			given: []domain.Event{enrolled(), firstBuy},
			when:  transfer("e-1", at, "t-1", "m-2", 100),
			want:  []domain.Fact{transferRefused("e-1", at, "t-1", "m-2", 100, domain.TransferNotAllowed, "the program does not allow transfers")},
		},
		{
			name:    "a request is decided once",
			program: withTransfers,
			given:   []domain.Event{enrolled(), firstBuy, transfer("e-1", at, "t-1", "m-2", 100)},
			when:    transfer("e-2", at.Add(time.Minute), "t-1", "m-2", 100),
			reason:  domain.ReasonDuplicateRequest,
			field:   "request_id",
		},
		{
			name: "the recipient's side: credited, with the program's expiry",
			program: func(p *domain.Program) {
				withTransfers(p)
				p.Earning.Expiry = domain.Expiry{Policy: domain.ExpireEndOfYear}
			},
			given: []domain.Event{enrolled()},
			when:  event("transfer-x", at, domain.TransferIn{FromMemberID: "m-2", RequestID: "t-9", Points: 150}),
			want: []domain.Fact{domain.PointsReceived{FactMeta: meta("transfer-x", at), FromMemberID: "m-2", RequestID: "t-9", Points: 150,
				ExpiresAt: utcDate(2027, 1, 1), ProgramVersion: version}},
		},
		{
			name:    "a recipient with no history becomes a member",
			program: withTransfers,
			when:    event("transfer-x", at, domain.TransferIn{FromMemberID: "m-2", RequestID: "t-9", Points: 150}),
			want: []domain.Fact{
				firstTier("transfer-x", at),
				domain.PointsReceived{FactMeta: meta("transfer-x", at), FromMemberID: "m-2", RequestID: "t-9", Points: 150, ProgramVersion: version},
			},
		},
	})
}

func TestTransferFollowUpIsTheSameEventEveryTime(t *testing.T) {
	f := domain.PointsTransferred{FactMeta: meta("e-1", t0), RequestID: "t-1", ToMemberID: "m-2", Points: 150}
	a, ok := domain.FollowUp(f)
	b, _ := domain.FollowUp(f)
	if !ok || a.ID != b.ID || a.MemberID != "m-2" || !a.OccurredAt.Equal(t0) || a.Body != (domain.TransferIn{FromMemberID: memberID, RequestID: "t-1", Points: 150}) {
		t.Errorf("follow-up %+v (and %+v)", a, b)
	}
	other, _ := domain.FollowUp(domain.PointsTransferred{FactMeta: meta("e-2", t0), RequestID: "t-2", ToMemberID: "m-2", Points: 150})
	if other.ID == a.ID {
		t.Error("two transfers share a follow-up id")
	}
	if err := domain.Validate(a, t0); err != nil {
		t.Errorf("follow-up does not validate: %v", err)
	}
	if _, ok := domain.FollowUp(earned("e-1", t0, 5, domain.RuleBase, "")); ok {
		t.Error("an award has a follow-up")
	}
}

func TestReferrals(t *testing.T) {
	referred := event("e-enrol", enrolAt, domain.Enrolment{Channel: "app", ReferredBy: "m-ref"})
	runRuleCases(t, []ruleCase{
		{
			name:    "the referred member's first purchase: their bonus, and the referrer's to follow",
			program: withTransfers,
			given:   []domain.Event{referred},
			when:    buy("e-1", t0, "o-1", eur(1000)),
			want: []domain.Fact{
				purchased("e-1", t0, "o-1", eur(1000), 1000, 1000),
				earned("e-1", t0, 10, domain.RuleBase, "o-1"),
				earned("e-1", t0, 200, domain.RuleFirstPurchaseBonus, "o-1"),
				earned("e-1", t0, 100, domain.RuleReferred, "o-1"),
				domain.ReferralQualified{FactMeta: meta("e-1", t0), ReferrerID: "m-ref"},
			},
		},
		{
			name:    "only the first",
			program: withTransfers,
			given:   []domain.Event{referred, buy("e-1", t0, "o-1", eur(1000))},
			when:    buy("e-2", t0.Add(day), "o-2", eur(1000)),
			want: []domain.Fact{
				purchased("e-2", t0.Add(day), "o-2", eur(1000), 1000, 2000),
				earned("e-2", t0.Add(day), 10, domain.RuleBase, "o-2"),
			},
		},
		{
			name:    "the referrer's bonus",
			program: withTransfers,
			given:   []domain.Event{enrolled()},
			when:    event("referral-x", t0, domain.ReferralReward{ReferredMemberID: "m-9"}),
			want: []domain.Fact{domain.PointsEarned{FactMeta: meta("referral-x", t0), Points: 300, Rule: domain.RuleReferrer,
				OrderID: "referral:m-9", ProgramVersion: version}},
		},
		{
			name:    "a blocked referrer earns nothing",
			program: withTransfers,
			given:   []domain.Event{enrolled(), status("e-b", t0.Add(-time.Hour), domain.StatusBlocked, "review")},
			when:    event("referral-x", t0, domain.ReferralReward{ReferredMemberID: "m-9"}),
			want:    nil,
		},
	})
	for _, c := range []struct {
		body  domain.EventBody
		field string
	}{
		{domain.Enrolment{ReferredBy: memberID}, "referred_by"},
		{domain.TransferRequest{RequestID: "t", ToMemberID: memberID, Points: 5}, "to_member_id"},
		{domain.TransferRequest{RequestID: "t", ToMemberID: "m-2"}, "points"},
		{domain.TransferRequest{ToMemberID: "m-2", Points: 5}, "request_id"},
	} {
		if rej := rejection(domain.Validate(event("e-x", t0, c.body), t0)); rej == nil || rej.Field != c.field {
			t.Errorf("%+v: %v, want a rejection of %s", c.body, rej, c.field)
		}
	}
}
