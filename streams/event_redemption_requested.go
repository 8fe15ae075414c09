package streams

import "github.com/pointsledger/loyalty/domain"

// loyalty.redemption.requested.v1, published on loyalty.in.redemption-requested.<key>
// (or sent to the service's redeem endpoint):
//
//	"data": {"member_id": "m-1", "request_id": "r-1", "reward_id": "voucher-10", "quantity": 1, "channel": "app"}
//
// A catalogue reward (reward_id, quantity) or a number of points.
var redemptionRequested = newEventCodec("redemption-requested", 6, decodeRedemption, encodeRedemption, digestRedemption)

func decodeRedemption(o object) (b domain.RedeemRequest, err error) {
	if b.RequestID, err = o.requiredString("request_id"); err != nil {
		return b, err
	}
	if b.RewardID, _, err = o.optionalString("reward_id"); err != nil {
		return b, err
	}
	if b.Quantity, _, err = o.optionalAmount("quantity"); err != nil {
		return b, err
	}
	if b.Points, _, err = o.optionalAmount("points"); err != nil {
		return b, err
	}
	b.Channel, _, err = o.optionalString("channel")
	return b, err
}

func encodeRedemption(b []byte, body domain.RedeemRequest) ([]byte, error) {
	var strs utf8Check
	strs.check("request_id", body.RequestID)
	strs.check("reward_id", body.RewardID)
	strs.check("channel", body.Channel)
	b = append(b, `,"request_id":`...)
	b = appendJSONString(b, body.RequestID, false)
	b = appendEventString(b, `,"reward_id":`, body.RewardID)
	b = appendEventInt(b, `,"quantity":`, body.Quantity)
	b = appendEventInt(b, `,"points":`, body.Points)
	return appendEventString(b, `,"channel":`, body.Channel), strs.err
}

func digestRedemption(d *digest, b domain.RedeemRequest) {
	d.str(b.RequestID)
	d.str(b.RewardID)
	d.int(b.Quantity)
	d.int(b.Points)
	d.str(b.Channel)
}
