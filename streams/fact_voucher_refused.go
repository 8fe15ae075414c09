package streams

import "github.com/pointsledger/loyalty/domain"

// loyalty.voucher.refused.v1 in the ledger: domain.VoucherRefused and the fields of wireFact it uses.
var factVoucherRefused = newFactCodec(encodeVoucherRefused, decodeVoucherRefused)

func encodeVoucherRefused(w *wireFact, f domain.VoucherRefused) {
	w.RequestID, w.Code, w.Channel, w.Reason, w.Detail = f.RequestID, f.Code, f.Channel, string(f.Reason), f.Detail
}

func decodeVoucherRefused(w *wireFact, meta domain.FactMeta) (domain.VoucherRefused, error) {
	return domain.VoucherRefused{FactMeta: meta, RequestID: w.RequestID, Code: w.Code, Channel: w.Channel, Reason: domain.RedemptionReason(w.Reason),
		Detail: w.Detail}, nil
}
