package domain_test

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
)

// withStock: bags (80 points) are a stocked reward, 2 units for everyone.
func withStock(p *domain.Program) {
	withCatalogue(false, 0)(p)
	for i := range p.Redemption.Rewards {
		if p.Redemption.Rewards[i].ID == "bag" {
			p.Redemption.Rewards[i].Stock = 2
		}
	}
}

func held(id string, at time.Time, request string, points int64) domain.PointsHeld {
	return domain.PointsHeld{FactMeta: meta(id, at), Points: points, RequestID: request, RewardID: "bag", Quantity: 1, Channel: "pos-1",
		ProgramVersion: version}
}

// A stocked reward: the points are held, the stock decides, the hold ends.
func TestStockedRewards(t *testing.T) {
	at := t0.Add(time.Hour)
	ask := func(id, member, request string) domain.Event {
		e := event(id, at, domain.StockRequest{RewardID: "bag", MemberID: member, RequestID: request, Quantity: 1})
		e.MemberID = domain.StockMemberPrefix + "bag"
		return e
	}
	answer := func(id string, granted bool) domain.Event {
		return event(id, at.Add(time.Second), domain.StockAnswer{RequestID: "r-1", RewardID: "bag", Granted: granted})
	}
	runRuleCases(t, []ruleCase{
		{
			name:    "the member's points are held",
			program: withStock,
			given:   []domain.Event{enrolled(), firstBuy},
			when:    redeem("e-1", at, "r-1", "bag", 1),
			want:    []domain.Fact{held("e-1", at, "r-1", 80)},
		},
		{
			name:    "a held request is decided: a second copy is a duplicate",
			program: withStock,
			given:   []domain.Event{enrolled(), firstBuy, redeem("e-1", at, "r-1", "bag", 1)},
			when:    redeem("e-2", at, "r-1", "bag", 1),
			reason:  domain.ReasonDuplicateRequest,
			field:   "request_id",
		},
		{
			name:    "granted: the hold is a redemption",
			program: withStock,
			given:   []domain.Event{enrolled(), firstBuy, redeem("e-1", at, "r-1", "bag", 1)},
			when:    answer("e-a", true),
			want:    []domain.Fact{domain.HoldRedeemed{FactMeta: meta("e-a", at.Add(time.Second)), RequestID: "r-1", Points: 80}},
		},
		{
			name:    "refused: out of stock, the points come back",
			program: withStock,
			given:   []domain.Event{enrolled(), firstBuy, redeem("e-1", at, "r-1", "bag", 1)},
			when:    answer("e-a", false),
			want: []domain.Fact{
				domain.RedemptionRejected{FactMeta: meta("e-a", at.Add(time.Second)), RequestID: "r-1", RewardID: "bag",
					Reason: domain.RedeemOutOfStock, Detail: `reward "bag" is out of stock`, ProgramVersion: version},
				domain.HoldReturned{FactMeta: meta("e-a", at.Add(time.Second)), RequestID: "r-1", Points: 80, ProgramVersion: version},
			},
		},
		{
			name:    "an answer to no hold changes nothing",
			program: withStock,
			given:   []domain.Event{enrolled(), firstBuy},
			when:    answer("e-a", true),
			want:    nil,
		},
	})
	// The stock's own member: two units, then none.
	p := testProgram()
	withStock(p)
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	stock := domain.NewMember(domain.StockMemberPrefix + "bag")
	for i, want := range []bool{true, true, false} {
		e := ask("s-"+string(rune('a'+i)), "m-"+string(rune('a'+i)), "r")
		facts, err := domain.Apply(stock, e, p)
		if err != nil || len(facts) != 1 {
			t.Fatalf("request %d: %v %s", i, err, formatFacts(facts))
		}
		_, taken := facts[0].(domain.StockTaken)
		if taken != want {
			t.Errorf("request %d: %T, want taken %v", i, facts[0], want)
		}
		if f, ok := domain.FollowUp(facts[0]); !ok || f.Type != domain.TypeStockAnswer || f.MemberID != "m-"+string(rune('a'+i)) ||
			f.Body.(domain.StockAnswer).Granted != want {
			t.Errorf("request %d: follow-up %+v", i, f)
		}
	}
	if stock.StockTakenOf("bag") != 2 || stock.Known() {
		t.Errorf("the stock gave %d units (want 2) and is a member: %v", stock.StockTakenOf("bag"), stock.Known())
	}
}

// A refused hold gives the points back to the lots they came from.
func TestHoldReturnsItsLots(t *testing.T) {
	p := testProgram()
	withStock(p)
	p.Earning.Expiry = domain.Expiry{Policy: domain.ExpireEndOfYear}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	at := t0.Add(time.Hour)
	m := given(t, p, enrolled(), firstBuy, redeem("e-1", at, "r-1", "bag", 1))
	before := m.ExpiringPoints()
	if _, err := domain.Apply(m, event("e-a", at, domain.StockAnswer{RequestID: "r-1", RewardID: "bag"}), p); err != nil {
		t.Fatal(err)
	}
	after := m.ExpiringPoints()
	if m.Balance != 201 || len(after) != 1 || after[0].Points != 201 || len(before) != 1 || before[0].Points != 121 {
		t.Errorf("balance %d, lots %+v (before the answer %+v); want 201 points back in their lot", m.Balance, after, before)
	}
}

// holdProgram: bags cost 400 and are stocked, there is no first purchase
// bonus, and points expire at the end of the 365th day after they were
// earned: a buy at t0 books a lot dated soon, one at t0+day a lot dated
// late.
func holdProgram(t *testing.T, returns domain.ReturnsPolicy) *domain.Program {
	t.Helper()
	p := testProgram()
	withStock(p)
	p.Earning.FirstPurchaseBonus = 0
	p.Earning.Expiry = domain.Expiry{Policy: domain.ExpireAfterDays, Days: 365}
	p.Returns.Policy = returns
	for i := range p.Redemption.Rewards {
		if p.Redemption.Rewards[i].ID == "bag" {
			p.Redemption.Rewards[i].Points = 400
		}
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	return p
}

// A hold returned after a refund took the balance below zero: the lots get
// back no more than the balance (points with a date never exceed
// max(balance, 0), as addCappedLot keeps them), the balance all of it; the
// refund's share comes off the soonest-expiring held lots, as a reversal
// takes them.
func TestHoldReturnedAfterRefundCapsItsLots(t *testing.T) {
	soon, late := time.Date(2027, 3, 2, 0, 0, 0, 0, time.UTC), time.Date(2027, 3, 3, 0, 0, 0, 0, time.UTC)
	at := t0.Add(day + time.Hour)
	oneLot := []domain.Event{enrolled(), buy("e-1", t0, "o-1", eur(400_00))}                                               // 400 soon
	twoLots := []domain.Event{enrolled(), buy("e-1", t0, "o-1", eur(100_00)), buy("e-2", t0.Add(day), "o-2", eur(300_00))} // 100 soon, 300 late
	for _, tc := range []struct {
		name       string
		returns    domain.ReturnsPolicy
		bought     []domain.Event
		refund     []domain.Event // while the points are held
		held       int64          // the balance while they are held
		balance    int64          // the balance once they are back
		lots       []domain.ExpiringLot
		likeNoHold bool // the member ends as the refund alone leaves them
	}{
		{name: "no refund: all of the lot comes back", bought: oneLot,
			held: 0, balance: 400, lots: []domain.ExpiringLot{{At: soon, Points: 400}}, likeNoHold: true},
		{name: "a refund of a quarter: the lot gets back the balance", bought: oneLot, refund: []domain.Event{refund("e-r", at, "o-1", eur(100_00))},
			held: -100, balance: 300, lots: []domain.ExpiringLot{{At: soon, Points: 300}}, likeNoHold: true},
		{name: "a full refund: nothing dated comes back", bought: oneLot, refund: []domain.Event{refund("e-r", at, "o-1", eur(400_00))},
			held: -400, balance: 0, lots: []domain.ExpiringLot{}, likeNoHold: true},
		{name: "within balance: the refund is debt, all of the lot comes back", returns: domain.ReturnsWithinBalance,
			bought: oneLot, refund: []domain.Event{refund("e-r", at, "o-1", eur(100_00))},
			held: 0, balance: 400, lots: []domain.ExpiringLot{{At: soon, Points: 400}}},
		{name: "two lots: the refund's share comes off the soonest", bought: twoLots, refund: []domain.Event{refund("e-r", at, "o-1", eur(100_00))},
			held: -100, balance: 300, lots: []domain.ExpiringLot{{At: late, Points: 300}}, likeNoHold: true},
		{name: "two lots, a part of the soonest taken", bought: twoLots, refund: []domain.Event{refund("e-r", at, "o-2", eur(50_00))},
			held: -50, balance: 350, lots: []domain.ExpiringLot{{At: soon, Points: 50}, {At: late, Points: 300}}, likeNoHold: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := holdProgram(t, tc.returns)
			m := given(t, p, with(with(tc.bought, redeem("e-h", at, "r-1", "bag", 1)), tc.refund...)...)
			if m.Balance != tc.held || len(m.ExpiringPoints()) != 0 {
				t.Fatalf("while held: balance %d (want %d), lots %+v (want none)", m.Balance, tc.held, m.ExpiringPoints())
			}

			answered := at.Add(time.Minute)
			facts, err := domain.Decide(m, event("e-a", answered, domain.StockAnswer{RequestID: "r-1", RewardID: "bag"}), p)
			if err != nil {
				t.Fatal(err)
			}
			want := domain.HoldReturned{FactMeta: meta("e-a", answered), RequestID: "r-1", Points: 400, ProgramVersion: version}
			if !slices.ContainsFunc(facts, func(f domain.Fact) bool { return reflect.DeepEqual(f, domain.Fact(want)) }) {
				t.Fatalf("facts:%s\nwant among them %+v", formatFacts(facts), want)
			}
			for _, f := range facts {
				m.Evolve(f)
			}
			lots := m.ExpiringPoints()
			if m.Balance != tc.balance || !reflect.DeepEqual(lots, tc.lots) {
				t.Errorf("balance %d, lots %+v; want %d, %+v", m.Balance, lots, tc.balance, tc.lots)
			}
			if d := datedPoints(m); d != max(m.Balance, 0) {
				t.Errorf("%d dated points with a balance of %d: want max(balance, 0)", d, m.Balance)
			}
			if tc.likeNoHold {
				alone := given(t, p, with(tc.bought, tc.refund...)...)
				if alone.Balance != m.Balance || !reflect.DeepEqual(alone.ExpiringPoints(), lots) {
					t.Errorf("balance %d, lots %+v; without the hold %d, %+v", m.Balance, lots, alone.Balance, alone.ExpiringPoints())
				}
			}
		})
	}
}

// A lot whose date passed while its points were held comes back dated in
// the past (the hold kept it from expiring); the member's next event
// expires it, dated on its day.
func TestHoldReturnedPastItsDate(t *testing.T) {
	p := holdProgram(t, "")
	soon := time.Date(2027, 3, 2, 0, 0, 0, 0, time.UTC)
	m := given(t, p, enrolled(), buy("e-1", t0, "o-1", eur(400_00)), redeem("e-h", t0.Add(time.Hour), "r-1", "bag", 1))
	if _, err := domain.Apply(m, event("e-a", soon.Add(time.Hour), domain.StockAnswer{RequestID: "r-1", RewardID: "bag"}), p); err != nil {
		t.Fatal(err)
	}
	if want := []domain.ExpiringLot{{At: soon, Points: 400}}; m.Balance != 400 || !reflect.DeepEqual(m.ExpiringPoints(), want) {
		t.Fatalf("balance %d, lots %+v; want 400, %+v", m.Balance, m.ExpiringPoints(), want)
	}
	facts, err := domain.Apply(m, event("e-v", soon.Add(2*time.Hour), domain.Visit{Channel: "store-1"}), p)
	if err != nil {
		t.Fatal(err)
	}
	expired := domain.PointsExpired{FactMeta: meta("e-v", soon), Points: 400, Rule: domain.RuleExpiry, ProgramVersion: version}
	if len(facts) == 0 || !reflect.DeepEqual(facts[0], domain.Fact(expired)) {
		t.Errorf("facts:%s\nwant first %+v", formatFacts(facts), expired)
	}
}

// datedPoints is the points of the member's dated lots.
func datedPoints(m *domain.Member) int64 {
	var total int64
	for _, l := range m.ExpiringPoints() {
		total += l.Points
	}
	return total
}
