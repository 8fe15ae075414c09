package domain_test

import (
	"strings"
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
)

// withVouchers: a 100-point gift card whose voucher is valid 30 days.
func withVouchers(p *domain.Program) {
	withCancellations(30)(p)
	p.Redemption.Rewards = append(p.Redemption.Rewards, domain.Reward{ID: "gift", Name: "Gift card", Points: 100, VoucherDays: 30})
}

func useVoucher(id string, at time.Time, request, code string) domain.Event {
	return event(id, at, domain.VoucherUse{RequestID: request, Code: code, Channel: "pos-1"})
}

// issuedCodes is the codes of a history's vouchers, in order.
func issuedCodes(t *testing.T, p *domain.Program, history ...domain.Event) []string {
	t.Helper()
	m := domain.NewMember(memberID)
	var codes []string
	for _, e := range history {
		facts, err := domain.Apply(m, e, p)
		if err != nil {
			t.Fatalf("event %s: %v", e.ID, err)
		}
		for _, f := range facts {
			if v, ok := f.(domain.VoucherIssued); ok {
				codes = append(codes, v.Code)
			}
		}
	}
	return codes
}

func TestVouchers(t *testing.T) {
	at := t0.Add(time.Hour)
	p := testProgram()
	withVouchers(p)
	bought := []domain.Event{enrolled(), firstBuy, redeem("e-1", at, "r-1", "gift", 2)}
	codes := issuedCodes(t, p, bought...)
	if len(codes) != 2 || codes[0] == codes[1] {
		t.Fatalf("two gift cards gave codes %q, want two different ones", codes)
	}
	for _, c := range codes {
		if domain.NormalizeVoucherCode(c) != c {
			t.Errorf("code %q is not in the engine's form", c)
		}
	}
	code := codes[0]
	later := at.Add(day)
	used := domain.VoucherUsed{FactMeta: meta("e-u", later), RequestID: "till-9", Code: code, RedemptionID: "r-1", RewardID: "gift", Channel: "pos-1"}
	refusedUse := func(id string, at time.Time, request string, reason domain.RedemptionReason, detail string) domain.VoucherRefused {
		return domain.VoucherRefused{FactMeta: meta(id, at), RequestID: request, Code: code, Channel: "pos-1", Reason: reason, Detail: detail}
	}
	pretty := domain.FormatVoucherCode(code)
	runRuleCases(t, []ruleCase{
		{
			name:    "a redemption of a voucher reward issues a code per unit",
			program: withVouchers,
			given:   []domain.Event{enrolled(), firstBuy},
			when:    redeem("e-1", at, "r-1", "gift", 2),
			want: []domain.Fact{
				domain.PointsRedeemed{FactMeta: meta("e-1", at), Points: 200, RequestID: "r-1", RewardID: "gift", Quantity: 2, Channel: "pos-1", ProgramVersion: version},
				domain.VoucherIssued{FactMeta: meta("e-1", at), RequestID: "r-1", RewardID: "gift", Code: codes[0], ExpiresAt: at.AddDate(0, 0, 30)},
				domain.VoucherIssued{FactMeta: meta("e-1", at), RequestID: "r-1", RewardID: "gift", Code: codes[1], ExpiresAt: at.AddDate(0, 0, 30)},
			},
		},
		{
			name:    "a code is used once",
			program: withVouchers,
			given:   bought,
			when:    useVoucher("e-u", later, "till-9", code),
			want:    []domain.Fact{used},
		},
		{
			name:    "written as people read it out",
			program: withVouchers,
			given:   bought,
			when:    useVoucher("e-u", later, "till-9", strings.ToLower(pretty)),
			want:    []domain.Fact{used},
		},
		{
			name:    "not twice",
			program: withVouchers,
			given:   append(bought, useVoucher("e-u", later, "till-9", code)),
			when:    useVoucher("e-v", later, "till-10", code),
			want:    []domain.Fact{refusedUse("e-v", later, "till-10", domain.VoucherAlreadyUsed, "voucher "+pretty+" was used already")},
		},
		{
			name:    "a till's request is decided once",
			program: withVouchers,
			given:   append(bought, useVoucher("e-u", later, "till-9", code)),
			when:    useVoucher("e-v", later, "till-9", code),
			reason:  domain.ReasonDuplicateRequest,
			field:   "request_id",
		},
		{
			name:    "not after it expired",
			program: withVouchers,
			given:   bought,
			when:    useVoucher("e-u", at.AddDate(0, 0, 30), "till-9", code),
			want: []domain.Fact{refusedUse("e-u", at.AddDate(0, 0, 30), "till-9", domain.VoucherExpired,
				"voucher "+pretty+" expired at "+at.AddDate(0, 0, 30).Format(time.RFC3339))},
		},
		{
			name:    "not a code of the member's",
			program: withVouchers,
			given:   []domain.Event{enrolled(), firstBuy},
			when:    useVoucher("e-u", later, "till-9", code),
			want:    []domain.Fact{refusedUse("e-u", later, "till-9", domain.VoucherUnknown, "the member has no voucher "+pretty)},
		},
		{
			name:    "not once its redemption was cancelled",
			program: withVouchers,
			given:   append(bought, cancelRedemption("e-c", later, "c-1", "r-1")),
			when:    useVoucher("e-u", later, "till-9", code),
			want: []domain.Fact{refusedUse("e-u", later, "till-9", domain.VoucherCancelled,
				"voucher "+pretty+" was cancelled with its redemption")},
		},
		{
			name:    "a redemption whose voucher was used is not cancelled",
			program: withVouchers,
			given:   append(bought, useVoucher("e-u", later, "till-9", code)),
			when:    cancelRedemption("e-c", later, "c-1", "r-1"),
			want: []domain.Fact{cancelRefused("e-c", later, "c-1", "r-1", domain.VoucherAlreadyUsed,
				`redemption "r-1"'s voucher `+pretty+" was used")},
		},
		{
			name:    "an unknown member",
			program: withVouchers,
			when:    useVoucher("e-u", later, "till-9", code),
			reason:  domain.ReasonUnknownMember,
			field:   "member_id",
		},
	})
}

// A stocked voucher reward issues its codes when the stock grants the unit.
func TestStockedVoucher(t *testing.T) {
	p := testProgram()
	withVouchers(p)
	p.Redemption.Rewards[len(p.Redemption.Rewards)-1].Stock = 5
	at := t0.Add(time.Hour)
	m := given(t, p, enrolled(), firstBuy, redeem("e-1", at, "r-1", "gift", 1))
	facts, err := domain.Apply(m, stockAnswer("e-a", at, true), p)
	if err != nil || len(facts) != 2 {
		t.Fatalf("%v%s", err, formatFacts(facts))
	}
	v, ok := facts[1].(domain.VoucherIssued)
	if !ok || v.RequestID != "r-1" || v.ExpiresAt != at.AddDate(0, 0, 30) {
		t.Fatalf("facts%s; want a hold redeemed and its voucher", formatFacts(facts))
	}
	if s, ok := m.Voucher(v.Code, at); !ok || s.Status != "valid" {
		t.Errorf("voucher %s: %+v %v", v.Code, s, ok)
	}
}

// Codes are what a till can type: 16 characters of 32 that people do not
// confuse (80 bits), different for each unit, and made by the engine's key
// when it gives one.
func TestVoucherCodes(t *testing.T) {
	if len(domain.VoucherAlphabet) != 32 || strings.ContainsAny(domain.VoucherAlphabet, "01IOio") {
		t.Fatalf("alphabet %q", domain.VoucherAlphabet)
	}
	p := testProgram()
	withVouchers(p)
	facts, err := domain.Decide(given(t, p, enrolled(), firstBuy), redeem("e-1", t0, "r-1", "gift", 2), p)
	if err != nil {
		t.Fatal(err)
	}
	keyed := func(key string) []string {
		fs := append([]domain.Fact(nil), facts...)
		domain.GiveFollowUpIDs(fs, func(prefix string, i int) string { return prefix + key + string(rune('a'+i)) })
		var codes []string
		for _, f := range fs {
			if v, ok := f.(domain.VoucherIssued); ok {
				codes = append(codes, v.Code)
			}
		}
		return codes
	}
	a, b := keyed("k1"), keyed("k2")
	if len(a) != 2 || a[0] == a[1] || a[0] == b[0] || a[1] == b[1] {
		t.Errorf("codes %q under one key, %q under another: want all different", a, b)
	}
	seen := map[byte]bool{}
	for _, c := range append(a, b...) {
		if len(c) != domain.VoucherCodeLength || strings.Trim(c, domain.VoucherAlphabet) != "" {
			t.Errorf("code %q", c)
		}
		for i := range c {
			seen[c[i]] = true
		}
	}
	for _, c := range []struct{ in, want string }{
		{"abcd-efgh-jkmn-pqrs", "ABCDEFGHJKMNPQRS"},
		{" ABCD EFGH JKMN PQRS ", "ABCDEFGHJKMNPQRS"},
		{"ABCD-EFGH-JKMN-PQR", ""},      // short
		{"ABCD-EFGH-JKMN-PQRST", ""},    // long
		{"ABCD-EFGH-JKMN-PQR0", ""},     // a zero
		{"ABCD-EFGH-JKMN-PQRİ", ""},     // a capital dotted I
		{"ABCD\x00EFGHJKMNPQRS", ""},    // NUL
		{strings.Repeat("A", 5000), ""}, // absurd
	} {
		if got := domain.NormalizeVoucherCode(c.in); got != c.want {
			t.Errorf("NormalizeVoucherCode(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// A blocked or closed member's vouchers are refused, as their redemptions are.
func TestVoucherOfABlockedMember(t *testing.T) {
	at := t0.Add(time.Hour)
	p := testProgram()
	withVouchers(p)
	bought := []domain.Event{enrolled(), firstBuy, redeem("e-1", at, "r-1", "gift", 1)}
	code := issuedCodes(t, p, bought...)[0]
	for _, status := range []domain.MemberStatus{domain.StatusBlocked, domain.StatusClosed} {
		m := given(t, p, append(bought, event("e-s", at, domain.StatusChange{Status: status}))...)
		facts, err := domain.Apply(m, useVoucher("e-u", at, "till-1", code), p)
		if err != nil || len(facts) != 1 {
			t.Fatalf("%s: %v%s", status, err, formatFacts(facts))
		}
		if r, ok := facts[0].(domain.VoucherRefused); !ok || r.Reason != domain.RedemptionReason("member_"+string(status)) {
			t.Errorf("%s member's voucher: %s", status, formatFacts(facts))
		}
	}
}
