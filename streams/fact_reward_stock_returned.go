package streams

import "github.com/pointsledger/loyalty/domain"

// loyalty.reward.stock_returned.v1 in the ledger: domain.StockReturned and the fields of wireFact it uses.
var factStockReturned = newFactCodec(encodeStockReturned, decodeStockReturned)

func encodeStockReturned(w *wireFact, f domain.StockReturned) {
	w.RewardID, w.OtherMemberID, w.RequestID, w.Quantity = f.RewardID, f.ForMember, f.RequestID, f.Quantity
}

func decodeStockReturned(w *wireFact, meta domain.FactMeta) (domain.StockReturned, error) {
	return domain.StockReturned{FactMeta: meta, RewardID: w.RewardID, ForMember: w.OtherMemberID, RequestID: w.RequestID,
		Quantity: w.Quantity}, nil
}
