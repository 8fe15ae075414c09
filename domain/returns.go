package domain

// Returns is the program's returns policy.
type Returns struct {
	Policy ReturnsPolicy
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

func (r Returns) validate(add func(field, format string, args ...any)) {
	switch r.Policy {
	case "", ReturnsUnlimited, ReturnsWithinBalance, ReturnsOnlyPending:
	default:
		add("returns.policy", "must be unlimited, within_balance or only_pending, got %q", r.Policy)
	}
}
