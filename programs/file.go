package programs

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"

	"github.com/pointsledger/loyalty/domain"
)

// file is a program file as written. Every leaf is a scalar, so that numbers
// are read from their text (never through float64) and a value of the wrong
// type is reported with its YAML path rather than a Go type name.
type file struct {
	Version          scalar           `yaml:"version"`
	EffectiveFrom    scalar           `yaml:"effective_from"`
	Currency         scalar           `yaml:"currency"`
	MaxOrderAmount   scalar           `yaml:"max_order_amount"`
	RefundWindowDays scalar           `yaml:"refund_window_days"`
	AcceptEventsFrom scalar           `yaml:"accept_events_from"`
	Earning          fileEarning      `yaml:"earning"`
	Tiers            []fileTier       `yaml:"tiers"`
	Returns          fileReturns      `yaml:"returns"`
	Redemption       fileRedemption   `yaml:"redemption"`
	TierPolicy       fileTierPolicy   `yaml:"tier_policy"`
	Transfers        fileTransfers    `yaml:"transfers"`
	Adjustments      fileAdjust       `yaml:"adjustments"`
	Experiments      []fileExperiment `yaml:"experiments"`
}

type fileExperiment struct {
	ID          scalar    `yaml:"id"`
	Description scalar    `yaml:"description"`
	Rules       []scalar  `yaml:"rules"`
	Arms        []fileArm `yaml:"arms"`
	From        scalar    `yaml:"from"`
	To          scalar    `yaml:"to"`
}

type fileArm struct {
	Name  scalar `yaml:"name"`
	Share scalar `yaml:"share"`
	// Rules is nil when the arm does not say: it is given them all.
	Rules *[]scalar `yaml:"rules"`
}

// DefaultCancelDays is how long the back office may cancel a redemption
// when the program file does not say (redemption.cancel_days).
const DefaultCancelDays = 30

type fileAdjust struct {
	MaxPoints     scalar `yaml:"max_points"`
	AllowNegative scalar `yaml:"allow_negative"`
}

type fileTransfers struct {
	Allowed   scalar `yaml:"allowed"`
	MinPoints scalar `yaml:"min_points"`
}

type fileReferral struct {
	ReferrerPoints scalar `yaml:"referrer_points"`
	ReferredPoints scalar `yaml:"referred_points"`
}

type fileTierPolicy struct {
	Measure   scalar `yaml:"measure"`
	Period    scalar `yaml:"period"`
	Days      scalar `yaml:"days"`
	Downgrade scalar `yaml:"downgrade"`
	GraceDays scalar `yaml:"grace_days"`
}

type fileRedemption struct {
	Rewards      []fileReward `yaml:"rewards"`
	DirectPoints scalar       `yaml:"direct_points"`
	MinPoints    scalar       `yaml:"min_points"`
	CancelDays   scalar       `yaml:"cancel_days"`
}

type fileReward struct {
	ID      scalar          `yaml:"id"`
	Name    scalar          `yaml:"name"`
	Points  scalar          `yaml:"points"`
	Tiers   []scalar        `yaml:"tiers"`
	Limit   fileRewardLimit `yaml:"limit"`
	Stock   scalar          `yaml:"stock"`
	Voucher *fileVoucher    `yaml:"voucher"`
}

// fileVoucher is a reward's voucher terms: each unit redeemed issues a code.
type fileVoucher struct {
	ValidDays scalar `yaml:"valid_days"`
}

type fileRewardLimit struct {
	Count scalar `yaml:"count"`
	Per   scalar `yaml:"per"`
}

type fileReturns struct {
	Policy           scalar `yaml:"policy"`
	OrderBonuses     scalar `yaml:"order_bonuses"`
	DebtFromEarnings scalar `yaml:"debt_from_earnings"`
}

type fileEarning struct {
	Currencies          map[string]fileCurrency `yaml:"currencies"`
	CategoryMultipliers map[string]scalar       `yaml:"category_multipliers"`
	PerOrderCap         scalar                  `yaml:"per_order_cap"`
	FirstPurchaseBonus  scalar                  `yaml:"first_purchase_bonus"`
	FeedbackBonus       scalar                  `yaml:"feedback_bonus"`
	VisitBonus          fileVisitBonus          `yaml:"visit_bonus"`
	Rules               []fileRule              `yaml:"rules"`
	Expiry              fileExpiry              `yaml:"expiry"`
	Pending             filePending             `yaml:"pending"`
	Referral            fileReferral            `yaml:"referral"`
	Yearly              fileYearly              `yaml:"yearly"`
}

type fileYearly struct {
	BirthdayPoints    scalar `yaml:"birthday_points"`
	AnniversaryPoints scalar `yaml:"anniversary_points"`
}

type filePending struct {
	Days         scalar `yaml:"days"`
	Confirmation scalar `yaml:"confirmation"`
}

type fileExpiry struct {
	Policy     scalar `yaml:"policy"`
	Days       scalar `yaml:"days"`
	Periods    scalar `yaml:"periods"`
	NoticeDays scalar `yaml:"notice_days"`
}

type fileRule struct {
	ID          scalar    `yaml:"id"`
	Description scalar    `yaml:"description"`
	On          scalar    `yaml:"on"`
	Scope       scalar    `yaml:"scope"`
	When        scalar    `yaml:"when"`
	Award       fileAward `yaml:"award"`
	Priority    scalar    `yaml:"priority"`
	Stop        scalar    `yaml:"stop"`
	ValidFrom   scalar    `yaml:"valid_from"`
	ValidTo     scalar    `yaml:"valid_to"`
	Limit       fileLimit `yaml:"limit"`
	OncePerDays scalar    `yaml:"once_per_days"`
	Days        scalar    `yaml:"days"`
}

type fileAward struct {
	Points        scalar `yaml:"points"`
	PointsPerUnit scalar `yaml:"points_per_unit"`
	Multiplier    scalar `yaml:"multiplier"`
	Offer         scalar `yaml:"offer"`
}

type fileLimit struct {
	Points scalar `yaml:"points"`
	Per    scalar `yaml:"per"`
}

type fileCurrency struct {
	PointsPerUnit scalar `yaml:"points_per_unit"`
	Rate          scalar `yaml:"rate"`
}

type fileVisitBonus struct {
	Points    scalar `yaml:"points"`
	MaxPerDay scalar `yaml:"max_per_day"`
}

type fileTier struct {
	Name             scalar `yaml:"name"`
	QualifyingSpend  scalar `yaml:"qualifying_spend"`
	QualifyingPoints scalar `yaml:"qualifying_points"`
	Multiplier       scalar `yaml:"multiplier"`
}

// Bounds on numbers, so that nothing derived from them overflows.
const (
	maxPoints       = domain.MaxAmount
	maxRefundDays   = 100_000
	maxVisitsPerDay = 1_000_000
	maxMoneyDigits  = 15
)

// Wording shared by several messages.
const (
	rootNotAMapping  = "the document must be a mapping of program settings"
	moneyFormatHint  = "a decimal amount such as 1500.00"
	wholeNumberHint  = "a whole number"
	decimalRatioHint = "a decimal number such as 1.25"
)

// scalar keeps the YAML node of a leaf value as written; it is converted
// later, when the field's path and the program currency are known.
type scalar struct {
	node ast.Node
}

// UnmarshalYAML implements yaml.NodeUnmarshaler. It never fails: bad values
// are reported by the conversion, which knows the field's name.
func (s *scalar) UnmarshalYAML(n ast.Node) error {
	s.node = n
	return nil
}

func (s scalar) present() bool {
	return s.node != nil && s.node.Type() != ast.NullType
}

func (s scalar) line() int {
	if s.node == nil || s.node.GetToken() == nil {
		return 0
	}
	return s.node.GetToken().Position.Line
}

// text returns the value's text as written in the file; mappings, sequences,
// booleans and other non-scalar or non-plain values are an error.
func (s scalar) text() (string, error) {
	switch n := s.node.(type) {
	case *ast.StringNode:
		return n.Value, nil
	case *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		if tk := n.GetToken(); tk != nil {
			return tk.Value, nil
		}
		return n.String(), nil
	case *ast.LiteralNode:
		return "", errors.New("got a block scalar (| or >)")
	case *ast.TagNode:
		return "", fmt.Errorf("got a value tagged %s; tags are not supported", n.Start.Value)
	}
	return "", fmt.Errorf("got %s", article(s.node.Type().YAMLName()))
}

// article prefixes a YAML type name with "a" or "an".
func article(name string) string {
	if strings.ContainsAny(name[:1], "aeiou") {
		return "an " + name
	}
	return "a " + name
}

// decodeAll reads every YAML document of a file, one program version each.
// Unknown keys, values of the wrong shape and YAML syntax errors are reported
// with their line.
func decodeAll(data []byte) ([]*file, error) {
	doc, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, yamlProblem(nil, err)
	}
	var files []*file
	for i, d := range doc.Docs {
		if d.Body == nil {
			continue // an empty document, such as after a trailing ---
		}
		f, err := decodeDoc(d.Body)
		if err != nil {
			if len(doc.Docs) > 1 {
				err = fmt.Errorf("document %d: %w", i+1, err)
			}
			return nil, err
		}
		files = append(files, f)
	}
	if len(files) == 0 {
		return nil, errors.New("is empty")
	}
	return files, nil
}

func decodeDoc(body ast.Node) (*file, error) {
	if tag := findTag(body); tag != nil {
		reason := fmt.Sprintf("got a value tagged %s; tags are not supported (line %d)", tag.Start.Value, tag.Start.Position.Line)
		if field := pathOf(body, tag.Start); field != "" {
			return nil, &domain.FieldError{Field: field, Reason: reason}
		}
		return nil, errors.New(reason)
	}
	return decodeBody(body)
}

// decodeBody maps the document onto a file. go-yaml has panicked on odd
// inputs (found by FuzzParse); a program file is operator input, so a panic
// becomes an error rather than a crash at start.
func decodeBody(body ast.Node) (f *file, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("is not a program file the YAML decoder can read (%v)", r)
		}
	}()
	f = new(file)
	if err := yaml.NodeToValue(body, f, yaml.DisallowUnknownField()); err != nil {
		return nil, yamlProblem(body, err)
	}
	return f, nil
}

// tagFinder stops at the first explicit YAML tag (!foo, !!str).
type tagFinder struct{ found *ast.TagNode }

func (t *tagFinder) Visit(n ast.Node) ast.Visitor {
	if t.found != nil {
		return nil
	}
	if tag, ok := n.(*ast.TagNode); ok {
		t.found = tag
		return nil
	}
	return t
}

func findTag(root ast.Node) *ast.TagNode {
	var t tagFinder
	ast.Walk(&t, root)
	return t.found
}

// yamlProblem turns a go-yaml error into one that names the YAML path and
// line instead of Go types.
func yamlProblem(root ast.Node, err error) error {
	var ye yaml.Error
	if !errors.As(err, &ye) || ye.GetToken() == nil {
		return err
	}
	tk := ye.GetToken()
	line := tk.Position.Line
	field := pathOf(root, tk)
	var reason string
	var unknown *yaml.UnknownFieldError
	var unexpected *yaml.UnexpectedNodeTypeError
	switch {
	case errors.As(err, &unknown):
		reason = "unknown key"
		if field == "" {
			field = tk.Value
		}
	case errors.As(err, &unexpected) && field == "":
		return fmt.Errorf("line %d: %s, got %s", line, rootNotAMapping, article(unexpected.Actual.YAMLName()))
	case errors.As(err, &unexpected):
		reason = fmt.Sprintf("must be %s, got %s", article(unexpected.Expected.YAMLName()), article(unexpected.Actual.YAMLName()))
	}
	if field == "" || reason == "" {
		return fmt.Errorf("line %d: %s", line, ye.GetMessage())
	}
	return &domain.FieldError{Field: field, Reason: fmt.Sprintf("%s (line %d)", reason, line)}
}

// pathOf finds the node a go-yaml error points at and returns its path
// without the leading "$." ("earning.visit_bonus"); for a mapping key it is
// the path of the key's value. It returns "" for the document root or when
// the token is not found.
func pathOf(root ast.Node, tk *token.Token) string {
	if root == nil {
		return ""
	}
	var found ast.Node
	ast.Walk(visitor(func(n ast.Node) bool {
		if found != nil {
			return false
		}
		if mv, ok := n.(*ast.MappingValueNode); ok && mv.Key != nil && mv.Key.GetToken() == tk && mv.Value != nil {
			found = mv.Value
			return false
		}
		if n.GetToken() == tk {
			found = n
			return false
		}
		return true
	}), root)
	if found == nil {
		return ""
	}
	path := strings.TrimPrefix(found.GetPath(), "$")
	return strings.TrimPrefix(path, ".")
}

type visitor func(ast.Node) bool

func (v visitor) Visit(n ast.Node) ast.Visitor {
	if n == nil || !v(n) {
		return nil
	}
	return v
}

// converter turns a file into a domain.Program, collecting every problem.
type converter struct {
	problems []error
	// reported holds the fields already known to be wrong (or impossible to
	// read); Program.Validate's view of them would only repeat or confuse.
	reported map[string]bool
}

func (c *converter) fail(field string, s scalar, format string, args ...any) {
	reason := fmt.Sprintf(format, args...)
	if line := s.line(); line > 0 {
		reason += fmt.Sprintf(" (line %d)", line)
	}
	c.problems = append(c.problems, &domain.FieldError{Field: field, Reason: reason})
	c.reported[field] = true
}

// date reads a date (2026-03-01, midnight UTC) or an RFC 3339 time, as UTC;
// zero when absent.
func (c *converter) date(field string, s scalar) time.Time {
	if !s.present() {
		return time.Time{}
	}
	v, err := s.text()
	if err != nil {
		c.fail(field, s, "must be a date such as 2026-03-01, %v", err)
		return time.Time{}
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		c.fail(field, s, "must be a date such as 2026-03-01 (UTC) or an RFC 3339 time, got %q", v)
		return time.Time{}
	}
	return t.UTC()
}

// boolean reads true or false (false when absent).
func (c *converter) boolean(field string, s scalar) bool {
	if !s.present() {
		return false
	}
	b, ok := s.node.(*ast.BoolNode)
	if !ok {
		c.fail(field, s, "must be true or false")
		return false
	}
	return b.Value
}

// text reads a string value ("" when absent).
func (c *converter) text(field string, s scalar) string {
	if !s.present() {
		return ""
	}
	v, err := s.text()
	if err != nil {
		c.fail(field, s, "must be a string, %v", err)
	}
	return v
}

// integer reads a whole number between 0 and max (0 when absent). Negative
// numbers are returned as read, for Program.Validate to report.
func (c *converter) integer(field string, s scalar, max int64) int64 {
	if !s.present() {
		return 0
	}
	v, err := s.text()
	if err != nil {
		c.fail(field, s, "must be %s, %v", wholeNumberHint, err)
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 64)
	switch {
	case err != nil && errors.Is(err, strconv.ErrRange), err == nil && n > max:
		c.fail(field, s, "must be a whole number from 0 to %d, got %s", max, v)
		return 0
	case err != nil:
		c.fail(field, s, "must be %s, got %q", wholeNumberHint, v)
		return 0
	}
	return n
}

// ratio reads an exact decimal such as "1.25"; required ratios that are
// absent are reported, optional ones return def.
func (c *converter) ratio(field string, s scalar, required bool, def domain.Ratio) domain.Ratio {
	if !s.present() {
		if required {
			c.fail(field, s, "is required")
		}
		return def
	}
	v, err := s.text()
	if err != nil {
		c.fail(field, s, "must be %s, %v", decimalRatioHint, err)
		return def
	}
	if _, _, _, ok := splitDecimal(v); !ok {
		c.fail(field, s, "must be %s, got %q", decimalRatioHint, v)
		return def
	}
	r, err := domain.ParseRatio(v)
	if err != nil {
		c.fail(field, s, "must be %s: %v", decimalRatioHint, err)
		return def
	}
	return r
}

// money reads an amount in major units of currency ("1500.00") as minor
// units, refusing more decimals than the currency has. When the currency is
// itself invalid the amount cannot be read; Validate reports the currency.
func (c *converter) money(field string, s scalar, currency string, required bool) int64 {
	if !s.present() {
		if required {
			c.fail(field, s, "is required")
		}
		return 0
	}
	exp, ok := domain.Currencies[currency]
	if !ok {
		c.reported[field] = true
		return 0
	}
	v, err := s.text()
	if err != nil {
		c.fail(field, s, "must be %s, %v", moneyFormatHint, err)
		return 0
	}
	n, err := parseMinor(v, currency, exp)
	if err != nil {
		c.fail(field, s, "%v", err)
		return 0
	}
	return n
}

// parseMinor reads a plain decimal ("-12.5", "1500.00") in major units as
// minor units of a currency with exp decimal places.
func parseMinor(text, currency string, exp int) (int64, error) {
	neg, whole, frac, ok := splitDecimal(text)
	if !ok {
		return 0, fmt.Errorf("must be %s, got %q", moneyFormatHint, text)
	}
	if len(frac) > exp {
		return 0, fmt.Errorf("%q has more decimal places than %s has (%d)", text, currency, exp)
	}
	if len(whole)+exp > maxMoneyDigits {
		return 0, fmt.Errorf("%q is beyond any real amount", text)
	}
	n, err := strconv.ParseInt(whole+frac+strings.Repeat("0", exp-len(frac)), 10, 64)
	if err != nil || n > domain.MaxAmount {
		return 0, fmt.Errorf("%q is beyond any real amount", text)
	}
	if neg {
		n = -n
	}
	return n, nil
}

// splitDecimal splits a plain decimal ("-12.50") into its sign, whole and
// fractional digits; ok is false for anything else ("1e3", "0x10", ".5").
func splitDecimal(text string) (neg bool, whole, frac string, ok bool) {
	digits, neg := strings.CutPrefix(text, "-")
	whole, frac, dot := strings.Cut(digits, ".")
	ok = isDigits(whole) && (!dot || isDigits(frac))
	return neg, whole, frac, ok
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// program converts the file and validates the result, returning every
// problem sorted by field.
func (f *file) program() (*domain.Program, []error) {
	c := &converter{reported: map[string]bool{}}
	p := &domain.Program{
		Version:       c.text("version", f.Version),
		EffectiveFrom: c.date("effective_from", f.EffectiveFrom),
		Currency:      c.text("currency", f.Currency),
	}
	p.MaxOrderAmount = c.money("max_order_amount", f.MaxOrderAmount, p.Currency, false)
	p.RefundWindow = time.Duration(c.integer("refund_window_days", f.RefundWindowDays, maxRefundDays)) * 24 * time.Hour
	p.AcceptEventsFrom = c.date("accept_events_from", f.AcceptEventsFrom)
	switch from := p.AcceptEventsFrom; {
	case !f.AcceptEventsFrom.present() || c.reported["accept_events_from"]:
	case from.Before(domain.MinEventTime):
		c.fail("accept_events_from", f.AcceptEventsFrom, "must be %s or later: before it a time is a zero value, not history",
			domain.MinEventTime.Format(time.DateOnly))
	case !p.EffectiveFrom.IsZero() && from.After(p.EffectiveFrom):
		// The version would refuse the events of its own period, the
		// engine's clock and service requests among them.
		c.fail("accept_events_from", f.AcceptEventsFrom, "must not be after effective_from (%s)", p.EffectiveFrom.Format(time.RFC3339))
	}

	e := f.Earning
	p.Earning.Currencies = make(map[string]domain.CurrencyRule, len(e.Currencies))
	for _, code := range slices.Sorted(maps.Keys(e.Currencies)) {
		fc, field := e.Currencies[code], "earning.currencies."+code
		rule := domain.CurrencyRule{
			PointsPerUnit:     c.ratio(field+".points_per_unit", fc.PointsPerUnit, true, domain.One),
			ToProgramCurrency: c.ratio(field+".rate", fc.Rate, false, domain.One),
		}
		if r := rule.ToProgramCurrency; code == p.Currency && r.Num != r.Den && !c.reported[field+".rate"] {
			c.fail(field+".rate", fc.Rate, "must be 1 (or left out) for the program currency, got %s", r)
		}
		p.Earning.Currencies[code] = rule
	}
	p.Earning.CategoryMultipliers = make(map[string]domain.Ratio, len(e.CategoryMultipliers))
	for _, cat := range slices.Sorted(maps.Keys(e.CategoryMultipliers)) {
		field := "earning.category_multipliers." + cat
		p.Earning.CategoryMultipliers[cat] = c.ratio(field, e.CategoryMultipliers[cat], true, domain.One)
	}
	p.Earning.PerOrderCap = c.integer("earning.per_order_cap", e.PerOrderCap, maxPoints)
	p.Earning.FirstPurchaseBonus = c.integer("earning.first_purchase_bonus", e.FirstPurchaseBonus, maxPoints)
	p.Earning.FeedbackBonus = c.integer("earning.feedback_bonus", e.FeedbackBonus, maxPoints)
	p.Earning.VisitBonus = c.integer("earning.visit_bonus.points", e.VisitBonus.Points, maxPoints)
	p.Earning.VisitBonusMaxPerDay = int(c.integer("earning.visit_bonus.max_per_day", e.VisitBonus.MaxPerDay, maxVisitsPerDay))

	p.Returns = domain.Returns{
		Policy:           domain.ReturnsPolicy(c.text("returns.policy", f.Returns.Policy)),
		OrderBonuses:     domain.OrderBonuses(c.text("returns.order_bonuses", f.Returns.OrderBonuses)),
		DebtFromEarnings: c.boolean("returns.debt_from_earnings", f.Returns.DebtFromEarnings),
	}
	p.Earning.Expiry = domain.Expiry{
		Policy:     domain.ExpiryPolicy(c.text("earning.expiry.policy", e.Expiry.Policy)),
		Days:       int(c.integer("earning.expiry.days", e.Expiry.Days, 36_500)),
		Periods:    int(c.integer("earning.expiry.periods", e.Expiry.Periods, 1200)),
		NoticeDays: int(c.integer("earning.expiry.notice_days", e.Expiry.NoticeDays, domain.MaxNoticeDays)),
	}
	p.Earning.Pending = domain.Pending{
		Days:         int(c.integer("earning.pending.days", e.Pending.Days, domain.MaxPendingDays)),
		Confirmation: c.boolean("earning.pending.confirmation", e.Pending.Confirmation),
	}
	for i, fr := range e.Rules {
		p.Earning.Rules = append(p.Earning.Rules, c.rule(fmt.Sprintf("earning.rules[%d]", i), fr))
	}
	for i, fx := range f.Experiments {
		p.Experiments = append(p.Experiments, c.experiment(fmt.Sprintf("experiments[%d]", i), fx))
	}

	tp := f.TierPolicy
	p.TierPolicy = domain.TierPolicy{
		Measure:   domain.TierMeasure(c.text("tier_policy.measure", tp.Measure)),
		Period:    domain.TierPeriod(c.text("tier_policy.period", tp.Period)),
		Days:      int(c.integer("tier_policy.days", tp.Days, 365)),
		Downgrade: domain.Downgrade(c.text("tier_policy.downgrade", tp.Downgrade)),
		GraceDays: int(c.integer("tier_policy.grace_days", tp.GraceDays, 365)),
	}
	byPoints := p.TierPolicy.Measure == domain.MeasurePoints
	for i, ft := range f.Tiers {
		field := fmt.Sprintf("tiers[%d]", i)
		p.Tiers = append(p.Tiers, domain.Tier{
			Name:             c.text(field+".name", ft.Name),
			QualifyingSpend:  c.money(field+".qualifying_spend", ft.QualifyingSpend, p.Currency, !byPoints),
			QualifyingPoints: c.integer(field+".qualifying_points", ft.QualifyingPoints, maxPoints),
			Multiplier:       c.ratio(field+".multiplier", ft.Multiplier, true, domain.One),
		})
	}

	p.Redemption = c.redemption(f.Redemption)
	p.Transfers = domain.Transfers{
		Allowed:   c.boolean("transfers.allowed", f.Transfers.Allowed),
		MinPoints: c.integer("transfers.min_points", f.Transfers.MinPoints, maxPoints),
	}
	p.Adjustments = domain.Adjustments{
		MaxPoints:     c.integer("adjustments.max_points", f.Adjustments.MaxPoints, domain.MaxPointsPerEvent),
		AllowNegative: c.boolean("adjustments.allow_negative", f.Adjustments.AllowNegative),
	}
	p.Earning.Yearly = domain.Yearly{
		BirthdayPoints:    c.integer("earning.yearly.birthday_points", e.Yearly.BirthdayPoints, maxPoints),
		AnniversaryPoints: c.integer("earning.yearly.anniversary_points", e.Yearly.AnniversaryPoints, maxPoints),
	}
	p.Earning.Referral = domain.Referral{
		ReferrerPoints: c.integer("earning.referral.referrer_points", e.Referral.ReferrerPoints, maxPoints),
		ReferredPoints: c.integer("earning.referral.referred_points", e.Referral.ReferredPoints, maxPoints),
	}

	problems := c.problems
	for _, err := range unwrapJoined(p.Validate()) {
		if fe, ok := err.(*domain.FieldError); ok && c.covers(fe.Field) {
			continue
		}
		problems = append(problems, err)
	}
	if len(problems) > 0 {
		sort.SliceStable(problems, func(i, j int) bool { return problems[i].Error() < problems[j].Error() })
		return nil, problems
	}
	return p, nil
}

// rule converts an earning rule; domain.Program.Validate checks it (and
// compiles its condition).
func (c *converter) rule(field string, fr fileRule) domain.Rule {
	r := domain.Rule{
		ID:          c.text(field+".id", fr.ID),
		Description: c.text(field+".description", fr.Description),
		When:        c.text(field+".when", fr.When),
		Priority:    int(c.integer(field+".priority", fr.Priority, 1_000_000)),
		Stop:        c.boolean(field+".stop", fr.Stop),
		ValidFrom:   c.date(field+".valid_from", fr.ValidFrom),
		ValidTo:     c.date(field+".valid_to", fr.ValidTo),
		Scope:       domain.ScopeEvent,
		On:          domain.TypePurchaseCompleted,
		Award: domain.Award{
			Points:        c.integer(field+".award.points", fr.Award.Points, maxPoints),
			PointsPerUnit: c.ratio(field+".award.points_per_unit", fr.Award.PointsPerUnit, false, domain.Ratio{}),
			Multiplier:    c.ratio(field+".award.multiplier", fr.Award.Multiplier, false, domain.Ratio{}),
			Offer:         c.text(field+".award.offer", fr.Award.Offer),
		},
		OncePerDays:  int(c.integer(field+".once_per_days", fr.OncePerDays, domain.MaxOncePerDays)),
		InactiveDays: int(c.integer(field+".days", fr.Days, domain.MaxOncePerDays)),
		Limit: domain.Limit{
			Points: c.integer(field+".limit.points", fr.Limit.Points, maxPoints),
			Per:    domain.LimitPeriod(c.text(field+".limit.per", fr.Limit.Per)),
		},
	}
	if scope := c.text(field+".scope", fr.Scope); scope != "" {
		r.Scope = domain.RuleScope(scope)
	}
	if on := c.text(field+".on", fr.On); on == string(domain.TriggerChange) || on == string(domain.TriggerInactivity) {
		r.On, r.Trigger = "", domain.Trigger(on)
	} else if on != "" {
		t, ok := domain.EventTypeForKind(on)
		if !ok {
			c.fail(field+".on", fr.On, "must be purchase, visit, feedback, enrolment, change or inactivity, got %q", on)
		}
		r.On = t
	}
	return r
}

// experiment converts an experiment; domain.Program.Validate checks it.
func (c *converter) experiment(field string, fx fileExperiment) domain.Experiment {
	x := domain.Experiment{
		ID:          c.text(field+".id", fx.ID),
		Description: c.text(field+".description", fx.Description),
		From:        c.date(field+".from", fx.From),
		To:          c.date(field+".to", fx.To),
	}
	for i, r := range fx.Rules {
		x.Rules = append(x.Rules, c.text(fmt.Sprintf("%s.rules[%d]", field, i), r))
	}
	for i, fa := range fx.Arms {
		f := fmt.Sprintf("%s.arms[%d]", field, i)
		arm := domain.Arm{Name: c.text(f+".name", fa.Name), Share: int(c.integer(f+".share", fa.Share, 100))}
		if fa.Rules != nil {
			arm.Rules = []string{}
			for j, r := range *fa.Rules {
				arm.Rules = append(arm.Rules, c.text(fmt.Sprintf("%s.rules[%d]", f, j), r))
			}
		}
		x.Arms = append(x.Arms, arm)
	}
	return x
}

// redemption converts the catalogue; domain.Program.Validate checks it.
func (c *converter) redemption(fr fileRedemption) domain.Redemption {
	r := domain.Redemption{
		DirectPoints: c.boolean("redemption.direct_points", fr.DirectPoints),
		MinPoints:    c.integer("redemption.min_points", fr.MinPoints, maxPoints),
		CancelDays:   DefaultCancelDays,
	}
	if fr.CancelDays.present() {
		r.CancelDays = int(c.integer("redemption.cancel_days", fr.CancelDays, domain.MaxCancelDays))
	}
	for i, fw := range fr.Rewards {
		field := fmt.Sprintf("redemption.rewards[%d]", i)
		w := domain.Reward{
			ID:     c.text(field+".id", fw.ID),
			Name:   c.text(field+".name", fw.Name),
			Points: c.integer(field+".points", fw.Points, maxPoints),
			Stock:  c.integer(field+".stock", fw.Stock, maxPoints),
			Limit: domain.RewardLimit{
				Count: c.integer(field+".limit.count", fw.Limit.Count, domain.MaxRedeemQuantity*1000),
				Per:   domain.LimitPeriod(c.text(field+".limit.per", fw.Limit.Per)),
			},
		}
		for j, t := range fw.Tiers {
			w.Tiers = append(w.Tiers, c.text(fmt.Sprintf("%s.tiers[%d]", field, j), t))
		}
		if fw.Voucher != nil {
			w.VoucherDays = int(c.integer(field+".voucher.valid_days", fw.Voucher.ValidDays, domain.MaxVoucherDays))
			if w.VoucherDays == 0 && !c.covers(field+".voucher.valid_days") {
				c.fail(field+".voucher.valid_days", fw.Voucher.ValidDays, "is required: how many days a voucher code is valid (1 to %d)", domain.MaxVoucherDays)
			}
		}
		r.Rewards = append(r.Rewards, w)
	}
	return r
}

// covers reports whether field, or a field containing it, was reported.
func (c *converter) covers(field string) bool {
	for {
		if c.reported[field] {
			return true
		}
		i := strings.LastIndexAny(field, ".[")
		if i < 0 {
			return false
		}
		field = field[:i]
	}
}
