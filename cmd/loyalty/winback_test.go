package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pointsledger/loyalty/programs"
	"github.com/pointsledger/loyalty/projections"
	"github.com/pointsledger/loyalty/projections/pgtest"
	"github.com/pointsledger/loyalty/streams/natstest"
)

// winbackRules are the default program's with a win-back bonus on entering
// the high risk band (under an experiment holding out 20% of the members)
// and an offer for valuable members slipping away.
const winbackRules = `  rules:
    - id: winback-bonus
      on: change
      when: 'member.risk_band == "high"'
      award: {points: 300}
      once_per_days: 180
    - id: winback-email
      on: change
      when: 'member.risk_band == "high"'
      award: {offer: winback-email}
    - id: winback-call
      on: change
      when: 'member.risk_band == "high" && member.value_band == "high"'
      award: {offer: winback-call}
experiments:
  - id: winback-2026
    rules: [winback-bonus]
    arms:
      - {name: control, share: 20}
      - {name: treatment, share: 80}
    from: 2026-01-01
`

// Through the binary: purchases from a simulated history, serve's refit
// scores the members and publishes the scores, and the win-back rules fire
// for the members who entered the high risk band and for no one else
// (control held out); a second refit publishes nothing new and pays no one
// twice; a rebuild from the ledger and a backtest of the live program give
// the same.
func TestWinBackThroughTheBinary(t *testing.T) {
	env := natstest.Start(t)
	db := pgtest.New(t)
	url := env.Server.ClientURL()
	program := filepath.Join(t.TempDir(), "winback.yaml")
	text := strings.Replace(string(programs.DefaultYAML), "\ntiers:", "\n"+winbackRules+"\ntiers:", 1)
	if err := os.WriteFile(program, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out := mustLoyalty(t, "program", "check", program)
	if !regexp.MustCompile(`winback-2026 +winback-bonus +control 20% \(none\), treatment 80% \(all\) +2026-01-01 to open`).MatchString(out) {
		t.Errorf("program check does not show the experiment:\n%s", out)
	}
	if !regexp.MustCompile(`winback-bonus +change +300 points +once per 180 days`).MatchString(out) ||
		!regexp.MustCompile(`winback-call +change +offer winback-call +-`).MatchString(out) {
		t.Errorf("program check does not show the rules as read:\n%s", out)
	}
	// The history goes in before the first fit, which then scores everyone.
	dataDir := t.TempDir()
	serveArgs := []string{"--nats-url", url, "--database-url", db.URL, "--data-dir", dataDir, "--program", program, "--refit-check-interval", "300ms"}
	srv := startServe(t, append(serveArgs, "--refit-every", "0")...)
	file, rows := writeHistoryCSV(t, 1500)
	mustLoyalty(t, "import", file, "--quiet", "--nats-url", url)
	waitCaughtUp(t, env.JS, db.Pool, uint64(rows))
	srv.stop(t)
	srv = startServe(t, append(serveArgs, "--refit-every", "1h")...)
	waitForFit(t, db.Pool, "schedule")
	waitForLog(t, srv, `msg="analytics: scores published`, 1)
	waitAllCaughtUp(t, env, db.Pool)
	first := query(t, db.Pool, `select member_id from loyalty.member_scores where risk_band = 'high' order by 1`)
	if len(first) < 100 {
		t.Fatalf("%d members in the high band: the history does not exercise the rule", len(first))
	}
	checkWinBack(t, db.Pool)

	// Forty of them come back; the next refit moves them out of the band
	// (and, the parameters moving, may move others in): only the changes
	// are published, and no one is paid twice.
	var b strings.Builder
	b.WriteString("member_id,occurred_at,amount,currency,order_id\n")
	back := time.Now().UTC().Add(-time.Hour)
	for i, m := range first[:40] {
		for d := range 3 {
			fmt.Fprintf(&b, "%s,%s,40.00,EUR,comeback-%d-%d\n", m, back.AddDate(0, 0, -10*d).Format(time.RFC3339), i, d)
		}
	}
	comeback := filepath.Join(t.TempDir(), "comeback.csv")
	if err := os.WriteFile(comeback, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	mustLoyalty(t, "import", comeback, "--quiet", "--nats-url", url)
	waitCaughtUp(t, env.JS, db.Pool, uint64(rows+120))
	mustLoyalty(t, "projections", "rebuild", "activity", "--quiet", "--nats-url", url, "--database-url", db.URL)
	waitForFit(t, db.Pool, "rebuild")
	waitForLog(t, srv, `msg="analytics: scores published`, 2)
	waitAllCaughtUp(t, env, db.Pool)
	waitForLog(t, srv, `msg="analytics: experiment results refreshed" experiments=1`, 1)
	if n := query(t, db.Pool, `select count(*)::text from loyalty.experiment_results where experiment = 'winback-2026'`); n[0] != "10" {
		t.Errorf("the refit wrote %s rows of experiment_results, want 2 arms of 5 measures", n[0])
	}
	moved := query(t, db.Pool, `select count(*)::text from (select distinct on (member_id) risk_band from loyalty.member_scores
		where member_id = any($1) order by member_id, ledger_seq desc) latest where risk_band <> 'high'`, first[:40])
	if n, _ := strconv.Atoi(moved[0]); n < 20 {
		t.Errorf("%s of the 40 members who came back left the high band", moved[0])
	}
	if n := query(t, db.Pool, `select count(*)::text from loyalty.member_scores
		where fit_id::bigint <> (select min(fit_id::bigint) from loyalty.member_scores)`); n[0] == "0" ||
		n[0] == fmt.Sprint(len(query(t, db.Pool, `select member_id from loyalty.member_churn`))) {
		t.Errorf("the second refit published %s scores: want the changes only", n[0])
	}
	checkWinBack(t, db.Pool)

	// The report: every member who met the experiment is in an arm; none
	// met it 30 days ago yet, so the measures are over no one until a
	// later as-of date (when no one bought again: the history is over).
	var report projections.Report
	later := time.Now().UTC().AddDate(0, 0, 100).Format(time.DateOnly)
	if err := json.Unmarshal([]byte(mustLoyalty(t, "experiment", "report", "winback-2026", "--json", "--as-of", later,
		"--database-url", db.URL, "--cost-per-point", "0.5")), &report); err != nil {
		t.Fatal(err)
	}
	control := query(t, db.Pool, `select count(*)::text from loyalty.experiment_assignments where arm = 'control'`)
	treatment := query(t, db.Pool, `select count(*)::text from loyalty.experiment_assignments where arm = 'treatment'`)
	if len(report.Arms) != 2 || fmt.Sprint(report.Arms[0].Members) != control[0] || fmt.Sprint(report.Arms[1].Members) != treatment[0] {
		t.Errorf("report arms %+v, the ledger %s control and %s treatment", report.Arms, control[0], treatment[0])
	}
	for _, m := range report.Measures {
		if m.Measure == projections.MeasureCost90d {
			// The treated were given 300 points at 0.5: 150 each more.
			if d := m.Arms[1].Difference; d == nil || d.Value < 149 || d.Value > 151 {
				t.Errorf("points cost: treatment less control %+v, want 150", d)
			}
		}
	}
	text = mustLoyalty(t, "experiment", "report", "winback-2026", "--as-of", later, "--database-url", db.URL)
	if !strings.Contains(text, "MEASURE") || !strings.Contains(text, "purchase_30d") || !strings.Contains(text, "control") {
		t.Errorf("experiment report:\n%s", text)
	}
	if _, errOut, err := loyalty(t, "experiment", "report", "no-such-experiment", "--database-url", db.URL); err == nil || !strings.Contains(errOut, "check the id against the program file") {
		t.Errorf("a report of an unknown experiment: %v %s", err, errOut)
	}

	// The ledger replayed into the read models, and a backtest of the live
	// program, give what the engine gave.
	live := dumpReadModels(t, db.Pool, projections.Schema)
	mustLoyalty(t, "projections", "rebuild", "all", "--nats-url", url, "--database-url", db.URL, "--quiet")
	if rebuilt := dumpReadModels(t, db.Pool, projections.Schema); !slices.Equal(live, rebuilt) {
		t.Errorf("a rebuild differs from the live tables:\n%s", diffLines(live, rebuilt))
	}
	out = mustLoyalty(t, "backtest", "--program", program, "--live-program", program, "--nats-url", url, "--database-url", db.URL,
		"--json", "--quiet", "--keep")
	var self projections.Comparison
	if err := json.Unmarshal([]byte(out), &self); err != nil {
		t.Fatal(err)
	}
	for _, group := range [][]projections.Figure{self.Totals, self.Tiers, self.Rules} {
		for _, f := range group {
			if f.Diff != 0 {
				t.Errorf("the live program against itself: %s differs by %d", f.Name, f.Diff)
			}
		}
	}
	offers := query(t, db.Pool, `select count(*)::text from loyalty.offers`)
	if f := figure(t, self.Totals, "offers made"); fmt.Sprint(f.Live) != offers[0] || f.Live == 0 {
		t.Errorf("the backtest's offers made %d, the engine's %s", f.Live, offers[0])
	}
	paid := query(t, db.Pool, `select coalesce(sum(points), 0)::text from loyalty.points_ledger where rule = 'winback-bonus'`)
	if f := figure(t, self.Rules, "winback-bonus"); fmt.Sprint(f.Live) != paid[0] {
		t.Errorf("the backtest's win-back bonus %d points, the engine's %s", f.Live, paid[0])
	}
	for _, table := range []string{"points_ledger", "offers", "experiment_assignments", "member_scores"} {
		if replay, kept := dumpTable(t, db.Pool, "loyalty_backtest_live", table), dumpTable(t, db.Pool, projections.Schema, table); !slices.Equal(replay, kept) {
			t.Errorf("the backtest's %s differs from the live one:\n%s", table, diffLines(kept, replay))
		}
	}
	srv.stop(t)
}

// checkWinBack holds the ledger's awards to the scores it recorded: a
// member entering the high band (from no scores or another band) is put in
// an arm, a treated one is paid 300 once (once_per_days 180), a control one
// nothing; and each entry into high risk and high value makes one offer.
func checkWinBack(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	type row struct{ member, risk, value string }
	var history []row
	for _, line := range query(t, pool, `select member_id || ' ' || risk_band || ' ' || value_band from loyalty.member_scores order by member_id, ledger_seq`) {
		f := strings.Fields(line)
		history = append(history, row{f[0], f[1], f[2]})
	}
	entered, offers, emails := map[string]bool{}, map[string]int{}, map[string]int{}
	for i, r := range history {
		prev := row{}
		if i > 0 && history[i-1].member == r.member {
			prev = history[i-1]
		}
		if r.risk == "high" && prev.risk != "high" {
			entered[r.member] = true
			emails[r.member]++
		}
		if r.risk == "high" && r.value == "high" && !(prev.risk == "high" && prev.value == "high") {
			offers[r.member]++
		}
	}
	control := query(t, pool, `select member_id from loyalty.experiment_assignments where experiment = 'winback-2026' and arm = 'control' order by 1`)
	assigned := query(t, pool, `select member_id from loyalty.experiment_assignments where experiment = 'winback-2026' order by 1`)
	var wantAssigned, wantPaid []string
	for m := range entered {
		wantAssigned = append(wantAssigned, m)
		if !slices.Contains(control, m) {
			wantPaid = append(wantPaid, m+" 300")
		}
	}
	slices.Sort(wantAssigned)
	slices.Sort(wantPaid)
	if !slices.Equal(assigned, wantAssigned) {
		t.Errorf("%d members met the experiment, %d entered the high band: they must be the same", len(assigned), len(wantAssigned))
	}
	if len(control) == 0 || len(control) == len(assigned) {
		t.Errorf("%d of %d members in control: the experiment does not split them", len(control), len(assigned))
	}
	paid := query(t, pool, `select member_id || ' ' || sum(points) from loyalty.points_ledger where rule = 'winback-bonus' group by member_id order by 1`)
	t.Logf("%d scores recorded; %d members entered the high band: %d in control, %d paid; %d offers", len(history), len(entered),
		len(control), len(paid), len(offers))
	if !slices.Equal(paid, wantPaid) {
		t.Errorf("the win-back bonus paid %d members, want 300 once to each of the %d treated members who entered the high band:\n%s",
			len(paid), len(wantPaid), diffLines(wantPaid, paid))
	}
	for offer, want := range map[string]map[string]int{"winback-call": offers, "winback-email": emails} {
		var wantOffers []string
		for m, n := range want {
			wantOffers = append(wantOffers, fmt.Sprintf("%s %d", m, n))
		}
		slices.Sort(wantOffers)
		got := query(t, pool, `select member_id || ' ' || count(*) from loyalty.offers where offer = $1 group by member_id order by 1`, offer)
		if !slices.Equal(got, wantOffers) {
			t.Errorf("%s offered to %d members, want one per entry to %d:\n%s", offer, len(got), len(wantOffers), diffLines(wantOffers, got))
		}
	}
	if n := query(t, pool, `select count(*)::text from loyalty.members m join loyalty.points_ledger p using (member_id)
		where p.rule = 'winback-bonus' and m.last_activity_at = p.occurred_at`); n[0] != "0" {
		t.Errorf("%s members' last activity is their win-back bonus: a bonus is not the member's activity", n[0])
	}
}

func query(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), sql, args...)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// dumpTable is a table's rows as JSON text without their ledger positions
// (a backtest numbers its replay on its own), sorted.
func dumpTable(t *testing.T, pool *pgxpool.Pool, schema, table string) []string {
	t.Helper()
	lines := query(t, pool, fmt.Sprintf(`select (to_jsonb(t) - 'ledger_seq' - 'fact_index')::text from %s.%s t`,
		pgx.Identifier{schema}.Sanitize(), pgx.Identifier{table}.Sanitize()))
	slices.Sort(lines)
	return lines
}
