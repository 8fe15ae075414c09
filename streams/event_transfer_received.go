package streams

import (
	"strconv"

	"github.com/pointsledger/loyalty/domain"
)

// loyalty.points.transfer_received.v1, published by the engine only, on
// loyalty.in.transfer-received.<key> of the member who receives:
//
//	"data": {"member_id": "m-2", "from_member_id": "m-1", "request_id": "t-1", "points": 500}
var transferReceived = newEventCodec("transfer-received", 10, decodeTransferIn, encodeTransferIn, digestTransferIn)

func decodeTransferIn(o object) (b domain.TransferIn, err error) {
	if b.FromMemberID, err = o.requiredString("from_member_id"); err != nil {
		return b, err
	}
	if b.RequestID, err = o.requiredString("request_id"); err != nil {
		return b, err
	}
	b.Points, err = o.requiredAmount("points")
	return b, err
}

func encodeTransferIn(b []byte, body domain.TransferIn) ([]byte, error) {
	var strs utf8Check
	strs.check("from_member_id", body.FromMemberID)
	strs.check("request_id", body.RequestID)
	b = append(b, `,"from_member_id":`...)
	b = appendJSONString(b, body.FromMemberID, false)
	b = append(b, `,"request_id":`...)
	b = appendJSONString(b, body.RequestID, false)
	b = append(b, `,"points":`...)
	return strconv.AppendInt(b, body.Points, 10), strs.err
}

func digestTransferIn(d *digest, b domain.TransferIn) {
	d.str(b.FromMemberID)
	d.str(b.RequestID)
	d.int(b.Points)
}
