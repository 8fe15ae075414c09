package programs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
)

// version is the default program renamed, taking effect on date ("" for
// none), with base points per EUR set to perEUR.
func version(t *testing.T, name, date, perEUR string) string {
	t.Helper()
	text := strings.Replace(string(DefaultYAML), `EUR: {points_per_unit: "1"}`, `EUR: {points_per_unit: "`+perEUR+`"}`, 1)
	if text == string(DefaultYAML) && perEUR != "1" {
		t.Fatal("the default program's EUR line changed; update this test")
	}
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "version:") {
			lines[i] = "version: " + name
			if date != "" {
				lines[i] += "\neffective_from: " + date
			}
		}
	}
	return strings.Join(lines, "\n")
}

// withEarning is the default program with settings (lines indented as
// earning's members, each ending in a newline) at the top of its earning
// section.
func withEarning(settings string) string {
	return strings.Replace(string(DefaultYAML), "\nearning:\n", "\nearning:\n"+settings, 1)
}

// mustParse is Parse of text, failing t on an error.
func mustParse(t *testing.T, text string) *domain.Program {
	t.Helper()
	p, err := Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseVersionsOfOneFile(t *testing.T) {
	data := version(t, "2026.1", "", "1") + "\n---\n" + version(t, "2026.2", "2026-07-01", "2")
	ps, err := ParseVersions([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(ps.Versions()); got != 2 {
		t.Fatalf("%d versions, want 2", got)
	}
	june, july := time.Date(2026, 6, 30, 23, 0, 0, 0, time.UTC), time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	if ps.At(june).Version != "2026.1" || ps.At(july).Version != "2026.2" {
		t.Errorf("June picks %s, July %s", ps.At(june).Version, ps.At(july).Version)
	}
	if r := ps.At(july).Earning.Currencies["EUR"].PointsPerUnit; r.Num != 2*r.Den {
		t.Errorf("2026.2 earns %v per EUR, want 2", r)
	}
	if _, err := Parse([]byte(data)); err == nil || !strings.Contains(err.Error(), "LoadVersions") {
		t.Errorf("Parse of two versions: %v", err)
	}
}

func TestLoadVersionsFromADirectory(t *testing.T) {
	dir := t.TempDir()
	for name, text := range map[string]string{
		"2026-1.yaml": version(t, "2026.1", "", "1"),
		"2026-2.yml":  version(t, "2026.2", "2026-07-01T00:00:00+02:00", "2"),
		"notes.txt":   "not a program",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ps, err := LoadVersions(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 6, 30, 22, 0, 0, 0, time.UTC); !ps.Latest().EffectiveFrom.Equal(want) || ps.Latest().EffectiveFrom.Location() != time.UTC {
		t.Errorf("2026.2 takes effect %v, want %v in UTC", ps.Latest().EffectiveFrom, want)
	}
	one, err := LoadVersions(filepath.Join(dir, "2026-1.yaml"))
	if err != nil || len(one.Versions()) != 1 {
		t.Errorf("a single-version file: %v, %v", one, err)
	}
}

func TestLoadVersionsReportsWhichVersionIsWrong(t *testing.T) {
	for _, c := range []struct {
		name, data, want string
	}{
		{"bad field in the second", version(t, "a", "", "1") + "\n---\n" + strings.Replace(version(t, "b", "2026-07-01", "1"), "currency: EUR", "currency: EURO", 1),
			"document 2: currency"},
		{"bad date", version(t, "a", "", "1") + "\n---\n" + version(t, "b", "July", "1"), "document 2: effective_from: must be a date"},
		{"same name", version(t, "a", "", "1") + "\n---\n" + version(t, "a", "2026-07-01", "1"), `"a" names two versions`},
		{"two undated", version(t, "a", "", "1") + "\n---\n" + version(t, "b", "", "1"), "only one version may go without"},
	} {
		_, err := ParseVersions([]byte(c.data))
		var perr *Error
		if !errors.As(err, &perr) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an *Error mentioning %q", c.name, err, c.want)
		}
		var fe *domain.FieldError
		if err != nil && !errors.As(err, &fe) {
			t.Errorf("%s: no FieldError in %v", c.name, err)
		}
	}
	if _, err := LoadVersions(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no program files") {
		t.Errorf("empty directory: %v", err)
	}
}

func TestParseRules(t *testing.T) {
	rules := `
  rules:
    - id: weekend-double
      description: Double base points on weekends
      when: 'event.weekday in ["Sat", "Sun"]'
      award: {multiplier: "2"}
      priority: 10
      stop: true
      valid_from: 2026-06-01
      valid_to: 2026-09-01
    - id: beauty-lines
      scope: line
      when: 'line.category == "beauty" && member.tier != "bronze"'
      award: {points_per_unit: "2.5"}
      limit: {points: 500, per: month}
    - id: happy-feedback
      on: feedback
      when: event.rating >= 4
      award: {points: 15}
`
	text := strings.Replace(string(DefaultYAML), "\nearning:\n", "\nearning:"+rules, 1)
	p := mustParse(t, text)
	if len(p.Earning.Rules) != 3 {
		t.Fatalf("%d rules, want 3", len(p.Earning.Rules))
	}
	w, b, f := p.Earning.Rules[0], p.Earning.Rules[1], p.Earning.Rules[2]
	if r := w.Award.Multiplier; w.ID != "weekend-double" || r.Num != 2*r.Den || !w.Stop || w.Priority != 10 ||
		!w.ValidFrom.Equal(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)) || w.On != domain.TypePurchaseCompleted || w.Scope != domain.ScopeEvent {
		t.Errorf("weekend rule: %+v", w)
	}
	if r := b.Award.PointsPerUnit; b.Scope != domain.ScopeLine || r.Num*2 != r.Den*5 || b.Limit != (domain.Limit{Points: 500, Per: domain.PerMonth}) {
		t.Errorf("line rule: %+v", b)
	}
	if f.On != domain.TypeFeedbackSubmitted || f.Award.Points != 15 {
		t.Errorf("feedback rule: %+v", f)
	}

	for _, c := range []struct{ good, bad, want string }{
		{"award: {points: 15}", "award: {}", "earning.rules[2].award: must give exactly one"},
		{"when: event.rating >= 4", "when: event.rating >>= 4", "earning.rules[2].when"},
		{"on: feedback", "on: refund", "earning.rules[2].on: must be purchase, visit, feedback, enrolment, change or inactivity"},
	} {
		broken := strings.Replace(text, c.good, c.bad, 1)
		if _, err := Parse([]byte(broken)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.bad, err, c.want)
		}
	}
}

func TestParseExpiry(t *testing.T) {
	text := withEarning("  expiry: {policy: end_of_quarter, periods: 2}\n")
	p := mustParse(t, text)
	if p.Earning.Expiry != (domain.Expiry{Policy: domain.ExpireEndOfQuarter, Periods: 2}) {
		t.Errorf("expiry %+v", p.Earning.Expiry)
	}
	bad := strings.Replace(text, "policy: end_of_quarter", "policy: fortnightly", 1)
	if _, err := Parse([]byte(bad)); err == nil || !strings.Contains(err.Error(), "earning.expiry.policy") {
		t.Errorf("bad policy: %v", err)
	}
	noDays := strings.Replace(text, "{policy: end_of_quarter, periods: 2}", "{policy: days}", 1)
	if _, err := Parse([]byte(noDays)); err == nil || !strings.Contains(err.Error(), "earning.expiry.days") {
		t.Errorf("days without days: %v", err)
	}
}

func TestParseReturns(t *testing.T) {
	p := mustParse(t, string(DefaultYAML)+"\nreturns: {policy: within_balance}\n")
	if p.Returns.Policy != domain.ReturnsWithinBalance {
		t.Errorf("returns %+v", p.Returns)
	}
	if _, err := Parse([]byte(string(DefaultYAML) + "\nreturns: {policy: only_new}\n")); err == nil || !strings.Contains(err.Error(), "returns.policy") {
		t.Errorf("unknown policy: %v", err)
	}
	p = mustParse(t, string(DefaultYAML)+"\nreturns: {order_bonuses: keep}\n")
	if want := (domain.Returns{OrderBonuses: domain.OrderBonusesKeep}); p.Returns != want {
		t.Errorf("returns %+v, want %+v", p.Returns, want)
	}
	p = mustParse(t, string(DefaultYAML))
	if p.Returns != (domain.Returns{}) {
		t.Errorf("the default program's returns %+v, want the defaults (unlimited, bonuses reversed)", p.Returns)
	}
	if _, err := Parse([]byte(string(DefaultYAML) + "\nreturns: {order_bonuses: always}\n")); err == nil || !strings.Contains(err.Error(), "returns.order_bonuses") {
		t.Errorf("unknown order bonuses setting: %v", err)
	}
}

func TestParseTierPolicy(t *testing.T) {
	text := strings.NewReplacer(
		`{name: bronze, qualifying_spend: "0", multiplier: "1"}`, `{name: bronze, qualifying_points: 0, multiplier: "1"}`,
		`{name: silver, qualifying_spend: "500.00", multiplier: "1.25"}`, `{name: silver, qualifying_points: 1000, multiplier: "1.25"}`,
		`{name: gold, qualifying_spend: "1500.00", multiplier: "1.5"}`, `{name: gold, qualifying_points: 3000, multiplier: "1.5"}`,
	).Replace(string(DefaultYAML)) + "\ntier_policy: {measure: points, period: year, downgrade: one_tier, grace_days: 30}\n"
	p := mustParse(t, text)
	want := domain.TierPolicy{Measure: domain.MeasurePoints, Period: domain.PeriodYear, Downgrade: domain.DowngradeOneTier, GraceDays: 30}
	if p.TierPolicy != want || p.Tiers[2].QualifyingPoints != 3000 || p.Tiers[2].QualifyingSpend != 0 {
		t.Errorf("tier policy %+v, gold %+v; want %+v and 3000 points", p.TierPolicy, p.Tiers[2], want)
	}
	for bad, field := range map[string]string{
		"\ntier_policy: {period: fortnight}\n":      "tier_policy.period",
		"\ntier_policy: {downgrade: always}\n":      "tier_policy.downgrade",
		"\ntier_policy: {measure: points}\n":        "tiers[1].qualifying_points",
		"\ntier_policy: {period: year, days: 30}\n": "tier_policy.days",
		"\ntier_policy: {grace_days: forever}\n":    "tier_policy.grace_days",
	} {
		if _, err := Parse([]byte(string(DefaultYAML) + bad)); err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%q: %v, want a problem with %s", bad, err, field)
		}
	}
}

func TestParseTransfersAndReferral(t *testing.T) {
	p := mustParse(t, withEarning("  referral: {referrer_points: 300, referred_points: 100}\n  yearly: {birthday_points: 250, anniversary_points: 100}\n")+
		"\ntransfers: {allowed: true, min_points: 50}\n")
	if p.Transfers != (domain.Transfers{Allowed: true, MinPoints: 50}) || p.Earning.Referral != (domain.Referral{ReferrerPoints: 300, ReferredPoints: 100}) ||
		p.Earning.Yearly != (domain.Yearly{BirthdayPoints: 250, AnniversaryPoints: 100}) {
		t.Errorf("transfers %+v, referral %+v", p.Transfers, p.Earning.Referral)
	}
	if _, err := Parse([]byte(string(DefaultYAML) + "\ntransfers: {allowed: sometimes}\n")); err == nil || !strings.Contains(err.Error(), "transfers.allowed") {
		t.Errorf("a word for allowed: %v", err)
	}
}

func TestParsePending(t *testing.T) {
	p := mustParse(t, withEarning("  pending: {days: 14, confirmation: true}\n")+"\nreturns: {policy: only_pending}\n")
	if want := (domain.Pending{Days: 14, Confirmation: true}); p.Earning.Pending != want || p.Returns.Policy != domain.ReturnsOnlyPending {
		t.Errorf("pending %+v, returns %+v; want %+v and only_pending", p.Earning.Pending, p.Returns, want)
	}
}

// docs/program.md's complete example is a valid program with every setting
// set: it parses, and no part of it is left at its default.
func TestDocsCompleteExampleParses(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "program.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	start := strings.Index(text, "## A complete example")
	if start < 0 {
		t.Fatal("docs/program.md has no section \"A complete example\"")
	}
	block := text[start:]
	block = block[strings.Index(block, "```yaml\n")+len("```yaml\n"):]
	block = block[:strings.Index(block, "```")]
	p, err := Parse([]byte(block))
	if err != nil {
		t.Fatalf("the complete example: %v", err)
	}
	unset := map[string]bool{
		"expiry notices": p.Earning.Expiry.NoticeDays == 0, "pending": p.Earning.Pending.Days == 0,
		"referral": p.Earning.Referral.ReferrerPoints == 0, "yearly": p.Earning.Yearly.BirthdayPoints == 0,
		"rules": len(p.Earning.Rules) < 4, "returns": p.Returns.Policy == "", "order bonuses": p.Returns.OrderBonuses == "", "tier policy": p.TierPolicy.Downgrade == "",
		"rewards": len(p.Redemption.Rewards) == 0, "transfers": !p.Transfers.Allowed, "effective_from": p.EffectiveFrom.IsZero(),
	}
	for what, missing := range unset {
		if missing {
			t.Errorf("the complete example leaves out %s", what)
		}
	}
}
