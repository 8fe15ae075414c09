package domain

import "time"

// ErasureRequest is the body of TypeErasure: the member asked for their
// personal data to be erased (GDPR article 17), through the back office
// (loyalty member erase) or an upstream system. Channel says which; it is
// the only thing the request holds besides the member.
type ErasureRequest struct {
	Channel string
}

func (ErasureRequest) validate(Event) error { return nil }

func (b ErasureRequest) stringFields(yield func(StringField) bool) bool {
	return yield(ident("channel", b.Channel, MaxChannelBytes))
}

// decide records the erasure of a member on record. The member's points,
// purchases and tiers stay as they were: every total and model fit that
// counts them must be the same afterwards. Only the link to the person
// goes, which the ledger's member keys and `loyalty member erase` break
// (decision 032).
func (b ErasureRequest) decide(m *Member, meta FactMeta, _ time.Time, _ Event, _ *Program) ([]Fact, bool, error) {
	if !m.Known() {
		return nil, false, unknownMember()
	}
	return []Fact{MemberErased{FactMeta: meta, Channel: b.Channel}}, false, nil
}

func (ErasureRequest) EventType() EventType { return TypeErasure }

// SettlesForErased reports whether events of type t are still decided for
// an erased member: the engine's follow-ups of what was decided before the
// erasure (the points another member sent them, a referral's reward, the
// stock's answer to a redemption held), which would otherwise leave points
// debited and never credited, or a unit of stock taken and never settled.
func SettlesForErased(t EventType) bool {
	switch t {
	case TypeTransferIn, TypeReferralReward, TypeStockAnswer:
		return true
	}
	return false
}

// MemberErased records that a member was erased: from then on the engine
// takes no event for the id, and their birthday and referrer are
// forgotten. It holds no personal data.
type MemberErased struct {
	FactMeta
	Channel string
}

func (MemberErased) FactType() FactType { return FactMemberErased }

// activity: an erasure is the member leaving, not activity of theirs (it
// would move their last activity, which the churn models and inactivity
// expiry read).
func (MemberErased) activity() bool { return false }
