package streams

import "github.com/pointsledger/loyalty/domain"

// loyalty.points.debt.v1 in the ledger: domain.PointsDebt and the fields of wireFact it uses.
var factPointsDebt = newFactCodec(encodePointsDebt, decodePointsDebt)

func encodePointsDebt(w *wireFact, f domain.PointsDebt) {
	w.Points, w.Rule, w.OrderID, w.ProgramVersion = f.Points, f.Rule, f.OrderID, f.ProgramVersion
}

func decodePointsDebt(w *wireFact, meta domain.FactMeta) (domain.PointsDebt, error) {
	return domain.PointsDebt{FactMeta: meta, Points: w.Points, Rule: w.Rule, OrderID: w.OrderID, ProgramVersion: w.ProgramVersion}, nil
}
