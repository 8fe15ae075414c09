package streams

import "github.com/pointsledger/loyalty/domain"

// loyalty.member.erased.v1 in the ledger: domain.MemberErased and the fields of wireFact it uses.
var factMemberErased = newFactCodec(encodeMemberErased, decodeMemberErased)

func encodeMemberErased(w *wireFact, f domain.MemberErased) { w.Channel = f.Channel }

func decodeMemberErased(w *wireFact, meta domain.FactMeta) (domain.MemberErased, error) {
	return domain.MemberErased{FactMeta: meta, Channel: w.Channel}, nil
}
