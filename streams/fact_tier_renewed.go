package streams

import "github.com/pointsledger/loyalty/domain"

// loyalty.tier.renewed.v1 in the ledger: domain.TierRenewed and the fields of wireFact it uses.
var factTierRenewed = newFactCodec(encodeTierRenewed, decodeTierRenewed)

func encodeTierRenewed(w *wireFact, f domain.TierRenewed) {
	w.To, w.ExpiresAt = f.Tier, optTime(f.ExpiresAt)
}

func decodeTierRenewed(w *wireFact, meta domain.FactMeta) (domain.TierRenewed, error) {
	return domain.TierRenewed{FactMeta: meta, Tier: w.To, ExpiresAt: fromOptTime(w.ExpiresAt)}, nil
}
