package streams

import "github.com/pointsledger/loyalty/domain"

// loyalty.points.released.v1 in the ledger: domain.PointsReleased and the fields of wireFact it uses.
var factPointsReleased = newFactCodec(encodePointsReleased, decodePointsReleased)

func encodePointsReleased(w *wireFact, f domain.PointsReleased) {
	w.OrderID, w.Points, w.ExpiresAt, w.ProgramVersion = f.OrderID, f.Points, optTime(f.ExpiresAt), f.ProgramVersion
}

func decodePointsReleased(w *wireFact, meta domain.FactMeta) (domain.PointsReleased, error) {
	return domain.PointsReleased{FactMeta: meta, OrderID: w.OrderID, Points: w.Points, ExpiresAt: fromOptTime(w.ExpiresAt),
		ProgramVersion: w.ProgramVersion}, nil
}
