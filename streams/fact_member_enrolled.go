package streams

import (
	"fmt"

	"github.com/pointsledger/loyalty/domain"
)

// loyalty.member.enrolled.v1 in the ledger: domain.MemberEnrolled and the fields of wireFact it uses.
var factMemberEnrolled = newFactCodec(encodeMemberEnrolled, decodeMemberEnrolled)

func encodeMemberEnrolled(w *wireFact, f domain.MemberEnrolled) {
	w.Channel, w.OtherMemberID, w.Birthday = f.Channel, f.ReferredBy, f.Birthday.String()
}

func decodeMemberEnrolled(w *wireFact, meta domain.FactMeta) (domain.MemberEnrolled, error) {
	birthday, err := domain.ParseBirthday(w.Birthday)
	if err != nil {
		return domain.MemberEnrolled{}, fmt.Errorf("enrolment birthday: %w", err)
	}
	return domain.MemberEnrolled{FactMeta: meta, Channel: w.Channel, ReferredBy: w.OtherMemberID, Birthday: birthday}, nil
}
