package streams

import "github.com/pointsledger/loyalty/domain"

// loyalty.purchase.confirmed.v1, published on loyalty.in.purchase-confirmed.<key>
// when an order's return window closes, releasing its pending points:
//
//	"data": {"member_id": "m-1", "order_id": "o-1"}
var purchaseConfirmed = newEventCodec("purchase-confirmed", 7, decodeConfirmation, encodeConfirmation, digestConfirmation)

func decodeConfirmation(o object) (b domain.Confirmation, err error) {
	b.OrderID, err = o.requiredString("order_id")
	return b, err
}

func encodeConfirmation(b []byte, body domain.Confirmation) ([]byte, error) {
	var strs utf8Check
	strs.check("order_id", body.OrderID)
	b = append(b, `,"order_id":`...)
	return appendJSONString(b, body.OrderID, false), strs.err
}

func digestConfirmation(d *digest, b domain.Confirmation) { d.str(b.OrderID) }
