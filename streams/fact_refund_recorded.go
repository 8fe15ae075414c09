package streams

import "github.com/pointsledger/loyalty/domain"

// loyalty.refund.recorded.v1 in the ledger: domain.RefundRecorded and the fields of wireFact it uses.
var factRefundRecorded = newFactCodec(encodeRefundRecorded, decodeRefundRecorded)

func encodeRefundRecorded(w *wireFact, f domain.RefundRecorded) {
	w.OrderID, w.Amount, w.Currency = f.OrderID, f.Amount.Minor, f.Amount.Currency
	w.QualifyingSpend, w.QualifyingSpendAfter = f.QualifyingSpend, f.QualifyingSpendAfter
	w.refundItems = f.Lines
}

func decodeRefundRecorded(w *wireFact, meta domain.FactMeta) (domain.RefundRecorded, error) {
	f := domain.RefundRecorded{FactMeta: meta, OrderID: w.OrderID, Amount: domain.Money{Minor: w.Amount, Currency: w.Currency},
		QualifyingSpend: w.QualifyingSpend, QualifyingSpendAfter: w.QualifyingSpendAfter}
	if len(w.items) > 0 {
		f.Lines = make([]domain.RefundLine, 0, len(w.items))
	}
	for _, l := range w.items {
		f.Lines = append(f.Lines, domain.RefundLine{SKU: l.SKU, Quantity: l.Quantity})
	}
	return f, nil
}
