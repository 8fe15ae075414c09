package streams

import "github.com/pointsledger/loyalty/domain"

// loyalty.member.enrolled.v1, published on loyalty.in.member-enrolled.<key>:
//
//	"data": {"member_id": "m-1", "channel": "app", "referred_by": "m-0", "birth_date": "1990-04-12"}
//
// channel, referred_by and birth_date (YYYY-MM-DD or MM-DD; only the month
// and day are kept) are optional.
var memberEnrolled = newEventCodec("member-enrolled", 1, decodeEnrolment, encodeEnrolment, digestEnrolment)

func decodeEnrolment(o object) (b domain.Enrolment, err error) {
	if b.Channel, _, err = o.optionalString("channel"); err != nil {
		return b, err
	}
	if b.ReferredBy, _, err = o.optionalString("referred_by"); err != nil {
		return b, err
	}
	b.Birthday, err = birthDate(o)
	return b, err
}

// birthDate reads an enrolment's optional birth_date (YYYY-MM-DD or MM-DD);
// only the month and day are kept.
func birthDate(o object) (domain.Birthday, error) {
	s, ok, err := o.optionalString("birth_date")
	if err != nil || !ok {
		return domain.Birthday{}, err
	}
	b, perr := domain.ParseBirthday(s)
	if perr != nil {
		return domain.Birthday{}, rejectWire(domain.ReasonInvalidField, o.name("birth_date"), "%s", perr.Error())
	}
	return b, nil
}

func encodeEnrolment(b []byte, body domain.Enrolment) ([]byte, error) {
	var strs utf8Check
	strs.check("channel", body.Channel)
	strs.check("referred_by", body.ReferredBy)
	b = appendEventString(b, `,"channel":`, body.Channel)
	b = appendEventString(b, `,"referred_by":`, body.ReferredBy)
	return appendEventString(b, `,"birth_date":`, body.Birthday.String()), strs.err
}

func digestEnrolment(d *digest, b domain.Enrolment) {
	d.str(b.Channel)
	if b.ReferredBy != "" || !b.Birthday.IsZero() { // so that enrolments without them keep their digest
		d.str(b.ReferredBy)
		d.str(b.Birthday.String())
	}
}
