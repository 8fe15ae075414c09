package streams

import (
	"strconv"

	"github.com/pointsledger/loyalty/domain"
)

// loyalty.points.adjustment_requested.v1, published by the engine's service
// only (loyalty.svc.adjust, for the back office), on
// loyalty.in.adjustment-requested.<key>: a manual credit (points > 0) or
// debit (points < 0):
//
//	"data": {"member_id": "m-1", "request_id": "adj-1", "points": 250, "reason_code": "missing_points",
//	         "note": "receipt 4411 was not scanned", "operator_id": "agent-7"}
var adjustmentRequested = newEventCodec("adjustment-requested", 14, decodeAdjustRequest, encodeAdjustRequest, digestAdjustRequest)

func decodeAdjustRequest(o object) (b domain.AdjustRequest, err error) {
	if b.RequestID, err = o.requiredString("request_id"); err != nil {
		return b, err
	}
	if b.Points, err = o.requiredAmount("points"); err != nil {
		return b, err
	}
	if b.Reason, err = o.requiredString("reason_code"); err != nil {
		return b, err
	}
	if b.Note, _, err = o.optionalString("note"); err != nil {
		return b, err
	}
	b.OperatorID, err = o.requiredString("operator_id")
	return b, err
}

func encodeAdjustRequest(b []byte, body domain.AdjustRequest) ([]byte, error) {
	var strs utf8Check
	strs.check("request_id", body.RequestID)
	strs.check("reason_code", body.Reason)
	strs.check("note", body.Note)
	strs.check("operator_id", body.OperatorID)
	b = append(b, `,"request_id":`...)
	b = appendJSONString(b, body.RequestID, false)
	b = append(b, `,"points":`...)
	b = strconv.AppendInt(b, body.Points, 10)
	b = append(b, `,"reason_code":`...)
	b = appendJSONString(b, body.Reason, false)
	if body.Note != "" {
		b = append(b, `,"note":`...)
		b = appendJSONString(b, body.Note, false)
	}
	b = append(b, `,"operator_id":`...)
	return appendJSONString(b, body.OperatorID, false), strs.err
}

func digestAdjustRequest(d *digest, b domain.AdjustRequest) {
	d.str(b.RequestID)
	d.int(b.Points)
	d.str(b.Reason)
	d.str(b.Note)
	d.str(b.OperatorID)
}
