package streams

import "github.com/pointsledger/loyalty/domain"

// loyalty.reward.stock_refused.v1 in the ledger: domain.StockRefused and the fields of wireFact it uses.
var factStockRefused = newFactCodec(encodeStockRefused, decodeStockRefused)

func encodeStockRefused(w *wireFact, f domain.StockRefused) {
	w.RewardID, w.OtherMemberID, w.RequestID, w.Quantity = f.RewardID, f.ForMember, f.RequestID, f.Quantity
	w.FollowUpID = f.FollowUpID
}

func decodeStockRefused(w *wireFact, meta domain.FactMeta) (domain.StockRefused, error) {
	return domain.StockRefused{FactMeta: meta, RewardID: w.RewardID, ForMember: w.OtherMemberID, RequestID: w.RequestID, Quantity: w.Quantity,
		FollowUpID: w.FollowUpID}, nil
}
