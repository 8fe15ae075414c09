package streams

import (
	"fmt"

	"github.com/pointsledger/loyalty/domain"
)

// loyalty.member.attributes_updated.v1 in the ledger: domain.AttributesUpdated
// and the fields of wireFact it uses. Its attributes are sealed in a version
// 2 record; an erased member's read as none.
var factAttributesUpdated = newFactCodec(encodeAttributesUpdated, decodeAttributesUpdated)

func encodeAttributesUpdated(w *wireFact, f domain.AttributesUpdated) {
	w.Attributes = make([]wireAttribute, len(f.Attributes))
	for i, a := range f.Attributes {
		wa := wireAttribute{Name: a.Name}
		switch a.Kind {
		case domain.AttributeString:
			wa.String = &a.String
		case domain.AttributeInt:
			wa.Int = &a.Int
		case domain.AttributeBool:
			wa.Bool = &a.Bool
		}
		w.Attributes[i] = wa
	}
}

func decodeAttributesUpdated(w *wireFact, meta domain.FactMeta) (domain.AttributesUpdated, error) {
	f := domain.AttributesUpdated{FactMeta: meta}
	for _, wa := range w.Attributes {
		a := domain.Attribute{Name: wa.Name}
		set := 0
		if wa.String != nil {
			a.Kind, a.String = domain.AttributeString, *wa.String
			set++
		}
		if wa.Int != nil {
			a.Kind, a.Int = domain.AttributeInt, *wa.Int
			set++
		}
		if wa.Bool != nil {
			a.Kind, a.Bool = domain.AttributeBool, *wa.Bool
			set++
		}
		if set > 1 {
			return f, fmt.Errorf("attribute %q has %d values", wa.Name, set)
		}
		f.Attributes = append(f.Attributes, a)
	}
	return f, nil
}
