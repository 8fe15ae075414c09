package domain

import (
	"slices"
	"time"
)

// Risk and value bands, and the segments a fit puts members in
// (docs/analytics.md says how each is decided).
const (
	BandLow    = "low"
	BandMedium = "medium"
	BandHigh   = "high"
)

// Bands are the values of a risk or value band.
var Bands = []string{BandLow, BandMedium, BandHigh}

// Segments are the segments a fit puts members in.
var Segments = []string{"new", "one_time", "champion", "loyal", "at_risk", "cant_lose", "hibernating"}

// MaxFitIDBytes bounds a fit's id.
const MaxFitIDBytes = 64

// PartsPerMillion is the scale of Scores.PAlivePPM.
const PartsPerMillion = 1_000_000

// Scores are what a fit of the churn and value models said of a member. The
// probability is an integer (parts per million) so that every replay
// decides the same; zero Scores: never scored.
type Scores struct {
	FitID          string
	PAlivePPM      int64
	RiskBand       string
	PredictedValue Money
	ValueBand      string
	Segment        string
}

// Scored is the body of TypeMemberScored: the engine publishes it after a
// fit for each member whose band or segment changed (decision 033), so
// that rules see the scores through the input, as a replay does.
type Scored struct {
	Scores
}

func (Scored) EventType() EventType { return TypeMemberScored }

func (b Scored) validate(Event) error {
	s := b.Scores
	switch {
	case s.FitID == "":
		return reject(ReasonMissingField, "fit_id", "is required")
	case s.PAlivePPM < 0 || s.PAlivePPM > PartsPerMillion:
		return reject(ReasonInvalidField, "p_alive_ppm", "must be 0 to %d, got %d", PartsPerMillion, s.PAlivePPM)
	case !slices.Contains(Bands, s.RiskBand):
		return reject(ReasonInvalidField, "risk_band", "must be low, medium or high, got %q", s.RiskBand)
	case !slices.Contains(Bands, s.ValueBand):
		return reject(ReasonInvalidField, "value_band", "must be low, medium or high, got %q", s.ValueBand)
	case !slices.Contains(Segments, s.Segment):
		return reject(ReasonInvalidField, "segment", "must be one of %v, got %q", Segments, s.Segment)
	}
	return validateMoney("predicted_value", s.PredictedValue)
}

func (b Scored) stringFields(yield func(StringField) bool) bool {
	return yield(ident("fit_id", b.FitID, MaxFitIDBytes))
}

// decide records the scores of a known member. A score older than the one
// the member holds is refused: fits are published in order, so it is one
// delivered late, and it must not undo the newer one.
func (b Scored) decide(m *Member, meta FactMeta, _ time.Time, _ Event, _ *Program) ([]Fact, bool, error) {
	if !m.Known() {
		return nil, false, unknownMember()
	}
	if meta.OccurredAt.Before(m.ScoredAt) {
		return nil, false, reject(ReasonInvalidTimestamp, "occurred_at", "the member holds the scores of a later fit (%s, %s)",
			m.Scores.FitID, m.ScoredAt.UTC().Format(time.RFC3339))
	}
	return []Fact{MemberScored{FactMeta: meta, Scores: b.Scores}}, false, nil
}

// MemberScored records a member's scores. It is not activity: being scored
// is nothing the member did.
type MemberScored struct {
	FactMeta
	Scores
}

func (MemberScored) FactType() FactType { return FactMemberScored }
func (MemberScored) activity() bool     { return false }

// ChurnRiskPPM is the member's churn risk (1 - probability alive) in parts
// per million; 0 for a member never scored.
func (s Scores) ChurnRiskPPM() int64 {
	if s.FitID == "" {
		return 0
	}
	return PartsPerMillion - s.PAlivePPM
}
