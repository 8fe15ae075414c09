package streams

import (
	"strconv"

	"github.com/pointsledger/loyalty/domain"
)

// loyalty.points.transfer_requested.v1, published on loyalty.in.transfer-requested.<key>
// by the member who gives:
//
//	"data": {"member_id": "m-1", "request_id": "t-1", "to_member_id": "m-2", "points": 500}
var transferRequested = newEventCodec("transfer-requested", 9, decodeTransferRequest, encodeTransferRequest, digestTransferRequest)

func decodeTransferRequest(o object) (b domain.TransferRequest, err error) {
	if b.RequestID, err = o.requiredString("request_id"); err != nil {
		return b, err
	}
	if b.ToMemberID, err = o.requiredString("to_member_id"); err != nil {
		return b, err
	}
	b.Points, err = o.requiredAmount("points")
	return b, err
}

func encodeTransferRequest(b []byte, body domain.TransferRequest) ([]byte, error) {
	var strs utf8Check
	strs.check("request_id", body.RequestID)
	strs.check("to_member_id", body.ToMemberID)
	b = append(b, `,"request_id":`...)
	b = appendJSONString(b, body.RequestID, false)
	b = append(b, `,"to_member_id":`...)
	b = appendJSONString(b, body.ToMemberID, false)
	b = append(b, `,"points":`...)
	return strconv.AppendInt(b, body.Points, 10), strs.err
}

func digestTransferRequest(d *digest, b domain.TransferRequest) {
	d.str(b.RequestID)
	d.str(b.ToMemberID)
	d.int(b.Points)
}
