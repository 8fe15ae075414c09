package streams

import "github.com/pointsledger/loyalty/domain"

// loyalty.purchase.confirmed.v1 in the ledger: domain.PurchaseConfirmed and the fields of wireFact it uses.
var factPurchaseConfirmed = newFactCodec(encodePurchaseConfirmed, decodePurchaseConfirmed)

func encodePurchaseConfirmed(w *wireFact, f domain.PurchaseConfirmed) {
	w.OrderID = f.OrderID
}

func decodePurchaseConfirmed(w *wireFact, meta domain.FactMeta) (domain.PurchaseConfirmed, error) {
	return domain.PurchaseConfirmed{FactMeta: meta, OrderID: w.OrderID}, nil
}
