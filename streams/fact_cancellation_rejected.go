package streams

import "github.com/pointsledger/loyalty/domain"

// loyalty.cancellation.rejected.v1 in the ledger: domain.CancellationRejected and the fields of wireFact it uses.
var factCancellationRejected = newFactCodec(encodeCancellationRejected, decodeCancellationRejected)

func encodeCancellationRejected(w *wireFact, f domain.CancellationRejected) {
	w.RequestID, w.RedemptionID, w.Reason, w.Detail = f.RequestID, f.RedemptionID, string(f.Reason), f.Detail
	w.OperatorID, w.ProgramVersion = f.OperatorID, f.ProgramVersion
}

func decodeCancellationRejected(w *wireFact, meta domain.FactMeta) (domain.CancellationRejected, error) {
	return domain.CancellationRejected{FactMeta: meta, RequestID: w.RequestID, RedemptionID: w.RedemptionID,
		Reason: domain.RedemptionReason(w.Reason), Detail: w.Detail, OperatorID: w.OperatorID, ProgramVersion: w.ProgramVersion}, nil
}
