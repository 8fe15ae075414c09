package domain

// Standing is where a member stands in the programme: the points they can
// spend, the points still pending and their tier. Systems told of a fact
// (the outbound events) are given the standing after it, so that a message
// to the member needs no second lookup.
type Standing struct {
	Balance int64
	Pending int64
	Tier    string
}

// StandingAfter is m's standing once facts, decided for m, are folded into
// it. It reads m and changes nothing; folding the facts with Evolve gives
// a member with this standing.
func StandingAfter(m *Member, facts []Fact) Standing {
	s := Standing{Balance: m.Balance, Pending: m.Pending, Tier: m.Tier}
	for _, f := range facts {
		s = s.after(f)
	}
	return s
}

func (s Standing) after(f Fact) Standing {
	s.Balance += PointsDelta(f)
	s.Pending += PendingDelta(f)
	if t, ok := f.(TierChanged); ok {
		s.Tier = t.To
	}
	return s
}

// StandingsOf gives the standing after each of a record's facts from the
// standing after all of them (StandingAfter's result, kept in the ledger):
// the balance and pending points less the later facts' deltas, and the
// tier the next tier change left, or the one after all.
func StandingsOf(after Standing, facts []Fact) []Standing {
	out := make([]Standing, len(facts))
	s := after
	for i := len(facts) - 1; i >= 0; i-- {
		out[i] = s
		s.Balance -= PointsDelta(facts[i])
		s.Pending -= PendingDelta(facts[i])
		if t, ok := facts[i].(TierChanged); ok {
			s.Tier = t.From
		}
	}
	return out
}
