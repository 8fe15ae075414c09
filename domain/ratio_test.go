package domain

// An internal test: mulDivFloor is unexported and is the arithmetic every
// conversion of qualifying spend goes through.

import (
	"math"
	"strings"
	"testing"
)

func TestParseRatio(t *testing.T) {
	tests := []struct {
		in   string
		want Ratio
	}{
		{"2", Ratio{Num: 2, Den: 1}},
		{"0.5", Ratio{Num: 5, Den: 10}},
		{"1.25", Ratio{Num: 125, Den: 100}},
		{"0.92", Ratio{Num: 92, Den: 100}},
		{"1.50", Ratio{Num: 150, Den: 100}},
		{"0", Ratio{Num: 0, Den: 1}},
		{"0.000001", Ratio{Num: 1, Den: 1_000_000}},
		{"  1.5\t", Ratio{Num: 15, Den: 10}},
		{"007", Ratio{Num: 7, Den: 1}},
		{".5", Ratio{Num: 5, Den: 10}},
		{"5.", Ratio{Num: 5, Den: 1}},
		{"-0.5", Ratio{Num: -5, Den: 10}},
		{"999999.999999", Ratio{Num: 999_999_999_999, Den: 1_000_000}},
	}
	for _, tt := range tests {
		got, err := ParseRatio(tt.in)
		if err != nil {
			t.Errorf("ParseRatio(%q) error %v, want %+v", tt.in, err, tt.want)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseRatio(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseRatioRejects(t *testing.T) {
	for _, in := range []string{
		"", " ", ".", "-", "-.", "abc", "1e3", "0x10", "+1", "--1", "-+1", "1.-5", "1.+5",
		"1,5", "1.5.5", "1 000", "½", "١", "NaN", "Inf",
		"0.0000001",           // 7 decimals
		"1.2345678",           // 7 decimals
		"9223372036854775808", // beyond int64
		"1000000000001",       // digits beyond 1e12
		"-1000000000001",
	} {
		if r, err := ParseRatio(in); err == nil {
			t.Errorf("ParseRatio(%q) = %+v, want an error", in, r)
		}
	}
}

// TestParseRatioBound shows a bug: the error says ratios must be below 1e6,
// but the check bounds the digit string (n > 1e12) rather than the value, so
// whole numbers up to 999999999999 pass.
func TestParseRatioBound(t *testing.T) {
	for _, in := range []string{"1000000", "2000000", "1000000.000000", "999999999999"} {
		r, err := ParseRatio(in)
		if err == nil {
			t.Errorf("ParseRatio(%q) = %+v, nil; want an error (%q says ratios are below 1e6)",
				in, r, "is not a decimal number below 1e6")
			continue
		}
		if !strings.Contains(err.Error(), "below 1e6") {
			t.Errorf("ParseRatio(%q) error %q, want it to name the 1e6 limit", in, err)
		}
	}
}

func TestRatioString(t *testing.T) {
	tests := []struct {
		r    Ratio
		want string
	}{
		{One, "1"},
		{Ratio{Num: 2, Den: 1}, "2"},
		{Ratio{Num: 5, Den: 10}, "0.5"},
		{Ratio{Num: 125, Den: 100}, "1.25"},
		{Ratio{Num: 150, Den: 100}, "1.50"},
		{Ratio{Num: -5, Den: 10}, "-0.5"},
		{Ratio{Num: 1, Den: 1_000_000}, "0.000001"},
		{Ratio{Num: 999_999_999_999, Den: 1_000_000}, "999999.999999"},
	}
	for _, tt := range tests {
		if got := tt.r.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.r, got, tt.want)
		}
		back, err := ParseRatio(tt.want)
		if err != nil || back != tt.r {
			t.Errorf("ParseRatio(%q) = %+v, %v; want %+v back", tt.want, back, err, tt.r)
		}
	}
}

func TestRatioSign(t *testing.T) {
	tests := []struct {
		r                  Ratio
		positive, negative bool
	}{
		{One, true, false},
		{Ratio{Num: 1, Den: 1_000_000}, true, false},
		{Ratio{Num: 0, Den: 1}, false, false},
		{Ratio{Num: -5, Den: 10}, false, true},
		{Ratio{}, false, true},                 // zero value: not a valid ratio
		{Ratio{Num: 1, Den: 0}, false, true},   // division by zero
		{Ratio{Num: 1, Den: -2}, false, true},  // denominators are positive
		{Ratio{Num: -1, Den: -2}, false, true}, // even when the value is positive
	}
	for _, tt := range tests {
		if got := tt.r.Positive(); got != tt.positive {
			t.Errorf("%+v.Positive() = %v, want %v", tt.r, got, tt.positive)
		}
		if got := tt.r.Negative(); got != tt.negative {
			t.Errorf("%+v.Negative() = %v, want %v", tt.r, got, tt.negative)
		}
	}
}

func TestMulDivFloor(t *testing.T) {
	const maxInt = math.MaxInt64
	tests := []struct {
		name string
		a    int64
		rs   []Ratio
		want int64
	}{
		{"no ratios", 1299, nil, 1299},
		{"zero", 0, []Ratio{{Num: 125, Den: 100}}, 0},
		{"exact", 1000, []Ratio{{Num: 125, Den: 100}}, 1250},
		{"floors", 7, []Ratio{{Num: 1, Den: 2}}, 3},
		{"floors just below an integer", 99, []Ratio{{Num: 92, Den: 100}}, 91},
		{"product of ratios is floored once", 3, []Ratio{{Num: 1, Den: 2}, {Num: 2, Den: 1}}, 3},
		{"USD to EUR cents", 1_086_957, []Ratio{{Num: 92, Den: 100}, {Num: 100, Den: 100}}, 1_000_000},
		{"JPY to EUR cents", 1500, []Ratio{{Num: 61, Den: 10000}, {Num: 100, Den: 1}}, 915},
		{"KWD to EUR cents", 1250, []Ratio{{Num: 2985, Den: 1000}, {Num: 100, Den: 1000}}, 373},
		{"EUR to JPY yen", 1000, []Ratio{{Num: 160, Den: 1}, {Num: 1, Den: 100}}, 1600},
		{"intermediate beyond int64", maxInt, []Ratio{{Num: maxInt, Den: maxInt}}, maxInt},
		{"max times 2/3", maxInt, []Ratio{{Num: 2, Den: 3}}, 6_148_914_691_236_517_204},
		{"max times 0.999999", maxInt, []Ratio{{Num: 999_999, Den: 1_000_000}}, 9_223_362_813_482_738_952},
		{"10^12 by 10^12 and back", 1_000_000_000_000, []Ratio{{Num: 1_000_000_000_000, Den: 1}, {Num: 1, Den: 1_000_000_000_000}}, 1_000_000_000_000},
		{"points on the largest amount", 1_000_000_000_000, []Ratio{{Num: 999_999, Den: 1_000_000}}, 999_999_000_000},
	}
	for _, tt := range tests {
		if got := mulDivFloor(tt.a, tt.rs...); got != tt.want {
			t.Errorf("%s: mulDivFloor(%d, %v) = %d, want %d", tt.name, tt.a, tt.rs, got, tt.want)
		}
	}
}

func TestCurrencies(t *testing.T) {
	tests := []struct {
		code     string
		exponent int
		unit     int64
	}{
		{"EUR", 2, 100},
		{"USD", 2, 100},
		{"GBP", 2, 100},
		{"HUF", 2, 100},
		{"JPY", 0, 1},
		{"KRW", 0, 1},
		{"ISK", 0, 1},
		{"CLP", 0, 1},
		{"KWD", 3, 1000},
		{"BHD", 3, 1000},
		{"TND", 3, 1000},
		{"CLF", 4, 10000},
		{"UYW", 4, 10000},
	}
	for _, tt := range tests {
		exp, ok := Currencies[tt.code]
		if !ok || exp != tt.exponent {
			t.Errorf("Currencies[%q] = %d, %v; want %d, true", tt.code, exp, ok, tt.exponent)
		}
		if got := MinorUnit(tt.code); got != tt.unit {
			t.Errorf("MinorUnit(%q) = %d, want %d", tt.code, got, tt.unit)
		}
	}
	for _, code := range []string{"", "eur", "EURO", "DEM", "XXX", "XAU", "BTC"} {
		if _, ok := Currencies[code]; ok {
			t.Errorf("Currencies lists %q, which is not an active ISO 4217 currency", code)
		}
	}
	if got, want := len(Currencies), 166; got != want {
		t.Errorf("len(Currencies) = %d, want %d", got, want)
	}
	for code, exp := range Currencies {
		if len(code) != 3 || strings.ToUpper(code) != code || exp < 0 || exp > 4 {
			t.Errorf("Currencies[%q] = %d: want an upper-case 3-letter code and exponent 0-4", code, exp)
		}
	}
}
