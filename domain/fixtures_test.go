package domain_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
)

// Shared fixtures for the external tests of package domain: a program built
// as a literal (so these tests do not depend on package programs), event and
// fact builders, and a "given history, when event, then facts" runner.

const (
	memberID = "m-1"
	version  = "test-1"
)

var (
	enrolAt = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	t0      = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	day     = 24 * time.Hour
)

func ratio(num, den int64) domain.Ratio { return domain.Ratio{Num: num, Den: den} }

// testProgram is a valid program in EUR that accepts currencies of three
// different exponents besides EUR: USD (2), JPY (0) and KWD (3).
func testProgram() *domain.Program {
	return &domain.Program{
		Version:  version,
		Currency: "EUR",
		Earning: domain.Earning{
			Currencies: map[string]domain.CurrencyRule{
				"EUR": {PointsPerUnit: domain.One, ToProgramCurrency: domain.One},
				"USD": {PointsPerUnit: ratio(15, 10), ToProgramCurrency: ratio(92, 100)},
				"JPY": {PointsPerUnit: ratio(1, 100), ToProgramCurrency: ratio(61, 10000)},
				"KWD": {PointsPerUnit: ratio(3, 1), ToProgramCurrency: ratio(2985, 1000)},
			},
			CategoryMultipliers: map[string]domain.Ratio{
				"electronics": ratio(5, 10),
				"beauty":      ratio(2, 1),
			},
			FirstPurchaseBonus:  200,
			FeedbackBonus:       25,
			VisitBonus:          5,
			VisitBonusMaxPerDay: 2,
		},
		Tiers: []domain.Tier{
			{Name: "bronze", QualifyingSpend: 0, Multiplier: domain.One},
			{Name: "silver", QualifyingSpend: 500_00, Multiplier: ratio(125, 100)},
			{Name: "gold", QualifyingSpend: 1500_00, Multiplier: ratio(15, 10)},
		},
		MaxOrderAmount: 10_000_00,
		RefundWindow:   30 * day,
	}
}

func money(minor int64, currency string) domain.Money {
	return domain.Money{Minor: minor, Currency: currency}
}

func eur(minor int64) domain.Money { return money(minor, "EUR") }

func event(id string, at time.Time, body domain.EventBody) domain.Event {
	return domain.Event{ID: id, Type: body.EventType(), Source: "test", MemberID: memberID, OccurredAt: at, Body: body}
}

func enrolled() domain.Event {
	return event("e-enrol", enrolAt, domain.Enrolment{Channel: "app"})
}

func buy(id string, at time.Time, order string, total domain.Money, lines ...domain.LineItem) domain.Event {
	return event(id, at, domain.Purchase{OrderID: order, Total: total, Lines: lines, Channel: "web"})
}

func refund(id string, at time.Time, order string, amount domain.Money) domain.Event {
	return event(id, at, domain.Refund{OrderID: order, Amount: amount})
}

func refundLines(id string, at time.Time, order string, lines ...domain.RefundLine) domain.Event {
	return event(id, at, domain.Refund{OrderID: order, Lines: lines})
}

func visit(id string, at time.Time) domain.Event {
	return event(id, at, domain.Visit{Channel: "store-1"})
}

func intp(v int) *int { return &v }

func meta(id string, at time.Time) domain.FactMeta {
	return domain.FactMeta{MemberID: memberID, EventID: id, OccurredAt: at}
}

func earned(id string, at time.Time, points int64, rule, order string) domain.PointsEarned {
	return domain.PointsEarned{FactMeta: meta(id, at), Points: points, Rule: rule, OrderID: order, ProgramVersion: version}
}

func reversed(id string, at time.Time, points int64, order string) domain.PointsReversed {
	return domain.PointsReversed{FactMeta: meta(id, at), Points: points, Rule: domain.RuleRefund, OrderID: order, ProgramVersion: version}
}

func firstTier(id string, at time.Time) domain.TierChanged {
	return domain.TierChanged{FactMeta: meta(id, at), From: "", To: "bronze", Reason: domain.TierReasonEnrolment}
}

func upgrade(id string, at time.Time, from, to string) domain.TierChanged {
	return domain.TierChanged{FactMeta: meta(id, at), From: from, To: to, Reason: domain.TierReasonQualifyingSpend}
}

// given folds history into a new member, failing the test if any event is
// rejected: history is the "given" part of a rule test and must be valid.
func given(t testing.TB, p *domain.Program, history ...domain.Event) *domain.Member {
	t.Helper()
	m := domain.NewMember(memberID)
	for _, e := range history {
		if err := domain.Validate(e, e.OccurredAt); err != nil {
			t.Fatalf("given event %s: Validate: %v", e.ID, err)
		}
		if _, err := domain.Apply(m, e, p); err != nil {
			t.Fatalf("given event %s: Apply: %v", e.ID, err)
		}
	}
	return m
}

// rejection returns the *RejectedError in err's chain, or nil.
func rejection(err error) *domain.RejectedError {
	var rej *domain.RejectedError
	if errors.As(err, &rej) {
		return rej
	}
	return nil
}

func formatFacts(facts []domain.Fact) string {
	var b strings.Builder
	for _, f := range facts {
		fmt.Fprintf(&b, "\n\t%T%+v", f, f)
	}
	if len(facts) == 0 {
		b.WriteString(" (none)")
	}
	return b.String()
}

func checkFacts(t testing.TB, got, want []domain.Fact) {
	t.Helper()
	got = withoutProgress(got, want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("facts:\ngot:%s\nwant:%s", formatFacts(got), formatFacts(want))
	}
}

// ruleCase is one "given history, when event, then facts or rejection" case.
type ruleCase struct {
	name    string
	program func(p *domain.Program) // changes to testProgram, if any
	given   []domain.Event
	when    domain.Event
	want    []domain.Fact
	reason  domain.Reason // when set, the event must be rejected with it
	field   string
}

// runRuleCases checks each case through Decide and Apply. Decide must not
// change the member; Apply must return the same facts, and leave the member
// unchanged on rejection. Twins built from the same history are compared
// with reflect.DeepEqual, which also sees the unexported state.
func runRuleCases(t *testing.T, cases []ruleCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := testProgram()
			if tc.program != nil {
				tc.program(p)
			}
			if err := p.Validate(); err != nil {
				t.Fatalf("test program is invalid: %v", err)
			}
			if err := domain.Validate(tc.when, tc.when.OccurredAt); err != nil {
				t.Fatalf("event under test does not pass Validate: %v", err)
			}
			m := given(t, p, tc.given...)
			twin := given(t, p, tc.given...)

			decided, err := domain.Decide(m, tc.when, p)
			checkOutcome(t, "Decide", decided, err, tc)
			if !reflect.DeepEqual(m, twin) {
				t.Errorf("Decide changed the member:\ngot  %+v\nwant %+v", m, twin)
			}

			applied, err := domain.Apply(m, tc.when, p)
			checkOutcome(t, "Apply", applied, err, tc)
			if tc.reason != "" && !reflect.DeepEqual(m, twin) {
				t.Errorf("rejected Apply changed the member:\ngot  %+v\nwant %+v", m, twin)
			}
		})
	}
}

// withoutProgress drops the TierProgress facts of got unless want has
// some: a case checks the tier outlook only when it says what it should be
// (TestTierProgress does; most cases are about something else).
func withoutProgress(got, want []domain.Fact) []domain.Fact {
	for _, f := range want {
		if _, ok := f.(domain.TierProgress); ok {
			return got
		}
	}
	var kept []domain.Fact
	for _, f := range got {
		if _, ok := f.(domain.TierProgress); !ok {
			kept = append(kept, f)
		}
	}
	return kept
}

func checkOutcome(t *testing.T, op string, got []domain.Fact, err error, tc ruleCase) {
	t.Helper()
	if tc.reason == "" {
		if err != nil {
			t.Fatalf("%s: unexpected error %v", op, err)
		}
		checkFacts(t, got, tc.want)
		return
	}
	if !errors.Is(err, domain.ErrRejected) {
		t.Fatalf("%s: got error %v, facts%s; want a rejection (%s)", op, err, formatFacts(got), tc.reason)
	}
	rej := rejection(err)
	if rej == nil {
		t.Fatalf("%s: error %v is not a *RejectedError", op, err)
	}
	if got, want := rej.Reason, tc.reason; got != want {
		t.Errorf("%s: reason = %q, want %q (%v)", op, got, want, err)
	}
	if got, want := rej.Field, tc.field; got != want {
		t.Errorf("%s: field = %q, want %q (%v)", op, got, want, err)
	}
	if got != nil {
		t.Errorf("%s: rejected event returned facts:%s", op, formatFacts(got))
	}
}
