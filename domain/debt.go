package domain

import "time"

// Refund debt (PointsDebt) is what refunds could not take back. A
// programme that sets Returns.DebtFromEarnings has the member's later
// earnings pay it off first: points that join the balance (earned, or
// released from pending) go to the debt until it is paid.

// RuleDebtRepayment is the rule of the points that pay off debt, in the
// points ledger.
const RuleDebtRepayment = "debt_repayment"

// DebtRepaid takes Points of what the member just earned off the balance
// to pay refund debt.
type DebtRepaid struct {
	FactMeta
	Points         int64
	ProgramVersion string
}

func (f DebtRepaid) pointsDelta() int64 { return -f.Points }
func (DebtRepaid) activity() bool       { return false }
func (DebtRepaid) FactType() FactType   { return FactDebtRepaid }

// decideDebtRepayment is the repayment the decision's facts allow: what
// they added to the balance by earning, up to the debt and the balance
// they leave. m is the member after timed (what time brought before the
// event, folded in) and before own (the event's facts).
func decideDebtRepayment(m *Member, meta FactMeta, timed, own []Fact, p *Program) []Fact {
	if !p.Returns.DebtFromEarnings || m.Debt <= 0 {
		return nil
	}
	var earned int64
	balance, at := m.Balance, meta.OccurredAt
	for _, f := range own {
		balance += PointsDelta(f)
	}
	for _, f := range append(timed[:len(timed):len(timed)], own...) {
		switch f := f.(type) {
		case PointsEarned:
			earned += f.pointsDelta()
		case PointsReleased:
			earned += f.Points
		case PointsDebt:
			return nil // a refund's debt is paid from later earnings, not its own event's
		}
		at = maxTime(at, f.Meta().OccurredAt)
	}
	// Never below zero: points that expired with the event are not there
	// to pay with.
	if earned = min(earned, balance); earned <= 0 {
		return nil
	}
	fm := meta
	fm.OccurredAt = at
	return []Fact{DebtRepaid{FactMeta: fm, Points: min(earned, m.Debt), ProgramVersion: p.Version}}
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
