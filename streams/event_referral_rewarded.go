package streams

import "github.com/pointsledger/loyalty/domain"

// loyalty.member.referral_rewarded.v1, published by the engine only, on
// loyalty.in.referral-rewarded.<key> of the referrer, once the member they
// referred qualifies:
//
//	"data": {"member_id": "m-0", "referred_member_id": "m-1"}
var referralRewarded = newEventCodec("referral-rewarded", 11, decodeReferralReward, encodeReferralReward, digestReferralReward)

func decodeReferralReward(o object) (b domain.ReferralReward, err error) {
	b.ReferredMemberID, err = o.requiredString("referred_member_id")
	return b, err
}

func encodeReferralReward(b []byte, body domain.ReferralReward) ([]byte, error) {
	var strs utf8Check
	strs.check("referred_member_id", body.ReferredMemberID)
	b = append(b, `,"referred_member_id":`...)
	return appendJSONString(b, body.ReferredMemberID, false), strs.err
}

func digestReferralReward(d *digest, b domain.ReferralReward) { d.str(b.ReferredMemberID) }
