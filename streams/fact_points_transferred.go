package streams

import "github.com/pointsledger/loyalty/domain"

// loyalty.points.transferred.v1 in the ledger: domain.PointsTransferred and the fields of wireFact it uses.
var factPointsTransferred = newFactCodec(encodePointsTransferred, decodePointsTransferred)

func encodePointsTransferred(w *wireFact, f domain.PointsTransferred) {
	w.RequestID, w.OtherMemberID, w.Points, w.ProgramVersion = f.RequestID, f.ToMemberID, f.Points, f.ProgramVersion
	w.FollowUpID = f.FollowUpID
}

func decodePointsTransferred(w *wireFact, meta domain.FactMeta) (domain.PointsTransferred, error) {
	return domain.PointsTransferred{FactMeta: meta, RequestID: w.RequestID, ToMemberID: w.OtherMemberID, Points: w.Points,
		ProgramVersion: w.ProgramVersion, FollowUpID: w.FollowUpID}, nil
}
