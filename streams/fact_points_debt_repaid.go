package streams

import "github.com/pointsledger/loyalty/domain"

// loyalty.points.debt_repaid.v1 in the ledger: domain.DebtRepaid and the fields of wireFact it uses.
var factDebtRepaid = newFactCodec(encodeDebtRepaid, decodeDebtRepaid)

func encodeDebtRepaid(w *wireFact, f domain.DebtRepaid) {
	w.Points, w.ProgramVersion = f.Points, f.ProgramVersion
}

func decodeDebtRepaid(w *wireFact, meta domain.FactMeta) (domain.DebtRepaid, error) {
	return domain.DebtRepaid{FactMeta: meta, Points: w.Points, ProgramVersion: w.ProgramVersion}, nil
}
