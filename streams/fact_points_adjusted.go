package streams

import "github.com/pointsledger/loyalty/domain"

// loyalty.points.adjusted.v1 in the ledger: domain.PointsAdjusted and the fields of wireFact it uses.
var factPointsAdjusted = newFactCodec(encodePointsAdjusted, decodePointsAdjusted)

func encodePointsAdjusted(w *wireFact, f domain.PointsAdjusted) {
	w.RequestID, w.Points, w.Reason, w.Note, w.OperatorID = f.RequestID, f.Points, f.Reason, f.Note, f.OperatorID
	w.ExpiresAt, w.ProgramVersion = optTime(f.ExpiresAt), f.ProgramVersion
}

func decodePointsAdjusted(w *wireFact, meta domain.FactMeta) (domain.PointsAdjusted, error) {
	return domain.PointsAdjusted{FactMeta: meta, RequestID: w.RequestID, Points: w.Points, Reason: w.Reason, Note: w.Note,
		OperatorID: w.OperatorID, ExpiresAt: fromOptTime(w.ExpiresAt), ProgramVersion: w.ProgramVersion}, nil
}
