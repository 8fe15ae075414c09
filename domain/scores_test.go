package domain_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
)

func scores(fit string, ppm int64, risk, value, segment string, predicted int64) domain.Scores {
	return domain.Scores{FitID: fit, PAlivePPM: ppm, RiskBand: risk, PredictedValue: eur(predicted), ValueBand: value, Segment: segment}
}

func scored(id string, at time.Time, s domain.Scores) domain.Event {
	return event(id, at, domain.Scored{Scores: s})
}

func str(name, v string) domain.Attribute {
	return domain.Attribute{Name: name, Kind: domain.AttributeString, String: v}
}

func num(name string, v int64) domain.Attribute {
	return domain.Attribute{Name: name, Kind: domain.AttributeInt, Int: v}
}

func flag(name string, v bool) domain.Attribute {
	return domain.Attribute{Name: name, Kind: domain.AttributeBool, Bool: v}
}

func removed(name string) domain.Attribute { return domain.Attribute{Name: name} }

// attributes is an update of as, sorted by name as the codec gives it.
func attributes(id string, at time.Time, as ...domain.Attribute) domain.Event {
	as = slices.Clone(as)
	slices.SortFunc(as, func(a, b domain.Attribute) int { return strings.Compare(a.Name, b.Name) })
	return event(id, at, domain.AttributesUpdate{Attributes: as, Channel: "crm"})
}

func TestScoredAndAttributes(t *testing.T) {
	high := scores("fit-7", 200_000, domain.BandHigh, domain.BandHigh, "cant_lose", 45_000)
	runRuleCases(t, []ruleCase{
		{
			name:  "scores are recorded for a member on record",
			given: []domain.Event{enrolled(), firstBuy},
			when:  scored("s-1", t0, high),
			want:  []domain.Fact{domain.MemberScored{FactMeta: meta("s-1", t0), Scores: high}},
		},
		{
			name:   "not for a member the engine does not know",
			when:   scored("s-1", t0, high),
			reason: domain.ReasonUnknownMember, field: "member_id",
		},
		{
			name:   "nor when they are older than the member's",
			given:  []domain.Event{enrolled(), firstBuy, scored("s-2", t0.Add(day), high)},
			when:   scored("s-1", t0, high),
			reason: domain.ReasonInvalidTimestamp, field: "occurred_at",
		},
		{
			name:  "an update of attributes is recorded as sent",
			given: []domain.Event{enrolled(), attributes("a-0", t0, str("store", "s-1"), num("age", 40))},
			when:  attributes("a-1", t0.Add(day), removed("age"), flag("sms_opt_in", true)),
			want: []domain.Fact{domain.AttributesUpdated{FactMeta: meta("a-1", t0.Add(day)),
				Attributes: []domain.Attribute{removed("age"), flag("sms_opt_in", true)}}},
		},
		{
			name:   "attributes need a member on record",
			when:   attributes("a-1", t0, str("store", "s-1")),
			reason: domain.ReasonUnknownMember, field: "member_id",
		},
		{
			name:   "a member holds at most 32 attributes",
			given:  []domain.Event{enrolled(), attributes("a-0", t0, manyAttributes("a", 20)...)},
			when:   attributes("a-1", t0.Add(day), manyAttributes("b", 13)...),
			reason: domain.ReasonInvalidField, field: "attributes",
		},
		{
			name:  "removing some makes room for others",
			given: []domain.Event{enrolled(), attributes("a-0", t0, manyAttributes("a", 32)...)},
			when:  attributes("a-1", t0.Add(day), removed("a_00"), str("b", "x")),
			want: []domain.Fact{domain.AttributesUpdated{FactMeta: meta("a-1", t0.Add(day)),
				Attributes: []domain.Attribute{removed("a_00"), str("b", "x")}}},
		},
	})
}

func manyAttributes(prefix string, n int) []domain.Attribute {
	var as []domain.Attribute
	for i := range n {
		as = append(as, num(fmt.Sprintf("%s_%02d", prefix, i), int64(i)))
	}
	return as
}

func TestMemberKeepsScoresAndAttributes(t *testing.T) {
	p := testProgram()
	s := scores("fit-7", 640_000, domain.BandMedium, domain.BandLow, "at_risk", 1200)
	m := given(t, p, enrolled(), scored("s-1", t0, s),
		attributes("a-1", t0, str("store", "s-1"), num("age", 40), flag("vip", true)),
		attributes("a-2", t0.Add(day), removed("age"), str("store", "s-2"), removed("never_set")))
	if m.Scores != s || !m.ScoredAt.Equal(t0) {
		t.Errorf("scores = %+v at %v, want %+v at %v", m.Scores, m.ScoredAt, s, t0)
	}
	want := []domain.Attribute{str("store", "s-2"), flag("vip", true)}
	if fmt.Sprint(m.Attributes) != fmt.Sprint(want) {
		t.Errorf("attributes = %v, want %v", m.Attributes, want)
	}
	if !m.LastActivity.Equal(enrolAt) {
		t.Errorf("last activity = %v: scores and attributes are not the member's activity", m.LastActivity)
	}
	snap, err := m.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	back, err := domain.DecodeMember(snap)
	if err != nil {
		t.Fatal(err)
	}
	if back.Scores != s || fmt.Sprint(back.Attributes) != fmt.Sprint(want) {
		t.Errorf("snapshot gives %+v %v", back.Scores, back.Attributes)
	}
	if _, err := domain.Apply(m, event("x-1", t0.Add(2*day), domain.ErasureRequest{}), p); err != nil {
		t.Fatal(err)
	}
	if len(m.Attributes) != 0 {
		t.Errorf("an erased member keeps attributes %v", m.Attributes)
	}
}

func TestScoresAndAttributesAreValidated(t *testing.T) {
	ok := scores("fit-1", 500_000, domain.BandMedium, domain.BandLow, "loyal", 100)
	tests := []struct {
		name  string
		body  domain.EventBody
		field string
	}{
		{"no fit", domain.Scored{Scores: scores("", 1, "low", "low", "loyal", 1)}, "fit_id"},
		{"a probability above one", domain.Scored{Scores: scores("f", 1_000_001, "low", "low", "loyal", 1)}, "p_alive_ppm"},
		{"a negative probability", domain.Scored{Scores: scores("f", -1, "low", "low", "loyal", 1)}, "p_alive_ppm"},
		{"an unknown risk band", domain.Scored{Scores: scores("f", 1, "severe", "low", "loyal", 1)}, "risk_band"},
		{"an unknown value band", domain.Scored{Scores: scores("f", 1, "low", "", "loyal", 1)}, "value_band"},
		{"an unknown segment", domain.Scored{Scores: scores("f", 1, "low", "low", "whales", 1)}, "segment"},
		{"a negative value", domain.Scored{Scores: scores("f", 1, "low", "low", "loyal", -1)}, "predicted_value"},
		{"a value without currency", domain.Scored{Scores: domain.Scores{FitID: "f", RiskBand: "low", ValueBand: "low", Segment: "new"}}, "currency"},
		{"a fit id of 65 bytes", domain.Scored{Scores: scores(strings.Repeat("f", 65), 1, "low", "low", "loyal", 1)}, "fit_id"},
		{"no attributes", domain.AttributesUpdate{}, "attributes"},
		{"33 attributes", domain.AttributesUpdate{Attributes: manyAttributes("a", 33)}, "attributes"},
		{"a name with upper case", domain.AttributesUpdate{Attributes: []domain.Attribute{str("Store", "x")}}, "attributes"},
		{"a name with a dot", domain.AttributesUpdate{Attributes: []domain.Attribute{str("a.b", "x")}}, "attributes"},
		{"a name of 65 bytes", domain.AttributesUpdate{Attributes: []domain.Attribute{str(strings.Repeat("a", 65), "x")}}, "attributes"},
		{"a name of 64 KB", domain.AttributesUpdate{Attributes: []domain.Attribute{str(strings.Repeat("é", 32<<10), "x")}}, "attributes"},
		{"a name twice", domain.AttributesUpdate{Attributes: []domain.Attribute{str("a", "x"), num("a", 1)}}, "attributes"},
		{"a value of 257 bytes", domain.AttributesUpdate{Attributes: []domain.Attribute{str("a", strings.Repeat("v", 257))}}, "attributes.a"},
		{"a value with a control character", domain.AttributesUpdate{Attributes: []domain.Attribute{str("a", "x\x07")}}, "attributes.a"},
		{"a kind of no type", domain.AttributesUpdate{Attributes: []domain.Attribute{{Name: "a", Kind: "float"}}}, "attributes.a"},
	}
	if err := domain.Validate(event("s-1", t0, domain.Scored{Scores: ok}), t0); err != nil {
		t.Fatalf("valid scores: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rej := rejection(domain.Validate(event("e-1", t0, tt.body), t0))
			if rej == nil || rej.Field != tt.field {
				t.Errorf("Validate = %v, want a rejection of %s", rej, tt.field)
			} else if len(rej.Detail) > 200 {
				t.Errorf("the rejection's detail is %d bytes: it goes to headers and logs", len(rej.Detail))
			}
		})
	}
}

// Conditions on the scores and attributes, each in both directions: a
// purchase earns the rule's 30 points only when it holds.
func TestScoreAndAttributeConditions(t *testing.T) {
	risky := scored("s-1", t0.Add(-day), scores("fit-7", 250_000, domain.BandHigh, domain.BandMedium, "hibernating", 45_000))
	attrs := attributes("a-1", t0.Add(-day), str("store", "s-12"), num("age", 41), flag("sms_opt_in", true), str("age_band", "35-44"))
	history := []domain.Event{enrolled(), firstBuy, risky, attrs}
	tests := []struct {
		when  string
		given []domain.Event
		holds bool
	}{
		{`member.scored`, history, true},
		{`member.scored`, []domain.Event{enrolled(), firstBuy}, false},
		{`member.churn_risk >= 0.75`, history, true},
		{`member.churn_risk > 0.75`, history, false},
		{`member.churn_risk == 0`, []domain.Event{enrolled(), firstBuy}, true},
		{`member.risk_band == "high"`, history, true},
		{`member.risk_band == "high"`, []domain.Event{enrolled(), firstBuy}, false},
		{`member.value_band in ["medium", "high"]`, history, true},
		{`member.value_band == "high"`, history, false},
		{`member.predicted_value >= 45000`, history, true},
		{`member.predicted_value > 45000`, history, false},
		{`member.segment == "hibernating"`, history, true},
		{`member.segment == "champion"`, history, false},
		{`member.attributes.store == "s-12"`, history, true},
		{`member.attributes.store == "s-13"`, history, false},
		{`member.attributes.age >= 40`, history, true},
		{`member.attributes.age >= 42`, history, false},
		{`member.attributes.sms_opt_in`, history, true},
		{`member.attributes.sms_opt_in`, []domain.Event{enrolled(), firstBuy}, false},
		{`member.attributes.age_band startsWith "35"`, history, true},
		// Absent or of another type: the condition does not hold, and the
		// purchase still earns the rest of the program.
		{`member.attributes.age >= 40`, []domain.Event{enrolled(), firstBuy}, false},
		{`(member.attributes.age ?? 50) >= 40`, []domain.Event{enrolled(), firstBuy}, true},
		{`member.attributes.store > 3`, history, false},
		{`member.attributes.store == nil`, []domain.Event{enrolled(), firstBuy}, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s given %d events", tt.when, len(tt.given)), func(t *testing.T) {
			p := testProgram()
			withRules(onPurchase("winback", tt.when, domain.Award{Points: 30}))(p)
			if err := p.Validate(); err != nil {
				t.Fatal(err)
			}
			m := given(t, p, tt.given...)
			facts, err := domain.Decide(m, buy("e-1", t0, "o-1", eur(2000)), p)
			if err != nil {
				t.Fatal(err)
			}
			var base, rule int64
			for _, f := range facts {
				if e, ok := f.(domain.PointsEarned); ok && e.Rule == domain.RuleBase {
					base += e.Points
				} else if ok && e.Rule == "winback" {
					rule += e.Points
				}
			}
			if want := map[bool]int64{true: 30}[tt.holds]; rule != want || base == 0 {
				t.Errorf("rule points = %d (base %d), want %d", rule, base, want)
			}
		})
	}
}
