package streams

import "github.com/pointsledger/loyalty/domain"

// eventCodecs is the table of input event types the wire format knows, one
// entry per type, each defined in its own file (event_<token>.go) with the
// type's JSON contract, decoding, encoding and digest. Adding an input event
// type is adding its file and a line here (see CONTRIBUTING.md).
var eventCodecs = []*eventCodec{
	memberEnrolled,
	purchaseCompleted,
	purchaseRefunded,
	feedbackSubmitted,
	visitRecorded,
	memberStatusChanged,
	redemptionRequested,
	purchaseConfirmed,
	memberTierAssigned,
	transferRequested,
	transferReceived,
	referralRewarded,
	stockRequested,
	stockAnswered,
	memberClock,
	adjustmentRequested,
	redemptionCancelRequested,
	voucherUseRequested,
	erasureRequested,
	memberScored,
	attributesUpdated,
}

// eventCodec is what the wire format knows of one input event type.
type eventCodec struct {
	typ domain.EventType
	// token is the type's token in input subjects
	// (loyalty.in.<token>.<member-key>): part of the contract with
	// publishers and of the stored subjects, never to be changed.
	token string
	// digestTag opens the type's part of EventDigest. Digests are stored in
	// the ledger: a tag is never changed or given to another type. In use:
	// 1 to 19, and legacyDigestTag; the next type takes 20.
	digestTag uint64
	// decode reads the data object's fields but member_id.
	decode func(data object) (domain.EventBody, error)
	// encode appends the body's data fields, each with its leading comma,
	// after member_id. It fails for a string that is not valid UTF-8, and
	// ok is false for a body of another Go type.
	encode func(b []byte, body domain.EventBody) (_ []byte, ok bool, _ error)
	// digest adds the body's fields to an EventDigest.
	digest func(d *digest, body domain.EventBody) bool
	// size estimates how many bytes encode writes.
	size func(body domain.EventBody) int
}

// newEventCodec makes the table entry of the body type B from functions on
// B, so that each type's file deals in its own body type only. The
// functions take no pointer to their caller's variables: called through
// the table, such a variable would move to the heap on every call.
func newEventCodec[B domain.EventBody](token string, digestTag uint64,
	decode func(object) (B, error),
	encode func([]byte, B) ([]byte, error),
	addDigest func(*digest, B),
) *eventCodec {
	var zero B
	return &eventCodec{
		typ:       zero.EventType(),
		token:     token,
		digestTag: digestTag,
		decode: func(o object) (domain.EventBody, error) {
			b, err := decode(o)
			if err != nil {
				return nil, err
			}
			return b, nil
		},
		encode: func(dst []byte, body domain.EventBody) ([]byte, bool, error) {
			b, ok := body.(B)
			if !ok {
				return dst, false, nil
			}
			dst, err := encode(dst, b)
			return dst, true, err
		},
		digest: func(d *digest, body domain.EventBody) bool {
			b, ok := body.(B)
			if !ok {
				return false
			}
			d.uint(digestTag)
			addDigest(d, b)
			return true
		},
		size: func(domain.EventBody) int { return 64 },
	}
}

// withSize gives an entry an estimate of its encoded size, for bodies that
// can be larger than the default's 64 bytes.
func withSize[B domain.EventBody](c *eventCodec, size func(B) int) *eventCodec {
	c.size = func(body domain.EventBody) int {
		if b, ok := body.(B); ok {
			return size(b)
		}
		return 64
	}
	return c
}

// legacyDigestTag opens the digest of the types whose digest is their Go
// value as fmt's %T %#v prints it (status changes, clock events): they were
// stored that way before they had a digest of their own, and a digest
// stored in the ledger never changes.
const legacyDigestTag = 255

// codecByType and codecByToken index eventCodecs. That types, tokens and
// digest tags are unique is TestEventCodecEntriesAreDistinct's to hold.
var (
	codecByType  = map[domain.EventType]*eventCodec{}
	codecByToken = map[string]*eventCodec{}
)

func init() {
	for _, c := range eventCodecs {
		codecByType[c.typ], codecByToken[c.token] = c, c
	}
}

// lookupEventType returns the entry of the event type in the JSON string v,
// without allocating for a known type.
func lookupEventType(v []byte) (domain.EventType, *eventCodec) {
	for _, c := range eventCodecs {
		if jsonStringIs(v, string(c.typ)) {
			return c.typ, c
		}
	}
	t := domain.EventType(unquote(v))
	return t, codecByType[t]
}
