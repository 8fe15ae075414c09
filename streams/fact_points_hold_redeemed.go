package streams

import "github.com/pointsledger/loyalty/domain"

// loyalty.points.hold_redeemed.v1 in the ledger: domain.HoldRedeemed and the fields of wireFact it uses.
var factHoldRedeemed = newFactCodec(encodeHoldRedeemed, decodeHoldRedeemed)

func encodeHoldRedeemed(w *wireFact, f domain.HoldRedeemed) {
	w.RequestID, w.Points = f.RequestID, f.Points
}

func decodeHoldRedeemed(w *wireFact, meta domain.FactMeta) (domain.HoldRedeemed, error) {
	return domain.HoldRedeemed{FactMeta: meta, RequestID: w.RequestID, Points: w.Points}, nil
}
