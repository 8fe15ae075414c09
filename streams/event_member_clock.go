package streams

import (
	"fmt"

	"github.com/pointsledger/loyalty/domain"
)

// loyalty.member.clock.v1, published by the engine only, on
// loyalty.in.member-clock.<key>, for the day's work on a member (expiry,
// tier reviews):
//
//	"data": {"member_id": "m-1"}
var memberClock = newEventCodec("member-clock", legacyDigestTag, decodeClock, encodeClock, digestClock)

func decodeClock(object) (domain.Clock, error) { return domain.Clock{}, nil }

func encodeClock(b []byte, _ domain.Clock) ([]byte, error) { return b, nil }

// digestClock keeps the digest clock events were first stored with (see
// legacyDigestTag).
func digestClock(d *digest, b domain.Clock) { d.str(fmt.Sprintf("%T %#v", b, b)) }
