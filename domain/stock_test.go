package domain_test

import (
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
