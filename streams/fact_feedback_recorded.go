package streams

import "github.com/pointsledger/loyalty/domain"

// loyalty.feedback.recorded.v1 in the ledger: domain.FeedbackRecorded and the fields of wireFact it uses.
var factFeedbackRecorded = newFactCodec(encodeFeedbackRecorded, decodeFeedbackRecorded)

func encodeFeedbackRecorded(w *wireFact, f domain.FeedbackRecorded) {
	w.OrderID, w.Rating, w.NPS, w.Comment, w.Channel = f.OrderID, f.Rating, f.NPS, f.Comment, f.Channel
}

func decodeFeedbackRecorded(w *wireFact, meta domain.FactMeta) (domain.FeedbackRecorded, error) {
	return domain.FeedbackRecorded{FactMeta: meta, OrderID: w.OrderID, Rating: w.Rating, NPS: w.NPS, Comment: w.Comment, Channel: w.Channel}, nil
}
