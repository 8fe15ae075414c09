package streams

import "github.com/pointsledger/loyalty/domain"

// loyalty.member.tier_assigned.v1, published on loyalty.in.member-tier-assigned.<key>:
//
//	"data": {"member_id": "m-1", "tier": "gold", "reason": "status match"}
var memberTierAssigned = newEventCodec("member-tier-assigned", 8, decodeTierAssignment, encodeTierAssignment, digestTierAssignment)

func decodeTierAssignment(o object) (b domain.TierAssignment, err error) {
	if b.Tier, err = o.requiredString("tier"); err != nil {
		return b, err
	}
	b.Reason, _, err = o.optionalString("reason")
	return b, err
}

func encodeTierAssignment(b []byte, body domain.TierAssignment) ([]byte, error) {
	var strs utf8Check
	strs.check("tier", body.Tier)
	strs.check("reason", body.Reason)
	b = append(b, `,"tier":`...)
	b = appendJSONString(b, body.Tier, false)
	return appendEventString(b, `,"reason":`, body.Reason), strs.err
}

func digestTierAssignment(d *digest, b domain.TierAssignment) {
	d.str(b.Tier)
	d.str(b.Reason)
}
