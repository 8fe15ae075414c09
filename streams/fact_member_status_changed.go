package streams

import (
	"fmt"
	"slices"

	"github.com/pointsledger/loyalty/domain"
)

// loyalty.member.status_changed.v1 in the ledger: domain.StatusChanged and the fields of wireFact it uses.
var factStatusChanged = newFactCodec(encodeStatusChanged, decodeStatusChanged)

func encodeStatusChanged(w *wireFact, f domain.StatusChanged) {
	w.From, w.To, w.Reason = string(f.From), string(f.To), f.Reason
}

// decodeStatusChanged refuses a status the engine never writes: the read
// models hold members.status to the known ones, and a record they refuse
// would stall the projection where quarantine could not reach it.
func decodeStatusChanged(w *wireFact, meta domain.FactMeta) (domain.StatusChanged, error) {
	from, to := domain.MemberStatus(w.From), domain.MemberStatus(w.To)
	if !slices.Contains(domain.MemberStatuses, to) || (from != "" && !slices.Contains(domain.MemberStatuses, from)) {
		return domain.StatusChanged{}, fmt.Errorf("status change from %q to %q: not a member status", w.From, w.To)
	}
	return domain.StatusChanged{FactMeta: meta, From: from, To: to, Reason: w.Reason}, nil
}
