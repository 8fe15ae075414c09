package domain_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
)

func withPending(days int, confirmation bool, policy domain.ReturnsPolicy) func(*domain.Program) {
	return func(p *domain.Program) {
		p.Earning.Pending = domain.Pending{Days: days, Confirmation: confirmation}
		p.Returns.Policy = policy
		p.Redemption.DirectPoints = true
	}
}

func earnedPending(id string, at time.Time, points int64, rule, order string, available time.Time) domain.PointsEarned {
	f := earned(id, at, points, rule, order)
	f.AvailableAt = available
	return f
}

func released(id string, at time.Time, order string, points int64, expires time.Time) domain.PointsReleased {
	return domain.PointsReleased{FactMeta: meta(id, at), OrderID: order, Points: points, ExpiresAt: expires, ProgramVersion: version}
}

func cancelled(id string, at time.Time, order string, points int64) domain.PointsCancelled {
	return domain.PointsCancelled{FactMeta: meta(id, at), OrderID: order, Points: points, ProgramVersion: version}
}

func confirm(id string, at time.Time, order string) domain.Event {
	return event(id, at, domain.Confirmation{OrderID: order})
}

// The order o-1 of 20.00 EUR at t0 earns 20 base points and the 200 of the
// first purchase, pending for 14 days: available at the end of day 14.
func TestPendingPoints(t *testing.T) {
	pending := withPending(14, true, domain.ReturnsUnlimited)
	until := eod(t0.Add(14 * day))
	order := buy("e-1", t0, "o-1", eur(2000))
	runRuleCases(t, []ruleCase{
		{
			name:    "a purchase's points wait",
			program: pending,
			given:   []domain.Event{enrolled()},
			when:    order,
			want: []domain.Fact{
				purchased("e-1", t0, "o-1", eur(2000), 2000, 2000),
				earnedPending("e-1", t0, 20, domain.RuleBase, "o-1", until),
				earnedPending("e-1", t0, 200, domain.RuleFirstPurchaseBonus, "o-1", until),
			},
		},
		{
			name:    "pending points cannot be spent",
			program: pending,
			given:   []domain.Event{enrolled(), order},
			when:    redeemPoints("e-2", t0.Add(day), "r-1", 100),
			want:    []domain.Fact{refusedPoints("e-2", t0.Add(day), "r-1", 100, domain.RedeemInsufficientPoints, "costs 100 points, 0 available")},
		},
		{
			name:    "points from other events are available at once",
			program: pending,
			given:   []domain.Event{enrolled(), order},
			when:    visit("e-2", t0.Add(day)),
			want: []domain.Fact{
				domain.VisitRecorded{FactMeta: meta("e-2", t0.Add(day)), Channel: "store-1"},
				earned("e-2", t0.Add(day), 5, domain.RuleVisitBonus, ""),
			},
		},
		{
			name:    "the first event after the date finds them available, dated then",
			program: pending,
			given:   []domain.Event{enrolled(), order},
			when:    redeemPoints("e-2", t0.Add(15*day), "r-1", 100),
			want: []domain.Fact{
				released("e-2", until, "o-1", 220, time.Time{}),
				redeemed("e-2", t0.Add(15*day), "r-1", "", 0, 100),
			},
		},
		{
			name:    "the clock's event too",
			program: pending,
			given:   []domain.Event{enrolled(), order},
			when:    event("e-c", t0.Add(15*day), domain.Clock{}),
			want:    []domain.Fact{released("e-c", until, "o-1", 220, time.Time{})},
		},
		{
			name: "released points expire from their release",
			program: func(p *domain.Program) {
				pending(p)
				p.Earning.Expiry = domain.Expiry{Policy: domain.ExpireAfterDays, Days: 30}
			},
			given: []domain.Event{enrolled(), order},
			when:  event("e-c", t0.Add(15*day), domain.Clock{}),
			want:  []domain.Fact{released("e-c", until, "o-1", 220, eod(until.Add(30*day)))},
		},
		{
			name: "and expire with the same event if their date has passed too",
			program: func(p *domain.Program) {
				pending(p)
				p.Earning.Expiry = domain.Expiry{Policy: domain.ExpireAfterDays, Days: 30}
			},
			given: []domain.Event{enrolled(), order},
			when:  event("e-c", t0.Add(60*day), domain.Clock{}),
			want: []domain.Fact{
				released("e-c", until, "o-1", 220, eod(until.Add(30*day))),
				expired("e-c", eod(until.Add(30*day)), 220, domain.RuleExpiry),
			},
		},
		{
			name:    "a confirmation makes them available at once",
			program: pending,
			given:   []domain.Event{enrolled(), order},
			when:    confirm("e-2", t0.Add(2*day), "o-1"),
			want: []domain.Fact{
				domain.PurchaseConfirmed{FactMeta: meta("e-2", t0.Add(2*day)), OrderID: "o-1"},
				released("e-2", t0.Add(2*day), "o-1", 220, time.Time{}),
			},
		},
		{
			name:    "under a program that does not wait for one, it is only recorded",
			program: withPending(14, false, domain.ReturnsUnlimited),
			given:   []domain.Event{enrolled(), order},
			when:    confirm("e-2", t0.Add(2*day), "o-1"),
			want:    []domain.Fact{domain.PurchaseConfirmed{FactMeta: meta("e-2", t0.Add(2*day)), OrderID: "o-1"}},
		},
		{
			name:    "a confirmation of an order not on record",
			program: pending,
			given:   []domain.Event{enrolled(), order},
			when:    confirm("e-2", t0.Add(2*day), "o-9"),
			reason:  domain.ReasonUnknownOrder,
			field:   "order_id",
		},
	})
}

// Returns of a pending order cancel its pending points; once available,
// the returns policy decides. Half of o-1 refunded takes back 10 of its 20
// base points (the first-purchase bonus is the member's, not the order's).
func TestReturnsOfPendingPoints(t *testing.T) {
	order := buy("e-1", t0, "o-1", eur(2000))
	half := func(at time.Time) domain.Event { return refund("e-r", at, "o-1", eur(1000)) }
	early, late := t0.Add(3*day), t0.Add(20*day)
	until := eod(t0.Add(14 * day))
	for _, policy := range []domain.ReturnsPolicy{domain.ReturnsUnlimited, domain.ReturnsWithinBalance, domain.ReturnsOnlyPending} {
		runRuleCases(t, []ruleCase{
			{
				name:    string(policy) + ": while pending, cancelled",
				program: withPending(14, true, policy),
				given:   []domain.Event{enrolled(), order},
				when:    half(early),
				want: []domain.Fact{
					refunded("e-r", early, "o-1", eur(1000), -1000, 1000),
					cancelled("e-r", early, "o-1", 10),
				},
			},
		})
	}
	runRuleCases(t, []ruleCase{
		{
			name:    "unlimited: once available, reversed from the balance",
			program: withPending(14, true, domain.ReturnsUnlimited),
			given:   []domain.Event{enrolled(), order},
			when:    half(late),
			want: []domain.Fact{
				released("e-r", until, "o-1", 220, time.Time{}),
				refunded("e-r", late, "o-1", eur(1000), -1000, 1000),
				reversed("e-r", late, 10, "o-1"),
			},
		},
		{
			name:    "only_pending: once available, nothing is taken",
			program: withPending(14, true, domain.ReturnsOnlyPending),
			given:   []domain.Event{enrolled(), order},
			when:    half(late),
			want: []domain.Fact{
				released("e-r", until, "o-1", 220, time.Time{}),
				refunded("e-r", late, "o-1", eur(1000), -1000, 1000),
			},
		},
		{
			name:    "only_pending, the refund that completes the order cancels the rest and the pending bonus",
			program: withPending(14, true, domain.ReturnsOnlyPending),
			given:   []domain.Event{enrolled(), order, half(early)},
			when:    refund("e-r2", early.Add(time.Hour), "o-1", eur(1000)),
			want: []domain.Fact{
				refunded("e-r2", early.Add(time.Hour), "o-1", eur(1000), -1000, 0),
				cancelled("e-r2", early.Add(time.Hour), "o-1", 210), // 20 - 10, and the first purchase bonus
			},
		},
		{
			name:    "only_pending, a bonus already available is not taken",
			program: withPending(14, true, domain.ReturnsOnlyPending),
			given:   []domain.Event{enrolled(), order, half(early)},
			when:    refund("e-r2", late, "o-1", eur(1000)),
			want: []domain.Fact{
				released("e-r2", until, "o-1", 210, time.Time{}),
				refunded("e-r2", late, "o-1", eur(1000), -1000, 0),
			},
		},
		{
			name:    "what was cancelled is not released",
			program: withPending(14, true, domain.ReturnsUnlimited),
			given:   []domain.Event{enrolled(), order, half(early)},
			when:    event("e-c", late, domain.Clock{}),
			want:    []domain.Fact{released("e-c", until, "o-1", 210, time.Time{})},
		},
	})
}

func TestPendingIsValidated(t *testing.T) {
	for _, x := range []domain.Pending{{Days: -1}, {Days: domain.MaxPendingDays + 1}, {Confirmation: true}} {
		p := testProgram()
		p.Earning.Pending = x
		if err := p.Validate(); err == nil {
			t.Errorf("%+v was accepted", x)
		}
	}
}

// A member with more orders due than one event may release gets them
// released in turns by their next events, soonest first, none lost.
func TestReleasesAreBoundedPerEvent(t *testing.T) {
	p := testProgram()
	withPending(14, false, domain.ReturnsUnlimited)(p)
	m := domain.NewMember(memberID)
	orders := 2*domain.MaxReleasesPerEvent + 500
	for i := range orders {
		at := t0.Add(time.Duration(i) * time.Second)
		if _, err := domain.Apply(m, buy(fmt.Sprintf("e-%d", i), at, fmt.Sprintf("o-%d", i), eur(10_00)), p); err != nil {
			t.Fatal(err)
		}
	}
	pending := m.Pending
	later := t0.Add(30 * day)
	var released []int
	var points int64
	var last time.Time
	for i := range 4 {
		facts, err := domain.Apply(m, visit(fmt.Sprintf("v-%d", i), later.Add(time.Duration(i)*time.Hour)), p)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, f := range facts {
			if r, ok := f.(domain.PointsReleased); ok {
				n++
				points += r.Points
				if r.OccurredAt.Before(last) {
					t.Fatalf("release of %s at %s after one at %s", r.OrderID, r.OccurredAt, last)
				}
				last = r.OccurredAt
			}
		}
		released = append(released, n)
	}
	want := []int{domain.MaxReleasesPerEvent, domain.MaxReleasesPerEvent, 500, 0}
	if fmt.Sprint(released) != fmt.Sprint(want) || points != pending || m.Pending != 0 {
		t.Errorf("released %v by four events (%d points of %d pending, %d left), want %v and all of them", released, points, pending, m.Pending, want)
	}
}
