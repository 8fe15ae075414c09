package streams

import (
	"strconv"

	"github.com/pointsledger/loyalty/domain"
)

// loyalty.reward.stock_requested.v1, published by the engine only, on
// loyalty.in.stock-requested.<reward-key>, asking a reward's stock for a
// member's redemption:
//
//	"data": {"member_id": "stock:mug", "reward_id": "mug", "for_member_id": "m-1", "request_id": "r-1", "quantity": 1}
//
// or giving units back, from a cancelled redemption, with "return": true.
var stockRequested = newEventCodec("stock-requested", 12, decodeStockRequest, encodeStockRequest, digestStockRequest)

func decodeStockRequest(o object) (b domain.StockRequest, err error) {
	if b.RewardID, err = o.requiredString("reward_id"); err != nil {
		return b, err
	}
	if b.MemberID, err = o.requiredString("for_member_id"); err != nil {
		return b, err
	}
	if b.RequestID, err = o.requiredString("request_id"); err != nil {
		return b, err
	}
	if b.Quantity, err = o.requiredAmount("quantity"); err != nil {
		return b, err
	}
	b.Return, err = o.optionalTrue("return")
	return b, err
}

// encodeStockRequest writes strings the engine made, so it checks none.
func encodeStockRequest(b []byte, body domain.StockRequest) ([]byte, error) {
	b = append(b, `,"reward_id":`...)
	b = appendJSONString(b, body.RewardID, false)
	b = append(b, `,"for_member_id":`...)
	b = appendJSONString(b, body.MemberID, false)
	b = append(b, `,"request_id":`...)
	b = appendJSONString(b, body.RequestID, false)
	b = append(b, `,"quantity":`...)
	b = strconv.AppendInt(b, body.Quantity, 10)
	if body.Return {
		b = append(b, `,"return":true`...)
	}
	return b, nil
}

func digestStockRequest(d *digest, b domain.StockRequest) {
	d.str(b.RewardID)
	d.str(b.MemberID)
	d.str(b.RequestID)
	d.int(b.Quantity)
	if b.Return { // only then: the digests of requests stored before stay as they were
		d.str("return")
	}
}
