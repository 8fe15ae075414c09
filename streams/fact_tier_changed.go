package streams

import "github.com/pointsledger/loyalty/domain"

// loyalty.tier.changed.v1 in the ledger: domain.TierChanged and the fields of wireFact it uses.
var factTierChanged = newFactCodec(encodeTierChanged, decodeTierChanged)

func encodeTierChanged(w *wireFact, f domain.TierChanged) {
	w.From, w.To, w.Reason, w.ExpiresAt = f.From, f.To, f.Reason, optTime(f.ExpiresAt)
}

func decodeTierChanged(w *wireFact, meta domain.FactMeta) (domain.TierChanged, error) {
	return domain.TierChanged{FactMeta: meta, From: w.From, To: w.To, Reason: w.Reason, ExpiresAt: fromOptTime(w.ExpiresAt)}, nil
}
