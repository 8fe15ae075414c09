package streams

import "github.com/pointsledger/loyalty/domain"

// loyalty.visit.recorded.v1 in the ledger: domain.VisitRecorded and the fields of wireFact it uses.
var factVisitRecorded = newFactCodec(encodeVisitRecorded, decodeVisitRecorded)

func encodeVisitRecorded(w *wireFact, f domain.VisitRecorded) {
	w.Channel = f.Channel
}

func decodeVisitRecorded(w *wireFact, meta domain.FactMeta) (domain.VisitRecorded, error) {
	return domain.VisitRecorded{FactMeta: meta, Channel: w.Channel}, nil
}
