package streams

import "github.com/pointsledger/loyalty/domain"

// loyalty.reward.stock_taken.v1 in the ledger: domain.StockTaken and the fields of wireFact it uses.
var factStockTaken = newFactCodec(encodeStockTaken, decodeStockTaken)

func encodeStockTaken(w *wireFact, f domain.StockTaken) {
	w.RewardID, w.OtherMemberID, w.RequestID, w.Quantity = f.RewardID, f.ForMember, f.RequestID, f.Quantity
	w.FollowUpID = f.FollowUpID
}

func decodeStockTaken(w *wireFact, meta domain.FactMeta) (domain.StockTaken, error) {
	return domain.StockTaken{FactMeta: meta, RewardID: w.RewardID, ForMember: w.OtherMemberID, RequestID: w.RequestID, Quantity: w.Quantity,
		FollowUpID: w.FollowUpID}, nil
}
