package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/domain/simulate"
	"github.com/pointsledger/loyalty/handlers"
	"github.com/pointsledger/loyalty/programs"
	"github.com/pointsledger/loyalty/projections"
	"github.com/pointsledger/loyalty/projections/pgtest"
	"github.com/pointsledger/loyalty/streams"
	"github.com/pointsledger/loyalty/streams/natstest"
)

// programVersion is the default program named name, in effect from date
// ("" for always), earning perEUR points per euro.
func programVersion(t *testing.T, name, date, perEUR string) string {
	t.Helper()
	text := strings.Replace(string(programs.DefaultYAML), `EUR: {points_per_unit: "1"}`, `EUR: {points_per_unit: "`+perEUR+`"}`, 1)
	head := "version: " + name
	if date != "" {
		head += "\neffective_from: " + date
	}
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "version:") {
			lines[i] = head
		}
	}
	return strings.Join(lines, "\n")
}

// A program with versions: each event earns by the version in effect at its
// own time. serve reloads the file when it changes and keeps the running
// program when the new file is wrong; `program check` and `program
// evaluate` show the same.
func TestProgramVersionsReloadCheckAndEvaluate(t *testing.T) {
	env := natstest.Start(t)
	db := pgtest.New(t)
	natsURL := env.Server.ClientURL()
	file := filepath.Join(t.TempDir(), "program.yaml")
	write := func(text string) {
		t.Helper()
		// A new name and a rename, so that the watcher never sees half a file.
		tmp := file + ".new"
		if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, file); err != nil {
			t.Fatal(err)
		}
	}
	write(programVersion(t, "v1", "", "1"))
	srv := startServe(t, "--nats-url", natsURL, "--database-url", db.URL, "--data-dir", t.TempDir(), "--program", file)

	ctx := context.Background()
	pub := streams.NewPublisher(env.JS, nil)
	published := 0
	purchase := func(order string, at time.Time) {
		t.Helper()
		ev := domain.Event{ID: "pv-" + order, Type: domain.TypePurchaseCompleted, Source: "test", MemberID: "pv-member", OccurredAt: at,
			Body: domain.Purchase{OrderID: order, Total: domain.Money{Minor: 10000, Currency: "EUR"}, Channel: "web"}}
		if err := pub.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
		if err := pub.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		published++
		waitCaughtUp(t, env.JS, db.Pool, uint64(published))
	}
	base := func(order string) (points int64, version string) {
		t.Helper()
		err := db.Pool.QueryRow(ctx, `select points, program_version from loyalty.points_ledger
			where source_event_id = $1 and rule = 'base'`, "pv-"+order).Scan(&points, &version)
		if err != nil {
			t.Fatalf("base points of %s: %v", order, err)
		}
		return points, version
	}
	day := func(m, d int) time.Time { return time.Date(2026, time.Month(m), d, 12, 0, 0, 0, time.UTC) }

	purchase("o1", day(4, 1))
	if p, v := base("o1"); p != 100 || v != "v1" {
		t.Errorf("o1 earned %d base points under %s, want 100 under v1", p, v)
	}

	// v2 doubles the points from March: published in April, it applies to
	// April's events and not to February's.
	write(programVersion(t, "v1", "", "1") + "\n---\n" + programVersion(t, "v2", "2026-03-01", "2"))
	waitForLog(t, srv, `msg="program reloaded"`, 1)
	purchase("o2", day(4, 2))
	purchase("o3", day(2, 15))
	if p, v := base("o2"); p != 200 || v != "v2" {
		t.Errorf("o2 (April) earned %d base points under %s, want 200 under v2", p, v)
	}
	if p, v := base("o3"); p != 100 || v != "v1" {
		t.Errorf("o3 (February) earned %d base points under %s, want 100 under v1", p, v)
	}

	// A broken file is refused; the engine goes on with v1 and v2.
	good := file + ".good"
	if err := os.WriteFile(good, []byte(programVersion(t, "v1", "", "1")+"\n---\n"+programVersion(t, "v2", "2026-03-01", "2")), 0o644); err != nil {
		t.Fatal(err)
	}
	write(strings.Replace(programVersion(t, "v3", "2026-05-01", "3"), "currency: EUR", "currency: EURO", 1))
	waitForLog(t, srv, `msg="program refused; the engine keeps the program it runs"`, 1)
	purchase("o4", day(5, 2))
	if p, v := base("o4"); p != 200 || v != "v2" {
		t.Errorf("o4 after a refused reload earned %d under %s, want 200 under v2", p, v)
	}

	_, errOut, err := loyalty(t, "program", "check", file)
	if err == nil || !strings.Contains(errOut, "currency") {
		t.Errorf("program check of the broken file: err %v, stderr %q", err, errOut)
	}
	out := mustLoyalty(t, "program", "check", good)
	if !strings.Contains(out, "valid, 2 version(s)") || !strings.Contains(out, "2026-03-01T00:00:00Z") {
		t.Errorf("program check:\n%s", out)
	}

	// Dry run of a fifth purchase: v2's points, nothing published.
	evFile := filepath.Join(t.TempDir(), "event.json")
	data, err := streams.EncodeEvent(domain.Event{ID: "pv-o5", Type: domain.TypePurchaseCompleted, Source: "test", MemberID: "pv-member",
		OccurredAt: day(4, 20), Body: domain.Purchase{OrderID: "o5", Total: domain.Money{Minor: 5000, Currency: "EUR"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(evFile, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out = mustLoyalty(t, "program", "evaluate", evFile, "--program", good, "--nats-url", natsURL)
	for _, want := range []string{"program v2", "earns 100 points by rule base", "balance 800,"} {
		if !strings.Contains(out, want) {
			t.Errorf("program evaluate lacks %q:\n%s", want, out)
		}
	}
	// A redemption's dry run shows the points it spends and the balance
	// after them.
	data, err = streams.EncodeEvent(domain.Event{ID: "pv-r1", Type: domain.TypeRedemption, Source: "test", MemberID: "pv-member",
		OccurredAt: day(4, 20), Body: domain.RedeemRequest{RequestID: "pv-r1", RewardID: "coffee"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(evFile, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out = mustLoyalty(t, "program", "evaluate", evFile, "--program", good, "--nats-url", natsURL)
	for _, want := range []string{"PointsRedeemed: -150 points", "balance after: 650 (-150)"} {
		if !strings.Contains(out, want) {
			t.Errorf("program evaluate of a redemption lacks %q:\n%s", want, out)
		}
	}
	// An event the engine would dead-letter for its form says so as one it
	// would refuse by the rules does: the reason, and exit status 1.
	if err := os.WriteFile(evFile, []byte(`{"id":`), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, errOut, err := loyalty(t, "program", "evaluate", evFile, "--program", good, "--nats-url", natsURL); err == nil ||
		!strings.Contains(out, "rejected: malformed_json") {
		t.Errorf("program evaluate of malformed JSON: %v; want exit 1 and the reason:\n%s%s", err, out, errOut)
	}
	in, err := env.JS.Stream(ctx, streams.InputStream)
	if err != nil {
		t.Fatal(err)
	}
	if got := in.CachedInfo().State.Msgs; got != uint64(published) {
		t.Errorf("%d inputs after the dry run, want %d", got, published)
	}
	srv.stop(t)
}

// waitForLog waits until serve's log has n lines containing s.
func waitForLog(t *testing.T, s *server, text string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(s.log.String(), text) < n {
		if time.Now().After(deadline) {
			t.Fatalf("serve did not log %q within 30 s:\n%s", text, s.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A program with rules of each kind, through the binary on simulated
// activity: the read models equal the reference fold, and each rule shows in
// the points ledger.
func TestProgramRulesEndToEnd(t *testing.T) {
	rules := `
  rules:
    - id: weekend-bonus
      when: 'event.weekday in ["Sat", "Sun"] && event.amount >= 2000'
      award: {points: 25}
      limit: {points: 50, per: week}
    - id: beauty-lines
      scope: line
      when: 'line.category == "beauty"'
      award: {points_per_unit: "1"}
    - id: gold-double
      when: 'member.tier == "gold"'
      award: {multiplier: "2"}
      priority: 5
    - id: store-visit
      on: visit
      when: 'event.channel startsWith "store"'
      award: {points: 3}
      limit: {points: 6, per: day}
    - id: happy-feedback
      on: feedback
      when: event.rating >= 4
      award: {points: 10}
`
	file := writeProgram(t, defaultProgramWith(rules))
	mustLoyalty(t, "program", "check", file)
	sys := serveSimulation(t, simulate.Config{Members: 300, Days: 120, Seed: 12, Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, "--program", file)
	sys.assertMatchesFold(t, file)
	rows, err := sys.db.Pool.Query(context.Background(), `select rule, count(*), sum(points) from loyalty.points_ledger group by 1 order by 1`)
	if err != nil {
		t.Fatal(err)
	}
	fired := map[string]int{}
	for rows.Next() {
		var rule string
		var n, sum int64
		if err := rows.Scan(&rule, &n, &sum); err != nil {
			t.Fatal(err)
		}
		fired[rule] = int(n)
		t.Logf("%-22s %6d facts %8d points", rule, n, sum)
	}
	rows.Close()
	for _, id := range []string{"weekend-bonus", "beauty-lines", "store-visit", "happy-feedback"} {
		if fired[id] == 0 {
			t.Errorf("rule %s never fired in the simulation", id)
		}
	}
	sys.srv.stop(t)
}

// A member blocked upstream earns nothing until set active again; the read
// model and `member show` say so.
func TestBlockedMemberEarnsNothing(t *testing.T) {
	env := natstest.Start(t)
	db := pgtest.New(t)
	srv := startServe(t, "--nats-url", env.Server.ClientURL(), "--database-url", db.URL, "--data-dir", t.TempDir())
	ctx := context.Background()
	at := func(d int) time.Time { return time.Date(2026, 3, d, 12, 0, 0, 0, time.UTC) }
	buy := func(id string, d int) domain.Event {
		return domain.Event{ID: id, Type: domain.TypePurchaseCompleted, Source: "test", MemberID: "bm-1", OccurredAt: at(d),
			Body: domain.Purchase{OrderID: id, Total: domain.Money{Minor: 10000, Currency: "EUR"}}}
	}
	setStatus := func(id string, d int, s domain.MemberStatus) domain.Event {
		return domain.Event{ID: id, Type: domain.TypeMemberStatus, Source: "crm", MemberID: "bm-1", OccurredAt: at(d),
			Body: domain.StatusChange{Status: s, Reason: "test"}}
	}
	events := []domain.Event{buy("p1", 1), setStatus("s1", 2, domain.StatusBlocked), buy("p2", 3), setStatus("s2", 4, domain.StatusActive), buy("p3", 5)}
	pub := streams.NewPublisher(env.JS, nil)
	for _, e := range events[:3] {
		if err := pub.Publish(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	waitCaughtUp(t, env.JS, db.Pool, 3)
	out := mustLoyalty(t, "member", "show", "bm-1", "--database-url", db.URL)
	if !strings.Contains(out, "blocked") || !strings.Contains(out, "300 points") {
		t.Errorf("member show while blocked (want 300 points: p1's 100 and the first purchase bonus, nothing for p2):\n%s", out)
	}
	for _, e := range events[3:] {
		if err := pub.Publish(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	waitCaughtUp(t, env.JS, db.Pool, 5)
	want, _ := referenceFold(t, events)
	assertMembersEqual(t, db.Pool, want)
	var status string
	var purchases, balance int64
	if err := db.Pool.QueryRow(ctx, `select status, purchases_count, points_balance from loyalty.members where member_id = 'bm-1'`).Scan(&status, &purchases, &balance); err != nil {
		t.Fatal(err)
	}
	if status != "active" || purchases != 3 || balance != 400 {
		t.Errorf("after reactivation: status %s, %d purchases, %d points; want active, 3, 400", status, purchases, balance)
	}
	srv.stop(t)
}

// Points that expire 60 days after they were earned, on simulated activity
// through the binary: the read models equal the reference fold, expired
// points are in the points ledger, and every balance is made of dated lots.
func TestPointsExpiryEndToEnd(t *testing.T) {
	file := writeProgram(t, defaultProgramWith("  expiry: {policy: days, days: 60}\n"))
	sys := serveSimulation(t, simulate.Config{Members: 300, Days: 240, Seed: 21, Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, "--program", file)
	want := sys.assertMatchesFold(t, file)
	for id, m := range want {
		var lots int64
		for _, l := range m.ExpiringPoints() {
			lots += l.Points
		}
		if lots != m.Balance {
			t.Errorf("member %s: balance %d, lots %d", id, m.Balance, lots)
		}
	}
	var expiredRows, expiredPoints, undated int64
	if err := sys.db.Pool.QueryRow(context.Background(), `select
		(select count(*) from loyalty.points_ledger where kind = 'expired'),
		(select coalesce(-sum(points), 0) from loyalty.points_ledger where kind = 'expired'),
		(select count(*) from loyalty.points_ledger where kind = 'earned' and expires_at is null)`).Scan(&expiredRows, &expiredPoints, &undated); err != nil {
		t.Fatal(err)
	}
	if expiredRows == 0 || undated != 0 {
		t.Errorf("%d expired rows (%d points), %d earned rows without a date; want some expired, none undated", expiredRows, expiredPoints, undated)
	}
	t.Logf("%d expiries took %d points", expiredRows, expiredPoints)
	sys.srv.stop(t)
}

// Members who stop coming lose their points when they expire: serve's clock
// wakes them, and the engine expires what is due. Simulated activity ends in
// May 2026 and points last 30 days, so by now every point has expired, and
// each member is woken about once.
func TestClockExpiresPointsOfInactiveMembers(t *testing.T) {
	env := natstest.Start(t)
	db := pgtest.New(t)
	natsURL := env.Server.ClientURL()
	text := defaultProgramWith("  expiry: {policy: days, days: 30}\n")
	file := writeProgram(t, text)
	srv := startServe(t, "--nats-url", natsURL, "--database-url", db.URL, "--data-dir", t.TempDir(), "--program", file,
		"--clock-interval", "500ms")
	events := simulateThrough(t, natsURL, simulate.Config{Members: 200, Days: 120, Seed: 31, Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
	ctx := context.Background()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var left, members int64
		err := db.Pool.QueryRow(ctx, `select coalesce(sum(points_balance), 0), count(*) from loyalty.members`).Scan(&left, &members)
		if err == nil && left == 0 && members > 0 && enginesIdle(ctx, env.JS) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d points still on balances (%v) two minutes after the load", left, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // more ticks: nobody is woken again
	in, err := env.JS.Stream(ctx, streams.InputStream)
	if err != nil {
		t.Fatal(err)
	}
	clocks := int(in.CachedInfo().State.Msgs) - len(events)
	want, _ := referenceFoldWith(t, events, domain.OneVersion(mustProgram(t, text)))
	if clocks < 1 || clocks > 2*len(want) {
		t.Errorf("%d clock events for %d members", clocks, len(want))
	}
	var lifetimeWrong, expired int64
	for id, m := range want {
		var lifetime int64
		if err := db.Pool.QueryRow(ctx, `select lifetime_points from loyalty.members where member_id = $1`, id).Scan(&lifetime); err != nil || lifetime != m.Lifetime {
			lifetimeWrong++
		}
	}
	if err := db.Pool.QueryRow(ctx, `select count(*) from loyalty.points_ledger where kind = 'expired'`).Scan(&expired); err != nil {
		t.Fatal(err)
	}
	if lifetimeWrong > 0 || expired == 0 {
		t.Errorf("%d members' lifetime points differ from the reference; %d expired rows", lifetimeWrong, expired)
	}
	assertLedgerInvariants(t, db.Pool)
	t.Logf("%d clock events for %d members; %d expired rows", clocks, len(want), expired)
	srv.stop(t)
}

func mustProgram(t *testing.T, text string) *domain.Program {
	t.Helper()
	p, err := programs.Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Backtests: the live program against itself differs in nothing, and its
// replay gives what the engine put in the live tables; a program that
// doubles base points issues more; the live tables stay as they were.
func TestBacktest(t *testing.T) {
	sys := serveSimulation(t, simulate.Config{Members: 300, Days: 90, Seed: 41, Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
	sys.srv.stop(t)
	before := tableSnapshot(t, sys.db.Pool)

	dir := t.TempDir()
	same := filepath.Join(dir, "same.yaml")
	double := filepath.Join(dir, "double.yaml")
	if err := os.WriteFile(same, programs.DefaultYAML, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(double, []byte(programVersion(t, "2026.1-double", "", "2")), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"backtest", "--nats-url", sys.natsURL, "--database-url", sys.db.URL, "--json", "--quiet"}
	var self projections.Comparison
	if err := json.Unmarshal([]byte(mustLoyalty(t, append(args, "--program", same)...)), &self); err != nil {
		t.Fatal(err)
	}
	for _, group := range [][]projections.Figure{self.Totals, self.Tiers, self.Rules} {
		for _, f := range group {
			if f.Diff != 0 {
				t.Errorf("the live program against itself: %s differs by %d", f.Name, f.Diff)
			}
		}
	}
	if self.TierChanged != 0 {
		t.Errorf("the live program against itself moves %d members to another tier", self.TierChanged)
	}
	live := pointsSnapshot(t, sys.db.Pool)
	if f := figure(t, self.Totals, "points outstanding"); f.Live != live.Balance {
		t.Errorf("the replay of the live program has %d points outstanding, the live tables %d", f.Live, live.Balance)
	}
	if f := figure(t, self.Totals, "points issued"); f.Live != live.Lifetime {
		t.Errorf("the replay of the live program issued %d points, the live tables %d", f.Live, live.Lifetime)
	}

	var dbl projections.Comparison
	if err := json.Unmarshal([]byte(mustLoyalty(t, append(args, "--program", double)...)), &dbl); err != nil {
		t.Fatal(err)
	}
	base := figure(t, dbl.Rules, "base")
	if base.Candidate <= base.Live || figure(t, dbl.Totals, "points issued").Diff <= 0 {
		t.Errorf("doubling points per euro: base %+v, issued %+v", base, figure(t, dbl.Totals, "points issued"))
	}
	// Points that expire: members who stopped coming lose them by the end
	// of the replay, as the clock would have seen to.
	expiring := writeProgram(t, defaultProgramWith("  expiry: {policy: days, days: 30}\n"))
	var exp projections.Comparison
	if err := json.Unmarshal([]byte(mustLoyalty(t, append(args, "--program", expiring)...)), &exp); err != nil {
		t.Fatal(err)
	}
	// What is outstanding is what was issued less what was reversed,
	// expired and redeemed (fewer redemptions succeed once points expire).
	diff := func(name string) int64 { return figure(t, exp.Totals, name).Diff }
	if f := figure(t, exp.Totals, "points expired"); f.Live != 0 || f.Candidate <= 0 ||
		diff("points outstanding") != diff("points issued")-diff("points reversed")-diff("points expired")-diff("points redeemed") {
		t.Errorf("30-day expiry: %+v", exp.Totals)
	}
	text := mustLoyalty(t, "backtest", "--nats-url", sys.natsURL, "--database-url", sys.db.URL, "--quiet", "--program", double, "--from", "2026-02-01", "--to", "2026-03-01")
	if !strings.Contains(text, "points issued") || !strings.Contains(text, "POINTS BY RULE") {
		t.Errorf("backtest text output:\n%s", text)
	}
	if after := tableSnapshot(t, sys.db.Pool); !maps.EqualFunc(before, after, slices.Equal) {
		t.Error("a backtest changed the live tables")
	}
	if _, errOut, err := loyalty(t, "backtest", "--nats-url", sys.natsURL, "--database-url", sys.db.URL); err == nil || !strings.Contains(errOut, "--program NEW is required") {
		t.Errorf("backtest without --program: %v, %q", err, errOut)
	}
}

func figure(t *testing.T, fs []projections.Figure, name string) projections.Figure {
	t.Helper()
	for _, f := range fs {
		if f.Name == name {
			return f
		}
	}
	t.Fatalf("no figure %q in %+v", name, fs)
	return projections.Figure{}
}

// Every program feature built so far in one program, over a simulated year,
// through the binary: two versions (the second from July with other rules and
// a higher rate), rules of each kind (a visit streak too), points expiring at the end of the
// quarter after, refunds kept within the balance, members blocked and
// unblocked upstream, and the clock. The read models equal the reference fold
// of the stored input, and a backtest of the program against itself differs
// in nothing.
func TestEveryProgramFeatureOverAYear(t *testing.T) {
	env := natstest.Start(t)
	db := pgtest.New(t)
	natsURL := env.Server.ClientURL()
	common := `
  expiry: {policy: end_of_quarter, periods: 1, notice_days: 14}
  pending: {days: 14, confirmation: true}
  referral: {referrer_points: 300, referred_points: 100}
  yearly: {birthday_points: 250, anniversary_points: 100}
  rules:
    - id: weekend
      when: 'event.weekday in ["Sat", "Sun"] && member.status == "active"'
      award: {points: 15}
      limit: {points: 30, per: week}
    - id: beauty-lines
      scope: line
      when: 'line.category == "beauty"'
      award: {points_per_unit: "1"}
      limit: {points: 200, per: month}
    - id: happy
      on: feedback
      when: 'event.rating >= 4'
      award: {points: 5}
    - id: welcome
      on: enrolment
      award: {points: 50}
    - id: streak
      on: visit
      when: 'member.visits_7d >= 3'
      award: {points: 20}
      limit: {points: 20, per: week}
`
	v1 := defaultProgramWith(common) + "\nreturns: {policy: within_balance}\ntier_policy: {period: quarter, downgrade: one_tier, grace_days: 10}\n" +
		"transfers: {allowed: true, min_points: 100}\n"
	v2 := strings.Replace(strings.Replace(v1, `version: "2026.1"`, "version: \"2026.2\"\neffective_from: 2026-07-01", 1),
		`EUR: {points_per_unit: "1"}`, `EUR: {points_per_unit: "2"}`, 1)
	v2 = strings.Replace(v2, "award: {points: 15}", "award: {multiplier: \"1.5\"}", 1)
	v2 = strings.Replace(v2, "returns: {policy: within_balance}", "returns: {policy: only_pending}", 1)
	v2 = strings.Replace(v2, "downgrade: one_tier, grace_days: 10", "downgrade: to_qualified", 1)
	// The voucher has a stock for all members: its holds meet the faults too.
	v1, v2 = withVoucherStock(v1, 1), withVoucherStock(v2, 1)
	file := writeProgram(t, v1+"\n---\n"+v2)
	mustLoyalty(t, "program", "check", file)
	srv := startServe(t, "--nats-url", natsURL, "--database-url", db.URL, "--data-dir", t.TempDir(), "--program", file, "--clock-interval", "500ms")
	events := simulateThrough(t, natsURL, simulate.Config{Members: 300, Days: 330, Seed: 51, Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
	// A few members are blocked in spring and set active again in autumn.
	ctx := context.Background()
	pub := streams.NewPublisher(env.JS, nil)
	for i, e := range events {
		if i%40 != 0 || e.Type != domain.TypeMemberEnrolled {
			continue
		}
		// and some are given gold, as a status match.
		match := domain.Event{ID: "match-" + e.MemberID, Type: domain.TypeTierAssigned, Source: "crm", MemberID: e.MemberID,
			OccurredAt: e.OccurredAt.Add(time.Hour), Body: domain.TierAssignment{Tier: "gold", Reason: "status match"}}
		if err := pub.Publish(ctx, match); err != nil {
			t.Fatal(err)
		}
		for _, s := range []struct {
			at     time.Time
			status domain.MemberStatus
		}{{time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC), domain.StatusBlocked}, {time.Date(2026, 10, 1, 9, 0, 0, 0, time.UTC), domain.StatusActive}} {
			ev := domain.Event{ID: fmt.Sprintf("status-%s-%s", e.MemberID, s.status), Type: domain.TypeMemberStatus, Source: "crm",
				MemberID: e.MemberID, OccurredAt: s.at, Body: domain.StatusChange{Status: s.status, Reason: "test"}}
			if err := pub.Publish(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := pub.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for !enginesIdle(ctx, env.JS) {
		if time.Now().After(deadline) {
			t.Fatal("the engine did not catch up")
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // the clock's ticks, and what they publish, settle
	in, err := env.JS.Stream(ctx, streams.InputStream)
	if err != nil {
		t.Fatal(err)
	}
	waitCaughtUp(t, env.JS, db.Pool, in.CachedInfo().State.Msgs)
	srv.stop(t)

	// The reference: the stored input, clock events included, folded in
	// stored order through the same versions (foldStoredEvents).
	ps, err := programs.LoadVersions(file)
	if err != nil {
		t.Fatal(err)
	}
	want := foldStoredEvents(t, env.JS, ps)
	assertMembersEqual(t, db.Pool, want)
	assertLedgerInvariants(t, db.Pool)
	// Points earned in the first quarter expire when the second ends, on
	// 1 July: decided by events from then on, under 2026.2.
	rules := countsByKey(t, db.Pool, `select rule || '/' || program_version, count(*) from loyalty.points_ledger group by 1`)
	for _, k := range []string{"weekend/2026.1", "weekend/2026.2", "beauty-lines/2026.1", "happy/2026.1", "welcome/2026.1", "streak/2026.1", "expiry/2026.2", "base/2026.2",
		"referral_bonus/2026.1", "referrer_bonus/2026.1", "transfer_out/2026.1", "transfer_in/2026.1", "birthday_bonus/2026.1", "birthday_bonus/2026.2"} {
		if rules[k] == 0 {
			t.Errorf("no %s facts in the points ledger: %v", k, rules)
		}
	}
	kinds := countsByKey(t, db.Pool, `select kind || '/' || account, count(*) from loyalty.points_ledger group by 1`)
	for _, k := range []string{"earned/pending", "released/pending", "released/available", "cancelled/pending", "redeemed/available", "expired/available",
		"transferred/available", "received/available"} {
		if kinds[k] == 0 {
			t.Errorf("no %s rows in the points ledger: %v", k, kinds)
		}
	}
	var periodEnds, assigned, reviewed int64
	if err := db.Pool.QueryRow(ctx, `select (select count(*) from loyalty.tier_changes where reason = 'period_end'),
		(select count(*) from loyalty.tier_changes where reason = 'assigned'),
		(select count(*) from loyalty.members where tier_expires_at is not null and tier_progress_as_of is not null)`).Scan(&periodEnds, &assigned, &reviewed); err != nil {
		t.Fatal(err)
	}
	if periodEnds == 0 || assigned == 0 || reviewed == 0 {
		t.Errorf("tier changes at period end %d, assigned %d, members with a review date %d; want some of each", periodEnds, assigned, reviewed)
	}
	var blocked, debt, refused, notices, outOfStock, stockTaken, held int64
	if err := db.Pool.QueryRow(ctx, `select (select count(*) from loyalty.members where status_since is not null),
		(select coalesce(sum(points_debt), 0) from loyalty.members),
		(select count(*) from loyalty.redemptions where status = 'rejected'),
		(select count(*) from loyalty.expiry_notices),
		(select count(*) from loyalty.redemptions where reason = 'out_of_stock'),
		(select coalesce(sum(units_taken), 0) from loyalty.reward_stock where reward_id = 'voucher-10'),
		(select count(*) from loyalty.redemptions where status = 'held')`).Scan(&blocked, &debt, &refused, &notices, &outOfStock, &stockTaken, &held); err != nil {
		t.Fatal(err)
	}
	if blocked == 0 || refused == 0 || notices == 0 || outOfStock == 0 || stockTaken != 1 || held != 0 {
		t.Errorf("members with a status change %d, redemptions refused %d, expiry notices %d, out of stock %d, vouchers given %d (want 1), still held %d (want 0)",
			blocked, refused, notices, outOfStock, stockTaken, held)
	}
	t.Logf("facts by rule and version: %v; rows by kind and account: %v; members with a status change %d; debt %d; redemptions refused %d",
		rules, kinds, blocked, debt, refused)

	var self projections.Comparison
	out := mustLoyalty(t, "backtest", "--nats-url", natsURL, "--database-url", db.URL, "--json", "--quiet",
		"--program", file, "--live-program", file, "--to", "2026-12-01")
	if err := json.Unmarshal([]byte(out), &self); err != nil {
		t.Fatal(err)
	}
	for _, f := range append(append(self.Totals, self.Tiers...), self.Rules...) {
		if f.Diff != 0 {
			t.Errorf("the program against itself: %s differs by %d", f.Name, f.Diff)
		}
	}
}

// foldStoredEvents folds the input stream as stored, deciding each input as
// the engine does: what passes validation and is not a repeated id, through
// the version its time picks.
func foldStoredEvents(t *testing.T, js jetstream.JetStream, ps *domain.Programs) map[string]*domain.Member {
	t.Helper()
	members := map[string]*domain.Member{}
	_, err := handlers.ReplayInput(context.Background(), js, ps, time.Time{}, time.Time{}, func(r streams.LedgerRecord) error {
		m := members[r.MemberID]
		if m == nil {
			m = domain.NewMember(r.MemberID)
			members[r.MemberID] = m
		}
		for _, f := range r.Facts {
			m.Evolve(f)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return members
}
