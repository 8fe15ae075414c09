package domain

import (
	"fmt"
	"slices"
	"time"
)

// Redemption is the program's reward catalogue and how points may be spent.
type Redemption struct {
	Rewards []Reward
	// DirectPoints lets a request spend a number of points without naming a
	// reward ("pay with points" at the till); MinPoints is its smallest.
	DirectPoints bool
	MinPoints    int64
	// CancelDays is how long after a redemption the back office may cancel
	// it (CancelRequest); 0: never.
	CancelDays int
}

// Reward is one item of the catalogue.
type Reward struct {
	ID     string
	Name   string
	Points int64 // cost of one unit
	// Tiers are the tiers whose members may redeem it; empty: every tier.
	Tiers []string
	// Limit caps the units one member redeems per period; zero Count: none.
	Limit RewardLimit
	// Stock is how many units there are for all members over the reward's
	// life; 0: no limit.
	Stock int64
	// VoucherDays: each unit redeemed issues a voucher code valid this
	// many days (VoucherIssued); 0: no voucher.
	VoucherDays int
}

// RewardLimit is at most Count units per member and calendar period.
type RewardLimit struct {
	Count int64
	Per   LimitPeriod
}

// MaxRedeemQuantity bounds the units of one request.
const MaxRedeemQuantity = 1000

// RedemptionReason says why a redemption request was refused. Refusals are
// answers, not bad input: they are ledger facts (RedemptionRejected), so the
// till, the member's history and the analysts all see them.
type RedemptionReason string

const (
	RedeemInsufficientPoints RedemptionReason = "insufficient_points"
	RedeemMemberBlocked      RedemptionReason = "member_blocked"
	RedeemMemberClosed       RedemptionReason = "member_closed"
	RedeemUnknownReward      RedemptionReason = "unknown_reward"
	RedeemTierNotEligible    RedemptionReason = "tier_not_eligible"
	RedeemLimitReached       RedemptionReason = "limit_reached"
	RedeemDirectNotAllowed   RedemptionReason = "direct_points_not_allowed"
	RedeemBelowMinimum       RedemptionReason = "below_minimum"
)

// RedemptionReasons lists every reason a redemption is refused.
var RedemptionReasons = []RedemptionReason{
	RedeemInsufficientPoints, RedeemMemberBlocked, RedeemMemberClosed, RedeemUnknownReward,
	RedeemTierNotEligible, RedeemLimitReached, RedeemDirectNotAllowed, RedeemBelowMinimum, RedeemOutOfStock,
}

// Reward returns the catalogue's reward with the given id.
func (r Redemption) Reward(id string) (Reward, bool) {
	i := slices.IndexFunc(r.Rewards, func(w Reward) bool { return w.ID == id })
	if i < 0 {
		return Reward{}, false
	}
	return r.Rewards[i], true
}

func (r Redemption) validate(tiers []Tier, add func(field, format string, args ...any)) {
	if r.MinPoints < 0 {
		add("redemption.min_points", "must not be negative")
	}
	if r.CancelDays < 0 || r.CancelDays > MaxCancelDays {
		add("redemption.cancel_days", "must be 0 (no cancellations) to %d, got %d", MaxCancelDays, r.CancelDays)
	}
	ids := map[string]bool{}
	for i, w := range r.Rewards {
		field := fmt.Sprintf("redemption.rewards[%d]", i)
		switch {
		case w.ID == "":
			add(field+".id", "is required")
		case textProblem(w.ID, MaxRequestIDBytes, Identifier) != "":
			add(field+".id", "%s", textProblem(w.ID, MaxRequestIDBytes, Identifier))
		case w.Stock > 0 && len(StockMemberPrefix)+len(w.ID) > MaxMemberIDBytes:
			// The stock is a member of the engine's, whose id must pass as one.
			add(field+".id", "a reward with a stock has an id of at most %d bytes", MaxMemberIDBytes-len(StockMemberPrefix))
		case ids[w.ID]:
			add(field+".id", "%q is used by two rewards", w.ID)
		}
		ids[w.ID] = true
		if w.Points < 1 || w.Points > MaxPointsPerEvent/MaxRedeemQuantity {
			add(field+".points", "must be 1 to %d, got %d", int64(MaxPointsPerEvent/MaxRedeemQuantity), w.Points)
		}
		for j, t := range w.Tiers {
			if !slices.ContainsFunc(tiers, func(x Tier) bool { return x.Name == t }) {
				add(fmt.Sprintf("%s.tiers[%d]", field, j), "%q is not a tier of the program", t)
			}
		}
		if w.Limit.Count < 0 {
			add(field+".limit.count", "must not be negative")
		}
		if w.Stock < 0 {
			add(field+".stock", "must not be negative")
		}
		if w.VoucherDays < 0 || w.VoucherDays > MaxVoucherDays {
			add(field+".voucher.valid_days", "must be 1 to %d, got %d", MaxVoucherDays, w.VoucherDays)
		}
		if w.Limit.Count > 0 && !slices.Contains([]LimitPeriod{PerDay, PerWeek, PerMonth, PerYear}, w.Limit.Per) {
			add(field+".limit.per", "must be day, week, month or year, got %q", w.Limit.Per)
		}
	}
}

// RedemptionOutcome is what became of a redemption request, as the member's
// state remembers it for answering a repeated request.
type RedemptionOutcome struct {
	At       time.Time
	Points   int64            // redeemed; 0 when refused
	Rejected RedemptionReason // "" when accepted
	Held     bool             // the points are held until the reward's stock answers (not kept: from the holds)
}

// RequestKind is the operation a request id belongs to: a client's ids are
// its own per operation, so a transfer that reuses a redemption's id is a
// transfer of its own, not a repeat of the redemption.
type RequestKind uint8

const (
	RequestRedemption RequestKind = iota + 1
	RequestTransfer
	RequestAdjustment
	RequestCancel
	RequestVoucherUse
)

// RequestRef names a member's request: its operation and the client's id.
type RequestRef struct {
	Kind RequestKind
	ID   string
}

// RedemptionRef and TransferRef name a redemption and a transfer request.
func RedemptionRef(id string) RequestRef { return RequestRef{Kind: RequestRedemption, ID: id} }
func TransferRef(id string) RequestRef   { return RequestRef{Kind: RequestTransfer, ID: id} }

// Request returns what became of the member's request, if it is still
// remembered (see orderMemory).
func (m *Member) Request(ref RequestRef) (RedemptionOutcome, bool) {
	o, ok := m.requests[ref]
	if ref.Kind == RequestRedemption {
		_, o.Held = m.holds[ref.ID]
	}
	return o, ok
}

// duplicateRedemption is the rejection of a redemption request id decided
// before.
func duplicateRedemption(id string, o RedemptionOutcome) error {
	outcome := fmt.Sprintf("redeemed %d points", o.Points)
	if o.Rejected != "" {
		outcome = "refused: " + string(o.Rejected)
	}
	return reject(ReasonDuplicateRequest, "request_id", "request %q was decided on %s (%s)", id, o.At.Format(time.RFC3339), outcome)
}

// Available is what the member may spend now.
func (m *Member) Available() int64 { return max(m.Balance, 0) }

func decideRedemption(m *Member, meta FactMeta, b RedeemRequest, p *Program) ([]Fact, error) {
	if !m.Known() {
		return nil, unknownMember()
	}
	if o, seen := m.requests[RedemptionRef(b.RequestID)]; seen {
		return nil, duplicateRedemption(b.RequestID, o)
	}
	quantity := max(b.Quantity, 1)
	refuse := func(reason RedemptionReason, format string, args ...any) ([]Fact, error) {
		return []Fact{RedemptionRejected{FactMeta: meta, RequestID: b.RequestID, RewardID: b.RewardID, Quantity: quantity,
			Points: b.Points, Reason: reason, Detail: fmt.Sprintf(format, args...), ProgramVersion: p.Version}}, nil
	}
	switch memberStatus(m) {
	case StatusBlocked:
		return refuse(RedeemMemberBlocked, "the member's account is blocked")
	case StatusClosed:
		return refuse(RedeemMemberClosed, "the member's account is closed")
	}
	cost := b.Points
	reward, listed := p.Redemption.Reward(b.RewardID)
	if b.RewardID == "" {
		quantity = 0
		switch {
		case !p.Redemption.DirectPoints:
			return refuse(RedeemDirectNotAllowed, "the program redeems rewards of its catalogue only")
		case cost < p.Redemption.MinPoints:
			return refuse(RedeemBelowMinimum, "at least %d points per redemption", p.Redemption.MinPoints)
		}
	} else {
		if !listed {
			return refuse(RedeemUnknownReward, "the catalogue of program %s has no reward %q", p.Version, b.RewardID)
		}
		if tier := currentTier(m, p); len(reward.Tiers) > 0 && !slices.Contains(reward.Tiers, tier) {
			return refuse(RedeemTierNotEligible, "reward %q is for tiers %v, the member is %s", reward.ID, reward.Tiers, tier)
		}
		if l := reward.Limit; l.Count > 0 {
			if had := m.rewardUnits(reward.ID, l.Per, meta.OccurredAt); had+quantity > l.Count {
				return refuse(RedeemLimitReached, "at most %d of %q per %s; %d redeemed already", l.Count, reward.ID, l.Per, had)
			}
		}
		cost = reward.Points * quantity
	}
	if cost > m.Available() {
		return refuse(RedeemInsufficientPoints, "costs %d points, %d available", cost, m.Available())
	}
	if listed && reward.Stock > 0 {
		return []Fact{PointsHeld{FactMeta: meta, Points: cost, RequestID: b.RequestID, RewardID: b.RewardID,
			Quantity: quantity, Channel: b.Channel, ProgramVersion: p.Version}}, nil
	}
	redeemed := PointsRedeemed{FactMeta: meta, Points: cost, RequestID: b.RequestID, RewardID: b.RewardID,
		Quantity: quantity, Channel: b.Channel, ProgramVersion: p.Version}
	return append([]Fact{redeemed}, decideVouchers(meta, b.RequestID, reward, quantity)...), nil
}

// evolveRedemption folds an accepted or refused request into the state.
func (m *Member) evolveRedemption(f Fact) {
	switch f := f.(type) {
	case PointsRedeemed:
		m.Redeemed += f.Points
		lots := m.spendPoints(f.Points, f.RewardID, f.OccurredAt, f.Quantity, f.RequestID)
		m.rememberSpent(f.RequestID, spent{at: f.OccurredAt, points: f.Points, reward: f.RewardID, quantity: f.Quantity, lots: lots})
	case RedemptionRejected:
		m.rememberRequest(RedemptionRef(f.RequestID), RedemptionOutcome{At: f.OccurredAt, Rejected: f.Reason})
	}
}

// spendPoints takes an accepted request's points off the balance and the
// lots, counts its units of the reward (none without one) and remembers the
// request. It returns what it took from each lot.
func (m *Member) spendPoints(points int64, reward string, at time.Time, quantity int64, request string) []lot {
	m.Balance -= points
	taken := m.drawLots(points)
	if reward != "" {
		m.rewardDays = addDay(m.rewardDays, reward, at, quantity)
	}
	m.rememberRequest(RedemptionRef(request), RedemptionOutcome{At: at, Points: points})
	return taken
}

// rememberRequest keeps a request's outcome until the member's horizon.
func (m *Member) rememberRequest(ref RequestRef, o RedemptionOutcome) {
	m.unshare()
	if m.requests == nil {
		m.requests = map[RequestRef]RedemptionOutcome{}
	}
	m.requests[ref] = o
	m.requestAges.add(requestAge{day: dayOf(o.At), ref: ref})
	m.forgetOld()
}

// rewardUnits is how many units of a reward the member redeemed in the
// calendar period that contains at.
func (m *Member) rewardUnits(reward string, per LimitPeriod, at time.Time) int64 {
	return sumDays(m.rewardDays[reward], per, at)
}

// validateRedeem checks a request on its own.
func validateRedeem(b RedeemRequest) error {
	switch {
	case b.RequestID == "":
		return reject(ReasonMissingField, "request_id", "is required")
	case b.RewardID == "" && b.Points == 0:
		return reject(ReasonMissingField, "reward_id", "a redemption names a reward_id, or points to spend")
	case b.RewardID != "" && b.Points != 0:
		return reject(ReasonInvalidField, "points", "a redemption names a reward_id or points, not both")
	case b.Points < 0 || b.Points > MaxPointsPerEvent:
		return reject(ReasonInvalidAmount, "points", "must be 1 to %d, got %d", int64(MaxPointsPerEvent), b.Points)
	case b.Quantity < 0 || b.Quantity > MaxRedeemQuantity || (b.RewardID == "" && b.Quantity != 0):
		return reject(ReasonInvalidField, "quantity", "must be 1 to %d units of a reward, got %d", MaxRedeemQuantity, b.Quantity)
	}
	return nil
}
