package streams

import (
	"strconv"

	"github.com/pointsledger/loyalty/domain"
)

// loyalty.member.scored.v1, published by the engine only, after a fit of
// the churn and value models, on loyalty.in.member-scored.<key> for each
// member whose risk band, value band or segment changed:
//
//	"data": {"member_id": "m-1", "fit_id": "17", "p_alive_ppm": 250000, "risk_band": "high",
//	         "predicted_value": 45000, "currency": "EUR", "value_band": "medium", "segment": "hibernating"}
//
// p_alive_ppm is the probability alive in parts per million; predicted_value
// is in minor units of currency.
var memberScored = newEventCodec("member-scored", 18, decodeScored, encodeScored, digestScored)

func decodeScored(o object) (b domain.Scored, err error) {
	if b.FitID, err = o.requiredString("fit_id"); err != nil {
		return b, err
	}
	if b.PAlivePPM, err = o.requiredInteger("p_alive_ppm"); err != nil {
		return b, err
	}
	if b.RiskBand, err = o.requiredString("risk_band"); err != nil {
		return b, err
	}
	if b.PredictedValue.Minor, err = o.requiredAmount("predicted_value"); err != nil {
		return b, err
	}
	if b.PredictedValue.Currency, err = o.requiredString("currency"); err != nil {
		return b, err
	}
	if b.ValueBand, err = o.requiredString("value_band"); err != nil {
		return b, err
	}
	b.Segment, err = o.requiredString("segment")
	return b, err
}

func encodeScored(b []byte, body domain.Scored) ([]byte, error) {
	var strs utf8Check
	for _, s := range []struct{ key, value string }{{"fit_id", body.FitID}, {"risk_band", body.RiskBand},
		{"currency", body.PredictedValue.Currency}, {"value_band", body.ValueBand}, {"segment", body.Segment}} {
		strs.check(s.key, s.value)
	}
	b = append(b, `,"fit_id":`...)
	b = appendJSONString(b, body.FitID, false)
	b = append(b, `,"p_alive_ppm":`...)
	b = strconv.AppendInt(b, body.PAlivePPM, 10)
	b = append(b, `,"risk_band":`...)
	b = appendJSONString(b, body.RiskBand, false)
	b = append(b, `,"predicted_value":`...)
	b = strconv.AppendInt(b, body.PredictedValue.Minor, 10)
	b = append(b, `,"currency":`...)
	b = appendJSONString(b, body.PredictedValue.Currency, false)
	b = append(b, `,"value_band":`...)
	b = appendJSONString(b, body.ValueBand, false)
	b = append(b, `,"segment":`...)
	return appendJSONString(b, body.Segment, false), strs.err
}

func digestScored(d *digest, b domain.Scored) {
	d.str(b.FitID)
	d.int(b.PAlivePPM)
	d.str(b.RiskBand)
	d.int(b.PredictedValue.Minor)
	d.str(b.PredictedValue.Currency)
	d.str(b.ValueBand)
	d.str(b.Segment)
}
