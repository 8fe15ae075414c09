package streams

import "github.com/pointsledger/loyalty/domain"

// loyalty.reward.stock_answered.v1, published by the engine only, on
// loyalty.in.stock-answered.<key> of the member who asked:
//
//	"data": {"member_id": "m-1", "request_id": "r-1", "reward_id": "mug", "answer": "granted"}
//
// answer is "granted" or "refused".
var stockAnswered = newEventCodec("stock-answered", 13, decodeStockAnswer, encodeStockAnswer, digestStockAnswer)

func decodeStockAnswer(o object) (b domain.StockAnswer, err error) {
	if b.RequestID, err = o.requiredString("request_id"); err != nil {
		return b, err
	}
	if b.RewardID, err = o.requiredString("reward_id"); err != nil {
		return b, err
	}
	answer, err := o.requiredString("answer")
	if err != nil {
		return b, err
	}
	switch answer {
	case "granted":
		b.Granted = true
	case "refused":
	default:
		return b, rejectWire(domain.ReasonInvalidField, o.name("answer"), "must be %q or %q, got %s", "granted", "refused", quote(answer))
	}
	return b, nil
}

// encodeStockAnswer writes strings the engine made, so it checks none.
func encodeStockAnswer(b []byte, body domain.StockAnswer) ([]byte, error) {
	b = append(b, `,"request_id":`...)
	b = appendJSONString(b, body.RequestID, false)
	b = append(b, `,"reward_id":`...)
	b = appendJSONString(b, body.RewardID, false)
	if body.Granted {
		return append(b, `,"answer":"granted"`...), nil
	}
	return append(b, `,"answer":"refused"`...), nil
}

func digestStockAnswer(d *digest, b domain.StockAnswer) {
	d.str(b.RequestID)
	d.str(b.RewardID)
	if b.Granted {
		d.uint(1)
	} else {
		d.uint(0)
	}
}
