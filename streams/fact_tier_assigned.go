package streams

import "github.com/pointsledger/loyalty/domain"

// loyalty.tier.assigned.v1 in the ledger: domain.TierAssigned and the fields of wireFact it uses.
var factTierAssigned = newFactCodec(encodeTierAssigned, decodeTierAssigned)

func encodeTierAssigned(w *wireFact, f domain.TierAssigned) {
	w.To, w.Reason = f.Tier, f.Reason
}

func decodeTierAssigned(w *wireFact, meta domain.FactMeta) (domain.TierAssigned, error) {
	return domain.TierAssigned{FactMeta: meta, Tier: w.To, Reason: w.Reason}, nil
}
