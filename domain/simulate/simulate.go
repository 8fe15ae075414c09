// Package simulate generates realistic member activity for the loyalty
// engine: `loyalty simulate` publishes it, end-to-end tests regenerate the
// same events to compute the reference fold, and benchmarks feed it through
// the engine. The same Config always gives the same events, in the same
// order, with the same ids.
//
// The model is of the "buy till you die" kind, so that churn and lifetime
// value models (BG/NBD, Gamma-Gamma) have something real to find:
//
//   - Every member enrols (loyalty.member.enrolled.v1 is always a member's
//     first event). About 30% were members before the period: they are
//     enrolled with channel "migrated" in the first hours of day 0 and are
//     active from the start, though a quarter of them had already lapsed
//     and never buy again. The others enrol on a day spread over the first
//     two thirds of the period; 40% of them buy straight away.
//   - While alive, a member buys as a Poisson process whose rate is drawn
//     per member from a Gamma distribution (mean one purchase every 25 days,
//     most members rarely, a few often). After each purchase the member
//     drops out for good with a probability drawn per member from a
//     Beta(0.8, 3) distribution; a dropped-out member never buys, visits or
//     gives unprompted feedback again (refunds and feedback on past orders
//     still arrive).
//   - Basket values are log-normal (median about 35 in the home currency, a
//     long tail to a few hundred), scaled by a per-member spend level drawn
//     from a Gamma distribution. Baskets have 1-4 lines with distinct SKUs
//     from a small catalogue (grocery, beauty, electronics, fashion, home,
//     toys). 20% of orders are discounted below the sum of their lines and
//     0.5% are fully discounted (total 0). About 3% are in USD or GBP.
//   - About 5% of paid orders are refunded 1-14 days later: half in full by
//     amount, 30% partly by amount, 20% by lines; some get a second refund.
//     No refund comes more than 28 days after its order, so all fit a
//     30-day refund window.
//     A refund never exceeds what is left of its order and never returns
//     more of a line than was bought, across all refunds of the order.
//   - Members visit a few times a month (stores, web, app), sometimes more
//     than once a day; 15% of orders get feedback (a rating, an NPS score,
//     or both, skewed high and lower for members likely to churn); members
//     occasionally give feedback unprompted.
//   - About 2% of member ids are awkward (dots, spaces, '*', '>', unicode),
//     to exercise subject safety; the rest look like "m-000042".
//
// The package is pure: no I/O, no clock; randomness comes only from
// math/rand/v2 PCG streams seeded from Config.Seed, one stream per member,
// so a member's history does not depend on how it interleaves with others'.
// Memory is per-member state (about 150 bytes) plus pending refunds and
// feedback; it does not grow with the number of events generated.
package simulate

import (
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pointsledger/loyalty/domain"
)

// Source is the Source of every generated event.
const Source = "loyalty-simulate"

// Model parameters; see the package comment.
const (
	purchaseShape      = 0.8  // Gamma shape of the purchase rate: < 1, many rare buyers
	purchaseScale      = 0.05 // mean rate 0.04/day: one purchase every 25 days
	dropoutA           = 0.8  // Beta(a, b) of the dropout chance after a purchase
	dropoutB           = 3.0
	spendShape         = 5.0 // Gamma shape of the spend level (mean 1)
	basketMedian       = 35.0
	basketSigma        = 0.7
	maxBasket          = 800.0
	visitsPerDay       = 0.1
	feedbackEveryDays  = 180.0
	existingShare      = 0.3
	lapsedShare        = 0.25
	buyAtEnrolShare    = 0.4
	foreignShare       = 0.03
	freeOrderShare     = 0.005
	discountShare      = 0.2
	orderFeedbackShare = 0.15
	refundShare        = 0.05
	repeatRefundShare  = 0.3
	sameDayVisitShare  = 0.15
	redeemShare        = 0.06 // purchases followed by a redemption at the till, from the third on
	deliveredShare     = 0.8  // online orders whose delivery upstream confirms
	referredShare      = 0.1  // new (not migrated) members enrolled with a referrer
	transferShare      = 0.01 // purchases after which the member gives points away
	birthDateShare     = 0.6  // new members who give their date of birth
	redeemRewardShare  = 0.7  // of redemptions, those of a catalogue reward rather than points
	commentShare       = 0.3
	awkwardShare       = 0.02
	unhappyDropout     = 0.35     // members this likely to drop out rate lower
	maxRefundAge       = 28 * day // refunds fit a 30-day refund window
)

const (
	day   = 86400 // seconds
	never = math.MaxInt64
	// seedStream is the second word of the PCG seed. Changing it changes
	// every simulation, and so every reference an end-to-end test computed.
	seedStream = 0x6c6f79616c747931
)

const (
	styleStore = iota
	styleWeb
	styleApp
)

var styleWeights = []float64{60, 25, 15}

// Channel mixes by style: home store, another store, web, app.
var (
	purchaseMix = [3][]float64{{80, 5, 10, 5}, {10, 0, 70, 20}, {10, 0, 20, 70}}
	visitMix    = [3][]float64{{88, 7, 3, 2}, {35, 5, 45, 15}, {35, 5, 15, 45}}
	feedbackMix = [3][]float64{{40, 0, 30, 30}, {5, 0, 70, 25}, {5, 0, 25, 70}}
)

var (
	lineCountWeights = []float64{40, 30, 20, 10}
	ratingWeights    = [2][]float64{{3, 4, 10, 30, 53}, {10, 12, 25, 30, 23}}
	npsWeights       = [2][]float64{{2, 1, 1, 2, 2, 4, 5, 10, 20, 25, 28}, {6, 4, 5, 6, 7, 10, 10, 14, 15, 12, 11}}
)

// Generator produces the events of one simulation in time order. It is not
// safe for concurrent use.
type Generator struct {
	start    time.Time
	end      int64 // seconds after start
	currency string
	foreign  []string
	rates    map[string]float64 // price factor per foreign currency
	members  []member
	heap     []slot
	src      memberSource
	rng      *rand.Rand
	estimate int
}

// member is the state of one simulated member. Times are seconds after the
// start of the period.
type member struct {
	id           string
	pcg          rand.PCG
	lambda       float64 // purchases per day while alive
	dropout      float64 // chance of never buying again after a purchase
	spend        float64 // spend level, multiplies basket values
	visitRate    float64 // visits per day while alive
	feedbackRate float64 // unprompted feedback per day while alive
	enrolAt      int64
	nextPurchase int64
	nextVisit    int64
	nextFeedback int64
	pending      []followUp // refunds and feedback of past orders
	orders       int32
	style        uint8
	home         uint8
	purchaseCh   uint8
	visitCh      uint8
	feedbackCh   uint8
	enrolled     bool
	alive        bool
	migrated     bool
	buyAtEnrol   bool
}

type followKind uint8

const (
	followFeedback followKind = iota
	followRefund
	followRedeem
	followConfirm
	followTransfer
)

type followUp struct {
	at    int64
	kind  followKind
	order *order
}

// order is what a pending refund or feedback needs to know of its order.
type order struct {
	id       string
	currency string
	total    int64
	refunded int64 // by amount, as the engine counts it
	lines    []domain.LineItem
	returned []int64 // quantity returned per line, across refunds
	placed   int64
	channel  uint8
}

// slot is a member's place in the heap: the time of its next event.
type slot struct {
	at  int64
	idx int32
}

func (a slot) less(b slot) bool { return a.at < b.at || a.at == b.at && a.idx < b.idx }

// New prepares a simulation: it draws every member's traits (so it takes
// time and memory proportional to cfg.Members) but no events yet. It
// returns an error wrapping ErrInvalidConfig if cfg is invalid.
func New(cfg Config) (*Generator, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := &Generator{
		start:    cfg.Start,
		end:      int64(cfg.Days) * day,
		currency: cfg.Currency,
		rates:    map[string]float64{},
		members:  make([]member, cfg.Members),
		heap:     make([]slot, cfg.Members),
	}
	g.rng = rand.New(&g.src)
	home, ok := foreignRates[cfg.Currency]
	if !ok {
		home = 1 // catalogue prices read as the home currency's major units
	}
	for _, c := range []string{"USD", "GBP", "EUR"} {
		if c != cfg.Currency && len(g.foreign) < 2 {
			g.foreign = append(g.foreign, c)
			g.rates[c] = foreignRates[c] / home
		}
	}
	master := rand.NewPCG(cfg.Seed, seedStream)
	var estimate float64
	for i := range g.members {
		m := &g.members[i]
		m.pcg.Seed(master.Uint64(), master.Uint64())
		g.src.pcg = &m.pcg
		g.initMember(m, i)
		estimate += g.expectedEvents(m)
		g.heap[i] = slot{at: m.enrolAt, idx: int32(i)}
	}
	for i := len(g.heap)/2 - 1; i >= 0; i-- {
		g.down(i)
	}
	g.estimate = int(math.Round(estimate))
	return g, nil
}

// All generates every event of a simulation. It holds them all in memory:
// prefer a Generator for large runs.
func All(cfg Config) ([]domain.Event, error) {
	g, err := New(cfg)
	if err != nil {
		return nil, err
	}
	events := make([]domain.Event, 0, g.EstimatedTotal()+g.EstimatedTotal()/8)
	for e, ok := g.Next(); ok; e, ok = g.Next() {
		events = append(events, e)
	}
	return events, nil
}

// EstimatedTotal is the expected number of events, from the members'
// traits; the actual count is usually within a few percent for large runs.
// Use it for progress bars, not for assertions.
func (g *Generator) EstimatedTotal() int { return g.estimate }

// Next returns the next event in time order (events at the same second come
// in a fixed order), or false when the simulation is over. OccurredAt is UTC,
// in [Start, Start+Days).
func (g *Generator) Next() (domain.Event, bool) {
	for len(g.heap) > 0 {
		s := g.heap[0]
		m := &g.members[s.idx]
		g.src.pcg = &m.pcg
		e, ok := g.step(m, s.idx, s.at)
		if next := m.next(); next < g.end {
			g.heap[0].at = next
			g.down(0)
		} else {
			g.pop()
		}
		if ok {
			return e, true
		}
	}
	return domain.Event{}, false
}

func (g *Generator) initMember(m *member, i int) {
	r := g.rng
	m.id = memberID(r, i)
	m.lambda = gamma(r, purchaseShape, purchaseScale)
	m.dropout = beta(r, dropoutA, dropoutB)
	m.spend = gamma(r, spendShape, 1/spendShape)
	m.visitRate = gamma(r, 2, visitsPerDay/2)
	m.feedbackRate = gamma(r, 1, 1/feedbackEveryDays)
	m.style = uint8(weighted(r, styleWeights))
	m.home = uint8(r.IntN(len(stores)))
	m.alive = true
	m.nextPurchase, m.nextVisit, m.nextFeedback = never, never, never
	if r.Float64() < existingShare {
		m.migrated = true
		m.enrolAt = min(r.Int64N(4*3600), g.end-1)
		m.alive = r.Float64() >= lapsedShare
		return
	}
	span := max(1, g.end/day*2/3)
	m.enrolAt = r.Int64N(span)*day + g.timeOfDay(enrolChannel(m))
	m.buyAtEnrol = r.Float64() < buyAtEnrolShare
}

// expectedEvents is a member's expected number of events: purchases at rate
// lambda until dropping out at rate lambda*dropout, visits and unprompted
// feedback while alive, follow-ups per purchase.
func (g *Generator) expectedEvents(m *member) float64 {
	if !m.alive {
		return 1
	}
	span := float64(g.end-m.enrolAt) / day
	death := m.lambda * m.dropout
	alive := span
	if death*span > 1e-9 {
		alive = (1 - math.Exp(-death*span)) / death
	}
	purchases := m.lambda * alive
	if m.buyAtEnrol {
		purchases++
	}
	followUps := orderFeedbackShare + refundShare*(1+repeatRefundShare/2) + redeemShare + deliveredShare/2 + transferShare
	return 1 + purchases*(1+followUps) + m.visitRate*alive/(1-sameDayVisitShare/2) + m.feedbackRate*alive
}

// next is when the member's next event happens (never if none is due).
func (m *member) next() int64 {
	if !m.enrolled {
		return m.enrolAt
	}
	t := min(m.nextPurchase, m.nextVisit, m.nextFeedback)
	for _, f := range m.pending {
		t = min(t, f.at)
	}
	return t
}

// step produces the member's event due at time at and advances its state.
func (g *Generator) step(m *member, idx int32, at int64) (domain.Event, bool) {
	if !m.enrolled {
		return g.enrol(m, at), true
	}
	for i, f := range m.pending {
		if f.at == at {
			m.pending = slices.Delete(m.pending, i, i+1)
			return g.followUp(m, f)
		}
	}
	switch at {
	case m.nextPurchase:
		return g.purchase(m, idx, at), true
	case m.nextVisit:
		return g.visit(m, at), true
	case m.nextFeedback:
		return g.unpromptedFeedback(m, at), true
	}
	return domain.Event{}, false // not reached: at is always m.next()
}

func (g *Generator) event(m *member, at int64, body domain.EventBody) domain.Event {
	return domain.Event{
		ID:         newID(g.rng),
		Type:       body.EventType(),
		Source:     Source,
		MemberID:   m.id,
		OccurredAt: g.start.Add(time.Duration(at) * time.Second),
		Body:       body,
	}
}

func (g *Generator) enrol(m *member, at int64) domain.Event {
	r := g.rng
	m.enrolled = true
	channel := "migrated"
	if !m.migrated {
		channel = channelName(enrolChannel(m))
	}
	body := domain.Enrolment{Channel: channel}
	if !m.migrated && len(g.members) > 1 && r.Float64() < referredShare {
		if other := &g.members[r.IntN(len(g.members))]; other != m {
			body.ReferredBy = other.id
		}
	}
	if !m.migrated && r.Float64() < birthDateShare {
		body.Birthday = domain.Birthday{Month: time.Month(1 + r.IntN(12)), Day: 1 + r.IntN(28)}
	}
	e := g.event(m, at, body)
	if !m.alive {
		return e
	}
	if m.buyAtEnrol {
		m.purchaseCh = enrolChannel(m)
		if t := at + between(r, 60, 900); t < g.end {
			m.nextPurchase = t
		}
	} else {
		m.purchaseCh = g.pickChannel(m, purchaseMix[m.style])
		m.nextPurchase = g.after(at, r.ExpFloat64()/m.lambda, m.purchaseCh)
	}
	m.visitCh = g.pickChannel(m, visitMix[m.style])
	m.nextVisit = g.after(at, r.ExpFloat64()/m.visitRate, m.visitCh)
	m.feedbackCh = g.pickChannel(m, feedbackMix[m.style])
	m.nextFeedback = g.after(at, r.ExpFloat64()/m.feedbackRate, m.feedbackCh)
	return e
}

func (g *Generator) purchase(m *member, idx int32, at int64) domain.Event {
	r := g.rng
	m.orders++
	cur, rate := g.currency, 1.0
	if r.Float64() < foreignShare {
		cur = g.foreign[r.IntN(len(g.foreign))]
		rate = g.rates[cur]
	}
	lines, gross := g.basket(m, cur, rate)
	total := gross
	switch u := r.Float64(); {
	case u < freeOrderShare:
		total = 0
	case u < freeOrderShare+discountShare:
		total -= gross * between(r, 5, 30) / 100
	}
	o := &order{
		id:       "o-" + strconv.Itoa(int(idx)+1) + "-" + strconv.Itoa(int(m.orders)),
		currency: cur,
		total:    total,
		lines:    lines,
		placed:   at,
		channel:  m.purchaseCh,
	}
	e := g.event(m, at, domain.Purchase{
		OrderID: o.id,
		Total:   domain.Money{Minor: total, Currency: cur},
		Lines:   lines,
		Channel: channelName(o.channel),
	})
	if r.Float64() < orderFeedbackShare {
		g.schedule(m, at+1200+min(int64(r.ExpFloat64()*18*3600), 7*day), followFeedback, o)
	}
	if total > 0 && r.Float64() < refundShare {
		g.schedule(m, at+between(r, day, 14*day), followRefund, o)
	}
	if !isStore(o.channel) && r.Float64() < deliveredShare {
		g.schedule(m, at+between(r, day, 5*day), followConfirm, o)
	}
	if m.orders >= 2 && len(g.members) > 1 && r.Float64() < transferShare {
		g.schedule(m, at+between(r, 3600, 3*day), followTransfer, o)
	}
	if m.orders >= 3 && r.Float64() < redeemShare {
		g.schedule(m, at+between(r, 60, 600), followRedeem, o)
	}
	if r.Float64() < m.dropout {
		m.alive = false
		m.nextPurchase, m.nextVisit, m.nextFeedback = never, never, never
		return e
	}
	m.purchaseCh = g.pickChannel(m, purchaseMix[m.style])
	m.nextPurchase = g.after(at, r.ExpFloat64()/m.lambda, m.purchaseCh)
	return e
}

// basket fills an order: a target value, split over 1-4 lines, each matched
// to the catalogue SKU closest in price. It returns the lines and the sum of
// their prices in minor units of cur.
func (g *Generator) basket(m *member, cur string, rate float64) ([]domain.LineItem, int64) {
	r := g.rng
	target := min(basketMedian*math.Exp(basketSigma*r.NormFloat64())*m.spend, maxBasket) * 100 // hundredths
	n := 1 + weighted(r, lineCountWeights)
	var w [4]float64
	var sum float64
	for i := range n {
		w[i] = r.ExpFloat64()
		sum += w[i]
	}
	unit := float64(domain.MinorUnit(cur))
	lines := make([]domain.LineItem, 0, n)
	var gross int64
	for i := range n {
		share := target * w[i] / sum
		c := weighted(r, categoryWeights)
		j := nearestPrice(prices[c], share)
		if r.Float64() < 0.3 {
			j = min(max(j+r.IntN(3)-1, 0), len(prices[c])-1)
		}
		sku := skus[c][j]
		if slices.ContainsFunc(lines, func(l domain.LineItem) bool { return l.SKU == sku }) {
			continue
		}
		price := prices[c][j]
		qty := int64(1)
		if q := math.Round(share / float64(price)); q > 1 && price < 10000 {
			qty = min(int64(q), 4)
		}
		unitPrice := max(1, int64(math.Round(float64(price)*rate*unit/100)))
		lines = append(lines, domain.LineItem{SKU: sku, Category: categories[c], Quantity: qty, UnitPrice: unitPrice})
		gross += qty * unitPrice
	}
	return lines, gross
}

// nearestPrice is the index of the price closest to v on a log scale.
func nearestPrice(ps []int64, v float64) int {
	best, bestD := 0, math.Inf(1)
	for i, p := range ps {
		d := float64(p) / v
		if d < 1 {
			d = 1 / d
		}
		if d < bestD {
			best, bestD = i, d
		}
	}
	return best
}

func (g *Generator) schedule(m *member, at int64, kind followKind, o *order) {
	if at < g.end {
		m.pending = append(m.pending, followUp{at: at, kind: kind, order: o})
	}
}

func (g *Generator) followUp(m *member, f followUp) (domain.Event, bool) {
	switch f.kind {
	case followFeedback:
		return g.event(m, f.at, g.feedback(m, f.order.id, f.order.channel)), true
	case followRedeem:
		return g.redeem(m, f.at, f.order), true
	case followConfirm:
		return g.event(m, f.at, domain.Confirmation{OrderID: f.order.id}), true
	case followTransfer:
		to := &g.members[g.rng.IntN(len(g.members)-1)]
		if to == m { // m is not the last: take that one
			to = &g.members[len(g.members)-1]
		}
		return g.event(m, f.at, domain.TransferRequest{RequestID: "tr-" + newID(g.rng), ToMemberID: to.id, Points: 100 * between(g.rng, 1, 5)}), true
	}
	return g.refund(m, f.at, f.order)
}

// refund returns part or all of what is left of an order, and sometimes
// schedules another refund of the same order.
func (g *Generator) refund(m *member, at int64, o *order) (domain.Event, bool) {
	r := g.rng
	left := o.total - o.refunded
	if left <= 0 {
		return domain.Event{}, false
	}
	body := domain.Refund{OrderID: o.id}
	var amount int64
	u := r.Float64()
	if u >= 0.8 {
		body.Lines, amount = g.returnLines(o)
	}
	if body.Lines == nil {
		amount = left
		if u >= 0.5 && left > 1 {
			amount = between(r, 1, left-1)
		}
		body.Amount = domain.Money{Minor: amount, Currency: o.currency}
	}
	// Returned lines are priced at their unit prices, capped at what is left
	// (a discount made the order cheaper than its lines): as the engine does.
	o.refunded += min(amount, left)
	if o.refunded < o.total && r.Float64() < repeatRefundShare {
		if t := at + between(r, day, 10*day); t-o.placed <= maxRefundAge {
			g.schedule(m, t, followRefund, o)
		}
	}
	return g.event(m, at, body), true
}

// returnLines picks returned quantities of lines not yet fully returned, and
// their value at unit prices; nil if every line has been returned.
func (g *Generator) returnLines(o *order) ([]domain.RefundLine, int64) {
	r := g.rng
	if o.returned == nil {
		o.returned = make([]int64, len(o.lines))
	}
	var open []int
	for i, l := range o.lines {
		if l.Quantity > o.returned[i] {
			open = append(open, i)
		}
	}
	if len(open) == 0 {
		return nil, 0
	}
	first := open[r.IntN(len(open))]
	var out []domain.RefundLine
	var amount int64
	for _, i := range open {
		if i != first && r.Float64() >= 0.3 {
			continue
		}
		l := o.lines[i]
		q := between(r, 1, l.Quantity-o.returned[i])
		o.returned[i] += q
		amount += q * l.UnitPrice
		out = append(out, domain.RefundLine{SKU: l.SKU, Quantity: q})
	}
	return out, amount
}

func (g *Generator) feedback(m *member, orderID string, ch uint8) domain.Feedback {
	r := g.rng
	unhappy := 0
	if m.dropout > unhappyDropout {
		unhappy = 1
	}
	fb := domain.Feedback{OrderID: orderID, Channel: channelName(ch)}
	kind := r.Float64()
	mood := 0
	if kind < 0.85 {
		rating := 1 + weighted(r, ratingWeights[unhappy])
		fb.Rating = &rating
		mood = rating
	}
	if kind >= 0.7 {
		nps := weighted(r, npsWeights[unhappy])
		fb.NPS = &nps
		if mood == 0 {
			mood = 1 + nps*4/10
		}
	}
	if r.Float64() < commentShare {
		cs := comments[mood-1]
		fb.Comment = cs[r.IntN(len(cs))]
	}
	return fb
}

// redeem asks to spend points where the order was placed: a reward of the
// default program's catalogue, or points. The generator does not know the
// balance, so some requests are refused, as at a real till.
func (g *Generator) redeem(m *member, at int64, o *order) domain.Event {
	r := g.rng
	body := domain.RedeemRequest{RequestID: "rq-" + newID(r), Channel: channelName(o.channel)}
	if r.Float64() < redeemRewardShare {
		body.RewardID = redeemRewards[weighted(r, redeemRewardWeights)]
	} else {
		body.Points = 100 * between(r, 1, 15)
	}
	return g.event(m, at, body)
}

func (g *Generator) unpromptedFeedback(m *member, at int64) domain.Event {
	e := g.event(m, at, g.feedback(m, "", m.feedbackCh))
	m.feedbackCh = g.pickChannel(m, feedbackMix[m.style])
	m.nextFeedback = g.after(at, g.rng.ExpFloat64()/m.feedbackRate, m.feedbackCh)
	return e
}

func (g *Generator) visit(m *member, at int64) domain.Event {
	r := g.rng
	e := g.event(m, at, domain.Visit{Channel: channelName(m.visitCh)})
	m.visitCh = g.pickChannel(m, visitMix[m.style])
	if r.Float64() < sameDayVisitShare {
		if t := at + between(r, 1800, 4*3600); t/day == at/day && t < g.end {
			m.nextVisit = t
			return e
		}
	}
	m.nextVisit = g.after(at, r.ExpFloat64()/m.visitRate, m.visitCh)
	return e
}

// after is when an activity happens gapDays after from: on the day the gap
// ends, at a time of day typical of the channel (or exactly at the end of
// the gap, if that time has passed). It is always after from, and never if
// it falls outside the period.
func (g *Generator) after(from int64, gapDays float64, ch uint8) int64 {
	if !(gapDays*day < float64(g.end-from)) { // also catches +Inf and NaN
		return never
	}
	c := from + 1 + int64(gapDays*day)
	t := c - c%day + g.timeOfDay(ch)
	if t <= from {
		t = c
	}
	if t >= g.end {
		return never
	}
	return t
}

// timeOfDay is a second of the day: stores are open 08:00-21:00 with a
// lunchtime and an after-work peak; web and app peak in the evening.
func (g *Generator) timeOfDay(ch uint8) int64 {
	r := g.rng
	var h float64
	switch {
	case isStore(ch):
		for {
			h = 12.5
			if r.Float64() < 0.55 {
				h = 17.5
			}
			h += 1.7 * r.NormFloat64()
			if h >= 8 && h < 21 {
				break
			}
		}
	case r.Float64() < 0.3:
		h = 24 * r.Float64()
	default:
		h = math.Mod(20.5+2.5*r.NormFloat64()+48, 24)
	}
	return min(max(int64(h*3600), 0), day-1)
}

func (g *Generator) pickChannel(m *member, mix []float64) uint8 {
	switch weighted(g.rng, mix) {
	case 0:
		return m.home
	case 1:
		return uint8((int(m.home) + 1 + g.rng.IntN(len(stores)-1)) % len(stores))
	case 2:
		return channelWeb
	}
	return channelApp
}

func enrolChannel(m *member) uint8 {
	switch m.style {
	case styleWeb:
		return channelWeb
	case styleApp:
		return channelApp
	}
	return m.home
}

func memberID(r *rand.Rand, i int) string {
	n := strconv.Itoa(i + 1)
	if r.Float64() < awkwardShare {
		return strings.Replace(awkwardIDs[r.IntN(len(awkwardIDs))], "%d", n, 1)
	}
	return "m-" + leftPad(n, 6)
}

func (g *Generator) down(i int) {
	h := g.heap
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		c := l
		if r := l + 1; r < n && h[r].less(h[l]) {
			c = r
		}
		if !h[c].less(h[i]) {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

func (g *Generator) pop() {
	last := len(g.heap) - 1
	g.heap[0] = g.heap[last]
	g.heap = g.heap[:last]
	if last > 0 {
		g.down(0)
	}
}
