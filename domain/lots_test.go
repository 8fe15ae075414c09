package domain_test

import (
	"reflect"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/pointsledger/loyalty/domain"
)

func withExpiry(x domain.Expiry) func(*domain.Program) {
	return func(p *domain.Program) { p.Earning.Expiry = x }
}

func earnedUntil(id string, at time.Time, points int64, rule, order string, expires time.Time) domain.PointsEarned {
	f := earned(id, at, points, rule, order)
	f.ExpiresAt = expires
	return f
}

func expired(id string, at time.Time, points int64, rule string) domain.PointsExpired {
	return domain.PointsExpired{FactMeta: meta(id, at), Points: points, Rule: rule, ProgramVersion: version}
}

func utcDate(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// eod is the end of t's UTC day: where the days policy puts expiry dates.
func eod(t time.Time) time.Time { return utcDate(t.Year(), t.Month(), t.Day()+1) }

// t0 is 2026-03-01 10:00 UTC.
func TestPointsExpiry(t *testing.T) {
	days30 := withExpiry(domain.Expiry{Policy: domain.ExpireAfterDays, Days: 30})
	first := buy("e-1", t0, "o-1", eur(2000)) // 20 base + 200 first purchase bonus
	// visitExpiringAt is the case of a new member's visit at t0 under
	// expiry: its 5 points expire at until.
	visitExpiringAt := func(name string, expiry domain.Expiry, until time.Time) ruleCase {
		return ruleCase{
			name:    name,
			program: withExpiry(expiry),
			given:   []domain.Event{enrolled()},
			when:    visit("e-2", t0),
			want: []domain.Fact{
				domain.VisitRecorded{FactMeta: meta("e-2", t0), Channel: "store-1"},
				earnedUntil("e-2", t0, 5, domain.RuleVisitBonus, "", until),
			},
		}
	}
	runRuleCases(t, []ruleCase{
		{
			name:    "earned points carry their expiry: the end of the 30th day",
			program: days30,
			given:   []domain.Event{enrolled()},
			when:    first,
			want: []domain.Fact{
				purchased("e-1", t0, "o-1", eur(2000), 2000, 2000),
				earnedUntil("e-1", t0, 20, domain.RuleBase, "o-1", eod(t0.Add(30*day))),
				earnedUntil("e-1", t0, 200, domain.RuleFirstPurchaseBonus, "o-1", eod(t0.Add(30*day))),
			},
		},
		{
			name:    "the next event after the date finds them expired, dated when they expired",
			program: days30,
			given:   []domain.Event{enrolled(), first},
			when:    visit("e-2", t0.Add(31*day)),
			want: []domain.Fact{
				expired("e-2", eod(t0.Add(30*day)), 220, domain.RuleExpiry),
				domain.VisitRecorded{FactMeta: meta("e-2", t0.Add(31*day)), Channel: "store-1"},
				earnedUntil("e-2", t0.Add(31*day), 5, domain.RuleVisitBonus, "", eod(t0.Add(61*day))),
			},
		},
		{
			name:    "before the date nothing expires",
			program: days30,
			given:   []domain.Event{enrolled(), first},
			when:    visit("e-2", t0.Add(29*day)),
			want: []domain.Fact{
				domain.VisitRecorded{FactMeta: meta("e-2", t0.Add(29*day)), Channel: "store-1"},
				earnedUntil("e-2", t0.Add(29*day), 5, domain.RuleVisitBonus, "", eod(t0.Add(59*day))),
			},
		},
		visitExpiringAt("end of the month they were earned in",
			domain.Expiry{Policy: domain.ExpireEndOfMonth}, utcDate(2026, 4, 1)),
		visitExpiringAt("end of the quarter after the one they were earned in",
			domain.Expiry{Policy: domain.ExpireEndOfQuarter, Periods: 1}, utcDate(2026, 7, 1)),
		visitExpiringAt("end of the year after next",
			domain.Expiry{Policy: domain.ExpireEndOfYear, Periods: 2}, utcDate(2029, 1, 1)),
		{
			name:    "inactivity: the whole balance, 90 days after the last activity",
			program: withExpiry(domain.Expiry{Policy: domain.ExpireOnInactivity, Days: 90}),
			given:   []domain.Event{enrolled(), first, visit("e-v", t0.Add(10*day))},
			when:    visit("e-2", t0.Add(120*day)),
			want: []domain.Fact{
				expired("e-2", t0.Add(100*day), 225, domain.RuleInactivity),
				domain.VisitRecorded{FactMeta: meta("e-2", t0.Add(120*day)), Channel: "store-1"},
				earned("e-2", t0.Add(120*day), 5, domain.RuleVisitBonus, ""),
			},
		},
		{
			name:    "a clock event expires what is due and records nothing else",
			program: days30,
			given:   []domain.Event{enrolled(), first},
			when:    event("e-c", t0.Add(40*day), domain.Clock{}),
			want:    []domain.Fact{expired("e-c", eod(t0.Add(30*day)), 220, domain.RuleExpiry)},
		},
		{
			name:    "a clock event with nothing due records nothing",
			program: days30,
			given:   []domain.Event{enrolled(), first},
			when:    event("e-c", t0.Add(10*day), domain.Clock{}),
			want:    nil,
		},
		{
			// lots: 220 until t0+30d, 5 until t0+40d (the visit); the refund
			// of half the order takes back 10 from the soonest lot, which
			// then expires with 210
			name:    "reversals draw from the soonest-expiring points",
			program: days30,
			given:   []domain.Event{enrolled(), first, visit("e-v", t0.Add(10*day)), refund("e-r", t0.Add(11*day), "o-1", eur(1000))},
			when:    visit("e-2", t0.Add(35*day)),
			want: []domain.Fact{
				expired("e-2", eod(t0.Add(30*day)), 210, domain.RuleExpiry),
				domain.VisitRecorded{FactMeta: meta("e-2", t0.Add(35*day)), Channel: "store-1"},
				earnedUntil("e-2", t0.Add(35*day), 5, domain.RuleVisitBonus, "", eod(t0.Add(65*day))),
			},
		},
	})
}

// The balance always equals the points of the dated lots plus those that
// expire by no date; expired points leave both.
func TestLotsAddUpToTheBalance(t *testing.T) {
	p := testProgram()
	p.Earning.Expiry = domain.Expiry{Policy: domain.ExpireAfterDays, Days: 20}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	m := given(t, p, enrolled(), buy("e-1", t0, "o-1", eur(2000)), visit("e-2", t0.Add(5*day)),
		refund("e-3", t0.Add(6*day), "o-1", eur(500)), visit("e-4", t0.Add(25*day)), visit("e-5", t0.Add(50*day)))
	var lots int64
	for _, l := range m.ExpiringPoints() {
		lots += l.Points
		if l.Points <= 0 {
			t.Errorf("lot %v holds %d points", l.At, l.Points)
		}
	}
	if lots != m.Balance || m.Balance != 5 {
		t.Errorf("lots %d, balance %d; want both 5 (only the last visit's points are left)", lots, m.Balance)
	}
}

func TestExpiryIsValidated(t *testing.T) {
	for _, x := range []domain.Expiry{{Policy: "weekly"}, {Policy: domain.ExpireAfterDays}, {Policy: domain.ExpireOnInactivity, Days: -1}, {Policy: domain.ExpireEndOfYear, Periods: -1}} {
		p := testProgram()
		p.Earning.Expiry = x
		if err := p.Validate(); err == nil {
			t.Errorf("%+v was accepted", x)
		}
	}
}

// For random programs with an expiry policy and random histories: Decide
// changes nothing, Apply decides the same, folding the facts again gives the
// same member, no lot is empty or negative, lots are in date order, expiry
// never takes more than the balance or dates a fact before the points were
// earned, the dated lots never hold more than the balance, and while the
// balance has never been negative (refunds of points that had expired can
// take it below zero) they equal it under a dated policy.
func TestLotInvariants(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := drawProgram(t)
		p.Earning.Expiry = rapid.SampledFrom([]domain.Expiry{
			{Policy: domain.ExpireAfterDays, Days: 30}, {Policy: domain.ExpireAfterDays, Days: 1},
			{Policy: domain.ExpireEndOfMonth}, {Policy: domain.ExpireEndOfQuarter, Periods: 1},
			{Policy: domain.ExpireEndOfYear, NoticeDays: 30}, {Policy: domain.ExpireOnInactivity, Days: 45},
		}).Draw(t, "expiry")
		dated := p.Earning.Expiry.Policy != domain.ExpireOnInactivity
		events := drawEvents(t)
		live, shadow := domain.NewMember(memberID), domain.NewMember(memberID)
		everNegative := false
		for i, e := range events {
			before := live.Balance
			decided, decideErr := domain.Decide(live, e, p)
			if !reflect.DeepEqual(live, shadow) {
				t.Fatalf("event %d: Decide changed the member", i)
			}
			facts, err := domain.Apply(live, e, p)
			if !reflect.DeepEqual(facts, decided) || !reflect.DeepEqual(err, decideErr) {
				t.Fatalf("event %d: Apply and Decide differ", i)
			}
			var expiredPoints, releasedPoints int64
			for _, f := range facts {
				shadow.Evolve(f)
				if r, ok := f.(domain.PointsReleased); ok {
					releasedPoints += r.Points
				}
				if x, ok := f.(domain.PointsExpired); ok {
					expiredPoints += x.Points
					if x.Points <= 0 || x.OccurredAt.After(e.OccurredAt) {
						t.Fatalf("event %d: expired %+v", i, x)
					}
				}
			}
			if !reflect.DeepEqual(live, shadow) {
				t.Fatalf("event %d: folding the facts again gives another member", i)
			}
			if before >= 0 && expiredPoints > before+releasedPoints {
				t.Fatalf("event %d: %d points expired of a balance of %d (and %d released)", i, expiredPoints, before, releasedPoints)
			}
			everNegative = everNegative || live.Balance < 0
			var lots int64
			lotList := live.ExpiringPoints()
			for j, l := range lotList {
				if l.Points <= 0 || j > 0 && !l.At.After(lotList[j-1].At) {
					t.Fatalf("event %d: lots %+v", i, lotList)
				}
				lots += l.Points
			}
			if lots > max(live.Balance, 0) {
				t.Fatalf("event %d: dated lots %d, balance %d", i, lots, live.Balance)
			}
			if dated && !everNegative && lots != live.Balance {
				t.Fatalf("event %d: balance %d, dated lots %d%s", i, live.Balance, lots, formatFacts(facts))
			}
		}
	})
}

// Points that pay off a negative balance are not a lot: a later award's
// points do not expire on an earlier lot's date.
func TestLotsAfterANegativeBalance(t *testing.T) {
	d := func(m time.Month, day int) time.Time { return time.Date(2026, m, day, 12, 0, 0, 0, time.UTC) }
	runRuleCases(t, []ruleCase{{
		name: "refund of expired points, then new awards",
		program: func(p *domain.Program) {
			p.Earning.FirstPurchaseBonus = 0
			p.Earning.Expiry = domain.Expiry{Policy: domain.ExpireEndOfMonth}
		},
		given: []domain.Event{
			enrolled(),
			buy("e-a", d(3, 26), "o-a", eur(10000)),    // 100 until Apr 1
			event("e-c", d(4, 2), domain.Clock{}),      // they expire
			refund("e-ra", d(4, 5), "o-a", eur(10000)), // -100
			buy("e-b", d(4, 6), "o-b", eur(15000)),     // +150: 50 left to expire May 1
			refund("e-rb", d(4, 7), "o-b", eur(5000)),  // -50: 0, no lot
			buy("e-cc", d(5, 6), "o-c", eur(10000)),    // +100 until Jun 1
		},
		when: visit("e-v", d(5, 7)),
		want: []domain.Fact{
			domain.VisitRecorded{FactMeta: meta("e-v", d(5, 7)), Channel: "store-1"},
			earnedUntil("e-v", d(5, 7), 5, domain.RuleVisitBonus, "", utcDate(2026, 6, 1)),
		},
	}})
}

// With notice_days 10, points that expire at the end of March are noticed
// from 22 March: once, dated then.
func TestExpiryNotices(t *testing.T) {
	monthly := withExpiry(domain.Expiry{Policy: domain.ExpireEndOfMonth, NoticeDays: 10})
	first := buy("e-1", t0, "o-1", eur(2000)) // 220 points until 1 April
	notice := func(id string, points int64) domain.PointsExpiring {
		return domain.PointsExpiring{FactMeta: meta(id, utcDate(2026, 3, 22)), Points: points, ExpiresAt: utcDate(2026, 4, 1), ProgramVersion: version}
	}
	runRuleCases(t, []ruleCase{
		{
			name:    "not before the notice day",
			program: monthly,
			given:   []domain.Event{enrolled(), first},
			when:    event("e-c", utcDate(2026, 3, 21), domain.Clock{}),
			want:    nil,
		},
		{
			name:    "from it",
			program: monthly,
			given:   []domain.Event{enrolled(), first},
			when:    event("e-c", utcDate(2026, 3, 25), domain.Clock{}),
			want:    []domain.Fact{notice("e-c", 220)},
		},
		{
			name:    "once",
			program: monthly,
			given:   []domain.Event{enrolled(), first, event("e-c", utcDate(2026, 3, 25), domain.Clock{})},
			when:    event("e-d", utcDate(2026, 3, 28), domain.Clock{}),
			want:    nil,
		},
		{
			name: "what is left of the lot",
			program: func(p *domain.Program) {
				monthly(p)
				p.Redemption.DirectPoints = true
			},
			given: []domain.Event{enrolled(), first, withReward("e-r", utcDate(2026, 3, 10))},
			when:  event("e-c", utcDate(2026, 3, 25), domain.Clock{}),
			want:  []domain.Fact{notice("e-c", 70)},
		},
	})
}

// withReward is a redemption of 150 points (needs withCatalogue's coffee).
func withReward(id string, at time.Time) domain.Event {
	return redeemPoints(id, at, "r-"+id, 150)
}
