package streams

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/pointsledger/loyalty/domain"
)

// Version 2 of the ledger record holds no member's personal data in clear
// (decision 032): member_id and other_member_id are MemberToken's tokens,
// and the fields that carry personal data (a feedback comment, a birth
// date, an adjustment's note, a status change's reason) are taken out of
// the facts into "sealed", one AES-GCM box under the member's key. Readers
// given the MemberKeys see the record as it was; once the member is erased
// it reads as ErasedID(token), those fields empty.
const sealedLedgerVersion = 2

// sealedFact is a fact's personal fields in a record's sealed box.
type sealedFact struct {
	I        int    `json:"i"`
	Comment  string `json:"comment,omitempty"`
	Birthday string `json:"birthday,omitempty"`
	Note     string `json:"note,omitempty"`
	Reason   string `json:"reason,omitempty"`
	// Attributes is an AttributesUpdated's.
	Attributes []wireAttribute `json:"attributes,omitempty"`
}

// personalFactTypes are the facts with personal fields.
var personalFactTypes = map[domain.FactType]bool{
	domain.FactFeedbackRecorded: true, domain.FactMemberEnrolled: true,
	domain.FactStatusChanged: true, domain.FactPointsAdjusted: true, domain.FactAttributesUpdated: true,
}

// takePersonal moves w's personal fields out of it.
func takePersonal(w *wireFact, i int) (sealedFact, bool) {
	s := sealedFact{I: i, Comment: w.Comment, Birthday: w.Birthday, Note: w.Note, Attributes: w.Attributes}
	w.Comment, w.Birthday, w.Note, w.Attributes = "", "", "", nil
	if w.Type == domain.FactStatusChanged { // elsewhere a reason is a code
		s.Reason, w.Reason = w.Reason, ""
	}
	return s, s.Comment != "" || s.Birthday != "" || s.Note != "" || s.Reason != "" || len(s.Attributes) > 0
}

// putPersonal puts fields takePersonal took back into w.
func putPersonal(w *wireFact, s sealedFact) {
	w.Comment, w.Birthday, w.Note, w.Attributes = s.Comment, s.Birthday, s.Note, s.Attributes
	if w.Type == domain.FactStatusChanged {
		w.Reason = s.Reason
	}
}

// sealing is how a version 2 record is written: the member's token, the
// sealed box, and the keys that give other members' tokens.
type sealing struct {
	keys   *MemberKeys
	token  string
	sealed string // base64 of the box; "" when no fact has personal fields
}

// wire makes w, one of the record's facts, as version 2 writes it.
func (s *sealing) wire(w *wireFact) {
	if s == nil {
		return
	}
	if personalFactTypes[w.Type] {
		takePersonal(w, 0)
	}
	if w.OtherMemberID != "" {
		w.OtherMemberID = s.keys.Token(w.OtherMemberID)
	}
}

// AppendSealedLedgerRecord is AppendLedgerRecord writing version 2 with
// keys, whose Ensure must have made the entries of the record's member and
// of every other member its facts name. The engine's own members (a
// reward's stock) keep their ids, which are no one's, and have nothing to
// seal; the members their facts name are tokens all the same.
func AppendSealedLedgerRecord(dst []byte, r LedgerRecord, keys *MemberKeys) ([]byte, error) {
	if keys == nil {
		return AppendLedgerRecord(dst, r)
	}
	if domain.IsReservedMemberID(r.MemberID) {
		return appendRecord(dst, r, &sealing{keys: keys, token: r.MemberID})
	}
	s := &sealing{keys: keys, token: keys.Token(r.MemberID)}
	var box []sealedFact
	for i, f := range r.Facts {
		if !personalFactTypes[f.FactType()] {
			continue
		}
		var w wireFact
		if err := encodeFact(&w, f); err != nil {
			return dst, err
		}
		if p, ok := takePersonal(&w, i); ok {
			box = append(box, p)
		}
	}
	if len(box) > 0 {
		plain, err := json.Marshal(box)
		if err != nil {
			return dst, err
		}
		sealed, err := keys.sealFor(r.MemberID, plain, sealedAAD(s.token, r.EventID))
		if err != nil {
			return dst, err
		}
		s.sealed = base64.RawStdEncoding.EncodeToString(sealed)
	}
	return appendRecord(dst, r, s)
}

// sealedAAD binds a box to its record: it opens under no other member or
// event.
func sealedAAD(token, eventID string) []byte {
	return []byte(token + "\x00" + eventID)
}

// revealing is how a version 2 record is read back: the member's entry and
// the personal fields of its facts by position.
type revealing struct {
	keys     *MemberKeys
	member   memberEntry
	personal map[int]sealedFact
}

// reveal reads a version 2 record's member and box.
func reveal(keys *MemberKeys, token, eventID, sealed string) (*revealing, error) {
	if domain.IsReservedMemberID(token) && sealed == "" { // a reward's stock: its own id
		return &revealing{keys: keys, member: memberEntry{id: token}}, nil
	}
	if !IsMemberToken(token) {
		return nil, fmt.Errorf("member_id %q is not a member token", token)
	}
	e, err := keys.reveal(context.Background(), token)
	if err != nil {
		return nil, err
	}
	v := &revealing{keys: keys, member: e}
	if sealed == "" || e.erased {
		return v, nil
	}
	box, err := base64.RawStdEncoding.DecodeString(sealed)
	if err != nil {
		return nil, fmt.Errorf("sealed: %w", err)
	}
	plain, err := openSealed(e.key, box, sealedAAD(token, eventID))
	if err != nil {
		return nil, fmt.Errorf("sealed fields of %s do not open under its key: %w", token, err)
	}
	var facts []sealedFact
	if err := json.Unmarshal(plain, &facts); err != nil {
		return nil, fmt.Errorf("sealed fields: %w", err)
	}
	v.personal = make(map[int]sealedFact, len(facts))
	for _, f := range facts {
		v.personal[f.I] = f
	}
	return v, nil
}

// fact puts back the personal fields and other member's id of the record's
// i-th fact.
func (v *revealing) fact(w *wireFact, i int) error {
	if v == nil {
		return nil
	}
	if p, ok := v.personal[i]; ok {
		putPersonal(w, p)
	}
	if w.OtherMemberID == "" {
		return nil
	}
	if !IsMemberToken(w.OtherMemberID) {
		return fmt.Errorf("other_member_id %q is not a member token", w.OtherMemberID)
	}
	e, err := v.keys.reveal(context.Background(), w.OtherMemberID)
	if err != nil {
		return err
	}
	w.OtherMemberID = e.id
	return nil
}

// otherMemberFactTypes are the facts whose other_member_id names another
// member (TestOtherMemberFactTypes holds it to the fact codecs): only they
// are encoded once more to find it, not every fact of every record.
var otherMemberFactTypes = map[domain.FactType]bool{
	domain.FactMemberEnrolled: true, domain.FactPointsTransferred: true, domain.FactTransferRejected: true,
	domain.FactPointsReceived: true, domain.FactReferralQualified: true, domain.FactStockTaken: true,
	domain.FactStockRefused: true, domain.FactStockReturned: true,
}

// OtherMembers is the members other than its own that r's facts name: a
// version 2 record holds their tokens, so their keys must exist first.
func OtherMembers(r LedgerRecord) []string {
	var others []string
	for _, f := range r.Facts {
		if !otherMemberFactTypes[f.FactType()] {
			continue
		}
		var w wireFact
		if encodeFact(&w, f) == nil && w.OtherMemberID != "" {
			others = append(others, w.OtherMemberID)
		}
	}
	return others
}
