package streams

import "github.com/pointsledger/loyalty/domain"

// loyalty.points.redeemed.v1 in the ledger: domain.PointsRedeemed and the fields of wireFact it uses.
var factPointsRedeemed = newFactCodec(encodePointsRedeemed, decodePointsRedeemed)

func encodePointsRedeemed(w *wireFact, f domain.PointsRedeemed) {
	w.Points, w.RequestID, w.RewardID, w.Quantity = f.Points, f.RequestID, f.RewardID, f.Quantity
	w.Channel, w.ProgramVersion = f.Channel, f.ProgramVersion
}

func decodePointsRedeemed(w *wireFact, meta domain.FactMeta) (domain.PointsRedeemed, error) {
	return domain.PointsRedeemed{FactMeta: meta, Points: w.Points, RequestID: w.RequestID, RewardID: w.RewardID,
		Quantity: w.Quantity, Channel: w.Channel, ProgramVersion: w.ProgramVersion}, nil
}
