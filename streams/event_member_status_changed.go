package streams

import (
	"fmt"

	"github.com/pointsledger/loyalty/domain"
)

// loyalty.member.status_changed.v1, published on loyalty.in.member-status-changed.<key>:
//
//	"data": {"member_id": "m-1", "status": "suspended", "reason": "fraud review"}
var memberStatusChanged = newEventCodec("member-status-changed", legacyDigestTag, decodeStatusChange, encodeStatusChange, digestStatusChange)

func decodeStatusChange(o object) (b domain.StatusChange, err error) {
	status, err := o.requiredString("status")
	if err != nil {
		return b, err
	}
	b.Status = domain.MemberStatus(status)
	b.Reason, _, err = o.optionalString("reason")
	return b, err
}

func encodeStatusChange(b []byte, body domain.StatusChange) ([]byte, error) {
	var strs utf8Check
	strs.check("status", string(body.Status))
	strs.check("reason", body.Reason)
	b = append(b, `,"status":`...)
	b = appendJSONString(b, string(body.Status), false)
	return appendEventString(b, `,"reason":`, body.Reason), strs.err
}

// digestStatusChange keeps the digest status changes were first stored
// with (see legacyDigestTag).
func digestStatusChange(d *digest, b domain.StatusChange) { d.str(fmt.Sprintf("%T %#v", b, b)) }
