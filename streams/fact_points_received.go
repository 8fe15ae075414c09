package streams

import "github.com/pointsledger/loyalty/domain"

// loyalty.points.received.v1 in the ledger: domain.PointsReceived and the fields of wireFact it uses.
var factPointsReceived = newFactCodec(encodePointsReceived, decodePointsReceived)

func encodePointsReceived(w *wireFact, f domain.PointsReceived) {
	w.OtherMemberID, w.RequestID, w.Points, w.ProgramVersion = f.FromMemberID, f.RequestID, f.Points, f.ProgramVersion
	w.ExpiresAt = optTime(f.ExpiresAt)
}

func decodePointsReceived(w *wireFact, meta domain.FactMeta) (domain.PointsReceived, error) {
	return domain.PointsReceived{FactMeta: meta, FromMemberID: w.OtherMemberID, RequestID: w.RequestID, Points: w.Points,
		ExpiresAt: fromOptTime(w.ExpiresAt), ProgramVersion: w.ProgramVersion}, nil
}
