package domain_test

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
)

// fieldErrors flattens the errors.Join tree of Program.Validate into the
// *FieldError values it holds, in order.
func fieldErrors(t *testing.T, err error) []string {
	t.Helper()
	var out []string
	var walk func(error)
	walk = func(err error) {
		if joined, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range joined.Unwrap() {
				walk(e)
			}
			return
		}
		var fe *domain.FieldError
		if !errors.As(err, &fe) {
			t.Errorf("Validate returned %T %v, want only *FieldError", err, err)
			return
		}
		out = append(out, fe.Error())
	}
	if err != nil {
		walk(err)
	}
	return out
}

func TestProgramValidateAcceptsTheTestProgram(t *testing.T) {
	if err := testProgram().Validate(); err != nil {
		t.Fatalf("Validate = %v, want nil", err)
	}
}

func TestProgramValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(p *domain.Program)
		want   []string // FieldError.Error() of each problem, in Validate's order
	}{
		{"no version", func(p *domain.Program) { p.Version = "" }, []string{"version: is required"}},
		{"unknown program currency", func(p *domain.Program) { p.Currency = "EURO" },
			[]string{`currency: "EURO" is not an ISO 4217 currency code`}},
		{"no accepted currency", func(p *domain.Program) { p.Earning.Currencies = nil },
			[]string{"earning.currencies: must list at least one accepted currency"}},
		{"unknown accepted currency", func(p *domain.Program) {
			p.Earning.Currencies["eur"] = domain.CurrencyRule{PointsPerUnit: domain.One, ToProgramCurrency: domain.One}
		}, []string{`earning.currencies.eur: "eur" is not an ISO 4217 currency code`}},
		{"negative points per unit", func(p *domain.Program) {
			p.Earning.Currencies["USD"] = domain.CurrencyRule{PointsPerUnit: ratio(-1, 1), ToProgramCurrency: ratio(92, 100)}
		}, []string{"earning.currencies.USD.points_per_unit: must not be negative"}},
		{"points per unit with zero denominator", func(p *domain.Program) {
			p.Earning.Currencies["USD"] = domain.CurrencyRule{PointsPerUnit: ratio(1, 0), ToProgramCurrency: ratio(92, 100)}
		}, []string{"earning.currencies.USD.points_per_unit: must not be negative"}},
		{"zero rate", func(p *domain.Program) {
			p.Earning.Currencies["JPY"] = domain.CurrencyRule{PointsPerUnit: ratio(1, 100)}
		}, []string{"earning.currencies.JPY.rate: must be greater than zero"}},
		{"negative rate", func(p *domain.Program) {
			p.Earning.Currencies["KWD"] = domain.CurrencyRule{PointsPerUnit: domain.One, ToProgramCurrency: ratio(-2985, 1000)}
		}, []string{"earning.currencies.KWD.rate: must be greater than zero"}},
		{"negative category multiplier", func(p *domain.Program) { p.Earning.CategoryMultipliers["toys"] = ratio(-1, 2) },
			[]string{"earning.category_multipliers.toys: must not be negative"}},
		{"negative per-order cap", func(p *domain.Program) { p.Earning.PerOrderCap = -1 },
			[]string{"earning.per_order_cap: must not be negative, got -1"}},
		{"negative first purchase bonus", func(p *domain.Program) { p.Earning.FirstPurchaseBonus = -200 },
			[]string{"earning.first_purchase_bonus: must not be negative, got -200"}},
		{"negative feedback bonus", func(p *domain.Program) { p.Earning.FeedbackBonus = -25 },
			[]string{"earning.feedback_bonus: must not be negative, got -25"}},
		{"negative visit bonus", func(p *domain.Program) { p.Earning.VisitBonus = -5 },
			[]string{"earning.visit_bonus.points: must not be negative, got -5"}},
		{"negative visit bonus limit", func(p *domain.Program) { p.Earning.VisitBonusMaxPerDay = -1 },
			[]string{"earning.visit_bonus.max_per_day: must not be negative"}},
		{"negative max order amount", func(p *domain.Program) { p.MaxOrderAmount = -100 },
			[]string{"max_order_amount: must not be negative, got -100"}},
		{"refund window under a day", func(p *domain.Program) { p.RefundWindow = 24*time.Hour - time.Nanosecond },
			[]string{"refund_window_days: must be between 1 and 730 days"}},
		{"refund window over 730 days", func(p *domain.Program) { p.RefundWindow = 730*day + time.Nanosecond },
			[]string{"refund_window_days: must be between 1 and 730 days"}},
		{"unknown order bonuses setting", func(p *domain.Program) { p.Returns.OrderBonuses = "clawback" },
			[]string{`returns.order_bonuses: must be reverse or keep, got "clawback"`}},
		{"no tiers", func(p *domain.Program) { p.Tiers = nil }, []string{"tiers: must define at least one tier"}},
		{"first tier above 0", func(p *domain.Program) { p.Tiers[0].QualifyingSpend = 1 },
			[]string{"tiers[0].qualifying_spend: the first tier must start at 0"}},
		{"tiers not ascending", func(p *domain.Program) { p.Tiers[2].QualifyingSpend = 500_00 },
			[]string{"tiers[2].qualifying_spend: must be greater than the previous tier's"}},
		{"tier without name", func(p *domain.Program) { p.Tiers[1].Name = "" }, []string{"tiers[1].name: is required"}},
		{"tier named twice", func(p *domain.Program) { p.Tiers[2].Name = "bronze" },
			[]string{`tiers[2].name: "bronze" is defined twice`}},
		{"zero multiplier", func(p *domain.Program) { p.Tiers[1].Multiplier = ratio(0, 1) },
			[]string{"tiers[1].multiplier: must be at least 1 (a tier adds points to the base, it never takes them away)"}},
		{"unset multiplier", func(p *domain.Program) { p.Tiers[0].Multiplier = domain.Ratio{} },
			[]string{"tiers[0].multiplier: must be at least 1 (a tier adds points to the base, it never takes them away)"}},
		{"every problem at once, sorted", func(p *domain.Program) {
			p.Version = ""
			p.Earning.FeedbackBonus = -1
			p.Earning.PerOrderCap = -2
			p.Tiers[1].Multiplier = domain.Ratio{}
			p.Tiers[2].QualifyingSpend = 0
		}, []string{
			"earning.feedback_bonus: must not be negative, got -1",
			"earning.per_order_cap: must not be negative, got -2",
			"tiers[1].multiplier: must be at least 1 (a tier adds points to the base, it never takes them away)",
			"tiers[2].qualifying_spend: must be greater than the previous tier's",
			"version: is required",
		}},
		{"zero program", func(p *domain.Program) { *p = domain.Program{} }, []string{
			`currency: "" is not an ISO 4217 currency code`,
			"earning.currencies: must list at least one accepted currency",
			"refund_window_days: must be between 1 and 730 days",
			"tiers: must define at least one tier",
			"version: is required",
		}},
		// Names the program writes into facts are identifiers, like an event's.
		{"NUL in the version", func(p *domain.Program) { p.Version = "2026\x00" },
			[]string{"version: holds the control character U+0000 at byte 4"}},
		{"line break in a tier's name", func(p *domain.Program) { p.Tiers[1].Name = "sil\nver" },
			[]string{"tiers[1].name: holds the control character U+000A at byte 3"}},
		{"tier name of 129 bytes", func(p *domain.Program) { p.Tiers[2].Name = strings.Repeat("g", 129) },
			[]string{"tiers[2].name: is 129 bytes, at most 128 are allowed"}},
		{"C1 control in a rule's id", func(p *domain.Program) {
			p.Earning.Rules = []domain.Rule{{ID: "r\u0085", On: domain.TypePurchaseCompleted, Scope: domain.ScopeEvent, Award: domain.Award{Points: 1}}}
		}, []string{"earning.rules[0].id: holds the control character U+0085 at byte 1"}},
		{"invalid UTF-8 in a reward's id", func(p *domain.Program) {
			p.Redemption.Rewards = []domain.Reward{{ID: "mug\xff", Name: "Mug", Points: 10}}
		}, []string{"redemption.rewards[0].id: is not valid UTF-8 (byte 3)"}},
		{"a stocked reward whose stock's id is over 128 bytes", func(p *domain.Program) {
			p.Redemption.Rewards = []domain.Reward{{ID: strings.Repeat("r", 123), Name: "R", Points: 10, Stock: 1}}
		}, []string{"redemption.rewards[0].id: a reward with a stock has an id of at most 122 bytes"}},
		// Boundaries and zero values that are allowed.
		{"a stocked reward whose stock's id is 128 bytes", func(p *domain.Program) {
			p.Redemption.Rewards = []domain.Reward{{ID: strings.Repeat("r", 122), Name: "R", Points: 10, Stock: 1}}
		}, nil},
		{"refund window of exactly 1 day", func(p *domain.Program) { p.RefundWindow = day }, nil},
		{"refund window of exactly 730 days", func(p *domain.Program) { p.RefundWindow = 730 * day }, nil},
		{"no bonuses, cap or limit", func(p *domain.Program) { p.Earning = domain.Earning{Currencies: p.Earning.Currencies} }, nil},
		{"zero points per unit", func(p *domain.Program) {
			p.Earning.Currencies["USD"] = domain.CurrencyRule{PointsPerUnit: ratio(0, 1), ToProgramCurrency: ratio(92, 100)}
		}, nil},
		{"zero category multiplier", func(p *domain.Program) { p.Earning.CategoryMultipliers["gift-cards"] = ratio(0, 1) }, nil},
		{"a single tier", func(p *domain.Program) { p.Tiers = p.Tiers[:1] }, nil},
		{"order bonuses kept", func(p *domain.Program) { p.Returns.OrderBonuses = domain.OrderBonusesKeep }, nil},
		{"order bonuses reversed", func(p *domain.Program) { p.Returns.OrderBonuses = domain.OrderBonusesReverse }, nil},
		{"program currency not itself accepted", func(p *domain.Program) { p.Currency = "CHF" }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testProgram()
			tt.change(p)
			err := p.Validate()
			got := fieldErrors(t, err)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Validate problems:\ngot  %q\nwant %q", got, tt.want)
			}
			for i := 0; i < 3; i++ {
				if again := fieldErrors(t, p.Validate()); !reflect.DeepEqual(again, got) {
					t.Fatalf("Validate is not deterministic: %q then %q", got, again)
				}
			}
		})
	}
}

func TestFieldErrorIsFoundWithErrorsAs(t *testing.T) {
	p := testProgram()
	p.MaxOrderAmount = -1
	var fe *domain.FieldError
	if !errors.As(p.Validate(), &fe) {
		t.Fatalf("errors.As(Validate(), *FieldError) = false")
	}
	if got, want := fe.Field, "max_order_amount"; got != want {
		t.Errorf("Field = %q, want %q", got, want)
	}
	if got, want := fe.Reason, "must not be negative, got -1"; got != want {
		t.Errorf("Reason = %q, want %q", got, want)
	}
}

func TestTierFor(t *testing.T) {
	p := testProgram()
	tests := []struct {
		spend int64
		want  string
	}{
		{math.MinInt64, "bronze"},
		{-1, "bronze"},
		{0, "bronze"},
		{499_99, "bronze"},
		{500_00, "silver"},
		{500_01, "silver"},
		{1499_99, "silver"},
		{1500_00, "gold"},
		{math.MaxInt64, "gold"},
	}
	for _, tt := range tests {
		if got := p.TierFor(tt.spend); got.Name != tt.want {
			t.Errorf("TierFor(%d) = %q, want %q", tt.spend, got.Name, tt.want)
		}
	}
	gold := p.TierFor(2000_00)
	if want := (domain.Tier{Name: "gold", QualifyingSpend: 1500_00, Multiplier: ratio(15, 10)}); gold != want {
		t.Errorf("TierFor(200000) = %+v, want %+v", gold, want)
	}
	single := &domain.Program{Tiers: []domain.Tier{{Name: "member", Multiplier: domain.One}}}
	if got := single.TierFor(math.MaxInt64).Name; got != "member" {
		t.Errorf("single-tier TierFor = %q, want %q", got, "member")
	}
}
