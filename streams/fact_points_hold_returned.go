package streams

import "github.com/pointsledger/loyalty/domain"

// loyalty.points.hold_returned.v1 in the ledger: domain.HoldReturned and the fields of wireFact it uses.
var factHoldReturned = newFactCodec(encodeHoldReturned, decodeHoldReturned)

func encodeHoldReturned(w *wireFact, f domain.HoldReturned) {
	w.RequestID, w.Points, w.ProgramVersion = f.RequestID, f.Points, f.ProgramVersion
}

func decodeHoldReturned(w *wireFact, meta domain.FactMeta) (domain.HoldReturned, error) {
	return domain.HoldReturned{FactMeta: meta, RequestID: w.RequestID, Points: w.Points, ProgramVersion: w.ProgramVersion}, nil
}
