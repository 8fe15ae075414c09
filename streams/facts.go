package streams

import (
	"fmt"
	"sync"
	"time"

	"github.com/pointsledger/loyalty/domain"
)

// factCodecs is the table of fact kinds the ledger's wire format knows, one
// entry per kind, each defined in its own file (fact_<name>.go) with the
// mapping between the fact and the fields of wireFact it uses. Adding a fact
// kind is adding its file and a line here (see CONTRIBUTING.md); a kind
// that needs a field wireFact lacks adds it there, in appendWireFact and in
// ledgerParser.fact.
var factCodecs = []*factCodec{
	factMemberEnrolled,
	factPurchaseRecorded,
	factRefundRecorded,
	factVisitRecorded,
	factStatusChanged,
	factPointsExpired,
	factPointsDebt,
	factFeedbackRecorded,
	factPointsEarned,
	factPointsReversed,
	factTierChanged,
	factPointsRedeemed,
	factRedemptionRejected,
	factPurchaseConfirmed,
	factPointsReleased,
	factPointsCancelled,
	factTierAssigned,
	factTierRenewed,
	factTierProgress,
	factPointsTransferred,
	factTransferRejected,
	factPointsReceived,
	factReferralQualified,
	factPointsExpiring,
	factPointsHeld,
	factHoldRedeemed,
	factHoldReturned,
	factStockTaken,
	factStockRefused,
	factPointsAdjusted,
	factAdjustmentRejected,
	factRedemptionCancelled,
	factCancellationRejected,
	factStockReturned,
	factDebtRepaid,
	factVoucherIssued,
	factVoucherUsed,
	factVoucherRefused,
	factMemberErased,
	factMemberScored,
	factAttributesUpdated,
	factExperimentAssigned,
	factOfferMade,
}

// factCodec maps one fact kind to and from wireFact.
type factCodec struct {
	typ domain.FactType
	// encode fills the kind's fields of w, a zero wireFact; ok is false
	// for a fact of another Go type.
	encode func(w *wireFact, f domain.Fact) (ok bool)
	// decode makes the fact from a wireFact whose lines are in w.items.
	decode func(w *wireFact, meta domain.FactMeta) (domain.Fact, error)
}

// newFactCodec makes the table entry of the fact type F from functions on
// F. They are called through the table, so a pointer they are given is to
// the heap (see wireFactPool): a variable of the caller's would move to the
// heap on every call.
func newFactCodec[F domain.Fact](encode func(*wireFact, F), decode func(*wireFact, domain.FactMeta) (F, error)) *factCodec {
	var zero F
	return &factCodec{
		typ: zero.FactType(),
		encode: func(w *wireFact, f domain.Fact) bool {
			ff, ok := f.(F)
			if ok {
				encode(w, ff)
			}
			return ok
		},
		decode: func(w *wireFact, meta domain.FactMeta) (domain.Fact, error) {
			f, err := decode(w, meta)
			if err != nil {
				return nil, err
			}
			return f, nil
		},
	}
}

// factCodecByType indexes factCodecs by type, as a string so that the
// ledger parser looks a type up in its bytes without allocating.
var factCodecByType = map[string]*factCodec{}

func init() {
	for _, c := range factCodecs {
		factCodecByType[string(c.typ)] = c // unique: TestFactCodecsCoverTheDomain
	}
}

// wireFactPool holds the wireFacts facts are encoded in, on the heap so
// that the table's functions can be handed one without an allocation.
var wireFactPool = sync.Pool{New: func() any { return new(wireFact) }}

// encodeFact renders f for the ledger into w, which it empties first.
func encodeFact(w *wireFact, f domain.Fact) error {
	*w = wireFact{}
	if c := factCodecByType[string(f.FactType())]; c == nil || !c.encode(w, f) {
		return fmt.Errorf("encode fact: unknown fact type %T", f)
	}
	w.Type, w.OccurredAt = f.FactType(), f.Meta().OccurredAt.UTC()
	return nil
}

// decodeFact makes the fact w records; lines are its lines (w.Lines is not
// read: a parser may keep them elsewhere). w is on the heap (see
// wireFactPool) and is changed.
func decodeFact(w *wireFact, lines []wireLine, meta domain.FactMeta) (domain.Fact, error) {
	c := w.codec
	if c == nil {
		if c = factCodecByType[string(w.Type)]; c == nil {
			return nil, fmt.Errorf("unknown fact type %q", w.Type)
		}
	}
	w.Lines, w.items = nil, nil
	if len(lines) > 0 {
		w.items = make([]domain.LineItem, len(lines))
		for i, l := range lines {
			w.items[i] = domain.LineItem{SKU: l.SKU, Category: l.Category, Quantity: l.Quantity, UnitPrice: l.UnitPrice}
		}
	}
	return c.decode(w, meta)
}

// optTime is a time for an omitempty field: nil when zero.
func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func fromOptTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}
