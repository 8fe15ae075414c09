package domain_test

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/pointsledger/loyalty/domain"
)

// Property tests: random programs and random histories of one member, in
// time order (late events are covered by TestLateEvents), with order ids from
// a small pool so that refunds, duplicates and feedback hit real orders.

func drawProgram(t *rapid.T) *domain.Program {
	p := testProgram()
	p.Earning.PerOrderCap = rapid.SampledFrom([]int64{0, 50, 1000}).Draw(t, "per_order_cap")
	p.Earning.FirstPurchaseBonus = rapid.SampledFrom([]int64{0, 200}).Draw(t, "first_purchase_bonus")
	p.Earning.VisitBonusMaxPerDay = rapid.IntRange(0, 2).Draw(t, "visit_max_per_day")
	p.MaxOrderAmount = rapid.SampledFrom([]int64{0, 1000_00}).Draw(t, "max_order_amount")
	p.RefundWindow = rapid.SampledFrom([]time.Duration{30 * day, day, 730 * day}).Draw(t, "refund_window")
	p.Tiers[1].Multiplier = rapid.SampledFrom([]domain.Ratio{ratio(125, 100), domain.One, ratio(5, 10)}).Draw(t, "silver_multiplier")
	p.Tiers[2].QualifyingSpend = rapid.SampledFrom([]int64{500_01, 1500_00}).Draw(t, "gold_threshold")
	withCatalogue(rapid.Bool().Draw(t, "direct_points"), rapid.SampledFrom([]int64{0, 100}).Draw(t, "min_points"))(p)
	if days := rapid.SampledFrom([]int{0, 0, 1, 14}).Draw(t, "pending_days"); days > 0 {
		p.Earning.Pending = domain.Pending{Days: days, Confirmation: rapid.Bool().Draw(t, "pending_confirmation")}
	}
	p.TierPolicy = rapid.SampledFrom([]domain.TierPolicy{{}, {}, {Period: domain.PeriodYear, Downgrade: domain.DowngradeToQualified},
		{Measure: domain.MeasurePoints, Days: 30, Downgrade: domain.DowngradeOneTier, GraceDays: 7},
		{Period: domain.PeriodMonth, Downgrade: domain.DowngradeToQualified}}).Draw(t, "tier_policy")
	for i, points := range []int64{0, 500, 1500} {
		p.Tiers[i].QualifyingPoints = points
	}
	if rapid.Bool().Draw(t, "transfers") {
		withTransfers(p)
	}
	if rapid.Bool().Draw(t, "stock") {
		withStock(p)
	}
	p.Returns.Policy = rapid.SampledFrom([]domain.ReturnsPolicy{domain.ReturnsUnlimited, domain.ReturnsWithinBalance, domain.ReturnsOnlyPending}).Draw(t, "returns")
	p.Returns.OrderBonuses = rapid.SampledFrom([]domain.OrderBonuses{"", domain.OrderBonusesReverse, domain.OrderBonusesKeep}).Draw(t, "order_bonuses")
	return p
}

var (
	orderPool = []string{"o-0", "o-1", "o-2", "o-3", "o-4", "o-5"}
	skuPool   = []string{"A", "B", "C"}
	gaps      = []time.Duration{0, time.Minute, time.Hour, time.Hour, 13 * time.Hour, day, day, 3 * day, 40 * day, 200 * day}
)

func drawLines(t *rapid.T) []domain.LineItem {
	return rapid.SliceOfN(rapid.Custom(func(t *rapid.T) domain.LineItem {
		return domain.LineItem{
			SKU:       rapid.SampledFrom(skuPool).Draw(t, "sku"),
			Category:  rapid.SampledFrom([]string{"electronics", "beauty", "toys"}).Draw(t, "category"),
			Quantity:  rapid.Int64Range(1, 3).Draw(t, "quantity"),
			UnitPrice: rapid.Int64Range(0, 5000).Draw(t, "unit_price"),
		}
	}), 0, 3).Draw(t, "lines")
}

// history draws one member's events; refunds and feedback often name the
// latest purchase, and refunds then stay near what it paid, so that many of
// them are accepted.
type history struct {
	last domain.Purchase
}

func (h *history) drawOrder(t *rapid.T) string {
	if h.last.OrderID != "" && rapid.IntRange(0, 3).Draw(t, "other_order") < 3 {
		return h.last.OrderID
	}
	return rapid.SampledFrom(orderPool).Draw(t, "order")
}

func (h *history) drawBody(t *rapid.T) domain.EventBody {
	kind := rapid.SampledFrom([]string{"purchase", "refund", "visit", "feedback", "purchase", "refund", "enrol", "redeem", "confirm"}).Draw(t, "kind")
	switch kind {
	case "confirm":
		switch rapid.IntRange(0, 5).Draw(t, "transfer") {
		case 0:
			request := rapid.SampledFrom([]string{"r-0", "r-1", "t-0", "t-1"}).Draw(t, "transfer_request")
			return domain.TransferRequest{RequestID: request, ToMemberID: "m-2", Points: rapid.Int64Range(1, 300).Draw(t, "transfer_points")}
		case 1:
			return domain.TransferIn{FromMemberID: "m-2", RequestID: "t-in", Points: rapid.Int64Range(1, 300).Draw(t, "received")}
		case 2:
			request := rapid.SampledFrom([]string{"r-0", "r-1", "r-2", "r-3"}).Draw(t, "answered_request")
			return domain.StockAnswer{RequestID: request, RewardID: "bag", Granted: rapid.Bool().Draw(t, "granted")}
		}
		if rapid.IntRange(0, 3).Draw(t, "assign") == 0 {
			return domain.TierAssignment{Tier: rapid.SampledFrom([]string{"bronze", "silver", "gold"}).Draw(t, "assigned_tier")}
		}
		return domain.Confirmation{OrderID: h.drawOrder(t)}
	case "redeem":
		request := rapid.SampledFrom([]string{"r-0", "r-1", "r-2", "r-3", "r-4", "r-5", "r-6", "r-7"}).Draw(t, "request")
		if rapid.Bool().Draw(t, "redeem_points") {
			return domain.RedeemRequest{RequestID: request, Points: rapid.Int64Range(1, 400).Draw(t, "points")}
		}
		reward := rapid.SampledFrom([]string{"coffee", "lounge", "bag", "yacht"}).Draw(t, "reward")
		return domain.RedeemRequest{RequestID: request, RewardID: reward, Quantity: rapid.Int64Range(0, 3).Draw(t, "quantity")}
	case "purchase":
		lines := drawLines(t)
		total := rapid.Int64Range(0, 120_000).Draw(t, "total")
		if len(lines) > 0 && rapid.Bool().Draw(t, "total_of_lines") {
			total = 0
			for _, l := range lines {
				total += l.Quantity * l.UnitPrice
			}
		}
		currency := rapid.SampledFrom([]string{"EUR", "USD", "JPY", "KWD", "EUR", "GBP"}).Draw(t, "currency")
		h.last = domain.Purchase{OrderID: rapid.SampledFrom(orderPool).Draw(t, "order"), Total: money(total, currency), Lines: lines}
		return h.last
	case "refund":
		order := h.drawOrder(t)
		if rapid.Bool().Draw(t, "by_lines") {
			skus := skuPool
			if order == h.last.OrderID && len(h.last.Lines) > 0 {
				skus = []string{h.last.Lines[0].SKU, "A"}
			}
			lines := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) domain.RefundLine {
				return domain.RefundLine{SKU: rapid.SampledFrom(skus).Draw(t, "sku"), Quantity: rapid.Int64Range(1, 2).Draw(t, "quantity")}
			}), 1, 2).Draw(t, "refund_lines")
			return domain.Refund{OrderID: order, Lines: lines}
		}
		amount, currency := rapid.Int64Range(0, 20_000).Draw(t, "refund_amount"), "EUR"
		if order == h.last.OrderID {
			amount = h.last.Total.Minor * rapid.Int64Range(1, 4).Draw(t, "refund_thirds") / 3
			currency = h.last.Total.Currency
		}
		currency = rapid.SampledFrom([]string{currency, currency, "USD"}).Draw(t, "refund_currency")
		return domain.Refund{OrderID: order, Amount: money(amount, currency)}
	case "feedback":
		order := h.drawOrder(t)
		if rapid.Bool().Draw(t, "no_order") {
			order = ""
		}
		return domain.Feedback{OrderID: order, Rating: intp(rapid.IntRange(1, 5).Draw(t, "rating"))}
	case "visit":
		return domain.Visit{}
	}
	return domain.Enrolment{Channel: "app"}
}

func drawEvents(t *rapid.T) []domain.Event {
	n := rapid.IntRange(1, 40).Draw(t, "events")
	at := t0
	var h history
	events := make([]domain.Event, n)
	for i := range events {
		at = at.Add(rapid.SampledFrom(gaps).Draw(t, "gap"))
		events[i] = event(fmt.Sprintf("e-%d", i), at, h.drawBody(t))
	}
	return events
}

func tierRank(p *domain.Program, name string) int {
	for i, tier := range p.Tiers {
		if tier.Name == name {
			return i
		}
	}
	return -1
}

// ledger is what the test itself adds up from the facts, independent of the
// Member type.
type ledger struct {
	balance, lifetime int64
	redeemed, pending int64
	received          int64
	purchases         int64
	tier              string
	firstBonuses      int
	orderEarned       map[string]int64 // base and tier points of the current order with that id
	orderBonus        map[string]int64 // its one-off bonuses (first purchase, referral)
	orderReversed     map[string]int64
	feedbackBonuses   map[string]int
	visitBonuses      map[int64]int  // per UTC day
	spend             []daySpend     // net qualifying spend of each purchase
	latest            map[string]int // index in spend of the current order with that id
}

type daySpend struct{ day, net int64 }

func utcDay(at time.Time) int64 { return at.Unix() / 86400 }

// windowSpend is the net spend of purchases made on the 364 days before
// at's UTC day and on that day itself (see TestTiers for the boundary).
func (l *ledger) windowSpend(at time.Time) int64 {
	var sum int64
	for _, s := range l.spend {
		if s.day > utcDay(at.Add(-365*day)) {
			sum += s.net
		}
	}
	return sum
}

func TestLedgerInvariants(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := drawProgram(t)
		events := drawEvents(t)
		live, shadow := domain.NewMember(memberID), domain.NewMember(memberID)
		var lastProgress domain.TierOutlook
		l := ledger{orderEarned: map[string]int64{}, orderBonus: map[string]int64{}, orderReversed: map[string]int64{}, feedbackBonuses: map[string]int{}, visitBonuses: map[int64]int{}, latest: map[string]int{}}
		for i, e := range events {
			if err := domain.Validate(e, e.OccurredAt); err != nil {
				t.Fatalf("generated event %d is invalid: %v", i, err)
			}
			wasKnown := live.Known()
			decided, decideErr := domain.Decide(live, e, p)
			if !reflect.DeepEqual(live, shadow) {
				t.Fatalf("event %d: Decide changed the member", i)
			}
			facts, err := domain.Apply(live, e, p)
			if !reflect.DeepEqual(facts, decided) || !reflect.DeepEqual(err, decideErr) {
				t.Fatalf("event %d: Apply gave %v%s, Decide %v%s", i, err, formatFacts(facts), decideErr, formatFacts(decided))
			}
			if err != nil {
				if rejection(err) == nil || facts != nil {
					t.Fatalf("event %d: error %v with facts%s; want a *RejectedError and none", i, err, formatFacts(facts))
				}
				if !reflect.DeepEqual(live, shadow) {
					t.Fatalf("event %d: rejected event changed the member", i)
				}
				continue
			}
			if len(facts) == 0 {
				if e.Type != domain.TypeStockAnswer { // an answer to a hold that is not there is nothing
					t.Fatalf("event %d: accepted with no facts", i)
				}
				continue
			}
			if first, ok := facts[0].(domain.TierChanged); wasKnown == (ok && first.From == "") {
				t.Fatalf("event %d: member known %v, first fact %T%+v", i, wasKnown, facts[0], facts[0])
			}
			standing := domain.StandingAfter(shadow, facts)
			standings := domain.StandingsOf(standing, facts)
			for j, f := range facts {
				shadow.Evolve(f)
				checkFact(t, p, &l, e, f)
				if got, want := standings[j], (domain.Standing{Balance: shadow.Balance, Pending: shadow.Pending, Tier: shadow.Tier}); got != want {
					t.Fatalf("event %d fact %d (%T): standing worked back from the record's is %+v, the fold's %+v", i, j, f, got, want)
				}
			}
			if !reflect.DeepEqual(live, shadow) {
				t.Fatalf("event %d: folding Apply's facts gives another member", i)
			}
			// The outlook decided from the facts' effect is the one the
			// member's new state gives.
			want, shown := live.Outlook(p, e.OccurredAt), lastProgress
			for _, f := range facts {
				if pr, ok := f.(domain.TierProgress); ok {
					shown = pr.TierOutlook
				}
			}
			if shown != want {
				t.Fatalf("event %d: the progress facts show %+v, the member's outlook is %+v", i, shown, want)
			}
			lastProgress = shown
			checkMember(t, p, &l, live)
		}
	})
}

func checkFact(t *rapid.T, p *domain.Program, l *ledger, e domain.Event, f domain.Fact) {
	want := domain.FactMeta{MemberID: e.MemberID, EventID: e.ID, OccurredAt: e.OccurredAt.UTC()}
	switch f := f.(type) { // dated when time brought them; checked below
	case domain.PointsReleased:
		want.OccurredAt = f.OccurredAt
	case domain.TierRenewed:
		want.OccurredAt = f.OccurredAt
	case domain.TierChanged:
		if f.Reason == domain.TierReasonPeriodEnd {
			want.OccurredAt = f.OccurredAt
		}
	}
	if got := f.Meta(); got != want {
		t.Fatalf("%T meta = %+v, want %+v", f, got, want)
	}
	available := max(l.balance, 0)
	l.balance += domain.PointsDelta(f)
	l.pending += domain.PendingDelta(f)
	switch f := f.(type) {
	case domain.PointsDebt: // decided: not to be taken again
		l.orderReversed[f.OrderID] += f.Points
		if p.Returns.Policy != domain.ReturnsWithinBalance || f.Points <= 0 {
			t.Fatalf("debt %+v under policy %q", f, p.Returns.Policy)
		}
	case domain.PointsReceived:
		l.received += f.Points
	case domain.PointsCancelled:
		l.orderReversed[f.OrderID] += f.Points
		if f.Points <= 0 || l.orderReversed[f.OrderID] > l.orderEarned[f.OrderID]+l.orderBonus[f.OrderID] {
			t.Fatalf("cancelled %d points of order %s, which earned %d and %d of bonuses", f.Points, f.OrderID, l.orderEarned[f.OrderID], l.orderBonus[f.OrderID])
		}
	case domain.PointsReleased:
		if f.Points <= 0 || f.OccurredAt.After(e.OccurredAt) {
			t.Fatalf("released %+v at an event of %s", f, e.OccurredAt)
		}
	case domain.PointsHeld:
		l.redeemed += f.Points // spent, until the stock refuses
		if f.Points <= 0 || f.Points > available {
			t.Fatalf("held %d points of %d available", f.Points, available)
		}
	case domain.HoldReturned:
		l.redeemed -= f.Points
	case domain.PointsTransferred:
		l.redeemed += f.Points // spent, as far as the balance goes
		if f.Points <= 0 || f.Points > available || !p.Transfers.Allowed {
			t.Fatalf("transferred %d points of %d available (transfers allowed: %v)", f.Points, available, p.Transfers.Allowed)
		}
	case domain.PointsRedeemed:
		l.redeemed += f.Points
		if f.Points <= 0 || f.Points > available {
			t.Fatalf("redeemed %d points of %d available", f.Points, available)
		}
		if reward, ok := p.Redemption.Reward(f.RewardID); f.RewardID != "" && (!ok || f.Points != reward.Points*f.Quantity) {
			t.Fatalf("redeemed %d of %q for %d points", f.Quantity, f.RewardID, f.Points)
		}
	case domain.PurchaseRecorded:
		l.purchases++
		l.orderEarned[f.OrderID], l.orderBonus[f.OrderID], l.orderReversed[f.OrderID], l.feedbackBonuses[f.OrderID] = 0, 0, 0, 0
		if f.QualifyingSpend < 0 || f.QualifyingSpend > f.QualifyingSpendAfter {
			t.Fatalf("purchase qualifying spend %d, after %d", f.QualifyingSpend, f.QualifyingSpendAfter)
		}
		if p.MaxOrderAmount > 0 && f.QualifyingSpend > p.MaxOrderAmount {
			t.Fatalf("purchase of %d accepted over max_order_amount %d", f.QualifyingSpend, p.MaxOrderAmount)
		}
		l.latest[f.OrderID] = len(l.spend)
		l.spend = append(l.spend, daySpend{day: utcDay(f.OccurredAt), net: f.QualifyingSpend})
		if want := l.windowSpend(f.OccurredAt); f.QualifyingSpendAfter != want {
			t.Fatalf("purchase: qualifying spend after = %d, window holds %d", f.QualifyingSpendAfter, want)
		}
	case domain.RefundRecorded:
		i := l.latest[f.OrderID]
		l.spend[i].net += f.QualifyingSpend
		if f.QualifyingSpend > 0 || l.spend[i].net < 0 {
			t.Fatalf("refund of %d qualifying spend leaves the order %d", f.QualifyingSpend, l.spend[i].net)
		}
		if want := l.windowSpend(f.OccurredAt); f.QualifyingSpendAfter != want {
			t.Fatalf("refund: qualifying spend after = %d, window holds %d", f.QualifyingSpendAfter, want)
		}
	case domain.PointsEarned:
		if f.Points <= 0 {
			t.Fatalf("PointsEarned of %d points", f.Points)
		}
		l.lifetime += f.Points
		switch f.Rule {
		case domain.RuleBase, domain.RuleTierBonus:
			l.orderEarned[f.OrderID] += f.Points
			if limit := p.Earning.PerOrderCap; limit > 0 && l.orderEarned[f.OrderID] > limit {
				t.Fatalf("order %s earned %d, over the per-order cap %d", f.OrderID, l.orderEarned[f.OrderID], limit)
			}
		case domain.RuleFirstPurchaseBonus:
			l.firstBonuses++
			l.orderBonus[f.OrderID] += f.Points
		case domain.RuleFeedbackBonus:
			l.feedbackBonuses[f.OrderID]++
		case domain.RuleVisitBonus:
			d := f.OccurredAt.Unix() / 86400
			l.visitBonuses[d]++
			if limit := p.Earning.VisitBonusMaxPerDay; limit > 0 && l.visitBonuses[d] > limit {
				t.Fatalf("%d visit bonuses on day %d, limit %d", l.visitBonuses[d], d, limit)
			}
		default:
			t.Fatalf("PointsEarned under unknown rule %q", f.Rule)
		}
	case domain.PointsReversed:
		if f.Points <= 0 || f.Rule != domain.RuleRefund {
			t.Fatalf("PointsReversed %+v", f)
		}
		l.orderReversed[f.OrderID] += f.Points
		if l.orderReversed[f.OrderID] > l.orderEarned[f.OrderID]+l.orderBonus[f.OrderID] {
			t.Fatalf("order %s: %d points reversed, only %d earned and %d of bonuses", f.OrderID, l.orderReversed[f.OrderID],
				l.orderEarned[f.OrderID], l.orderBonus[f.OrderID])
		}
	case domain.TierChanged:
		up := tierRank(p, f.To) > tierRank(p, f.From)
		if f.From != l.tier || up == (f.Reason == domain.TierReasonPeriodEnd) || (f.From == "") != (f.Reason == domain.TierReasonEnrolment) {
			t.Fatalf("tier change %q -> %q for reason %q while in %q", f.From, f.To, f.Reason, l.tier)
		}
		if !up && (p.TierPolicy.Downgrade == "" || f.OccurredAt.After(e.OccurredAt) ||
			(p.TierPolicy.Downgrade == domain.DowngradeOneTier && tierRank(p, f.From)-tierRank(p, f.To) != 1)) {
			t.Fatalf("downgrade %q -> %q at %s under %+v", f.From, f.To, f.OccurredAt, p.TierPolicy)
		}
		l.tier = f.To
	}
}

func checkMember(t *rapid.T, p *domain.Program, l *ledger, m *domain.Member) {
	if m.Balance != l.balance || m.Lifetime != l.lifetime || m.Purchases != l.purchases || m.Tier != l.tier {
		t.Fatalf("member balance %d lifetime %d purchases %d tier %q; facts add up to %d %d %d %q",
			m.Balance, m.Lifetime, m.Purchases, m.Tier, l.balance, l.lifetime, l.purchases, l.tier)
	}
	// Only a refund of points already spent takes a balance below zero.
	if (m.Balance < 0 && l.redeemed == 0) || m.Balance+m.Pending > m.Lifetime+l.received || m.Redeemed > l.redeemed {
		t.Fatalf("balance %d (pending %d) outside [0, lifetime %d], or redeemed %d while the facts say %d",
			m.Balance, m.Pending, m.Lifetime, m.Redeemed, l.redeemed)
	}
	if m.Pending != l.pending || m.Pending < 0 || (p.Earning.Pending.Days == 0 && m.Pending != 0) {
		t.Fatalf("pending %d, the facts say %d", m.Pending, l.pending)
	}
	var pendingOrders int64
	for _, po := range m.PendingPoints() {
		pendingOrders += po.Points
	}
	if pendingOrders > m.Pending {
		t.Fatalf("orders hold %d pending points, the member %d", pendingOrders, m.Pending)
	}
	// The queue of pending orders lists exactly the orders with pending
	// points, soonest first.
	listed := map[string]domain.PendingOrder{}
	for i, po := range m.PendingPoints() {
		if prev := m.PendingPoints(); i > 0 && prev[i-1].AvailableAt.After(po.AvailableAt) {
			t.Fatalf("pending orders out of order: %v", prev)
		}
		listed[po.OrderID] = po
	}
	for _, id := range orderPool {
		o := m.Order(id)
		po, ok := listed[id]
		if has := o != nil && o.Pending > 0; has != ok || (ok && (po.Points != o.Pending || !po.AvailableAt.Equal(o.AvailableAt))) {
			t.Fatalf("order %s: listed pending %+v (%v), the order %+v", id, po, ok, o)
		}
	}
	if l.firstBonuses > 1 || (l.firstBonuses == 1 && p.Earning.FirstPurchaseBonus == 0) {
		t.Fatalf("%d first purchase bonuses", l.firstBonuses)
	}
	if m.QualifyingSpend < 0 || (p.TierPolicy == (domain.TierPolicy{}) && tierRank(p, m.Tier) < tierRank(p, p.TierFor(m.QualifyingSpend).Name)) {
		t.Fatalf("tier %q with qualifying spend %d (qualifies for %q)", m.Tier, m.QualifyingSpend, p.TierFor(m.QualifyingSpend).Name)
	}
	for _, id := range orderPool {
		if l.feedbackBonuses[id] > 1 {
			t.Fatalf("order %s earned %d feedback bonuses", id, l.feedbackBonuses[id])
		}
		o := m.Order(id)
		if o == nil {
			continue
		}
		if o.Earned != l.orderEarned[id] || o.Bonus != l.orderBonus[id] || o.Reversed != l.orderReversed[id] || o.Reversed > o.Earned+o.Bonus ||
			o.Refunded < 0 || o.Refunded > o.Total.Minor || o.QualifyingLost < 0 || o.QualifyingLost > o.QualifyingSpend {
			t.Fatalf("order %s: %+v; facts say earned %d reversed %d", id, *o, l.orderEarned[id], l.orderReversed[id])
		}
		// A fully refunded order has given back all it earned, its one-off
		// bonuses included, unless the policy leaves available points alone.
		owed := l.orderEarned[id] + l.orderBonus[id]
		if p.Returns.OrderBonuses == domain.OrderBonusesKeep {
			owed = l.orderEarned[id]
		}
		if o.Total.Minor > 0 && o.Refunded == o.Total.Minor && p.Returns.Policy != domain.ReturnsOnlyPending && l.orderReversed[id] != owed {
			t.Fatalf("order %s refunded in full: %d points taken back of the %d it earned with its bonuses", id, l.orderReversed[id], owed)
		}
	}
}

// TestApplyIsDeterministic applies the same history to two new members and
// replays the facts into a third: all three end equal, with equal facts.
func TestApplyIsDeterministic(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := drawProgram(t)
		events := drawEvents(t)
		run := func() (*domain.Member, [][]domain.Fact, []error) {
			m := domain.NewMember(memberID)
			var facts [][]domain.Fact
			var errs []error
			for _, e := range events {
				f, err := domain.Apply(m, e, p)
				facts, errs = append(facts, f), append(errs, err)
			}
			return m, facts, errs
		}
		m1, facts1, errs1 := run()
		m2, facts2, errs2 := run()
		if !reflect.DeepEqual(facts1, facts2) || !reflect.DeepEqual(errs1, errs2) {
			t.Fatalf("two runs gave different facts or errors")
		}
		if !reflect.DeepEqual(m1, m2) {
			t.Fatalf("two runs gave different members:\n%+v\n%+v", m1, m2)
		}
		replayed := domain.NewMember(memberID)
		for _, fs := range facts1 {
			for _, f := range fs {
				replayed.Evolve(f)
			}
		}
		if !reflect.DeepEqual(replayed, m1) {
			t.Fatalf("replay differs from the live fold:\n%+v\n%+v", replayed, m1)
		}
	})
}

// TestQualifyingSpendNeverNegative draws histories whose events may be
// dated before the ones already applied (a refund before its purchase, a
// late batch): the qualifying spend every purchase and refund reports is
// the net spend of the purchases dated in the window that ends on its day
// (a refund's, or its purchase's when that is later), each purchase net of
// its refunds, and so never negative; nor is the tier value the member's
// progress shows.
func TestQualifyingSpendNeverNegative(t *testing.T) {
	backdating := []time.Duration{0, 0, 0, time.Hour, 13 * time.Hour, day, 3 * day, 40 * day}
	rapid.Check(t, func(t *rapid.T) {
		p := drawProgram(t)
		m := domain.NewMember(memberID)
		type purchase struct {
			at  time.Time
			net int64
		}
		var spend []purchase
		latest := map[string]int{} // index in spend of the order with that id
		windowSpend := func(at time.Time) int64 {
			var sum int64
			for _, s := range spend {
				if d := utcDay(s.at); d > utcDay(at.Add(-365*day)) && d <= utcDay(at) {
					sum += s.net
				}
			}
			return sum
		}
		n := rapid.IntRange(1, 40).Draw(t, "events")
		at := t0
		var h history
		for i := range n {
			at = at.Add(rapid.SampledFrom(gaps).Draw(t, "gap"))
			dated := at.Add(-rapid.SampledFrom(backdating).Draw(t, "backdated"))
			e := event(fmt.Sprintf("e-%d", i), dated, h.drawBody(t))
			if err := domain.Validate(e, e.OccurredAt); err != nil {
				t.Fatalf("generated event %d is invalid: %v", i, err)
			}
			facts, err := domain.Apply(m, e, p)
			if err != nil {
				continue
			}
			for _, f := range facts {
				var after int64
				asOf := f.Meta().OccurredAt
				switch f := f.(type) {
				case domain.PurchaseRecorded:
					latest[f.OrderID] = len(spend)
					spend = append(spend, purchase{at: f.OccurredAt, net: f.QualifyingSpend})
					after = f.QualifyingSpendAfter
				case domain.RefundRecorded:
					bought := &spend[latest[f.OrderID]]
					bought.net += f.QualifyingSpend
					after = f.QualifyingSpendAfter
					if bought.at.After(asOf) {
						asOf = bought.at
					}
				case domain.TierProgress:
					if f.Value < 0 {
						t.Fatalf("event %d dated %s: tier value %d", i, dated.Format(time.RFC3339), f.Value)
					}
					continue
				default:
					continue
				}
				if want := windowSpend(asOf); after != want || after < 0 {
					t.Fatalf("event %d dated %s: %T reports qualifying spend %d; the purchases in its window hold %d",
						i, dated.Format(time.RFC3339), f, after, want)
				}
			}
			if m.QualifyingSpend < 0 {
				t.Fatalf("event %d: member's qualifying spend %d", i, m.QualifyingSpend)
			}
		}
	})
}
