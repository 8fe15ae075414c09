package streams

import (
	"fmt"
	"slices"

	"github.com/pointsledger/loyalty/domain"
)

// loyalty.redemption.rejected.v1 in the ledger: domain.RedemptionRejected and the fields of wireFact it uses.
var factRedemptionRejected = newFactCodec(encodeRedemptionRejected, decodeRedemptionRejected)

func encodeRedemptionRejected(w *wireFact, f domain.RedemptionRejected) {
	w.RequestID, w.RewardID, w.Quantity, w.Points = f.RequestID, f.RewardID, f.Quantity, f.Points
	w.Reason, w.Detail, w.ProgramVersion = string(f.Reason), f.Detail, f.ProgramVersion
}

// decodeRedemptionRejected refuses a reason the engine never gives (see
// decodeStatusChanged).
func decodeRedemptionRejected(w *wireFact, meta domain.FactMeta) (domain.RedemptionRejected, error) {
	if !slices.Contains(domain.RedemptionReasons, domain.RedemptionReason(w.Reason)) {
		return domain.RedemptionRejected{}, fmt.Errorf("redemption refusal reason %q: not one the engine gives", w.Reason)
	}
	return domain.RedemptionRejected{FactMeta: meta, RequestID: w.RequestID, RewardID: w.RewardID, Quantity: w.Quantity,
		Points: w.Points, Reason: domain.RedemptionReason(w.Reason), Detail: w.Detail, ProgramVersion: w.ProgramVersion}, nil
}
