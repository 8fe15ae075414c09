package programs_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/programs"
)

const day = 24 * time.Hour

// base is a small valid program; bad cases below each break one thing in it.
const base = `version: "t1"
currency: EUR
max_order_amount: "1000.00"
refund_window_days: 30
earning:
  currencies:
    EUR: {points_per_unit: "1"}
    USD: {points_per_unit: "2", rate: "0.9"}
  category_multipliers: {books: "0.5"}
  per_order_cap: 100
  first_purchase_bonus: 10
  feedback_bonus: 5
  visit_bonus: {points: 1, max_per_day: 2}
tiers:
  - {name: bronze, qualifying_spend: "0", multiplier: "1"}
  - {name: silver, qualifying_spend: "100.00", multiplier: "1.25"}
`

// baseProgram is what base reads as.
func baseProgram() *domain.Program {
	return &domain.Program{
		Version:        "t1",
		Currency:       "EUR",
		MaxOrderAmount: 1000_00,
		RefundWindow:   30 * day,
		Earning: domain.Earning{
			Currencies: map[string]domain.CurrencyRule{
				"EUR": {PointsPerUnit: domain.Ratio{Num: 1, Den: 1}, ToProgramCurrency: domain.One},
				"USD": {PointsPerUnit: domain.Ratio{Num: 2, Den: 1}, ToProgramCurrency: domain.Ratio{Num: 9, Den: 10}},
			},
			CategoryMultipliers: map[string]domain.Ratio{"books": {Num: 5, Den: 10}},
			PerOrderCap:         100,
			FirstPurchaseBonus:  10,
			FeedbackBonus:       5,
			VisitBonus:          1,
			VisitBonusMaxPerDay: 2,
		},
		Redemption: domain.Redemption{CancelDays: programs.DefaultCancelDays},
		Tiers: []domain.Tier{
			{Name: "bronze", QualifyingSpend: 0, Multiplier: domain.Ratio{Num: 1, Den: 1}},
			{Name: "silver", QualifyingSpend: 100_00, Multiplier: domain.Ratio{Num: 125, Den: 100}},
		},
	}
}

// edit returns base with one exact piece of text replaced; it fails the test
// when the text is not in base, so cases cannot silently test nothing.
func edit(t *testing.T, from, to string) []byte {
	t.Helper()
	if !strings.Contains(base, from) {
		t.Fatalf("base has no %q", from)
	}
	return []byte(strings.Replace(base, from, to, 1))
}

func TestParseGood(t *testing.T) {
	tests := []struct {
		name     string
		from, to string // edit of base; both empty: base itself
		want     func(p *domain.Program)
	}{
		{name: "base"},
		{
			name: "plain YAML numbers read exactly like strings",
			from: `max_order_amount: "1000.00"`, to: `max_order_amount: 1000.00`,
		},
		{
			name: "ratios as YAML numbers",
			from: `USD: {points_per_unit: "2", rate: "0.9"}`, to: `USD: {points_per_unit: 2, rate: 0.9}`,
		},
		{
			name: "money without decimals",
			from: `qualifying_spend: "100.00"`, to: `qualifying_spend: 100`,
		},
		{
			name: "block style",
			from: `  - {name: silver, qualifying_spend: "100.00", multiplier: "1.25"}`,
			to:   "  - name: silver    # comment\n    qualifying_spend: 100.00\n    multiplier: 1.25\n",
		},
		{
			name: "rate of the program currency may be given as 1",
			from: `EUR: {points_per_unit: "1"}`, to: `EUR: {points_per_unit: "1", rate: 1}`,
		},
		{
			name: "optional fields left out take their defaults",
			from: "  per_order_cap: 100\n  first_purchase_bonus: 10\n  feedback_bonus: 5\n  visit_bonus: {points: 1, max_per_day: 2}\n",
			to:   "",
			want: func(p *domain.Program) {
				p.Earning.PerOrderCap, p.Earning.FirstPurchaseBonus, p.Earning.FeedbackBonus = 0, 0, 0
				p.Earning.VisitBonus, p.Earning.VisitBonusMaxPerDay = 0, 0
			},
		},
		{
			name: "member care settings",
			from: "tiers:", to: "adjustments: {max_points: 5000, allow_negative: true}\nredemption: {cancel_days: 0}\nreturns: {policy: within_balance, debt_from_earnings: true}\ntiers:",
			want: func(p *domain.Program) {
				p.Adjustments = domain.Adjustments{MaxPoints: 5000, AllowNegative: true}
				p.Redemption.CancelDays = 0
				p.Returns = domain.Returns{Policy: domain.ReturnsWithinBalance, DebtFromEarnings: true}
			},
		},
		{
			name: "null means left out",
			from: `max_order_amount: "1000.00"`, to: `max_order_amount: ~`,
			want: func(p *domain.Program) { p.MaxOrderAmount = 0 },
		},
		{
			name: "no category multipliers",
			from: `  category_multipliers: {books: "0.5"}` + "\n", to: "",
			want: func(p *domain.Program) { p.Earning.CategoryMultipliers = map[string]domain.Ratio{} },
		},
		{
			name: "aliases",
			from: `EUR: {points_per_unit: "1"}`, to: `EUR: {points_per_unit: &one "1"}` + "\n    GBP: {points_per_unit: *one}",
			want: func(p *domain.Program) {
				p.Earning.Currencies["GBP"] = domain.CurrencyRule{PointsPerUnit: domain.Ratio{Num: 1, Den: 1}, ToProgramCurrency: domain.One}
			},
		},
		{
			name: "a program currency with three decimals",
			from: "currency: EUR\nmax_order_amount: \"1000.00\"", to: "currency: KWD\nmax_order_amount: \"1000.125\"",
			want: func(p *domain.Program) {
				p.Currency, p.MaxOrderAmount = "KWD", 1000_125
				p.Tiers[1].QualifyingSpend = 100_000
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte(base)
			if tt.from != "" {
				data = edit(t, tt.from, tt.to)
			}
			got, err := programs.Parse(data)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			want := baseProgram()
			if tt.want != nil {
				tt.want(want)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Parse got\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

// experimentFile is base with a rule and an experiment on it whose second
// arm is arm.
func experimentFile(arm string) string {
	return strings.Replace(base, "tiers:", `  rules:
    - {id: winback-bonus, when: 'member.risk_band == "high"', award: {points: 300}}
tiers:`, 1) + `experiments:
  - id: winback-2027q1
    description: does a bonus bring lapsing members back?
    rules: [winback-bonus]
    arms:
      - {name: control, share: 10}
      - ` + arm + `
    from: 2027-01-01
    to: 2027-04-01
`
}

func TestParseExperiments(t *testing.T) {
	p, err := programs.Parse([]byte(experimentFile("{name: treatment, share: 90}")))
	if err != nil {
		t.Fatal(err)
	}
	want := []domain.Experiment{{ID: "winback-2027q1", Description: "does a bonus bring lapsing members back?",
		Rules: []string{"winback-bonus"}, Arms: []domain.Arm{{Name: "control", Share: 10}, {Name: "treatment", Share: 90}},
		From: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2027, 4, 1, 0, 0, 0, 0, time.UTC)}}
	if !reflect.DeepEqual(p.Experiments, want) {
		t.Errorf("experiments read as\n%+v\nwant\n%+v", p.Experiments, want)
	}
	placebo, err := programs.Parse([]byte(experimentFile("{name: treatment, share: 90, rules: []}")))
	if err != nil {
		t.Fatal(err)
	}
	if r := placebo.Experiments[0].Arms[1].Rules; r == nil || len(r) != 0 {
		t.Errorf("an arm given rules: [] reads %#v, want an empty list (no rules), not nil (all of them)", r)
	}
}

func TestParseBad(t *testing.T) {
	tests := []struct {
		name     string
		from, to string
		data     string // used instead of an edit of base when set
		// wantField is the field the error must name (as a *domain.FieldError
		// and in the message); wantText is looked for in the message instead
		// for problems with the YAML as a whole.
		wantField string
		wantText  string
	}{
		// Unknown keys, named with their path and line.
		{name: "unknown top-level key", from: "tiers:", to: "bogus: 1\ntiers:", wantField: "bogus", wantText: "unknown key (line 14)"},
		{name: "misspelt key", from: "per_order_cap", to: "per_order_limit", wantField: "earning.per_order_limit", wantText: "(line 10)"},
		{name: "unknown key in a flow mapping", from: "max_per_day: 2}", to: "max_per_day: 2, per_week: 3}", wantField: "earning.visit_bonus.per_week", wantText: "line 13"},
		{name: "unknown key in a currency", from: `rate: "0.9"`, to: `rate: "0.9", fee: 1`, wantField: "earning.currencies.USD.fee"},
		{name: "unknown key in a tier", from: "{name: silver,", to: "{name: silver, colour: grey,", wantField: "tiers[1].colour", wantText: "line 16"},

		// Experiments.
		{name: "an experiment's share as a word", data: experimentFile("{name: treatment, share: most}"), wantField: "experiments[0].arms[1].share"},
		{name: "an arm's rules as a mapping", data: experimentFile("{name: treatment, share: 90, rules: {a: 1}}"), wantField: "experiments[0].arms[1].rules"},
		{name: "an unknown key in an arm", data: experimentFile("{name: treatment, share: 90, colour: red}"), wantField: "experiments[0].arms[1].colour"},
		{name: "arms short of 100", data: experimentFile("{name: treatment, share: 80}"), wantField: "experiments[0].arms"},
		{name: "an arm given a rule not under test", data: experimentFile("{name: treatment, share: 90, rules: [other]}"), wantField: "experiments[0].arms[1].rules[0]"},

		// Pending points.
		{name: "pending days are a word", data: "earning:\n  pending: {days: two}\n", wantField: "earning.pending.days"},
		{name: "pending for years", data: "earning:\n  pending: {days: 999}\n", wantField: "earning.pending.days"},
		{name: "confirmation without days", data: "earning:\n  pending: {confirmation: true}\n", wantField: "earning.pending.confirmation"},
		{name: "an unknown returns policy", data: "returns: {policy: never}\n", wantField: "returns.policy"},
		{name: "an unknown order bonuses setting", data: "returns: {order_bonuses: clawback}\n", wantField: "returns.order_bonuses", wantText: `must be reverse or keep, got "clawback"`},
		{name: "order bonuses as a boolean", data: "returns: {order_bonuses: false}\n", wantField: "returns.order_bonuses"},

		// Member care.
		{name: "debt from earnings as a word", data: "returns: {debt_from_earnings: sometimes}\n", wantField: "returns.debt_from_earnings"},
		{name: "debt from earnings without debt", data: "returns: {debt_from_earnings: true}\n", wantField: "returns.debt_from_earnings", wantText: "within_balance"},
		{name: "negative adjustment limit", data: "adjustments: {max_points: -5}\n", wantField: "adjustments.max_points"},
		{name: "adjustment limit beyond any event", data: "adjustments: {max_points: 99999999999999999}\n", wantField: "adjustments.max_points"},
		{name: "negative balances as a number", data: "adjustments: {max_points: 5, allow_negative: 1}\n", wantField: "adjustments.allow_negative"},
		{name: "an unknown adjustments key", data: "adjustments: {max_points: 5, approver: boss}\n", wantField: "adjustments.approver"},
		{name: "cancellations for years", data: "redemption: {cancel_days: 400}\n", wantField: "redemption.cancel_days"},
		{name: "cancellation days negative", data: "redemption: {cancel_days: -1}\n", wantField: "redemption.cancel_days"},

		// Vouchers.
		{name: "a voucher without its days", data: "redemption:\n  rewards:\n    - {id: gift, points: 5, voucher: {}}\n", wantField: "redemption.rewards[0].voucher.valid_days"},
		{name: "a voucher for ever", data: "redemption:\n  rewards:\n    - {id: gift, points: 5, voucher: {valid_days: 99999}}\n", wantField: "redemption.rewards[0].voucher.valid_days"},
		{name: "a voucher of no days", data: "redemption:\n  rewards:\n    - {id: gift, points: 5, voucher: {valid_days: 0}}\n", wantField: "redemption.rewards[0].voucher.valid_days"},
		{name: "voucher days are a word", data: "redemption:\n  rewards:\n    - {id: gift, points: 5, voucher: {valid_days: ninety}}\n", wantField: "redemption.rewards[0].voucher.valid_days"},
		{name: "an unknown voucher key", data: "redemption:\n  rewards:\n    - {id: gift, points: 5, voucher: {valid_days: 9, value: 10}}\n", wantField: "redemption.rewards[0].voucher.value"},
		{name: "a voucher as a word", data: "redemption:\n  rewards:\n    - {id: gift, points: 5, voucher: yes}\n", wantField: "redemption.rewards[0].voucher"},

		// The reward catalogue.
		{name: "a reward without points", data: "redemption:\n  rewards:\n    - {id: mug}\n", wantField: "redemption.rewards[0].points"},
		{name: "a reward for an unknown tier", data: "redemption:\n  rewards:\n    - {id: mug, points: 5, tiers: [platinum]}\n", wantField: "redemption.rewards[0].tiers[0]"},
		{name: "a reward's tiers are a word", data: "redemption:\n  rewards:\n    - {id: mug, points: 5, tiers: gold}\n", wantField: "redemption.rewards[0].tiers"},
		{name: "an unknown key in a reward", data: "redemption:\n  rewards:\n    - {id: mug, points: 5, price: 3}\n", wantField: "redemption.rewards[0].price"},
		{name: "direct_points is a number", data: "redemption:\n  direct_points: 5\n", wantField: "redemption.direct_points"},

		// Values of the wrong type name the field.
		{name: "version is a mapping", from: `version: "t1"`, to: `version: {v: 1}`, wantField: "version", wantText: "must be a string, got a mapping (line 1)"},
		{name: "currency is a list", from: "currency: EUR", to: "currency: [EUR]", wantField: "currency"},
		{name: "max_order_amount is a word", from: `"1000.00"`, to: `lots`, wantField: "max_order_amount", wantText: `got "lots"`},
		{name: "max_order_amount is a boolean", from: `"1000.00"`, to: `true`, wantField: "max_order_amount", wantText: "got a boolean"},
		{name: "max_order_amount in exponent form", from: `"1000.00"`, to: `1e3`, wantField: "max_order_amount"},
		{name: "refund_window_days is a decimal", from: "refund_window_days: 30", to: "refund_window_days: 30.5", wantField: "refund_window_days", wantText: "whole number"},
		{name: "refund_window_days is a word", from: "refund_window_days: 30", to: "refund_window_days: thirty", wantField: "refund_window_days"},
		{name: "refund_window_days is huge", from: "refund_window_days: 30", to: "refund_window_days: 99999999999999999999", wantField: "refund_window_days"},
		{name: "earning is a number", data: "version: x\nearning: 5\n", wantField: "earning", wantText: "must be a mapping, got an int (line 2)"},
		{name: "currencies is a list", data: "earning:\n  currencies: [EUR]\n", wantField: "earning.currencies", wantText: "must be a mapping, got a sequence"},
		{name: "a currency is a number", from: `EUR: {points_per_unit: "1"}`, to: "EUR: 1", wantField: "earning.currencies.EUR"},
		{name: "points_per_unit is a word", from: `points_per_unit: "2"`, to: `points_per_unit: two`, wantField: "earning.currencies.USD.points_per_unit", wantText: `got "two"`},
		{name: "category multiplier is a boolean", from: `books: "0.5"`, to: "books: yes", wantField: "earning.category_multipliers.books"},
		{name: "category multiplier is a tagged value", from: `books: "0.5"`, to: "books: !!float 0.5", wantField: "earning.category_multipliers.books", wantText: "tags are not supported"},
		{name: "per_order_cap is a decimal", from: "per_order_cap: 100", to: "per_order_cap: 100.5", wantField: "earning.per_order_cap"},
		{name: "per_order_cap is hexadecimal", from: "per_order_cap: 100", to: "per_order_cap: 0x64", wantField: "earning.per_order_cap"},
		{name: "per_order_cap is absurd", from: "per_order_cap: 100", to: "per_order_cap: 10000000000000", wantField: "earning.per_order_cap", wantText: "from 0 to 1000000000000"},
		{name: "feedback_bonus is a list", from: "feedback_bonus: 5", to: "feedback_bonus: [5]", wantField: "earning.feedback_bonus"},
		{name: "visit_bonus is a number", from: "visit_bonus: {points: 1, max_per_day: 2}", to: "visit_bonus: 1", wantField: "earning.visit_bonus"},
		{name: "visit_bonus.max_per_day is a word", from: "max_per_day: 2", to: "max_per_day: once", wantField: "earning.visit_bonus.max_per_day"},
		{name: "tiers is a mapping", data: "tiers: {bronze: 0}\n", wantField: "tiers", wantText: "must be a sequence, got a mapping"},
		{name: "a tier is a string", from: `  - {name: silver, qualifying_spend: "100.00", multiplier: "1.25"}`, to: "  - silver", wantField: "tiers[1]"},
		{name: "tier multiplier is a block scalar", from: `  - {name: silver, qualifying_spend: "100.00", multiplier: "1.25"}`, to: "  - name: silver\n    qualifying_spend: 100\n    multiplier: |\n      1.25\n", wantField: "tiers[1].multiplier", wantText: "block scalar"},

		// Values the program cannot use.
		{name: "version missing", from: `version: "t1"` + "\n", to: "", wantField: "version", wantText: "is required"},
		{name: "currency missing", from: "currency: EUR\n", to: "", wantField: "currency"},
		{name: "currency not ISO 4217", from: "currency: EUR", to: "currency: EURO", wantField: "currency", wantText: `"EURO" is not an ISO 4217 currency code`},
		{name: "max_order_amount has more decimals than EUR", from: `"1000.00"`, to: `"1000.005"`, wantField: "max_order_amount", wantText: "more decimal places than EUR has (2)"},
		{name: "decimals in a JPY program", data: strings.Replace(strings.Replace(base, "currency: EUR", "currency: JPY", 1), `"1000.00"`, `"1000.5"`, 1), wantField: "max_order_amount", wantText: "more decimal places than JPY has (0)"},
		{name: "max_order_amount negative", from: `"1000.00"`, to: `"-1.00"`, wantField: "max_order_amount", wantText: "must not be negative"},
		{name: "max_order_amount beyond any order", from: `"1000.00"`, to: `"99999999999999.00"`, wantField: "max_order_amount"},
		{name: "refund_window_days missing", from: "refund_window_days: 30\n", to: "", wantField: "refund_window_days"},
		{name: "refund_window_days zero", from: "refund_window_days: 30", to: "refund_window_days: 0", wantField: "refund_window_days", wantText: "between 1 and 730 days"},
		{name: "refund_window_days too long", from: "refund_window_days: 30", to: "refund_window_days: 731", wantField: "refund_window_days"},
		{name: "no currencies", from: "  currencies:\n    EUR: {points_per_unit: \"1\"}\n    USD: {points_per_unit: \"2\", rate: \"0.9\"}\n", to: "  currencies: {}\n", wantField: "earning.currencies"},
		{name: "accepted currency not ISO 4217", from: "USD:", to: "usd:", wantField: "earning.currencies.usd"},
		{name: "points_per_unit missing", from: `EUR: {points_per_unit: "1"}`, to: "EUR: {}", wantField: "earning.currencies.EUR.points_per_unit", wantText: "is required"},
		{name: "points_per_unit negative", from: `points_per_unit: "2"`, to: `points_per_unit: "-2"`, wantField: "earning.currencies.USD.points_per_unit", wantText: "must not be negative"},
		{name: "points_per_unit with 7 decimals", from: `points_per_unit: "2"`, to: `points_per_unit: "0.0000001"`, wantField: "earning.currencies.USD.points_per_unit"},
		{name: "rate zero", from: `rate: "0.9"`, to: `rate: "0"`, wantField: "earning.currencies.USD.rate", wantText: "must be greater than zero"},
		{name: "rate of the program currency not 1", from: `EUR: {points_per_unit: "1"}`, to: `EUR: {points_per_unit: "1", rate: "1.1"}`, wantField: "earning.currencies.EUR.rate"},
		{name: "category multiplier negative", from: `books: "0.5"`, to: `books: "-0.5"`, wantField: "earning.category_multipliers.books"},
		{name: "category multiplier empty", from: `books: "0.5"`, to: `books: ""`, wantField: "earning.category_multipliers.books"},
		{name: "per_order_cap negative", from: "per_order_cap: 100", to: "per_order_cap: -1", wantField: "earning.per_order_cap"},
		{name: "first_purchase_bonus negative", from: "first_purchase_bonus: 10", to: "first_purchase_bonus: -10", wantField: "earning.first_purchase_bonus"},
		{name: "feedback_bonus negative", from: "feedback_bonus: 5", to: "feedback_bonus: -5", wantField: "earning.feedback_bonus"},
		{name: "visit_bonus.points negative", from: "points: 1", to: "points: -1", wantField: "earning.visit_bonus.points"},
		{name: "visit_bonus.max_per_day negative", from: "max_per_day: 2", to: "max_per_day: -2", wantField: "earning.visit_bonus.max_per_day"},
		{name: "no tiers", data: strings.SplitAfter(base, "tiers:")[0] + " []\n", wantField: "tiers", wantText: "at least one tier"},
		{name: "first tier above 0", from: `qualifying_spend: "0"`, to: `qualifying_spend: "1.00"`, wantField: "tiers[0].qualifying_spend", wantText: "must start at 0"},
		{name: "tiers out of order", from: `qualifying_spend: "100.00"`, to: `qualifying_spend: "0.00"`, wantField: "tiers[1].qualifying_spend"},
		{name: "tier multiplier zero", from: `multiplier: "1.25"`, to: `multiplier: "0"`, wantField: "tiers[1].multiplier", wantText: "tiers[1].multiplier: must be at least 1 (a tier adds points to the base, it never takes them away)"},
		{name: "tier name twice", from: "name: silver", to: "name: bronze", wantField: "tiers[1].name", wantText: `"bronze" is defined twice`},
		{name: "tier name missing", from: "name: silver, ", to: "", wantField: "tiers[1].name"},
		{name: "tier qualifying_spend missing", from: `qualifying_spend: "100.00", `, to: "", wantField: "tiers[1].qualifying_spend", wantText: "is required"},
		{name: "tier multiplier missing", from: `, multiplier: "1.25"`, to: "", wantField: "tiers[1].multiplier", wantText: "is required"},
		{name: "tier qualifying_spend with 3 decimals", from: `"100.00"`, to: `"100.001"`, wantField: "tiers[1].qualifying_spend"},

		// Problems with the YAML as a whole.
		{name: "empty file", data: "", wantText: "program: is empty"},
		{name: "only a comment", data: "# nothing\n", wantText: "program: is empty"},
		{name: "two documents", data: base + "---\n" + base, wantText: "holds 2 YAML documents"},
		{name: "not a mapping", data: "- a\n- b\n", wantText: "line 1: the document must be a mapping"},
		{name: "a string", data: "hello\n", wantText: "the document must be a mapping"},
		{name: "duplicate key", from: "refund_window_days: 30", to: "refund_window_days: 30\nrefund_window_days: 60", wantText: `line 5: mapping key "refund_window_days" already defined`},
		{name: "syntax error", data: "version: [1\n", wantText: "program: line 1:"},
		{name: "bad indentation", data: "version: x\n  currency: EUR\n", wantText: "program: line "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte(tt.data)
			if tt.data == "" && tt.from != "" {
				data = edit(t, tt.from, tt.to)
			}
			p, err := programs.Parse(data)
			if err == nil {
				t.Fatalf("Parse accepted it: %+v", p)
			}
			if p != nil {
				t.Errorf("Parse returned a program with its error: %+v", p)
			}
			var perr *programs.Error
			if !errors.As(err, &perr) {
				t.Fatalf("error %T is not a *programs.Error: %v", err, err)
			}
			msg := err.Error()
			if tt.wantField != "" {
				if got := fieldsOf(err); !slices.Contains(got, tt.wantField) {
					t.Errorf("error names fields %q, want %q in them; error:\n%s", got, tt.wantField, msg)
				}
				if want := "program: " + tt.wantField + ": "; !strings.Contains(msg, want) {
					t.Errorf("error\n%s\ndoes not contain %q", msg, want)
				}
			}
			if !strings.Contains(msg, tt.wantText) {
				t.Errorf("error\n%s\ndoes not contain %q", msg, tt.wantText)
			}
			for _, line := range strings.Split(msg, "\n") {
				if !strings.HasPrefix(line, "program: ") {
					t.Errorf("error line %q does not name the program", line)
				}
			}
		})
	}
}

// fieldsOf lists the Field of every *domain.FieldError in err.
func fieldsOf(err error) []string {
	var fields []string
	var walk func(error)
	walk = func(err error) {
		var fe *domain.FieldError
		if errors.As(err, &fe) && fe == err {
			fields = append(fields, fe.Field)
			return
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return fields
}

func TestParseReportsEveryProblem(t *testing.T) {
	data := `version: ""
currency: EUR
refund_window_days: 0
bogus_ignored_until_fixed: 1
`
	// An unknown key stops decoding: it alone is reported.
	_, err := programs.Parse([]byte(data))
	if got, want := fieldsOf(err), []string{"bogus_ignored_until_fixed"}; !slices.Equal(got, want) {
		t.Errorf("with an unknown key: fields %q, want %q", got, want)
	}

	data = `version: ""
currency: EUR
max_order_amount: "10.001"
refund_window_days: 0
earning:
  currencies:
    EUR: {points_per_unit: "-1"}
    GBP: {rate: "0"}
  category_multipliers: {toys: x}
  per_order_cap: -1
tiers:
  - {name: bronze, qualifying_spend: "5", multiplier: "1"}
  - {name: bronze, qualifying_spend: "1", multiplier: "0"}
`
	_, err = programs.Parse([]byte(data))
	want := []string{
		"earning.category_multipliers.toys",
		"earning.currencies.EUR.points_per_unit",
		"earning.currencies.GBP.points_per_unit",
		"earning.currencies.GBP.rate",
		"earning.per_order_cap",
		"max_order_amount",
		"refund_window_days",
		"tiers[0].qualifying_spend",
		"tiers[1].multiplier",
		"tiers[1].name",
		"tiers[1].qualifying_spend",
		"version",
	}
	if got := fieldsOf(err); !slices.Equal(got, want) {
		t.Errorf("fields\n%q\nwant\n%q\nerror:\n%v", got, want, err)
	}
	if got, want := strings.Count(err.Error(), "\n")+1, len(want); got != want {
		t.Errorf("error has %d lines, want one per problem (%d):\n%v", got, want, err)
	}
}

func TestLoad(t *testing.T) {
	got, err := programs.Load(filepath.Join("testdata", "jpy.yaml"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := &domain.Program{
		Version:        "jp-2026",
		Currency:       "JPY",
		MaxOrderAmount: 5_000_000,
		RefundWindow:   30 * day,
		Earning: domain.Earning{
			Currencies: map[string]domain.CurrencyRule{
				"JPY": {PointsPerUnit: domain.Ratio{Num: 1, Den: 100}, ToProgramCurrency: domain.One},
				"KWD": {PointsPerUnit: domain.Ratio{Num: 3, Den: 1}, ToProgramCurrency: domain.Ratio{Num: 4805, Den: 10}},
			},
			CategoryMultipliers: map[string]domain.Ratio{"books": {Num: 15, Den: 10}},
			VisitBonus:          10,
		},
		Redemption: domain.Redemption{CancelDays: programs.DefaultCancelDays}, // not in the file: the default
		Tiers: []domain.Tier{
			{Name: "regular", QualifyingSpend: 0, Multiplier: domain.Ratio{Num: 1, Den: 1}},
			{Name: "premium", QualifyingSpend: 100_000, Multiplier: domain.Ratio{Num: 2, Den: 1}},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load got\n%+v\nwant\n%+v", got, want)
	}
}

func TestLoadErrorsNameTheFile(t *testing.T) {
	path := filepath.Join("testdata", "invalid.yaml")
	_, err := programs.Load(path)
	if err == nil {
		t.Fatal("Load accepted testdata/invalid.yaml")
	}
	want := []string{
		"program testdata/invalid.yaml: earning.currencies.GBP.rate: must be greater than zero",
		"program testdata/invalid.yaml: earning.per_order_cap: must not be negative, got -5",
		"program testdata/invalid.yaml: refund_window_days: must be between 1 and 730 days",
		"program testdata/invalid.yaml: tiers[1].multiplier: must be at least 1 (a tier adds points to the base, it never takes them away)",
	}
	if got := strings.Split(err.Error(), "\n"); !slices.Equal(got, want) {
		t.Errorf("Load error\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	missing := filepath.Join(t.TempDir(), "missing.yaml")
	_, err = programs.Load(missing)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of a missing file: got %v, want fs.ErrNotExist", err)
	}
	if err != nil && !strings.Contains(err.Error(), missing) {
		t.Errorf("Load error %q does not name %s", err, missing)
	}

	big := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(big, []byte(base+"#"+strings.Repeat("x", programs.MaxFileBytes)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := programs.Load(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("Load of a file over MaxFileBytes: got %v, want a size error", err)
	}
}

func TestDefault(t *testing.T) {
	p, err := programs.LoadDefault()
	if err != nil {
		t.Fatalf("LoadDefault: %v", err)
	}
	if err := p.Validate(); err != nil {
		t.Errorf("default program does not validate: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"version", p.Version, "2026.1"},
		{"currency", p.Currency, "EUR"},
		{"max_order_amount", p.MaxOrderAmount, int64(100_000_00)},
		{"refund_window", p.RefundWindow, 365 * day},
		{"EUR", p.Earning.Currencies["EUR"], domain.CurrencyRule{PointsPerUnit: domain.Ratio{Num: 1, Den: 1}, ToProgramCurrency: domain.One}},
		{"USD rate", p.Earning.Currencies["USD"].ToProgramCurrency, domain.Ratio{Num: 92, Den: 100}},
		{"GBP rate", p.Earning.Currencies["GBP"].ToProgramCurrency, domain.Ratio{Num: 117, Den: 100}},
		{"electronics", p.Earning.CategoryMultipliers["electronics"], domain.Ratio{Num: 5, Den: 10}},
		{"beauty", p.Earning.CategoryMultipliers["beauty"], domain.Ratio{Num: 2, Den: 1}},
		{"per_order_cap", p.Earning.PerOrderCap, int64(5000)},
		{"first_purchase_bonus", p.Earning.FirstPurchaseBonus, int64(200)},
		{"feedback_bonus", p.Earning.FeedbackBonus, int64(25)},
		{"visit_bonus", p.Earning.VisitBonus, int64(5)},
		{"visit_bonus.max_per_day", p.Earning.VisitBonusMaxPerDay, 1},
		{"tiers", p.Tiers, []domain.Tier{
			{Name: "bronze", QualifyingSpend: 0, Multiplier: domain.Ratio{Num: 1, Den: 1}},
			{Name: "silver", QualifyingSpend: 500_00, Multiplier: domain.Ratio{Num: 125, Den: 100}},
			{Name: "gold", QualifyingSpend: 1500_00, Multiplier: domain.Ratio{Num: 15, Den: 10}},
		}},
		{"adjustments", p.Adjustments, domain.Adjustments{MaxPoints: 10_000}},
		{"debt_from_earnings", p.Returns.DebtFromEarnings, false},
		{"redemption", p.Redemption, domain.Redemption{DirectPoints: true, MinPoints: 100, CancelDays: 30, Rewards: []domain.Reward{
			{ID: "coffee", Name: "Coffee", Points: 150, Limit: domain.RewardLimit{Count: 1, Per: domain.PerDay}},
			{ID: "voucher-10", Name: "10.00 EUR voucher", Points: 1000, VoucherDays: 90},
			{ID: "lounge-pass", Name: "Airport lounge pass", Points: 2500, Tiers: []string{"gold"}},
		}}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("default %s: got %+v, want %+v", c.name, c.got, c.want)
		}
	}

	// Each call returns a program of its own.
	p.Tiers[0].Name = "changed"
	p.Earning.Currencies["XXX"] = domain.CurrencyRule{}
	again, err := programs.LoadDefault()
	if err != nil {
		t.Fatalf("LoadDefault: %v", err)
	}
	if got, want := again.Tiers[0].Name, "bronze"; got != want {
		t.Errorf("second LoadDefault tier 0: got %q, want %q", got, want)
	}
	if _, ok := again.Earning.Currencies["XXX"]; ok {
		t.Error("second LoadDefault shares its currencies map with the first")
	}
}
