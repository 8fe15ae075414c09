package streams

import "github.com/pointsledger/loyalty/domain"

// loyalty.member.status_changed.v1 in the ledger: domain.StatusChanged and the fields of wireFact it uses.
var factStatusChanged = newFactCodec(encodeStatusChanged, decodeStatusChanged)

func encodeStatusChanged(w *wireFact, f domain.StatusChanged) {
	w.From, w.To, w.Reason = string(f.From), string(f.To), f.Reason
}

func decodeStatusChanged(w *wireFact, meta domain.FactMeta) (domain.StatusChanged, error) {
	return domain.StatusChanged{FactMeta: meta, From: domain.MemberStatus(w.From), To: domain.MemberStatus(w.To), Reason: w.Reason}, nil
}
