package streams

import "github.com/pointsledger/loyalty/domain"

// loyalty.redemption.cancel_requested.v1, published by the engine's service
// only (loyalty.svc.cancel, for the back office), on
// loyalty.in.redemption-cancel-requested.<key>: cancel the member's
// redemption whose request_id was redemption_id:
//
//	"data": {"member_id": "m-1", "request_id": "cancel-1", "redemption_id": "r-1",
//	         "reason_code": "customer_request", "operator_id": "agent-7"}
var redemptionCancelRequested = newEventCodec("redemption-cancel-requested", 15, decodeCancelRequest, encodeCancelRequest, digestCancelRequest)

func decodeCancelRequest(o object) (b domain.CancelRequest, err error) {
	if b.RequestID, err = o.requiredString("request_id"); err != nil {
		return b, err
	}
	if b.RedemptionID, err = o.requiredString("redemption_id"); err != nil {
		return b, err
	}
	if b.Reason, err = o.requiredString("reason_code"); err != nil {
		return b, err
	}
	b.OperatorID, err = o.requiredString("operator_id")
	return b, err
}

func encodeCancelRequest(b []byte, body domain.CancelRequest) ([]byte, error) {
	var strs utf8Check
	strs.check("request_id", body.RequestID)
	strs.check("redemption_id", body.RedemptionID)
	strs.check("reason_code", body.Reason)
	strs.check("operator_id", body.OperatorID)
	b = append(b, `,"request_id":`...)
	b = appendJSONString(b, body.RequestID, false)
	b = append(b, `,"redemption_id":`...)
	b = appendJSONString(b, body.RedemptionID, false)
	b = append(b, `,"reason_code":`...)
	b = appendJSONString(b, body.Reason, false)
	b = append(b, `,"operator_id":`...)
	return appendJSONString(b, body.OperatorID, false), strs.err
}

func digestCancelRequest(d *digest, b domain.CancelRequest) {
	d.str(b.RequestID)
	d.str(b.RedemptionID)
	d.str(b.Reason)
	d.str(b.OperatorID)
}
