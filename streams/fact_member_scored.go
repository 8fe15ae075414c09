package streams

import "github.com/pointsledger/loyalty/domain"

// loyalty.member.scored.v1 in the ledger: domain.MemberScored and the fields of wireFact it uses.
var factMemberScored = newFactCodec(encodeMemberScored, decodeMemberScored)

func encodeMemberScored(w *wireFact, f domain.MemberScored) {
	w.FitID, w.PAlivePPM, w.RiskBand = f.FitID, f.PAlivePPM, f.RiskBand
	w.Amount, w.Currency = f.PredictedValue.Minor, f.PredictedValue.Currency
	w.ValueBand, w.Segment = f.ValueBand, f.Segment
}

func decodeMemberScored(w *wireFact, meta domain.FactMeta) (domain.MemberScored, error) {
	return domain.MemberScored{FactMeta: meta, Scores: domain.Scores{FitID: w.FitID, PAlivePPM: w.PAlivePPM, RiskBand: w.RiskBand,
		PredictedValue: domain.Money{Minor: w.Amount, Currency: w.Currency}, ValueBand: w.ValueBand, Segment: w.Segment}}, nil
}
