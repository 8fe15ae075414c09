package domain

// Returns is the program's returns policy.
type Returns struct {
	Policy ReturnsPolicy
	// OrderBonuses is what the refund that completes an order's return does
	// with the order's one-off bonuses (first-purchase and referral
	// bonuses); "" is OrderBonusesReverse.
	OrderBonuses OrderBonuses
	// DebtFromEarnings: the member's later earnings pay off refund debt
	// (PointsDebt) before they join the balance (DebtRepaid).
	DebtFromEarnings bool
}

// ReturnsPolicy says how far a refund may take points back.
type ReturnsPolicy string

const (
	// ReturnsUnlimited takes back the order's share of points whatever the
	// balance: it may go below zero (the default).
	ReturnsUnlimited ReturnsPolicy = "unlimited"
	// ReturnsWithinBalance takes back at most the balance; the rest is
	// recorded as debt (PointsDebt), and the balance stays at zero.
	ReturnsWithinBalance ReturnsPolicy = "within_balance"
	// ReturnsOnlyPending cancels what is still pending of the order's
	// points and takes nothing that has become available.
	ReturnsOnlyPending ReturnsPolicy = "only_pending"
)

// OrderBonuses says whether an order's one-off bonuses follow the order
// when it is refunded in full. They are all or nothing: a partial refund
// leaves them, because the member still made the purchase they reward.
type OrderBonuses string

const (
	// OrderBonusesReverse takes them back, with the order's last points,
	// by the returns policy (the default).
	OrderBonusesReverse OrderBonuses = "reverse"
	// OrderBonusesKeep leaves them with the member.
	OrderBonusesKeep OrderBonuses = "keep"
)

func (r Returns) reversesBonuses() bool { return r.OrderBonuses != OrderBonusesKeep }

func (r Returns) validate(add func(field, format string, args ...any)) {
	switch r.Policy {
	case "", ReturnsUnlimited, ReturnsWithinBalance, ReturnsOnlyPending:
	default:
		add("returns.policy", "must be unlimited, within_balance or only_pending, got %q", r.Policy)
	}
	switch r.OrderBonuses {
	case "", OrderBonusesReverse, OrderBonusesKeep:
	default:
		add("returns.order_bonuses", "must be reverse or keep, got %q", r.OrderBonuses)
	}
	if r.DebtFromEarnings && r.Policy != ReturnsWithinBalance {
		// Only within_balance records debt: the setting would do nothing,
		// and a program that says it does is misread.
		add("returns.debt_from_earnings", "needs returns.policy within_balance, the only policy that records debt")
	}
}
