package streams

import "github.com/pointsledger/loyalty/domain"

// loyalty.voucher.use_requested.v1, published by the engine's service only
// (loyalty.svc.voucher.use, for a till), on
// loyalty.in.voucher-use-requested.<key> of the member whose voucher the
// code is:
//
//	"data": {"member_id": "m-1", "request_id": "till-3-000901", "code": "7KQM-2XHD-9RTB-VW4P", "channel": "pos-berlin-3"}
var voucherUseRequested = newEventCodec("voucher-use-requested", 16, decodeVoucherUse, encodeVoucherUse, digestVoucherUse)

func decodeVoucherUse(o object) (b domain.VoucherUse, err error) {
	if b.RequestID, err = o.requiredString("request_id"); err != nil {
		return b, err
	}
	if b.Code, err = o.requiredString("code"); err != nil {
		return b, err
	}
	b.Channel, _, err = o.optionalString("channel")
	return b, err
}

func encodeVoucherUse(b []byte, body domain.VoucherUse) ([]byte, error) {
	var strs utf8Check
	strs.check("request_id", body.RequestID)
	strs.check("code", body.Code)
	strs.check("channel", body.Channel)
	b = append(b, `,"request_id":`...)
	b = appendJSONString(b, body.RequestID, false)
	b = append(b, `,"code":`...)
	b = appendJSONString(b, body.Code, false)
	if body.Channel != "" {
		b = append(b, `,"channel":`...)
		b = appendJSONString(b, body.Channel, false)
	}
	return b, strs.err
}

func digestVoucherUse(d *digest, b domain.VoucherUse) {
	d.str(b.RequestID)
	d.str(b.Code)
	d.str(b.Channel)
}
