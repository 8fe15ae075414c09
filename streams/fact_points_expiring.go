package streams

import "github.com/pointsledger/loyalty/domain"

// loyalty.points.expiring.v1 in the ledger: domain.PointsExpiring and the fields of wireFact it uses.
var factPointsExpiring = newFactCodec(encodePointsExpiring, decodePointsExpiring)

func encodePointsExpiring(w *wireFact, f domain.PointsExpiring) {
	w.Points, w.ExpiresAt, w.ProgramVersion = f.Points, optTime(f.ExpiresAt), f.ProgramVersion
}

func decodePointsExpiring(w *wireFact, meta domain.FactMeta) (domain.PointsExpiring, error) {
	return domain.PointsExpiring{FactMeta: meta, Points: w.Points, ExpiresAt: fromOptTime(w.ExpiresAt), ProgramVersion: w.ProgramVersion}, nil
}
