package streams

import "github.com/pointsledger/loyalty/domain"

// loyalty.visit.recorded.v1, published on loyalty.in.visit-recorded.<key>:
//
//	"data": {"member_id": "m-1", "channel": "store"}
var visitRecorded = newEventCodec("visit-recorded", 5, decodeVisit, encodeVisit, digestVisit)

func decodeVisit(o object) (b domain.Visit, err error) {
	b.Channel, _, err = o.optionalString("channel")
	return b, err
}

func encodeVisit(b []byte, body domain.Visit) ([]byte, error) {
	var strs utf8Check
	strs.check("channel", body.Channel)
	return appendEventString(b, `,"channel":`, body.Channel), strs.err
}

func digestVisit(d *digest, b domain.Visit) { d.str(b.Channel) }
