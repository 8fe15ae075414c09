package domain_test

import (
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
)

func status(id string, at time.Time, s domain.MemberStatus, reason string) domain.Event {
	return event(id, at, domain.StatusChange{Status: s, Reason: reason})
}

func statusChanged(id string, at time.Time, from, to domain.MemberStatus, reason string) domain.StatusChanged {
	return domain.StatusChanged{FactMeta: meta(id, at), From: from, To: to, Reason: reason}
}

func TestMemberStatus(t *testing.T) {
	blocked := status("e-b", t0, domain.StatusBlocked, "card fraud check")
	happy := domain.Rule{ID: "happy", On: domain.TypeFeedbackSubmitted, Scope: domain.ScopeEvent, Award: domain.Award{Points: 15}}
	runRuleCases(t, []ruleCase{
		{
			name:  "an active member is blocked",
			given: []domain.Event{enrolled(), firstBuy},
			when:  blocked,
			want:  []domain.Fact{statusChanged("e-b", t0, domain.StatusActive, domain.StatusBlocked, "card fraud check")},
		},
		{
			name:  "a blocked member's purchase is recorded and earns nothing",
			given: []domain.Event{enrolled(), firstBuy, blocked},
			when:  buy("e-1", t0.Add(time.Hour), "o-1", eur(5000)),
			want:  []domain.Fact{purchased("e-1", t0.Add(time.Hour), "o-1", eur(5000), 5000, 5100)},
		},
		{
			name:    "nor their visits, nor program rules",
			program: withRules(happy),
			given:   []domain.Event{enrolled(), blocked},
			when:    visit("e-1", t0.Add(time.Hour)),
			want:    []domain.Fact{domain.VisitRecorded{FactMeta: meta("e-1", t0.Add(time.Hour)), Channel: "store-1"}},
		},
		{
			// the order earned 20 before the block; half refunded takes 10 back
			name:  "a refund still takes back what the order earned",
			given: []domain.Event{enrolled(), firstBuy, buy("e-1", t0.Add(-time.Hour), "o-1", eur(2000)), blocked},
			when:  refund("e-2", t0.Add(time.Hour), "o-1", eur(1000)),
			want: []domain.Fact{
				refunded("e-2", t0.Add(time.Hour), "o-1", eur(1000), -1000, 1100),
				reversed("e-2", t0.Add(time.Hour), 10, "o-1"),
			},
		},
		{
			name:  "a first purchase while blocked earns no first-purchase bonus",
			given: []domain.Event{enrolled(), blocked},
			when:  buy("e-1", t0.Add(time.Hour), "o-1", eur(1000)),
			want:  []domain.Fact{purchased("e-1", t0.Add(time.Hour), "o-1", eur(1000), 1000, 1000)},
		},
		{
			name:  "unblocked, the member earns again",
			given: []domain.Event{enrolled(), firstBuy, blocked, status("e-a", t0.Add(day), domain.StatusActive, "cleared")},
			when:  buy("e-1", t0.Add(2*day), "o-1", eur(1000)),
			want: []domain.Fact{
				purchased("e-1", t0.Add(2*day), "o-1", eur(1000), 1000, 1100),
				earned("e-1", t0.Add(2*day), 10, domain.RuleBase, "o-1"),
			},
		},
	})
}

func TestStatusChangeIsValidated(t *testing.T) {
	for _, e := range []domain.Event{status("e-x", t0, "suspended", ""), status("e-y", t0, domain.StatusBlocked, string(make([]byte, 2000)))} {
		rej := rejection(domain.Validate(e, t0))
		if rej == nil || rej.Reason != domain.ReasonInvalidField {
			t.Errorf("%s: %v, want invalid_field", e.ID, rej)
		}
	}
}
