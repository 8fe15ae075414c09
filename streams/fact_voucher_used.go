package streams

import "github.com/pointsledger/loyalty/domain"

// loyalty.voucher.used.v1 in the ledger: domain.VoucherUsed and the fields of wireFact it uses.
var factVoucherUsed = newFactCodec(encodeVoucherUsed, decodeVoucherUsed)

func encodeVoucherUsed(w *wireFact, f domain.VoucherUsed) {
	w.RequestID, w.Code, w.RedemptionID, w.RewardID, w.Channel = f.RequestID, f.Code, f.RedemptionID, f.RewardID, f.Channel
}

func decodeVoucherUsed(w *wireFact, meta domain.FactMeta) (domain.VoucherUsed, error) {
	return domain.VoucherUsed{FactMeta: meta, RequestID: w.RequestID, Code: w.Code, RedemptionID: w.RedemptionID,
		RewardID: w.RewardID, Channel: w.Channel}, nil
}
