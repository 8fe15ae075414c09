package streams

import "github.com/pointsledger/loyalty/domain"

// loyalty.redemption.cancelled.v1 in the ledger: domain.RedemptionCancelled and the fields of wireFact it uses.
var factRedemptionCancelled = newFactCodec(encodeRedemptionCancelled, decodeRedemptionCancelled)

func encodeRedemptionCancelled(w *wireFact, f domain.RedemptionCancelled) {
	w.RequestID, w.RedemptionID, w.RewardID, w.Quantity, w.Points = f.RequestID, f.RedemptionID, f.RewardID, f.Quantity, f.Points
	w.Reason, w.OperatorID, w.Stocked, w.FollowUpID, w.ProgramVersion = f.Reason, f.OperatorID, f.Stocked, f.FollowUpID, f.ProgramVersion
}

func decodeRedemptionCancelled(w *wireFact, meta domain.FactMeta) (domain.RedemptionCancelled, error) {
	return domain.RedemptionCancelled{FactMeta: meta, RequestID: w.RequestID, RedemptionID: w.RedemptionID, RewardID: w.RewardID,
		Quantity: w.Quantity, Points: w.Points, Reason: w.Reason, OperatorID: w.OperatorID, Stocked: w.Stocked,
		FollowUpID: w.FollowUpID, ProgramVersion: w.ProgramVersion}, nil
}
