package streams

import "github.com/pointsledger/loyalty/domain"

// loyalty.points.cancelled.v1 in the ledger: domain.PointsCancelled and the fields of wireFact it uses.
var factPointsCancelled = newFactCodec(encodePointsCancelled, decodePointsCancelled)

func encodePointsCancelled(w *wireFact, f domain.PointsCancelled) {
	w.OrderID, w.Points, w.ProgramVersion = f.OrderID, f.Points, f.ProgramVersion
}

func decodePointsCancelled(w *wireFact, meta domain.FactMeta) (domain.PointsCancelled, error) {
	return domain.PointsCancelled{FactMeta: meta, OrderID: w.OrderID, Points: w.Points, ProgramVersion: w.ProgramVersion}, nil
}
