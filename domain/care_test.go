package domain_test

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/pointsledger/loyalty/domain"
)

// The back office's operations: adjustments, cancellations, and the debt
// later earnings pay off.

func withAdjustments(max int64, negative bool) func(*domain.Program) {
	return func(p *domain.Program) { p.Adjustments = domain.Adjustments{MaxPoints: max, AllowNegative: negative} }
}

func adjust(id string, at time.Time, request string, points int64) domain.Event {
	return event(id, at, domain.AdjustRequest{RequestID: request, Points: points, Reason: "missing_points", Note: "receipt 4411", OperatorID: "agent-7"})
}

func adjusted(id string, at time.Time, request string, points int64, expires time.Time) domain.PointsAdjusted {
	return domain.PointsAdjusted{FactMeta: meta(id, at), RequestID: request, Points: points, Reason: "missing_points",
		Note: "receipt 4411", OperatorID: "agent-7", ExpiresAt: expires, ProgramVersion: version}
}

func adjustRefused(id string, at time.Time, request string, points int64, reason domain.RedemptionReason, detail string) domain.AdjustmentRejected {
	return domain.AdjustmentRejected{FactMeta: meta(id, at), RequestID: request, Points: points, Reason: reason, Detail: detail,
		OperatorID: "agent-7", ProgramVersion: version}
}

// firstBuy leaves the member 201 points.
func TestAdjustments(t *testing.T) {
	at := t0.Add(time.Hour)
	runRuleCases(t, []ruleCase{
		{
			name: "a credit, expiring as points earned then would",
			program: func(p *domain.Program) {
				withAdjustments(500, false)(p)
				p.Earning.Expiry = domain.Expiry{Policy: domain.ExpireEndOfYear}
			},
			given: []domain.Event{enrolled(), firstBuy},
			when:  adjust("e-1", at, "case-1", 250),
			want:  []domain.Fact{adjusted("e-1", at, "case-1", 250, utcDate(2027, 1, 1))},
		},
		{
			name:    "a debit of what is available",
			program: withAdjustments(500, false),
			given:   []domain.Event{enrolled(), firstBuy},
			when:    adjust("e-1", at, "case-1", -201),
			want:    []domain.Fact{adjusted("e-1", at, "case-1", -201, time.Time{})},
		},
		{
			name:    "a debit beyond the balance under a program that keeps it at 0 or above",
			program: withAdjustments(500, false),
			given:   []domain.Event{enrolled(), firstBuy},
			when:    adjust("e-1", at, "case-1", -202),
			want: []domain.Fact{adjustRefused("e-1", at, "case-1", -202, domain.AdjustInsufficientPoints,
				"a debit of 202 points, 201 available, and program test-1 keeps balances at 0 or above")},
		},
		{
			name:    "a debit beyond the balance where negative balances are allowed",
			program: withAdjustments(500, true),
			given:   []domain.Event{enrolled(), firstBuy},
			when:    adjust("e-1", at, "case-1", -450),
			want:    []domain.Fact{adjusted("e-1", at, "case-1", -450, time.Time{})},
		},
		{
			name:    "a credit over the limit",
			program: withAdjustments(500, false),
			given:   []domain.Event{enrolled(), firstBuy},
			when:    adjust("e-1", at, "case-1", 501),
			want: []domain.Fact{adjustRefused("e-1", at, "case-1", 501, domain.AdjustTooLarge,
				"at most 500 points per adjustment under program test-1, got 501")},
		},
		{
			name:    "a debit over the limit",
			program: withAdjustments(500, true),
			given:   []domain.Event{enrolled(), firstBuy},
			when:    adjust("e-1", at, "case-1", -501),
			want: []domain.Fact{adjustRefused("e-1", at, "case-1", -501, domain.AdjustTooLarge,
				"at most 500 points per adjustment under program test-1, got -501")},
		},
		{
			name:  "none under a program without adjustments",
			given: []domain.Event{enrolled(), firstBuy},
			when:  adjust("e-1", at, "case-1", 10),
			want: []domain.Fact{adjustRefused("e-1", at, "case-1", 10, domain.AdjustNotAllowed,
				"program test-1 allows no adjustments (set adjustments.max_points)")},
		},
		{
			name:    "none for a closed account",
			program: withAdjustments(500, false),
			given:   []domain.Event{enrolled(), firstBuy, event("e-c", at, domain.StatusChange{Status: domain.StatusClosed})},
			when:    adjust("e-1", at, "case-1", 10),
			want:    []domain.Fact{adjustRefused("e-1", at, "case-1", 10, domain.AdjustMemberClosed, "the member's account is closed")},
		},
		{
			name:    "a blocked account may be corrected",
			program: withAdjustments(500, false),
			given:   []domain.Event{enrolled(), firstBuy, event("e-b", at, domain.StatusChange{Status: domain.StatusBlocked})},
			when:    adjust("e-1", at, "case-1", -10),
			want:    []domain.Fact{adjusted("e-1", at, "case-1", -10, time.Time{})},
		},
		{
			name:    "a request is decided once, accepted",
			program: withAdjustments(500, false),
			given:   []domain.Event{enrolled(), firstBuy, adjust("e-1", at, "case-1", 10)},
			when:    adjust("e-2", at.Add(time.Minute), "case-1", 10),
			reason:  domain.ReasonDuplicateRequest,
			field:   "request_id",
		},
		{
			name:    "a request is decided once, refused",
			program: withAdjustments(5, false),
			given:   []domain.Event{enrolled(), firstBuy, adjust("e-1", at, "case-1", 10)},
			when:    adjust("e-2", at.Add(time.Minute), "case-1", 5),
			reason:  domain.ReasonDuplicateRequest,
			field:   "request_id",
		},
		{
			name:    "an adjustment's id is not a redemption's",
			program: func(p *domain.Program) { withAdjustments(500, false)(p); withCatalogue(true, 0)(p) },
			given:   []domain.Event{enrolled(), firstBuy, redeemPoints("e-1", at, "case-1", 10)},
			when:    adjust("e-2", at.Add(time.Minute), "case-1", 10),
			want:    []domain.Fact{adjusted("e-2", at.Add(time.Minute), "case-1", 10, time.Time{})},
		},
		{
			name:    "an unknown member",
			program: withAdjustments(500, false),
			when:    adjust("e-1", at, "case-1", 10),
			reason:  domain.ReasonUnknownMember,
			field:   "member_id",
		},
	})
}

func cancelRedemption(id string, at time.Time, request, redemption string) domain.Event {
	return event(id, at, domain.CancelRequest{RequestID: request, RedemptionID: redemption, Reason: "customer_request", OperatorID: "agent-7"})
}

func cancellation(id string, at time.Time, request, redemption, reward string, quantity, points int64) domain.RedemptionCancelled {
	return domain.RedemptionCancelled{FactMeta: meta(id, at), RequestID: request, RedemptionID: redemption, RewardID: reward,
		Quantity: quantity, Points: points, Reason: "customer_request", OperatorID: "agent-7", ProgramVersion: version}
}

func cancelRefused(id string, at time.Time, request, redemption string, reason domain.RedemptionReason, detail string) domain.CancellationRejected {
	return domain.CancellationRejected{FactMeta: meta(id, at), RequestID: request, RedemptionID: redemption, Reason: reason,
		Detail: detail, OperatorID: "agent-7", ProgramVersion: version}
}

// stockAsk is a stock request of the bag's stock; stockAnswer the
// stock's answer to the member's request r-1.
func stockAsk(id, member, request string) domain.Event {
	e := event(id, t0.Add(time.Hour), domain.StockRequest{RewardID: "bag", MemberID: member, RequestID: request, Quantity: 1})
	e.MemberID = domain.StockMemberPrefix + "bag"
	return e
}

func stockAnswer(id string, at time.Time, granted bool) domain.Event {
	return event(id, at, domain.StockAnswer{RequestID: "r-1", RewardID: "bag", Granted: granted})
}

func withCancellations(days int) func(*domain.Program) {
	return func(p *domain.Program) {
		withStock(p)
		p.Redemption.DirectPoints = true
		p.Redemption.CancelDays = days
	}
}

func TestCancellations(t *testing.T) {
	at := t0.Add(time.Hour)
	later := at.Add(2 * day)
	runRuleCases(t, []ruleCase{
		{
			name:    "the points of a redemption come back",
			program: withCancellations(30),
			given:   []domain.Event{enrolled(), firstBuy, redeem("e-1", at, "r-1", "coffee", 1)},
			when:    cancelRedemption("e-2", later, "c-1", "r-1"),
			want:    []domain.Fact{cancellation("e-2", later, "c-1", "r-1", "coffee", 1, 150)},
		},
		{
			name:    "points spent without a reward come back",
			program: withCancellations(30),
			given:   []domain.Event{enrolled(), firstBuy, redeemPoints("e-1", at, "r-1", 120)},
			when:    cancelRedemption("e-2", later, "c-1", "r-1"),
			want:    []domain.Fact{cancellation("e-2", later, "c-1", "r-1", "", 0, 120)},
		},
		{
			name:    "a stocked reward's units go back to its stock",
			program: withCancellations(30),
			given:   []domain.Event{enrolled(), firstBuy, redeem("e-1", at, "r-1", "bag", 1), stockAnswer("e-a", at, true)},
			when:    cancelRedemption("e-2", later, "c-1", "r-1"),
			want: []domain.Fact{func() domain.Fact {
				f := cancellation("e-2", later, "c-1", "r-1", "bag", 1, 80)
				f.Stocked = true
				return f
			}()},
		},
		{
			name:    "not while the stock has not answered",
			program: withCancellations(30),
			given:   []domain.Event{enrolled(), firstBuy, redeem("e-1", at, "r-1", "bag", 1)},
			when:    cancelRedemption("e-2", later, "c-1", "r-1"),
			want: []domain.Fact{cancelRefused("e-2", later, "c-1", "r-1", domain.CancelRedemptionPending,
				`redemption "r-1" waits for its reward's stock; cancel it once it is answered`)},
		},
		{
			name:    "not twice",
			program: withCancellations(30),
			given:   []domain.Event{enrolled(), firstBuy, redeem("e-1", at, "r-1", "coffee", 1), cancelRedemption("e-2", later, "c-1", "r-1")},
			when:    cancelRedemption("e-3", later, "c-2", "r-1"),
			want: []domain.Fact{cancelRefused("e-3", later, "c-2", "r-1", domain.CancelAlreadyCancelled,
				`redemption "r-1" was cancelled already`)},
		},
		{
			name:    "not an unknown redemption",
			program: withCancellations(30),
			given:   []domain.Event{enrolled(), firstBuy},
			when:    cancelRedemption("e-2", later, "c-1", "r-9"),
			want:    []domain.Fact{cancelRefused("e-2", later, "c-1", "r-9", domain.CancelUnknownRedemption, `the member has no redemption "r-9"`)},
		},
		{
			name:    "not a refused redemption",
			program: withCancellations(30),
			given:   []domain.Event{enrolled(), firstBuy, redeem("e-1", at, "r-1", "lounge", 1)},
			when:    cancelRedemption("e-2", later, "c-1", "r-1"),
			want: []domain.Fact{cancelRefused("e-2", later, "c-1", "r-1", domain.CancelRedemptionRefused,
				`redemption "r-1" was refused (tier_not_eligible): nothing to cancel`)},
		},
		{
			name:    "not after the program's window",
			program: withCancellations(1),
			given:   []domain.Event{enrolled(), firstBuy, redeem("e-1", at, "r-1", "coffee", 1)},
			when:    cancelRedemption("e-2", later, "c-1", "r-1"),
			want: []domain.Fact{cancelRefused("e-2", later, "c-1", "r-1", domain.CancelWindowClosed,
				`program test-1 cancels redemptions up to 1 days old; "r-1" was on 2026-03-01T11:00:00Z`)},
		},
		{
			name:    "none under a program without cancellations",
			program: withCancellations(0),
			given:   []domain.Event{enrolled(), firstBuy, redeem("e-1", at, "r-1", "coffee", 1)},
			when:    cancelRedemption("e-2", later, "c-1", "r-1"),
			want: []domain.Fact{cancelRefused("e-2", later, "c-1", "r-1", domain.CancelWindowClosed,
				"program test-1 allows no cancellations (set redemption.cancel_days)")},
		},
		{
			name:    "another member's redemption is unknown here",
			program: withCancellations(30),
			given:   []domain.Event{enrolled(), firstBuy, transfer("e-1", at, "r-1", "m-2", 10)},
			when:    cancelRedemption("e-2", later, "c-1", "r-1"),
			want:    []domain.Fact{cancelRefused("e-2", later, "c-1", "r-1", domain.CancelUnknownRedemption, `the member has no redemption "r-1"`)},
		},
		{
			name:    "a cancellation is decided once",
			program: withCancellations(30),
			given:   []domain.Event{enrolled(), firstBuy, redeem("e-1", at, "r-1", "coffee", 1), cancelRedemption("e-2", later, "c-1", "r-1")},
			when:    cancelRedemption("e-3", later, "c-1", "r-1"),
			reason:  domain.ReasonDuplicateRequest,
			field:   "request_id",
		},
	})
}

// A cancellation gives the points back to the lots they came from, with
// their dates; points whose date has passed meanwhile expire at once.
func TestCancellationRestoresLots(t *testing.T) {
	p := testProgram()
	withCancellations(365)(p)
	p.Earning.Expiry = domain.Expiry{Policy: domain.ExpireEndOfMonth}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	// 201 points dated 2026-02-01 (January's), 100 dated 2026-04-01 (March's).
	march := t0.Add(time.Hour)
	m := given(t, p, enrolled(), firstBuy, buy("e-m", march, "o-m", eur(10000)))
	before := m.ExpiringPoints()
	if len(before) != 1 || before[0].Points != 100 { // January's lot expired at the start of February
		t.Fatalf("lots before %+v", before)
	}
	if _, err := domain.Apply(m, redeemPoints("e-r", march, "r-1", 60), p); err != nil {
		t.Fatal(err)
	}
	cancelAt := march.Add(24 * time.Hour)
	facts, err := domain.Apply(m, cancelRedemption("e-c", cancelAt, "c-1", "r-1"), p)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.ExpiringPoints(); len(got) != 1 || got[0] != before[0] {
		t.Errorf("lots after the cancellation %+v, want %+v%s", got, before, formatFacts(facts))
	}
	// Cancelled after April began: March's lot is past its date, and the
	// points come back expired.
	m = given(t, p, enrolled(), firstBuy, buy("e-m", march, "o-m", eur(10000)), redeemPoints("e-r", march, "r-1", 60))
	april := time.Date(2026, 4, 3, 0, 0, 0, 0, time.UTC)
	facts, err = domain.Apply(m, cancelRedemption("e-c", april, "c-1", "r-1"), p)
	if err != nil {
		t.Fatal(err)
	}
	var expiredAtCancel int64
	for _, f := range facts {
		if x, ok := f.(domain.PointsExpired); ok && x.OccurredAt.Equal(april) {
			expiredAtCancel += x.Points
		}
	}
	if expiredAtCancel != 60 || len(m.ExpiringPoints()) != 0 {
		t.Errorf("expired at the cancellation %d (want the 60 points back from March's lot), lots %+v%s", expiredAtCancel, m.ExpiringPoints(), formatFacts(facts))
	}
}

// The limit of a reward counts a cancelled redemption's units no more.
func TestCancellationFreesTheLimit(t *testing.T) {
	p := testProgram()
	withCancellations(30)(p)
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	at := t0.Add(time.Hour)
	m := given(t, p, enrolled(), buy("e-b", enrolAt.Add(time.Hour), "o-1", eur(50000)), redeem("e-1", at, "r-1", "coffee", 1),
		cancelRedemption("e-2", at.Add(time.Minute), "c-1", "r-1"))
	facts, err := domain.Apply(m, redeem("e-3", at.Add(2*time.Minute), "r-2", "coffee", 1), p)
	if err != nil || len(facts) == 0 {
		t.Fatalf("%v%s", err, formatFacts(facts))
	}
	if _, ok := facts[0].(domain.PointsRedeemed); !ok {
		t.Errorf("a second coffee the same day after the first was cancelled: %s", formatFacts(facts))
	}
}

// The stock's side of a cancellation: the units come back.
func TestStockReturned(t *testing.T) {
	p := testProgram()
	withStock(p)
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	stock := domain.NewMember(domain.StockMemberPrefix + "bag")
	for _, e := range []domain.Event{stockAsk("s-a", "m-a", "r"), stockAsk("s-b", "m-b", "r")} {
		if _, err := domain.Apply(stock, e, p); err != nil {
			t.Fatal(err)
		}
	}
	f := cancellation("e-2", t0, "c-1", "r", "bag", 1, 80)
	f.Stocked, f.FactMeta.MemberID = true, "m-a"
	back, ok := domain.FollowUp(f)
	if !ok || back.MemberID != domain.StockMemberPrefix+"bag" || !back.Body.(domain.StockRequest).Return {
		t.Fatalf("follow-up of a stocked cancellation: %+v %v", back, ok)
	}
	if _, ok := domain.FollowUp(cancellation("e-2", t0, "c-1", "r", "coffee", 1, 150)); ok {
		t.Errorf("an unstocked reward's cancellation has a follow-up")
	}
	facts, err := domain.Apply(stock, back, p)
	if err != nil || len(facts) != 1 {
		t.Fatalf("%v%s", err, formatFacts(facts))
	}
	if _, ok := facts[0].(domain.StockReturned); !ok || stock.StockTakenOf("bag") != 1 {
		t.Errorf("facts%s, units taken %d; want a StockReturned and 1", formatFacts(facts), stock.StockTakenOf("bag"))
	}
	// Now one unit is left to give.
	facts, _ = domain.Apply(stock, stockAsk("s-c", "m-c", "r"), p)
	if _, ok := facts[0].(domain.StockTaken); !ok {
		t.Errorf("after a return the stock refuses: %s", formatFacts(facts))
	}
}

func TestDebtFromEarnings(t *testing.T) {
	at := t0.Add(time.Hour)
	withinBalance := func(paysDebt bool) func(*domain.Program) {
		return func(p *domain.Program) {
			withCatalogue(true, 0)(p)
			p.Returns = domain.Returns{Policy: domain.ReturnsWithinBalance, DebtFromEarnings: paysDebt}
			p.RefundWindow = 365 * day
		}
	}
	// 201 points, 200 spent, then the first order refunded: its 201 points
	// are taken back from the 1 left, and 200 are debt.
	owing := []domain.Event{enrolled(), firstBuy, redeemPoints("e-r", at, "r-1", 200), refund("e-f", at.Add(time.Minute), "o-0", eur(100))}
	buyAt := at.Add(time.Hour)
	runRuleCases(t, []ruleCase{
		{
			name:    "later earnings pay the debt first",
			program: withinBalance(true),
			given:   owing,
			when:    buy("e-2", buyAt, "o-2", eur(15000)),
			want: []domain.Fact{
				purchased("e-2", buyAt, "o-2", eur(15000), 15000, 15000),
				earned("e-2", buyAt, 150, domain.RuleBase, "o-2"),
				domain.DebtRepaid{FactMeta: meta("e-2", buyAt), Points: 150, ProgramVersion: version},
			},
		},
		{
			name:    "no more than the debt",
			program: withinBalance(true),
			given:   owing,
			when:    buy("e-2", buyAt, "o-2", eur(50000)),
			want: []domain.Fact{
				purchased("e-2", buyAt, "o-2", eur(50000), 50000, 50000),
				earned("e-2", buyAt, 500, domain.RuleBase, "o-2"),
				upgrade("e-2", buyAt, "bronze", "silver"),
				domain.DebtRepaid{FactMeta: meta("e-2", buyAt), Points: 200, ProgramVersion: version},
			},
		},
		{
			name:    "the debt stays where the program does not say",
			program: withinBalance(false),
			given:   owing,
			when:    buy("e-2", buyAt, "o-2", eur(15000)),
			want: []domain.Fact{
				purchased("e-2", buyAt, "o-2", eur(15000), 15000, 15000),
				earned("e-2", buyAt, 150, domain.RuleBase, "o-2"),
			},
		},
		{
			name:    "a visit bonus pays too",
			program: withinBalance(true),
			given:   owing,
			when:    visit("e-2", buyAt),
			want: []domain.Fact{
				domain.VisitRecorded{FactMeta: meta("e-2", buyAt), Channel: "store-1"},
				earned("e-2", buyAt, 5, domain.RuleVisitBonus, ""),
				domain.DebtRepaid{FactMeta: meta("e-2", buyAt), Points: 5, ProgramVersion: version},
			},
		},
	})
	// The whole debt paid, the member's debt is 0 and the balance is what is left.
	p := testProgram()
	withinBalance(true)(p)
	m := given(t, p, append(owing, buy("e-2", buyAt, "o-2", eur(50000)))...)
	if m.Debt != 0 || m.Balance != 300 {
		t.Errorf("debt %d, balance %d after paying 200 of 500 earned; want 0 and 300", m.Debt, m.Balance)
	}
}

// drawCareHistory draws an enrolled member's purchases, redemptions and
// refunds with the back office's adjustments and cancellations among them.
func drawCareHistory(t *rapid.T) []domain.Event {
	at := t0
	events := []domain.Event{event("e-enrol", at, domain.Enrolment{Channel: "app"})}
	// Each redemption and order its own id; cancellations, answers and
	// refunds name one of them (or one never used).
	redemptions, orders := []string{"r-none"}, []string{"o-none"}
	for i := range rapid.IntRange(1, 40).Draw(t, "events") {
		at = at.Add(rapid.SampledFrom(gaps).Draw(t, "gap"))
		id := fmt.Sprintf("e-%d", i)
		var body domain.EventBody
		switch rapid.SampledFrom([]string{"buy", "buy", "buy", "redeem", "redeem", "reward", "cancel", "cancel", "adjust", "adjust", "refund", "answer", "erase"}).Draw(t, "kind") {
		case "erase":
			body = domain.ErasureRequest{Channel: "back-office"}
		case "buy":
			orders = append(orders, "o-"+id)
			body = domain.Purchase{OrderID: "o-" + id, Total: eur(rapid.Int64Range(100, 80_000).Draw(t, "total"))}
		case "redeem":
			redemptions = append(redemptions, "r-"+id)
			body = domain.RedeemRequest{RequestID: "r-" + id, Points: rapid.Int64Range(1, 500).Draw(t, "points")}
		case "reward":
			redemptions = append(redemptions, "r-"+id)
			reward := rapid.SampledFrom([]string{"coffee", "bag"}).Draw(t, "reward")
			body = domain.RedeemRequest{RequestID: "r-" + id, RewardID: reward, Quantity: 1}
		case "answer":
			body = domain.StockAnswer{RequestID: rapid.SampledFrom(redemptions).Draw(t, "answered"), RewardID: "bag", Granted: rapid.Bool().Draw(t, "granted")}
		case "cancel":
			// Most often the latest redemption, still in the window.
			cancelled := redemptions[len(redemptions)-1]
			if rapid.IntRange(0, 3).Draw(t, "older") == 0 {
				cancelled = rapid.SampledFrom(redemptions).Draw(t, "cancelled")
			}
			body = domain.CancelRequest{RequestID: "c-" + id, RedemptionID: cancelled, Reason: "till_error", OperatorID: "agent-1"}
		case "adjust":
			points := rapid.Int64Range(-600, 600).Draw(t, "adjust_points")
			if points == 0 {
				points = 1
			}
			body = domain.AdjustRequest{RequestID: rapid.SampledFrom([]string{"a-0", "a-1", "a-2", "a-3"}).Draw(t, "adjust_request"),
				Points: points, Reason: "goodwill", OperatorID: "agent-1"}
		case "refund":
			body = domain.Refund{OrderID: rapid.SampledFrom(orders).Draw(t, "refunded"), Amount: eur(rapid.Int64Range(1, 40_000).Draw(t, "refund"))}
		}
		events = append(events, event(id, at, body))
	}
	return events
}

// Whatever the history, the back office's operations keep the program's
// bounds: a debit takes the balance below zero only where the program
// allows it, no adjustment is over its limit, debt is paid only from what
// was earned and never below zero, and a cancelled redemption's points come
// back to the lots they came from, with their own dates (or expire at once
// when the date has passed).
func TestMemberCareProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := drawFullProgram(t)
		p.Adjustments = domain.Adjustments{MaxPoints: rapid.SampledFrom([]int64{0, 100, 500}).Draw(t, "max_adjust"),
			AllowNegative: rapid.Bool().Draw(t, "allow_negative")}
		withStock(p)
		p.Redemption.DirectPoints = true
		p.Redemption.CancelDays = rapid.SampledFrom([]int{0, 1, 30, 365}).Draw(t, "cancel_days")
		p.Returns.DebtFromEarnings = p.Returns.Policy == domain.ReturnsWithinBalance && rapid.Bool().Draw(t, "debt_from_earnings")
		if err := p.Validate(); err != nil {
			t.Fatalf("program: %v", err)
		}
		events := drawCareHistory(t)
		live, shadow := domain.NewMember(memberID), domain.NewMember(memberID)
		taken := map[string]map[time.Time]int64{} // what each redemption took from each lot
		var erased *domain.Standing               // the member's standing when erased
		for i, e := range events {
			facts, err := domain.Apply(live, e, p)
			if erased != nil && err == nil && !domain.SettlesForErased(e.Type) {
				t.Fatalf("event %d (%s) was decided for an erased member: %v", i, e.Type, facts)
			}
			if err != nil {
				continue
			}
			if e.Type == domain.TypeErasure {
				s := domain.StandingAfter(shadow, facts)
				erased = &s
				k := slices.IndexFunc(facts, func(f domain.Fact) bool { return f.FactType() == domain.FactMemberErased })
				if k < 0 {
					t.Fatalf("event %d: an erasure decided %v", i, facts)
				}
				// What time brought before it may move points; the erasure may not.
				if before := domain.StandingAfter(shadow, facts[:k]); before != s {
					t.Fatalf("event %d: the erasure moved the member from %+v to %+v", i, before, s)
				}
			}
			// The standing the outbound events tell is the fold's after
			// every fact, these included.
			standings := domain.StandingsOf(domain.StandingAfter(shadow, facts), facts)
			for j, f := range facts {
				before := lotsByDate(shadow)
				balanceBefore := shadow.Balance
				shadow.Evolve(f)
				after := lotsByDate(shadow)
				checkCareFact(t, p, f, balanceBefore, shadow, before, after, taken)
				if want := (domain.Standing{Balance: shadow.Balance, Pending: shadow.Pending, Tier: shadow.Tier}); standings[j] != want {
					t.Fatalf("event %d fact %d (%T): standing %+v, the fold's %+v", i, j, f, standings[j], want)
				}
			}
			if !reflect.DeepEqual(domain.Normalized(live), domain.Normalized(shadow)) {
				t.Fatalf("event %d: folding Apply's facts gives another member", i)
			}
			roundTrip(t, live) // a snapshot keeps what cancellations and vouchers need
			if shadow.Debt < 0 {
				t.Fatalf("event %d: debt %d", i, shadow.Debt)
			}
		}
	})
}

func checkCareFact(t *rapid.T, p *domain.Program, f domain.Fact, balanceBefore int64, m *domain.Member,
	before, after map[time.Time]int64, taken map[string]map[time.Time]int64) {
	switch f := f.(type) {
	case domain.PointsRedeemed:
		taken[f.RequestID] = diffLots(before, after)
	case domain.PointsHeld:
		taken[f.RequestID] = diffLots(before, after)
	case domain.HoldReturned:
		delete(taken, f.RequestID)
	case domain.PointsAdjusted:
		if f.Points > p.Adjustments.MaxPoints || -f.Points > p.Adjustments.MaxPoints {
			t.Fatalf("adjusted %d points, the limit is %d", f.Points, p.Adjustments.MaxPoints)
		}
		if f.Points < 0 && !p.Adjustments.AllowNegative && balanceBefore >= 0 && m.Balance < 0 {
			t.Fatalf("a debit of %d took the balance from %d to %d", -f.Points, balanceBefore, m.Balance)
		}
	case domain.DebtRepaid:
		if f.Points <= 0 || (balanceBefore >= 0 && m.Balance < 0) {
			t.Fatalf("repaid %d points, balance %d -> %d", f.Points, balanceBefore, m.Balance)
		}
	case domain.RedemptionCancelled:
		want, ok := taken[f.RedemptionID]
		if !ok {
			t.Fatalf("cancelled %q, which took no points that are known", f.RedemptionID)
		}
		delete(taken, f.RedemptionID)
		if balanceBefore < 0 {
			return // the lots hold no more than the balance: what makes a negative balance good does not expire
		}
		back := diffLots(after, before)
		for date, points := range want {
			if back[date] != points {
				t.Fatalf("cancelled %q: lot %s got %d points back, the redemption took %d (took %v, back %v)",
					f.RedemptionID, date, back[date], points, want, back)
			}
		}
		if len(back) != len(want) {
			t.Fatalf("cancelled %q: points back %v, taken %v", f.RedemptionID, back, want)
		}
	}
}

// lotsByDate is the member's dated points by date.
func lotsByDate(m *domain.Member) map[time.Time]int64 {
	out := map[time.Time]int64{}
	for _, l := range m.ExpiringPoints() {
		out[l.At] += l.Points
	}
	return out
}

// diffLots is what from holds beyond to, by date.
func diffLots(from, to map[time.Time]int64) map[time.Time]int64 {
	out := map[time.Time]int64{}
	for date, points := range from {
		if d := points - to[date]; d != 0 {
			out[date] = d
		}
	}
	return out
}

// A cancellation while a refund's debt is open pays the debt first, from
// the points that came back.
func TestCancellationPaysDebt(t *testing.T) {
	p := testProgram()
	withCancellations(30)(p)
	p.Returns.Policy, p.RefundWindow = domain.ReturnsWithinBalance, 365*day
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	at := t0.Add(time.Hour)
	// 201 points, 200 spent, the first order refunded: 1 taken back, 200 owed.
	m := given(t, p, enrolled(), firstBuy, redeemPoints("e-r", at, "r-1", 200), refund("e-f", at.Add(time.Minute), "o-0", eur(100)))
	if m.Debt != 200 || m.Balance != 0 {
		t.Fatalf("debt %d, balance %d; want 200 owed, none left", m.Debt, m.Balance)
	}
	facts, err := domain.Apply(m, cancelRedemption("e-c", at.Add(time.Hour), "c-1", "r-1"), p)
	if err != nil {
		t.Fatal(err)
	}
	want := []domain.Fact{cancellation("e-c", at.Add(time.Hour), "c-1", "r-1", "", 0, 200),
		domain.DebtRepaid{FactMeta: meta("e-c", at.Add(time.Hour)), Points: 200, ProgramVersion: version}}
	checkFacts(t, withoutProgress(facts, want), want)
	if m.Debt != 0 || m.Balance != 0 {
		t.Errorf("debt %d, balance %d; want the points back to pay the debt", m.Debt, m.Balance)
	}
}

// A later program version without the member's tier moves them to the
// tier they qualify for at their next event, instead of failing.
func TestTierDroppedByALaterVersion(t *testing.T) {
	p := testProgram()
	m := given(t, p, enrolled(), buy("e-1", t0, "o-1", eur(60_000))) // silver
	if m.Tier != "silver" {
		t.Fatalf("tier %q, want silver", m.Tier)
	}
	next := testProgram()
	next.Tiers = []domain.Tier{{Name: "basic", Multiplier: domain.One}, {Name: "premium", QualifyingSpend: 100_000_00, Multiplier: ratio(2, 1)}}
	if err := next.Validate(); err != nil {
		t.Fatal(err)
	}
	at := t0.Add(day)
	for _, e := range []domain.Event{buy("e-2", at, "o-2", eur(1000)), refund("e-3", at, "o-2", eur(500)), visit("e-4", at)} {
		facts, err := domain.Apply(m, e, next)
		if err != nil {
			t.Fatalf("%s under a version without silver: %v", e.ID, err)
		}
		for _, f := range facts {
			if tc, ok := f.(domain.TierChanged); ok && (tc.From != "silver" || tc.To != "basic") {
				t.Errorf("tier change %+v, want silver to basic", tc)
			}
		}
	}
	if m.Tier != "basic" {
		t.Errorf("tier %q after events under the new version, want basic", m.Tier)
	}
}
