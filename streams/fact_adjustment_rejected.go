package streams

import "github.com/pointsledger/loyalty/domain"

// loyalty.adjustment.rejected.v1 in the ledger: domain.AdjustmentRejected and the fields of wireFact it uses.
var factAdjustmentRejected = newFactCodec(encodeAdjustmentRejected, decodeAdjustmentRejected)

func encodeAdjustmentRejected(w *wireFact, f domain.AdjustmentRejected) {
	w.RequestID, w.Points, w.Reason, w.Detail = f.RequestID, f.Points, string(f.Reason), f.Detail
	w.OperatorID, w.ProgramVersion = f.OperatorID, f.ProgramVersion
}

func decodeAdjustmentRejected(w *wireFact, meta domain.FactMeta) (domain.AdjustmentRejected, error) {
	return domain.AdjustmentRejected{FactMeta: meta, RequestID: w.RequestID, Points: w.Points, Reason: domain.RedemptionReason(w.Reason),
		Detail: w.Detail, OperatorID: w.OperatorID, ProgramVersion: w.ProgramVersion}, nil
}
