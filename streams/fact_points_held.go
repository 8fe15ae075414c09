package streams

import "github.com/pointsledger/loyalty/domain"

// loyalty.points.held.v1 in the ledger: domain.PointsHeld and the fields of wireFact it uses.
var factPointsHeld = newFactCodec(encodePointsHeld, decodePointsHeld)

func encodePointsHeld(w *wireFact, f domain.PointsHeld) {
	w.Points, w.RequestID, w.RewardID, w.Quantity = f.Points, f.RequestID, f.RewardID, f.Quantity
	w.Channel, w.ProgramVersion, w.FollowUpID = f.Channel, f.ProgramVersion, f.FollowUpID
}

func decodePointsHeld(w *wireFact, meta domain.FactMeta) (domain.PointsHeld, error) {
	return domain.PointsHeld{FactMeta: meta, Points: w.Points, RequestID: w.RequestID, RewardID: w.RewardID,
		Quantity: w.Quantity, Channel: w.Channel, ProgramVersion: w.ProgramVersion, FollowUpID: w.FollowUpID}, nil
}
