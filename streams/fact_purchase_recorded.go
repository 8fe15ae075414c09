package streams

import "github.com/pointsledger/loyalty/domain"

// loyalty.purchase.recorded.v1 in the ledger: domain.PurchaseRecorded and the fields of wireFact it uses.
var factPurchaseRecorded = newFactCodec(encodePurchaseRecorded, decodePurchaseRecorded)

func encodePurchaseRecorded(w *wireFact, f domain.PurchaseRecorded) {
	w.OrderID, w.Amount, w.Currency, w.Channel = f.OrderID, f.Total.Minor, f.Total.Currency, f.Channel
	w.QualifyingSpend, w.QualifyingSpendAfter = f.QualifyingSpend, f.QualifyingSpendAfter
	w.items = f.Lines
}

func decodePurchaseRecorded(w *wireFact, meta domain.FactMeta) (domain.PurchaseRecorded, error) {
	f := domain.PurchaseRecorded{FactMeta: meta, OrderID: w.OrderID, Total: domain.Money{Minor: w.Amount, Currency: w.Currency},
		Channel: w.Channel, QualifyingSpend: w.QualifyingSpend, QualifyingSpendAfter: w.QualifyingSpendAfter, Lines: w.items}
	return f, nil
}
