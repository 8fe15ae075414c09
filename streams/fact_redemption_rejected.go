package streams

import "github.com/pointsledger/loyalty/domain"

// loyalty.redemption.rejected.v1 in the ledger: domain.RedemptionRejected and the fields of wireFact it uses.
var factRedemptionRejected = newFactCodec(encodeRedemptionRejected, decodeRedemptionRejected)

func encodeRedemptionRejected(w *wireFact, f domain.RedemptionRejected) {
	w.RequestID, w.RewardID, w.Quantity, w.Points = f.RequestID, f.RewardID, f.Quantity, f.Points
	w.Reason, w.Detail, w.ProgramVersion = string(f.Reason), f.Detail, f.ProgramVersion
}

func decodeRedemptionRejected(w *wireFact, meta domain.FactMeta) (domain.RedemptionRejected, error) {
	return domain.RedemptionRejected{FactMeta: meta, RequestID: w.RequestID, RewardID: w.RewardID, Quantity: w.Quantity,
		Points: w.Points, Reason: domain.RedemptionReason(w.Reason), Detail: w.Detail, ProgramVersion: w.ProgramVersion}, nil
}
