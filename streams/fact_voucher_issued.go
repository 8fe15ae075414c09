package streams

import "github.com/pointsledger/loyalty/domain"

// loyalty.voucher.issued.v1 in the ledger: domain.VoucherIssued and the fields of wireFact it uses.
var factVoucherIssued = newFactCodec(encodeVoucherIssued, decodeVoucherIssued)

func encodeVoucherIssued(w *wireFact, f domain.VoucherIssued) {
	w.RequestID, w.RewardID, w.Code, w.ExpiresAt = f.RequestID, f.RewardID, f.Code, optTime(f.ExpiresAt)
}

func decodeVoucherIssued(w *wireFact, meta domain.FactMeta) (domain.VoucherIssued, error) {
	return domain.VoucherIssued{FactMeta: meta, RequestID: w.RequestID, RewardID: w.RewardID, Code: w.Code,
		ExpiresAt: fromOptTime(w.ExpiresAt)}, nil
}
