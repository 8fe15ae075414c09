package streams

import "github.com/pointsledger/loyalty/domain"

// loyalty.tier.progress.v1 in the ledger: domain.TierProgress and the fields of wireFact it uses.
var factTierProgress = newFactCodec(encodeTierProgress, decodeTierProgress)

func encodeTierProgress(w *wireFact, f domain.TierProgress) {
	w.Value, w.NextTier, w.Missing, w.Projected = f.Value, f.NextTier, f.Missing, f.Projected
}

func decodeTierProgress(w *wireFact, meta domain.FactMeta) (domain.TierProgress, error) {
	return domain.TierProgress{FactMeta: meta, TierOutlook: domain.TierOutlook{Value: w.Value, NextTier: w.NextTier,
		Missing: w.Missing, Projected: w.Projected}}, nil
}
