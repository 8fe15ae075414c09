package streams

import "github.com/pointsledger/loyalty/domain"

// loyalty.member.erasure_requested.v1, published on
// loyalty.in.erasure-requested.<key> by the back office (loyalty member
// erase) or an upstream system that took the member's request:
//
//	"data": {"member_id": "m-1", "channel": "privacy-portal"}
var erasureRequested = newEventCodec("erasure-requested", 17, decodeErasure, encodeErasure, digestErasure)

func decodeErasure(o object) (b domain.ErasureRequest, err error) {
	b.Channel, _, err = o.optionalString("channel")
	return b, err
}

func encodeErasure(b []byte, body domain.ErasureRequest) ([]byte, error) {
	var strs utf8Check
	strs.check("channel", body.Channel)
	return appendEventString(b, `,"channel":`, body.Channel), strs.err
}

func digestErasure(d *digest, b domain.ErasureRequest) { d.str(b.Channel) }
