package domain_test

import (
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
)

func TestNewMember(t *testing.T) {
	m := domain.NewMember("m-42")
	if m.ID != "m-42" || m.Known() || m.Balance != 0 || m.Lifetime != 0 || m.Tier != "" || m.Purchases != 0 {
		t.Errorf("NewMember = %+v, want an unknown member m-42 with nothing", m)
	}
	if o := m.Order("o-1"); o != nil {
		t.Errorf("Order(o-1) = %+v, want nil", o)
	}
}

func TestMemberStateAfterHistory(t *testing.T) {
	p := testProgram()
	m := given(t, p,
		enrolled(),                                        // tier bronze
		buy("e-1", t0, "o-1", eur(1000)),                  // +10 base, +200 first purchase
		feedbackOn("e-2", t1, "o-1"),                      // +25
		visit("e-3", t1),                                  // +5
		refund("e-4", t1, "o-1", eur(333)),                // -3
		event("e-5", t0.Add(time.Minute), domain.Visit{}), // +5, dated before e-2
	)
	checks := []struct {
		name      string
		got, want any
	}{
		{"Balance", m.Balance, int64(242)},
		{"Lifetime", m.Lifetime, int64(245)},
		{"Tier", m.Tier, "bronze"},
		{"TierSince", m.TierSince, enrolAt},
		{"EnrolledAt", m.EnrolledAt, enrolAt},
		{"FirstActivity", m.FirstActivity, enrolAt},
		{"LastActivity", m.LastActivity, t1},
		{"Purchases", m.Purchases, int64(1)},
		{"QualifyingSpend", m.QualifyingSpend, int64(667)},
		{"Known", m.Known(), true},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	o := m.Order("o-1")
	if o == nil {
		t.Fatal("Order(o-1) = nil, want the order")
	}
	orderChecks := []struct {
		name      string
		got, want any
	}{
		{"PlacedAt", o.PlacedAt, t0},
		{"Total", o.Total, eur(1000)},
		{"QualifyingSpend", o.QualifyingSpend, int64(1000)},
		{"Earned", o.Earned, int64(10)}, // base and tier points only
		{"Bonus", o.Bonus, int64(200)},  // the first-purchase bonus
		{"Refunded", o.Refunded, int64(333)},
		{"Reversed", o.Reversed, int64(3)},
		{"QualifyingLost", o.QualifyingLost, int64(333)},
		{"FeedbackRewarded", o.FeedbackRewarded, true},
	}
	for _, c := range orderChecks {
		if c.got != c.want {
			t.Errorf("Order(o-1).%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestMemberTierState(t *testing.T) {
	p := testProgram()
	m := given(t, p, with(silver, refund("e-2", firstBuyAt.Add(day), "o-0", eur(500_00)))...)
	if m.Tier != "silver" || !m.TierSince.Equal(firstBuyAt) {
		t.Errorf("after a full refund of the qualifying order: Tier = %q since %v, want %q since %v (refunds never lower a tier)",
			m.Tier, m.TierSince, "silver", firstBuyAt)
	}
	if got, want := m.QualifyingSpend, int64(0); got != want {
		t.Errorf("QualifyingSpend = %d, want %d", got, want)
	}
	if got, want := m.Balance, int64(0); got != want { // 500 base + 200 bonus - 700 reversed
		t.Errorf("Balance = %d, want %d", got, want)
	}
}

func TestEvolveSingleFacts(t *testing.T) {
	at := t0
	tests := []struct {
		name                  string
		fact                  domain.Fact
		balance, lifetime     int64
		tier                  string
		purchases, qualifying int64
	}{
		{"points earned", earned("e-1", at, 7, domain.RuleVisitBonus, ""), 7, 7, "", 0, 0},
		{"points for an order not on record", earned("e-1", at, 9, domain.RuleBase, "o-9"), 9, 9, "", 0, 0},
		{"points reversed take from balance, not lifetime", reversed("e-1", at, 3, "o-9"), -3, 0, "", 0, 0},
		{"tier changed", upgrade("e-1", at, "bronze", "gold"), 0, 0, "gold", 0, 0},
		{"purchase recorded", purchased("e-1", at, "o-1", eur(1000), 1000, 4000), 0, 0, "", 1, 4000},
		{"refund of an order not on record", refunded("e-1", at, "o-9", eur(100), -100, 2500), 0, 0, "", 0, 2500},
		{"visit recorded", domain.VisitRecorded{FactMeta: meta("e-1", at)}, 0, 0, "", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := domain.NewMember(memberID)
			m.Evolve(tt.fact)
			if m.Balance != tt.balance || m.Lifetime != tt.lifetime || m.Tier != tt.tier ||
				m.Purchases != tt.purchases || m.QualifyingSpend != tt.qualifying {
				t.Errorf("after %T: balance %d lifetime %d tier %q purchases %d qualifying %d; want %d %d %q %d %d",
					tt.fact, m.Balance, m.Lifetime, m.Tier, m.Purchases, m.QualifyingSpend,
					tt.balance, tt.lifetime, tt.tier, tt.purchases, tt.qualifying)
			}
			if !m.Known() || !m.FirstActivity.Equal(at) || !m.LastActivity.Equal(at) {
				t.Errorf("activity = %v..%v, known %v; want %v..%v, known", m.FirstActivity, m.LastActivity, m.Known(), at, at)
			}
		})
	}
}

func TestEvolveActivitySpan(t *testing.T) {
	m := domain.NewMember(memberID)
	for _, at := range []time.Time{t0, t0.Add(-day), t0.Add(2 * day), t0} {
		m.Evolve(domain.VisitRecorded{FactMeta: meta("e", at)})
	}
	if !m.FirstActivity.Equal(t0.Add(-day)) || !m.LastActivity.Equal(t0.Add(2*day)) {
		t.Errorf("activity = %v..%v, want %v..%v", m.FirstActivity, m.LastActivity, t0.Add(-day), t0.Add(2*day))
	}
}

func TestOrdersAreForgottenAfterTwoYears(t *testing.T) {
	p := testProgram()
	p.RefundWindow = 730 * day
	placed := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	m := given(t, p, buy("e-1", placed, "o-1", eur(1000)), buy("e-2", placed.Add(730*day), "o-2", eur(1000)))
	if m.Order("o-1") == nil {
		t.Fatal("Order(o-1) forgotten after exactly 730 days, want it kept")
	}
	if _, err := domain.Apply(m, refund("e-3", placed.Add(730*day), "o-1", eur(1000)), p); err != nil {
		t.Errorf("refund on the last day of a 730-day window: %v", err)
	}
	m = given(t, p, buy("e-1", placed, "o-1", eur(1000)), buy("e-2", placed.Add(730*day+time.Second), "o-2", eur(1000)))
	if o := m.Order("o-1"); o != nil {
		t.Errorf("Order(o-1) = %+v after 730 days and a second, want it forgotten", o)
	}
	facts, err := domain.Apply(m, buy("e-3", placed.Add(731*day), "o-1", eur(500)), p)
	if err != nil {
		t.Fatalf("reusing a forgotten order id: %v", err)
	}
	checkFacts(t, facts, []domain.Fact{
		purchased("e-3", placed.Add(731*day), "o-1", eur(500), 500, 1500),
		earned("e-3", placed.Add(731*day), 5, domain.RuleBase, "o-1"),
	})
}

func TestPointsDelta(t *testing.T) {
	tests := []struct {
		fact domain.Fact
		want int64
	}{
		{earned("e-1", t0, 25, domain.RuleFeedbackBonus, "o-1"), 25},
		{reversed("e-1", t0, 4, "o-1"), -4},
		{purchased("e-1", t0, "o-1", eur(1000), 1000, 1000), 0},
		{refunded("e-1", t0, "o-1", eur(1000), -1000, 0), 0},
		{upgrade("e-1", t0, "bronze", "silver"), 0},
		{domain.MemberEnrolled{}, 0},
		{domain.VisitRecorded{}, 0},
		{domain.FeedbackRecorded{}, 0},
	}
	for _, tt := range tests {
		if got := domain.PointsDelta(tt.fact); got != tt.want {
			t.Errorf("PointsDelta(%T) = %d, want %d", tt.fact, got, tt.want)
		}
	}
}

func TestFactTypeNames(t *testing.T) {
	tests := []struct {
		fact domain.Fact
		want domain.FactType
	}{
		{domain.MemberEnrolled{}, "loyalty.member.enrolled.v1"},
		{domain.PurchaseRecorded{}, "loyalty.purchase.recorded.v1"},
		{domain.RefundRecorded{}, "loyalty.refund.recorded.v1"},
		{domain.VisitRecorded{}, "loyalty.visit.recorded.v1"},
		{domain.FeedbackRecorded{}, "loyalty.feedback.recorded.v1"},
		{domain.PointsEarned{}, "loyalty.points.earned.v1"},
		{domain.PointsReversed{}, "loyalty.points.reversed.v1"},
		{domain.TierChanged{}, "loyalty.tier.changed.v1"},
		{domain.StatusChanged{}, "loyalty.member.status_changed.v1"},
	}
	for _, tt := range tests {
		if got := tt.fact.FactType(); got != tt.want {
			t.Errorf("%T.FactType() = %q, want %q", tt.fact, got, tt.want)
		}
	}
	f := earned("e-7", t0, 1, domain.RuleBase, "o-1")
	if got, want := f.Meta(), meta("e-7", t0); got != want {
		t.Errorf("Meta() = %+v, want %+v", got, want)
	}
}
