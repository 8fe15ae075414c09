package streams

import "github.com/pointsledger/loyalty/domain"

// loyalty.transfer.rejected.v1 in the ledger: domain.TransferRejected and the fields of wireFact it uses.
var factTransferRejected = newFactCodec(encodeTransferRejected, decodeTransferRejected)

func encodeTransferRejected(w *wireFact, f domain.TransferRejected) {
	w.RequestID, w.OtherMemberID, w.Points, w.ProgramVersion = f.RequestID, f.ToMemberID, f.Points, f.ProgramVersion
	w.Reason, w.Detail = string(f.Reason), f.Detail
}

func decodeTransferRejected(w *wireFact, meta domain.FactMeta) (domain.TransferRejected, error) {
	return domain.TransferRejected{FactMeta: meta, RequestID: w.RequestID, ToMemberID: w.OtherMemberID, Points: w.Points,
		Reason: domain.RedemptionReason(w.Reason), Detail: w.Detail, ProgramVersion: w.ProgramVersion}, nil
}
