package simulate_test

import (
	"errors"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/domain/simulate"
)

// yearOf2000 is the reference run of the distribution tests: 2,000 members
// for a year (about 47,000 events). The generator is deterministic, so the
// tolerances below cannot flake; they are wide so that a deliberate change
// of the model does not break them for no reason.
var yearOf2000 = simulate.Config{Members: 2000, Days: 365, Seed: 1}

func generate(t testing.TB, cfg simulate.Config) []domain.Event {
	t.Helper()
	events, err := simulate.All(cfg)
	if err != nil {
		t.Fatalf("All(%+v): %v", cfg, err)
	}
	return events
}

func TestSameSeedSameEvents(t *testing.T) {
	a := generate(t, yearOf2000)
	b := generate(t, yearOf2000)
	if got, want := len(b), len(a); got != want {
		t.Fatalf("second run has %d events, first had %d", got, want)
	}
	for i := range min(5000, len(a)) {
		if !reflect.DeepEqual(a[i], b[i]) {
			t.Fatalf("event %d differs:\n%+v\n%+v", i, a[i], b[i])
		}
	}
	// The Generator gives what All gives.
	g, err := simulate.New(yearOf2000)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for e, ok := g.Next(); ok; e, ok = g.Next() {
		if n < len(a) && a[n].ID != e.ID {
			t.Fatalf("Generator event %d has id %s, All's has %s", n, e.ID, a[n].ID)
		}
		n++
	}
	if n != len(a) {
		t.Fatalf("Generator gave %d events, All %d", n, len(a))
	}
	if _, ok := g.Next(); ok {
		t.Fatal("Next returned an event after reporting the end")
	}
}

func TestDifferentSeedsDiffer(t *testing.T) {
	cfg := yearOf2000
	cfg.Members = 200
	a := generate(t, cfg)
	cfg.Seed = 2
	b := generate(t, cfg)
	if len(a) == len(b) {
		t.Errorf("seeds 1 and 2 both gave %d events", len(a))
	}
	same := 0
	for i := range min(len(a), len(b), 1000) {
		if a[i].ID == b[i].ID || a[i].OccurredAt.Equal(b[i].OccurredAt) && a[i].MemberID == b[i].MemberID {
			same++
		}
	}
	if same > 10 {
		t.Errorf("%d of the first 1000 events of seeds 1 and 2 coincide", same)
	}
}

// orderState is what the test knows of an order, to check its refunds.
type orderState struct {
	member   string
	placed   time.Time
	total    domain.Money
	refunded int64
	lines    map[string]domain.LineItem
	returned map[string]int64
}

// TestInvariants checks every event of a two-year run of 5,000 members
// (about 180,000 events) against the contract.
func TestInvariants(t *testing.T) {
	if testing.Short() {
		t.Skip("long run; skipped with -short")
	}
	cfg := simulate.Config{Members: 5000, Days: 730, Seed: 42, Start: time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)}
	g, err := simulate.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	end := cfg.Start.AddDate(0, 0, cfg.Days)
	enrolled := map[string]bool{}
	orders := map[string]*orderState{}
	requests := map[string]bool{}
	ids := map[string]bool{}
	var prev time.Time
	n := 0
	fail := func(e domain.Event, format string, args ...any) {
		t.Helper()
		t.Fatalf("event %d (%s %s of %q at %s): "+format, append([]any{n, e.Type, e.ID, e.MemberID, e.OccurredAt}, args...)...)
	}
	for e, ok := g.Next(); ok; e, ok = g.Next() {
		n++
		if err := domain.Validate(e, e.OccurredAt); err != nil {
			fail(e, "does not validate: %v", err)
		}
		if e.OccurredAt.Location() != time.UTC {
			fail(e, "time is not UTC")
		}
		if e.OccurredAt.Before(cfg.Start) || !e.OccurredAt.Before(end) {
			fail(e, "outside [%s, %s)", cfg.Start, end)
		}
		if e.OccurredAt.Before(prev) {
			fail(e, "before the previous event (%s)", prev)
		}
		prev = e.OccurredAt
		if u, err := uuid.Parse(e.ID); err != nil || u.Version() != 4 || u.Variant() != uuid.RFC4122 {
			fail(e, "id is not a version 4 UUID (%v)", err)
		}
		if ids[e.ID] {
			fail(e, "duplicate id")
		}
		ids[e.ID] = true
		if e.Source != simulate.Source {
			fail(e, "source %q", e.Source)
		}
		if e.Type == domain.TypeMemberEnrolled {
			if enrolled[e.MemberID] {
				fail(e, "member enrolled twice")
			}
			enrolled[e.MemberID] = true
			continue
		}
		if !enrolled[e.MemberID] {
			fail(e, "member has not enrolled yet")
		}
		switch b := e.Body.(type) {
		case domain.Purchase:
			if orders[b.OrderID] != nil {
				fail(e, "order id %q used twice", b.OrderID)
			}
			if n := len(b.Lines); n < 1 || n > 4 {
				fail(e, "has %d lines", n)
			}
			o := &orderState{member: e.MemberID, placed: e.OccurredAt, total: b.Total, lines: map[string]domain.LineItem{}, returned: map[string]int64{}}
			var sum int64
			for _, l := range b.Lines {
				if _, dup := o.lines[l.SKU]; dup {
					fail(e, "sku %s appears twice", l.SKU)
				}
				if !slices.Contains([]string{"grocery", "beauty", "electronics", "fashion", "home", "toys"}, l.Category) {
					fail(e, "unknown category %q", l.Category)
				}
				if l.UnitPrice <= 0 {
					fail(e, "unit price %d", l.UnitPrice)
				}
				o.lines[l.SKU] = l
				sum += l.Quantity * l.UnitPrice
			}
			if b.Total.Minor > sum {
				fail(e, "total %d exceeds the lines' %d", b.Total.Minor, sum)
			}
			orders[b.OrderID] = o
		case domain.Refund:
			o := orders[b.OrderID]
			if o == nil || o.member != e.MemberID {
				fail(e, "refund of order %q, not an earlier order of this member", b.OrderID)
			}
			if !o.placed.Before(e.OccurredAt) {
				fail(e, "refund not after its order (%s)", o.placed)
			}
			if d := e.OccurredAt.Sub(o.placed); d > 28*24*time.Hour {
				fail(e, "refund %s after the order", d)
			}
			left := o.total.Minor - o.refunded
			var amount int64
			if len(b.Lines) == 0 {
				if b.Amount.Currency != o.total.Currency {
					fail(e, "refund in %s of an order in %s", b.Amount.Currency, o.total.Currency)
				}
				amount = b.Amount.Minor
				if amount <= 0 {
					fail(e, "refund of %d", amount)
				}
			}
			for _, rl := range b.Lines {
				l, ok := o.lines[rl.SKU]
				if !ok {
					fail(e, "returns sku %s not in the order", rl.SKU)
				}
				o.returned[rl.SKU] += rl.Quantity
				if o.returned[rl.SKU] > l.Quantity {
					fail(e, "%d of sku %s returned in all, %d bought", o.returned[rl.SKU], rl.SKU, l.Quantity)
				}
				amount += rl.Quantity * l.UnitPrice
			}
			if len(b.Lines) > 0 {
				amount = min(amount, left) // the engine caps returned lines at what is left
			}
			if amount > left {
				fail(e, "refund of %d exceeds the %d left", amount, left)
			}
			if left == 0 {
				fail(e, "refund of a fully refunded order")
			}
			o.refunded += amount
		case domain.Feedback:
			if b.OrderID != "" {
				if o := orders[b.OrderID]; o == nil || o.member != e.MemberID || !o.placed.Before(e.OccurredAt) {
					fail(e, "feedback on order %q, not an earlier order of this member", b.OrderID)
				}
			}
		case domain.Visit:
			if b.Channel == "" {
				fail(e, "visit without channel")
			}
		case domain.TransferRequest:
			if b.ToMemberID == e.MemberID || b.Points <= 0 {
				fail(e, "transfer %+v", b)
			}
		case domain.Confirmation:
			if o := orders[b.OrderID]; o == nil || o.member != e.MemberID || !o.placed.Before(e.OccurredAt) {
				fail(e, "confirmation of order %q, not an earlier order of this member", b.OrderID)
			}
		case domain.RedeemRequest:
			if requests[b.RequestID] {
				fail(e, "request id %q used twice", b.RequestID)
			}
			requests[b.RequestID] = true
			if (b.RewardID == "") == (b.Points == 0) || b.Channel == "" {
				fail(e, "redemption %+v: want a reward or points, and a channel", b)
			}
		default:
			fail(e, "unexpected body %T", e.Body)
		}
	}
	if got, want := len(enrolled), cfg.Members; got != want {
		t.Errorf("%d members enrolled, want %d", got, want)
	}
	if n < 100_000 {
		t.Errorf("only %d events", n)
	}
	t.Logf("%d events, %d orders, all valid", n, len(orders))
}

// TestEngineAcceptsEverything folds a run through the rules engine: no event
// may be rejected (unknown orders, refunds beyond the order, duplicates...).
func TestEngineAcceptsEverything(t *testing.T) {
	p := &domain.Program{
		Version:  "sim-1",
		Currency: "EUR",
		Earning: domain.Earning{
			Currencies: map[string]domain.CurrencyRule{
				"EUR": {PointsPerUnit: domain.One, ToProgramCurrency: domain.One},
				"USD": {PointsPerUnit: domain.One, ToProgramCurrency: domain.Ratio{Num: 93, Den: 100}},
				"GBP": {PointsPerUnit: domain.One, ToProgramCurrency: domain.Ratio{Num: 118, Den: 100}},
			},
			FirstPurchaseBonus: 100, FeedbackBonus: 10, VisitBonus: 5, VisitBonusMaxPerDay: 1,
		},
		Tiers: []domain.Tier{
			{Name: "bronze", Multiplier: domain.One},
			{Name: "silver", QualifyingSpend: 50000, Multiplier: domain.Ratio{Num: 3, Den: 2}},
		},
		RefundWindow: 30 * 24 * time.Hour,
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	members := map[string]*domain.Member{}
	for _, e := range generate(t, yearOf2000) {
		m := members[e.MemberID]
		if m == nil {
			m = domain.NewMember(e.MemberID)
			members[e.MemberID] = m
		}
		if _, err := domain.Apply(m, e, p); err != nil {
			t.Fatalf("%s %s of %q at %s rejected: %v", e.Type, e.ID, e.MemberID, e.OccurredAt, err)
		}
	}
}

func TestDistribution(t *testing.T) {
	events := generate(t, yearOf2000)
	end := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	byType := map[domain.EventType]int{}
	purchases := map[string]int{}
	lastPurchase := map[string]time.Time{}
	var totals []int64
	var foreign, zero, discounted, refundLines, refundAmount, withRating, ratingSum, withComment int
	lineCounts := map[int]int{}
	channels := map[string]int{}
	awkward := map[string]bool{}
	for _, e := range events {
		byType[e.Type]++
		if !strings.HasPrefix(e.MemberID, "m-") {
			awkward[e.MemberID] = true
		}
		switch b := e.Body.(type) {
		case domain.Purchase:
			purchases[e.MemberID]++
			lastPurchase[e.MemberID] = e.OccurredAt
			channels[b.Channel]++
			lineCounts[len(b.Lines)]++
			if b.Total.Currency != "EUR" {
				foreign++
			} else {
				totals = append(totals, b.Total.Minor)
			}
			var sum int64
			for _, l := range b.Lines {
				sum += l.Quantity * l.UnitPrice
			}
			switch {
			case b.Total.Minor == 0:
				zero++
			case b.Total.Minor < sum:
				discounted++
			}
		case domain.Refund:
			if len(b.Lines) > 0 {
				refundLines++
			} else {
				refundAmount++
			}
		case domain.Feedback:
			if b.Rating != nil {
				withRating++
				ratingSum += *b.Rating
			}
			if b.Comment != "" {
				withComment++
			}
		}
	}
	orders := byType[domain.TypePurchaseCompleted]
	share := func(n, of int) float64 { return float64(n) / float64(of) }
	check := func(name string, got, lo, hi float64) {
		t.Helper()
		if got < lo || got > hi {
			t.Errorf("%s = %.3f, want between %g and %g", name, got, lo, hi)
		}
	}

	check("enrolments", float64(byType[domain.TypeMemberEnrolled]), 2000, 2000)
	check("purchases per member", share(orders, 2000), 2, 10)
	check("visits per purchase", share(byType[domain.TypeVisitRecorded], orders), 1.5, 8)
	check("refunds per purchase", share(byType[domain.TypePurchaseRefunded], orders), 0.02, 0.10)
	check("feedback per purchase", share(byType[domain.TypeFeedbackSubmitted], orders), 0.12, 0.6)
	check("foreign currency share", share(foreign, orders), 0.01, 0.06)
	check("fully discounted share", share(zero, orders), 0.001, 0.02)
	check("discounted share", share(discounted, orders), 0.1, 0.3)
	check("share of refunds by lines", share(refundLines, refundLines+refundAmount), 0.05, 0.4)
	check("mean rating", share(ratingSum, withRating), 3.6, 4.6)
	check("share of feedback with a comment", share(withComment, byType[domain.TypeFeedbackSubmitted]), 0.15, 0.45)
	check("awkward member id share", share(len(awkward), 2000), 0.01, 0.04)
	for n := 1; n <= 4; n++ {
		check("share of orders with "+string(rune('0'+n))+" lines", share(lineCounts[n], orders), 0.03, 0.6)
	}
	if channels["web"] == 0 || channels["app"] == 0 || len(channels) < 5 {
		t.Errorf("purchase channels %v: want stores, web and app", channels)
	}

	// Buy till you die: frequencies are skewed and many stop buying.
	var once, frequent, lapsed int
	for id, n := range purchases {
		if n == 1 {
			once++
		}
		if n >= 10 {
			frequent++
		}
		if n >= 2 && end.Sub(lastPurchase[id]) > 180*24*time.Hour {
			lapsed++
		}
	}
	if frequent == 0 {
		t.Error("no member made 10 or more purchases")
	}
	check("share of buyers with one purchase", share(once, len(purchases)), 0.2, 0.6)
	check("share of repeat buyers silent for the last 180 days", share(lapsed, len(purchases)), 0.05, 0.5)

	// Basket values: median about 35 EUR, a long tail to a few hundred.
	sort.Slice(totals, func(i, j int) bool { return totals[i] < totals[j] })
	check("median basket (EUR)", float64(totals[len(totals)/2])/100, 25, 50)
	check("99th percentile basket (EUR)", float64(totals[len(totals)*99/100])/100, 100, 600)
	check("largest basket (EUR)", float64(totals[len(totals)-1])/100, 200, 3000)
}

func TestEstimatedTotal(t *testing.T) {
	g, err := simulate.New(yearOf2000)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ok := g.Next(); ok; _, ok = g.Next() {
		n++
	}
	if est := g.EstimatedTotal(); est < n*8/10 || est > n*12/10 {
		t.Errorf("EstimatedTotal() = %d, generated %d", est, n)
	}
}

func TestDefaultsAndCurrencies(t *testing.T) {
	for _, tc := range []struct {
		currency string
		home     string
		foreign  []string
	}{
		{"", "EUR", []string{"USD", "GBP"}},
		{"USD", "USD", []string{"GBP", "EUR"}},
		{"JPY", "JPY", []string{"USD", "GBP"}},
		{"KWD", "KWD", []string{"USD", "GBP"}},
	} {
		t.Run(tc.home, func(t *testing.T) {
			events := generate(t, simulate.Config{Members: 500, Days: 365, Seed: 7, Currency: tc.currency})
			if first := events[0].OccurredAt; first.Before(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) || first.After(time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)) {
				t.Errorf("first event at %s, want on 2026-01-01 by default", first)
			}
			seen := map[string]int{}
			for _, e := range events {
				if err := domain.Validate(e, e.OccurredAt); err != nil {
					t.Fatalf("%+v: %v", e, err)
				}
				if p, ok := e.Body.(domain.Purchase); ok {
					seen[p.Total.Currency]++
				}
			}
			if seen[tc.home] == 0 {
				t.Errorf("no purchases in %s: %v", tc.home, seen)
			}
			for c := range seen {
				if c != tc.home && !slices.Contains(tc.foreign, c) {
					t.Errorf("purchases in %s, want only %s and %v", c, tc.home, tc.foreign)
				}
			}
		})
	}
}

func TestShortRuns(t *testing.T) {
	for _, cfg := range []simulate.Config{
		{Members: 1, Days: 1},
		{Members: 1, Days: 1, Seed: 99},
		{Members: 300, Days: 1},
		{Members: 50, Days: 3},
	} {
		events := generate(t, cfg)
		if len(events) < cfg.Members {
			t.Errorf("%+v: %d events, want at least one enrolment per member", cfg, len(events))
		}
		end := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, cfg.Days)
		for _, e := range events {
			if !e.OccurredAt.Before(end) {
				t.Errorf("%+v: event at %s, after the period", cfg, e.OccurredAt)
			}
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  simulate.Config
		want []string // substrings of the error; none means valid
	}{
		{"minimal", simulate.Config{Members: 1, Days: 1}, nil},
		{"largest", simulate.Config{Members: simulate.MaxMembers, Days: simulate.MaxDays, Currency: "JPY"}, nil},
		{"explicit start", simulate.Config{Members: 1, Days: 1, Start: time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)}, nil},
		{"zero", simulate.Config{}, []string{"members must be between 1 and 10000000, got 0", "days must be between 1 and 3650, got 0"}},
		{"too many", simulate.Config{Members: simulate.MaxMembers + 1, Days: simulate.MaxDays + 1}, []string{"got 10000001", "got 3651"}},
		{"negative", simulate.Config{Members: -1, Days: -5}, []string{"got -1", "got -5"}},
		{"start not midnight", simulate.Config{Members: 1, Days: 1, Start: time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)}, []string{"start must be midnight UTC, got 2026-01-01T09:00:00Z"}},
		{"start midnight elsewhere", simulate.Config{Members: 1, Days: 1, Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("CET", 3600))}, []string{"start must be midnight UTC"}},
		{"start too early", simulate.Config{Members: 1, Days: 1, Start: time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC)}, []string{"before 2000-01-01T00:00:00Z"}},
		{"currency", simulate.Config{Members: 1, Days: 1, Currency: "EURO"}, []string{`currency "EURO" is not an ISO 4217 currency code`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, simulate.ErrInvalidConfig) {
				t.Fatalf("Validate() = %v, want an error matching ErrInvalidConfig", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to mention %q", err, w)
				}
			}
			if _, err := simulate.New(tc.cfg); !errors.Is(err, simulate.ErrInvalidConfig) {
				t.Errorf("New() = %v, want ErrInvalidConfig", err)
			}
		})
	}
}
