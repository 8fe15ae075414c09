package streams

import "github.com/pointsledger/loyalty/domain"

// loyalty.offer.made.v1 in the ledger: domain.OfferMade and the fields of wireFact it uses.
var factOfferMade = newFactCodec(encodeOfferMade, decodeOfferMade)

func encodeOfferMade(w *wireFact, f domain.OfferMade) {
	w.Rule, w.Offer, w.ProgramVersion = f.Rule, f.Offer, f.ProgramVersion
}

func decodeOfferMade(w *wireFact, meta domain.FactMeta) (domain.OfferMade, error) {
	return domain.OfferMade{FactMeta: meta, Rule: w.Rule, Offer: w.Offer, ProgramVersion: w.ProgramVersion}, nil
}
