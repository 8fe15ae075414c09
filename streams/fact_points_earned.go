package streams

import "github.com/pointsledger/loyalty/domain"

// loyalty.points.earned.v1 in the ledger: domain.PointsEarned and the fields of wireFact it uses.
var factPointsEarned = newFactCodec(encodePointsEarned, decodePointsEarned)

func encodePointsEarned(w *wireFact, f domain.PointsEarned) {
	w.Points, w.Rule, w.OrderID, w.ProgramVersion = f.Points, f.Rule, f.OrderID, f.ProgramVersion
	w.ExpiresAt, w.AvailableAt = optTime(f.ExpiresAt), optTime(f.AvailableAt)
	w.Triggered = f.Triggered
}

func decodePointsEarned(w *wireFact, meta domain.FactMeta) (domain.PointsEarned, error) {
	return domain.PointsEarned{FactMeta: meta, Points: w.Points, Rule: w.Rule, OrderID: w.OrderID, ProgramVersion: w.ProgramVersion,
		ExpiresAt: fromOptTime(w.ExpiresAt), AvailableAt: fromOptTime(w.AvailableAt), Triggered: w.Triggered}, nil
}
