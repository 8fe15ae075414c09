package streams

import "github.com/pointsledger/loyalty/domain"

// loyalty.points.reversed.v1 in the ledger: domain.PointsReversed and the fields of wireFact it uses.
var factPointsReversed = newFactCodec(encodePointsReversed, decodePointsReversed)

func encodePointsReversed(w *wireFact, f domain.PointsReversed) {
	w.Points, w.Rule, w.OrderID, w.ProgramVersion = f.Points, f.Rule, f.OrderID, f.ProgramVersion
}

func decodePointsReversed(w *wireFact, meta domain.FactMeta) (domain.PointsReversed, error) {
	return domain.PointsReversed{FactMeta: meta, Points: w.Points, Rule: w.Rule, OrderID: w.OrderID, ProgramVersion: w.ProgramVersion}, nil
}
