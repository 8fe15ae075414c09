package domain

import (
	"fmt"
	"time"
)

// A reward with a stock is shared by every member, and members live in
// different partitions, so its redemption takes three steps, each an input
// event decided in one member's order (decision 014): the member's points
// are held (PointsHeld) and the engine asks the reward's stock
// (StockRequest, for the stock's own pseudo-member); the stock grants or
// refuses a unit (StockTaken, StockRefused) and the engine answers the
// member (StockAnswer); the hold becomes a redemption (HoldRedeemed) or the
// points come back (HoldReturned, with RedemptionRejected out_of_stock).

// RedeemOutOfStock is why a redemption of a reward whose stock ran out was refused.
const RedeemOutOfStock RedemptionReason = "out_of_stock"

// StockMemberPrefix starts the member id of a reward's stock.
const StockMemberPrefix = "stock:"

// StockRequest is the body of TypeStockRequest: a member's held redemption
// asks the reward's stock for Quantity units.
type StockRequest struct {
	RewardID  string
	MemberID  string
	RequestID string
	Quantity  int64
	// Return: the units come back, from a cancelled redemption.
	Return bool
}

func (b StockRequest) validate(e Event) error {
	switch {
	case b.RewardID == "" || b.MemberID == "" || b.RequestID == "" || b.Quantity < 1:
		return reject(ReasonInvalidField, "reward_id", "a stock request names its reward, member, request and quantity")
	case e.MemberID != StockMemberPrefix+b.RewardID:
		return reject(ReasonInvalidField, "reward_id", "a stock request is for the stock of its reward, %s<reward_id>", StockMemberPrefix)
	}
	return nil
}

func (b StockRequest) stringFields(yield func(StringField) bool) bool {
	return yield(ident("reward_id", b.RewardID, MaxRequestIDBytes)) && yield(memberRef("for_member_id", b.MemberID)) &&
		yield(ident("request_id", b.RequestID, MaxRequestIDBytes))
}

func (b StockRequest) decide(m *Member, meta FactMeta, at time.Time, e Event, p *Program) ([]Fact, bool, error) {
	return decideStock(m, meta, b, p), false, nil
}

// StockAnswer is the body of TypeStockAnswer: the stock's answer to a
// member's held redemption.
type StockAnswer struct {
	RequestID string
	RewardID  string
	Granted   bool
}

func (b StockAnswer) validate(e Event) error {
	if b.RewardID == "" || b.RequestID == "" {
		return reject(ReasonInvalidField, "request_id", "a stock answer names its reward and request")
	}
	return nil
}

func (b StockAnswer) stringFields(yield func(StringField) bool) bool {
	return yield(ident("request_id", b.RequestID, MaxRequestIDBytes)) && yield(ident("reward_id", b.RewardID, MaxRequestIDBytes))
}

func (b StockAnswer) decide(m *Member, meta FactMeta, at time.Time, e Event, p *Program) ([]Fact, bool, error) {
	return decideStockAnswer(m, meta, b, p), false, nil
}

func (StockRequest) EventType() EventType { return TypeStockRequest }
func (StockAnswer) EventType() EventType  { return TypeStockAnswer }

// PointsHeld takes a stocked reward's cost off the balance until its stock
// answers.
type PointsHeld struct {
	FactMeta
	Points         int64
	RequestID      string
	RewardID       string
	Quantity       int64
	Channel        string
	ProgramVersion string
	// FollowUpID is the id of the follow-up event the fact causes (see
	// FollowUp), given by the engine when it decides the fact; "" in facts
	// written before it was, whose follow-ups have their legacy ids.
	FollowUpID string
}

func (f PointsHeld) pointsDelta() int64 { return -f.Points }

// HoldRedeemed makes a hold a redemption: the stock granted the units.
type HoldRedeemed struct {
	FactMeta
	RequestID string
	Points    int64
}

func (HoldRedeemed) activity() bool { return false }

// HoldReturned gives a hold's points back, to the lots they came from: the
// stock refused (a RedemptionRejected with RedeemOutOfStock goes with it).
type HoldReturned struct {
	FactMeta
	RequestID      string
	Points         int64
	ProgramVersion string
}

func (f HoldReturned) pointsDelta() int64 { return f.Points }

func (HoldReturned) activity() bool { return false }

// StockTaken and StockRefused are the stock's decisions, facts of the
// stock's pseudo-member.
type StockTaken struct {
	FactMeta
	RewardID   string
	ForMember  string
	RequestID  string
	Quantity   int64
	FollowUpID string // see PointsHeld
}

func (StockTaken) activity() bool { return false }

type StockRefused struct {
	FactMeta
	RewardID   string
	ForMember  string
	RequestID  string
	Quantity   int64
	FollowUpID string // see PointsHeld
}

func (StockRefused) activity() bool { return false }

func (PointsHeld) FactType() FactType   { return FactPointsHeld }
func (HoldRedeemed) FactType() FactType { return FactHoldRedeemed }
func (HoldReturned) FactType() FactType { return FactHoldReturned }
func (StockTaken) FactType() FactType   { return FactStockTaken }
func (StockRefused) FactType() FactType { return FactStockRefused }

// hold is what a member's state keeps of held points: the lots they came
// from, to give them back.
type hold struct {
	points   int64
	lots     []lot
	at       time.Time // when the points were held
	reward   string
	quantity int64
}

// stockAnswer is the event a stock's decision makes the engine publish (see
// FollowUp): the answer to the member's held redemption.
func stockAnswer(meta FactMeta, given, member, request, reward string, granted bool) Event {
	return Event{ID: followUpID(given, stockAnswerPrefix, meta), Type: TypeStockAnswer, Source: FollowUpSource,
		MemberID: member, OccurredAt: meta.OccurredAt, Body: StockAnswer{RequestID: request, RewardID: reward, Granted: granted}}
}

// decideStock is the stock's decision: a unit while the program's stock of
// the reward lasts. Stock counts units taken over the reward's life; a
// version that raises it makes more available.
func decideStock(m *Member, meta FactMeta, b StockRequest, p *Program) []Fact {
	if b.Return {
		return []Fact{StockReturned{FactMeta: meta, RewardID: b.RewardID, ForMember: b.MemberID, RequestID: b.RequestID, Quantity: b.Quantity}}
	}
	reward, ok := p.Redemption.Reward(b.RewardID)
	taken := m.stockTaken[b.RewardID]
	if ok && (reward.Stock == 0 || taken+b.Quantity <= reward.Stock) {
		return []Fact{StockTaken{FactMeta: meta, RewardID: b.RewardID, ForMember: b.MemberID, RequestID: b.RequestID, Quantity: b.Quantity}}
	}
	return []Fact{StockRefused{FactMeta: meta, RewardID: b.RewardID, ForMember: b.MemberID, RequestID: b.RequestID, Quantity: b.Quantity}}
}

// decideStockAnswer ends a hold; an answer to no hold (one already ended) is
// recorded as nothing.
func decideStockAnswer(m *Member, meta FactMeta, b StockAnswer, p *Program) []Fact {
	h, ok := m.holds[b.RequestID]
	if !ok {
		return nil
	}
	if b.Granted {
		redeemed := []Fact{HoldRedeemed{FactMeta: meta, RequestID: b.RequestID, Points: h.points}}
		if reward, ok := p.Redemption.Reward(h.reward); ok {
			redeemed = append(redeemed, decideVouchers(meta, b.RequestID, reward, h.quantity)...)
		}
		return redeemed
	}
	return []Fact{
		RedemptionRejected{FactMeta: meta, RequestID: b.RequestID, RewardID: b.RewardID, Reason: RedeemOutOfStock,
			Detail: fmt.Sprintf("reward %q is out of stock", b.RewardID), ProgramVersion: p.Version},
		HoldReturned{FactMeta: meta, RequestID: b.RequestID, Points: h.points, ProgramVersion: p.Version},
	}
}

// evolveStock folds the facts of holds and stock.
func (m *Member) evolveStock(f Fact) {
	m.unshare()
	switch f := f.(type) {
	case PointsHeld:
		lots := m.spendPoints(f.Points, f.RewardID, f.OccurredAt, f.Quantity, f.RequestID)
		if m.holds == nil {
			m.holds = map[string]hold{}
		}
		m.holds[f.RequestID] = hold{points: f.Points, lots: lots, at: f.OccurredAt, reward: f.RewardID, quantity: f.Quantity}
	case HoldRedeemed:
		m.Redeemed += f.Points
		h := m.holds[f.RequestID]
		delete(m.holds, f.RequestID)
		m.rememberSpent(f.RequestID, spent{at: h.at, points: h.points, reward: h.reward, quantity: h.quantity, lots: h.lots, stocked: true})
	case HoldReturned:
		m.Balance += f.Points
		// The lots get back no more than the balance (see addCappedLot): a
		// refund while the points were held may have taken the balance
		// below zero, and what made it good is not there to expire. The
		// latest-expiring lots come back first: a reversal takes the
		// soonest-expiring points, so the hold returns as if the refund had
		// taken those.
		lots := m.holds[f.RequestID].lots
		for i := len(lots) - 1; i >= 0; i-- {
			m.addCappedLot(lots[i].expires, lots[i].remaining)
		}
		delete(m.holds, f.RequestID)
	case StockTaken:
		if m.stockTaken == nil {
			m.stockTaken = map[string]int64{}
		}
		m.stockTaken[f.RewardID] += f.Quantity
	}
}

// StockTakenOf is how many units of a reward a stock's member has given.
func (m *Member) StockTakenOf(reward string) int64 { return m.stockTaken[reward] }
