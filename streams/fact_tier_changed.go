package streams

import (
	"fmt"
	"slices"

	"github.com/pointsledger/loyalty/domain"
)

// loyalty.tier.changed.v1 in the ledger: domain.TierChanged and the fields of wireFact it uses.
var factTierChanged = newFactCodec(encodeTierChanged, decodeTierChanged)

func encodeTierChanged(w *wireFact, f domain.TierChanged) {
	w.From, w.To, w.Reason, w.ExpiresAt = f.From, f.To, f.Reason, optTime(f.ExpiresAt)
}

// decodeTierChanged refuses a reason the engine never gives (see
// decodeStatusChanged).
func decodeTierChanged(w *wireFact, meta domain.FactMeta) (domain.TierChanged, error) {
	if !slices.Contains(domain.TierReasons, w.Reason) {
		return domain.TierChanged{}, fmt.Errorf("tier change reason %q: not one the engine gives", w.Reason)
	}
	return domain.TierChanged{FactMeta: meta, From: w.From, To: w.To, Reason: w.Reason, ExpiresAt: fromOptTime(w.ExpiresAt)}, nil
}
