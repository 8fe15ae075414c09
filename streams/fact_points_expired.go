package streams

import "github.com/pointsledger/loyalty/domain"

// loyalty.points.expired.v1 in the ledger: domain.PointsExpired and the fields of wireFact it uses.
var factPointsExpired = newFactCodec(encodePointsExpired, decodePointsExpired)

func encodePointsExpired(w *wireFact, f domain.PointsExpired) {
	w.Points, w.Rule, w.ProgramVersion = f.Points, f.Rule, f.ProgramVersion
}

func decodePointsExpired(w *wireFact, meta domain.FactMeta) (domain.PointsExpired, error) {
	return domain.PointsExpired{FactMeta: meta, Points: w.Points, Rule: w.Rule, ProgramVersion: w.ProgramVersion}, nil
}
