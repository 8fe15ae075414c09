package streams

import (
	"strconv"

	"github.com/pointsledger/loyalty/domain"
)

// loyalty.feedback.submitted.v1, published on loyalty.in.feedback-submitted.<key>:
//
//	"data": {"member_id": "m-1", "rating": 5, "nps": 9, "order_id": "o-1", "comment": "quick", "channel": "app"}
//
// Every field but member_id is optional; rating and nps are integers.
var feedbackSubmitted = withSize(newEventCodec("feedback-submitted", 4, decodeFeedback, encodeFeedback, digestFeedback), feedbackSize)

func decodeFeedback(o object) (b domain.Feedback, err error) {
	if b.Rating, err = o.optionalScore("rating"); err != nil {
		return b, err
	}
	if b.NPS, err = o.optionalScore("nps"); err != nil {
		return b, err
	}
	if b.OrderID, _, err = o.optionalString("order_id"); err != nil {
		return b, err
	}
	if b.Comment, _, err = o.optionalString("comment"); err != nil {
		return b, err
	}
	b.Channel, _, err = o.optionalString("channel")
	return b, err
}

func encodeFeedback(b []byte, body domain.Feedback) ([]byte, error) {
	var strs utf8Check
	strs.check("order_id", body.OrderID)
	strs.check("comment", body.Comment)
	strs.check("channel", body.Channel)
	b = appendEventString(b, `,"order_id":`, body.OrderID)
	if body.Rating != nil {
		b = append(b, `,"rating":`...)
		b = strconv.AppendInt(b, int64(*body.Rating), 10)
	}
	if body.NPS != nil {
		b = append(b, `,"nps":`...)
		b = strconv.AppendInt(b, int64(*body.NPS), 10)
	}
	b = appendEventString(b, `,"comment":`, body.Comment)
	return appendEventString(b, `,"channel":`, body.Channel), strs.err
}

func feedbackSize(body domain.Feedback) int {
	return len(body.OrderID) + len(body.Comment) + len(body.Channel) + 96
}

func digestFeedback(d *digest, b domain.Feedback) {
	d.str(b.OrderID)
	d.optInt(b.Rating)
	d.optInt(b.NPS)
	d.str(b.Comment)
	d.str(b.Channel)
}
