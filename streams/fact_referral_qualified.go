package streams

import "github.com/pointsledger/loyalty/domain"

// loyalty.referral.qualified.v1 in the ledger: domain.ReferralQualified and the fields of wireFact it uses.
var factReferralQualified = newFactCodec(encodeReferralQualified, decodeReferralQualified)

func encodeReferralQualified(w *wireFact, f domain.ReferralQualified) {
	w.OtherMemberID, w.FollowUpID = f.ReferrerID, f.FollowUpID
}

func decodeReferralQualified(w *wireFact, meta domain.FactMeta) (domain.ReferralQualified, error) {
	return domain.ReferralQualified{FactMeta: meta, ReferrerID: w.OtherMemberID, FollowUpID: w.FollowUpID}, nil
}
