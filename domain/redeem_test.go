package domain_test

import (
	"strings"
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
)

func redeem(id string, at time.Time, request, reward string, quantity int64) domain.Event {
	return event(id, at, domain.RedeemRequest{RequestID: request, RewardID: reward, Quantity: quantity, Channel: "pos-1"})
}

func redeemPoints(id string, at time.Time, request string, points int64) domain.Event {
	return event(id, at, domain.RedeemRequest{RequestID: request, Points: points, Channel: "pos-1"})
}

func redeemed(id string, at time.Time, request, reward string, quantity, points int64) domain.PointsRedeemed {
	return domain.PointsRedeemed{FactMeta: meta(id, at), Points: points, RequestID: request, RewardID: reward,
		Quantity: quantity, Channel: "pos-1", ProgramVersion: version}
}

func refused(id string, at time.Time, request, reward string, quantity int64, reason domain.RedemptionReason, detail string) domain.RedemptionRejected {
	return domain.RedemptionRejected{FactMeta: meta(id, at), RequestID: request, RewardID: reward, Quantity: quantity,
		Reason: reason, Detail: detail, ProgramVersion: version}
}

// refusedPoints is the refusal of a redemption of points without a reward.
func refusedPoints(id string, at time.Time, request string, points int64, reason domain.RedemptionReason, detail string) domain.RedemptionRejected {
	return domain.RedemptionRejected{FactMeta: meta(id, at), RequestID: request, Points: points,
		Reason: reason, Detail: detail, ProgramVersion: version}
}

// withCatalogue: coffee 150 points, at most one a day; a lounge pass for
// gold members only.
func withCatalogue(direct bool, minPoints int64) func(*domain.Program) {
	return func(p *domain.Program) {
		p.Redemption = domain.Redemption{
			Rewards: []domain.Reward{
				{ID: "coffee", Name: "Coffee", Points: 150, Limit: domain.RewardLimit{Count: 1, Per: domain.PerDay}},
				{ID: "lounge", Name: "Lounge pass", Points: 100, Tiers: []string{"gold"}},
				{ID: "bag", Name: "Tote bag", Points: 80},
			},
			DirectPoints: direct,
			MinPoints:    minPoints,
		}
	}
}

// firstBuy leaves the member 201 points: 1 base and 200 first-purchase bonus.
func TestRedemption(t *testing.T) {
	catalogue := withCatalogue(false, 0)
	at := t0.Add(time.Hour)
	runRuleCases(t, []ruleCase{
		{
			name:    "a reward the member can afford is redeemed",
			program: catalogue,
			given:   []domain.Event{enrolled(), firstBuy},
			when:    redeem("e-1", at, "r-1", "coffee", 0),
			want:    []domain.Fact{redeemed("e-1", at, "r-1", "coffee", 1, 150)},
		},
		{
			name:    "units cost their price each",
			program: catalogue,
			given:   []domain.Event{enrolled(), firstBuy},
			when:    redeem("e-1", at, "r-1", "bag", 2),
			want:    []domain.Fact{redeemed("e-1", at, "r-1", "bag", 2, 160)},
		},
		{
			name:    "more than the balance is refused",
			program: catalogue,
			given:   []domain.Event{enrolled(), firstBuy},
			when:    redeem("e-1", at, "r-1", "bag", 3),
			want:    []domain.Fact{refused("e-1", at, "r-1", "bag", 3, domain.RedeemInsufficientPoints, "costs 240 points, 201 available")},
		},
		{
			name:    "a reward the catalogue does not have is refused",
			program: catalogue,
			given:   []domain.Event{enrolled(), firstBuy},
			when:    redeem("e-1", at, "r-1", "yacht", 1),
			want: []domain.Fact{refused("e-1", at, "r-1", "yacht", 1, domain.RedeemUnknownReward,
				`the catalogue of program test-1 has no reward "yacht"`)},
		},
		{
			name:    "a reward for other tiers is refused",
			program: catalogue,
			given:   []domain.Event{enrolled(), firstBuy},
			when:    redeem("e-1", at, "r-1", "lounge", 1),
			want: []domain.Fact{refused("e-1", at, "r-1", "lounge", 1, domain.RedeemTierNotEligible,
				`reward "lounge" is for tiers [gold], the member is bronze`)},
		},
		{
			name:    "the member's tier may",
			program: catalogue,
			given:   []domain.Event{enrolled(), firstBuy, buy("e-g", t0, "o-g", eur(1500_00))},
			when:    redeem("e-1", at, "r-1", "lounge", 1),
			want:    []domain.Fact{redeemed("e-1", at, "r-1", "lounge", 1, 100)},
		},
		{
			name:    "a reward's limit per member and day",
			program: catalogue,
			given:   []domain.Event{enrolled(), firstBuy, buy("e-2", t0, "o-2", eur(500_00)), redeem("e-3", at, "r-1", "coffee", 1)},
			when:    redeem("e-4", at.Add(time.Hour), "r-2", "coffee", 1),
			want: []domain.Fact{refused("e-4", at.Add(time.Hour), "r-2", "coffee", 1, domain.RedeemLimitReached,
				`at most 1 of "coffee" per day; 1 redeemed already`)},
		},
		{
			name:    "is a new allowance the next day",
			program: catalogue,
			given:   []domain.Event{enrolled(), firstBuy, buy("e-2", t0, "o-2", eur(500_00)), redeem("e-3", at, "r-1", "coffee", 1)},
			when:    redeem("e-4", at.Add(day), "r-2", "coffee", 1),
			want:    []domain.Fact{redeemed("e-4", at.Add(day), "r-2", "coffee", 1, 150)},
		},
		{
			name:    "a blocked member spends nothing",
			program: catalogue,
			given:   []domain.Event{enrolled(), firstBuy, status("e-b", t0, domain.StatusBlocked, "review")},
			when:    redeem("e-1", at, "r-1", "bag", 1),
			want:    []domain.Fact{refused("e-1", at, "r-1", "bag", 1, domain.RedeemMemberBlocked, "the member's account is blocked")},
		},
		{
			name:    "nor a closed one",
			program: catalogue,
			given:   []domain.Event{enrolled(), firstBuy, status("e-b", t0, domain.StatusClosed, "left")},
			when:    redeem("e-1", at, "r-1", "bag", 1),
			want:    []domain.Fact{refused("e-1", at, "r-1", "bag", 1, domain.RedeemMemberClosed, "the member's account is closed")},
		},
		{
			name:    "points without a reward, where the program does not allow it",
			program: catalogue,
			given:   []domain.Event{enrolled(), firstBuy},
			when:    redeemPoints("e-1", at, "r-1", 100),
			want:    []domain.Fact{refusedPoints("e-1", at, "r-1", 100, domain.RedeemDirectNotAllowed, "the program redeems rewards of its catalogue only")},
		},
		{
			name:    "points without a reward, below the program's minimum",
			program: withCatalogue(true, 150),
			given:   []domain.Event{enrolled(), firstBuy},
			when:    redeemPoints("e-1", at, "r-1", 100),
			want:    []domain.Fact{refusedPoints("e-1", at, "r-1", 100, domain.RedeemBelowMinimum, "at least 150 points per redemption")},
		},
		{
			name:    "points without a reward",
			program: withCatalogue(true, 150),
			given:   []domain.Event{enrolled(), firstBuy},
			when:    redeemPoints("e-1", at, "r-1", 201),
			want:    []domain.Fact{redeemed("e-1", at, "r-1", "", 0, 201)},
		},
		{
			name:    "a request already decided is a dead letter, whatever its event id",
			program: catalogue,
			given:   []domain.Event{enrolled(), firstBuy, redeem("e-1", at, "r-1", "bag", 1)},
			when:    redeem("e-2", at.Add(time.Minute), "r-1", "bag", 1),
			reason:  domain.ReasonDuplicateRequest,
			field:   "request_id",
		},
		{
			name:    "so is a refused one",
			program: catalogue,
			given:   []domain.Event{enrolled(), firstBuy, redeem("e-1", at, "r-1", "bag", 9)},
			when:    redeem("e-2", at.Add(time.Minute), "r-1", "bag", 1),
			reason:  domain.ReasonDuplicateRequest,
			field:   "request_id",
		},
		{
			name:    "a member the engine has never heard of",
			program: catalogue,
			when:    redeem("e-1", at, "r-1", "bag", 1),
			reason:  domain.ReasonUnknownMember,
			field:   "member_id",
		},
		{
			name:    "a negative balance has nothing to spend",
			program: catalogue,
			given: []domain.Event{enrolled(), firstBuy, buy("e-2", t0, "o-2", eur(100_00)),
				redeem("e-3", t0, "r-0", "bag", 3), refund("e-4", t0, "o-2", eur(100_00))}, // 301 - 240 - 100
			when: redeem("e-1", at, "r-1", "bag", 1),
			want: []domain.Fact{refused("e-1", at, "r-1", "bag", 1, domain.RedeemInsufficientPoints, "costs 80 points, 0 available")},
		},
	})
}

// Spending takes the soonest-expiring points: of 220 points expiring on day
// 31 and 5 on day 61, redeeming 150 leaves 70 to expire on day 31.
func TestRedemptionDrawsTheSoonestExpiringLots(t *testing.T) {
	program := func(p *domain.Program) {
		withCatalogue(false, 0)(p)
		withExpiry(domain.Expiry{Policy: domain.ExpireAfterDays, Days: 30})(p)
	}
	first := buy("e-1", t0, "o-1", eur(2000)) // 20 base + 200 first-purchase bonus
	later := t0.Add(31 * day)
	runRuleCases(t, []ruleCase{
		{
			name:    "what is left of the first lot expires on its date",
			program: program,
			given:   []domain.Event{enrolled(), first, visit("e-2", t0.Add(day)), redeem("e-3", t0.Add(2*day), "r-1", "coffee", 1)},
			when:    visit("e-4", later),
			want: []domain.Fact{
				expired("e-4", eod(t0.Add(30*day)), 70, domain.RuleExpiry),
				domain.VisitRecorded{FactMeta: meta("e-4", later), Channel: "store-1"},
				earnedUntil("e-4", later, 5, domain.RuleVisitBonus, "", eod(later.Add(30*day))),
			},
		},
		{
			name:    "a redemption after the date finds those points gone",
			program: program,
			given:   []domain.Event{enrolled(), first, visit("e-2", t0.Add(day))},
			when:    redeem("e-4", later, "r-1", "coffee", 1),
			want: []domain.Fact{
				expired("e-4", eod(t0.Add(30*day)), 220, domain.RuleExpiry),
				refused("e-4", later, "r-1", "coffee", 1, domain.RedeemInsufficientPoints, "costs 150 points, 5 available"),
			},
		},
	})
}

func TestRedemptionRequestsAreChecked(t *testing.T) {
	cases := []struct {
		name  string
		body  domain.RedeemRequest
		field string
	}{
		{"no request id", domain.RedeemRequest{RewardID: "bag"}, "request_id"},
		{"neither reward nor points", domain.RedeemRequest{RequestID: "r"}, "reward_id"},
		{"both reward and points", domain.RedeemRequest{RequestID: "r", RewardID: "bag", Points: 5}, "points"},
		{"negative points", domain.RedeemRequest{RequestID: "r", Points: -5}, "points"},
		{"too many units", domain.RedeemRequest{RequestID: "r", RewardID: "bag", Quantity: domain.MaxRedeemQuantity + 1}, "quantity"},
		{"units of no reward", domain.RedeemRequest{RequestID: "r", Points: 5, Quantity: 2}, "quantity"},
	}
	for _, c := range cases {
		err := domain.Validate(event("e-1", t0, c.body), t0)
		if rej := rejection(err); rej == nil || rej.Field != c.field {
			t.Errorf("%s: got %v, want a rejection of %s", c.name, err, c.field)
		}
	}
}

func TestCatalogueIsValidated(t *testing.T) {
	p := testProgram()
	p.Redemption.Rewards = []domain.Reward{
		{ID: "a", Points: 0},
		{ID: "a", Points: 10, Tiers: []string{"platinum"}},
		{ID: "b", Points: 10, Limit: domain.RewardLimit{Count: 2, Per: "fortnight"}},
	}
	err := p.Validate()
	for _, want := range []string{
		"redemption.rewards[0].points: must be 1 to",
		`redemption.rewards[1].id: "a" is used by two rewards`,
		`redemption.rewards[1].tiers[0]: "platinum" is not a tier of the program`,
		`redemption.rewards[2].limit.per: must be day, week, month or year, got "fortnight"`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v\nwant it to say %q", err, want)
		}
	}
}
