package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/handlers"
	"github.com/pointsledger/loyalty/projections"
	"github.com/pointsledger/loyalty/projections/pgtest"
	"github.com/pointsledger/loyalty/streams"
	"github.com/pointsledger/loyalty/streams/natstest"
)

// The erased member, and what of them must be gone: their id, its
// subject key, their birth date and what they and the back office wrote.
const (
	erasedMember  = "alice.roe@example.com"
	erasedBirth   = "1987-05-17"
	erasedComment = "Jane Roe at the Elm Street till was rude"
	erasedNote    = "phoned from +44 20 7946 0000"
)

// An erasure end to end: after `member erase`, no stream (read back
// through the NATS API), table or engine log holds the member's id, birth
// date or free text; every total is as before; a rebuild and a backtest
// agree with the live tables; erasing again or an unknown member is
// refused; the id is refused from then on.
func TestMemberEraseThroughTheBinary(t *testing.T) {
	env := natstest.Start(t)
	db := pgtest.New(t)
	url := env.Server.ClientURL()
	srv := startServe(t, "--nats-url", url, "--database-url", db.URL, "--data-dir", t.TempDir())
	start := time.Now().UTC().AddDate(0, 0, -150)
	mustLoyalty(t, "simulate", "--nats-url", url, "--members", "150", "--days", "120", "--seed", "21",
		"--start", start.Format(time.DateOnly), "--quiet")
	publishErasureHistory(t, env, db.Pool, url)
	// serve's own refit publishes scores to the ledger; wait for them, so
	// that none lands between the live tables' dump and the rebuild below
	// (the next is a day away).
	waitForPublishedScores(t, db.Pool, waitForFit(t, db.Pool, "schedule"))
	mustLoyalty(t, "analytics", "fit", "--as-of", time.Now().UTC().Format(time.DateOnly), "--quiet", "--database-url", db.URL)
	before := readTotals(t, db.Pool)
	if before["points_ledger rows of alice"] == "0" {
		t.Fatal("the member has no points rows to erase")
	}
	delete(before, "points_ledger rows of alice")
	if found := findMember(t, env.JS, db.Pool, srv.log.String()); len(found) == 0 {
		t.Fatal("nothing of the member found before the erasure: the scan cannot fail")
	}

	key := memberKeyBytes(t, env)
	// With members named after a tier, a status and a projection: only
	// member columns are renamed.
	out := mustLoyalty(t, "member", "erase", erasedMember, "active", "members", "--nats-url", url, "--database-url", db.URL)
	var erased string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[1] == erasedMember {
			erased = f[3]
		}
	}
	if _, ok := streams.ErasedToken(erased); !ok {
		t.Fatalf("member erase:\n%s", out)
	}
	t.Logf("member erase:\n%s", out)
	if found := findMember(t, env.JS, db.Pool, srv.log.String()); len(found) > 0 {
		t.Errorf("after the erasure the member is still in:\n%s", strings.Join(found, "\n"))
	}
	checkStoreFiles(t, env, key)
	after := readTotals(t, db.Pool)
	delete(after, "points_ledger rows of alice")
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s: %s before the erasure, %s after", k, v, after[k])
		}
	}
	var checkpoints []string
	rows, err := db.Pool.Query(context.Background(), `select name from loyalty.projection_checkpoints order by 1`)
	if err == nil {
		checkpoints, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	if err != nil || !slices.Equal(checkpoints, []string{projections.ActivityName, projections.MembersName}) {
		t.Errorf("projection checkpoints after the erasure: %v (%v)", checkpoints, err)
	}
	var renamed int
	if err := db.Pool.QueryRow(context.Background(), `select count(*) from loyalty.points_ledger where member_id = $1`, erased).Scan(&renamed); err != nil || renamed == 0 {
		t.Errorf("points_ledger holds %d rows of %s (%v)", renamed, erased, err)
	}

	live := dumpReadModels(t, db.Pool, projections.Schema)
	mustLoyalty(t, "projections", "rebuild", "all", "--nats-url", url, "--database-url", db.URL, "--quiet")
	if rebuilt := dumpReadModels(t, db.Pool, projections.Schema); !slices.Equal(live, rebuilt) {
		t.Errorf("a rebuild after the erasure differs from the live tables:\n%s", diffLines(live, rebuilt))
	}
	_, backtestLog, err := loyalty(t, "backtest", "--program", "../../programs/default.yaml", "--nats-url", url, "--database-url", db.URL, "--quiet", "--keep")
	if err != nil {
		t.Fatalf("backtest: %v\n%s", err, backtestLog)
	}
	if !regexp.MustCompile(`applied \([1-9][0-9]* of them taken from the ledger`).MatchString(backtestLog) {
		t.Errorf("the backtest does not say it took the erased member's inputs from the ledger:\n%s", backtestLog)
	}
	if replayed := balances(t, db.Pool, "loyalty_backtest_live"); !slices.Equal(replayed, balances(t, db.Pool, projections.Schema)) {
		t.Errorf("the backtest's replay of the live program differs from the live balances:\n%s",
			diffLines(balances(t, db.Pool, projections.Schema), replayed))
	}

	for _, c := range []struct{ id, want string }{
		{erasedMember, "was erased already"},
		{"nobody-at-all", `no member "nobody-at-all" is on record`},
		{erased, "the id an erased member's records read as"},
	} {
		if _, errOut, err := loyalty(t, "member", "erase", c.id, "--nats-url", url, "--database-url", db.URL); err == nil || !strings.Contains(errOut, c.want) {
			t.Errorf("member erase %s: err %v, stderr %q, want %q", c.id, err, errOut, c.want)
		}
	}
	checkErasedIDRefused(t, env, db.Pool, erased)
	// What arrived since (the refused purchase, bob's refused transfer):
	// erasing again deletes it.
	waitAllCaughtUp(t, env, db.Pool)
	if out := mustLoyalty(t, "member", "erase", erasedMember, "--nats-url", url, "--database-url", db.URL); !strings.Contains(out, "deleted what arrived since") {
		t.Errorf("member erase again:\n%s", out)
	}
	if found := findMember(t, env.JS, db.Pool, ""); len(found) > 0 {
		t.Errorf("after erasing again the member is still in:\n%s", strings.Join(found, "\n"))
	}
	srv.stop(t)
}

// publishErasureHistory gives the member to erase a history that puts
// them in every place the engine keeps a member: their own input (an
// enrolment with a birth date, purchases, feedback), other members' input
// (a referral, a transfer to them), a back-office adjustment with a note,
// a dead letter, outbound events.
func publishErasureHistory(t *testing.T, env *natstest.Env, pool *pgxpool.Pool, url string) {
	t.Helper()
	at := time.Now().UTC().Add(-48 * time.Hour)
	rating := 2
	ev := func(id, member string, body domain.EventBody) domain.Event {
		return domain.Event{ID: id, Type: body.EventType(), Source: "erase-test", MemberID: member, OccurredAt: at, Body: body}
	}
	raw := func(typ domain.EventType, member, id, data string) {
		subject, err := streams.InputSubject(typ, member)
		if err != nil {
			t.Fatal(err)
		}
		body := fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"erase-test","type":%q,"time":%q,"data":%s}`,
			id, typ, at.Format(time.RFC3339), data)
		if _, err := env.JS.PublishMsg(context.Background(), &nats.Msg{Subject: subject, Data: []byte(body)}); err != nil {
			t.Fatal(err)
		}
	}
	raw(domain.TypeMemberEnrolled, erasedMember, "alice-enrol",
		fmt.Sprintf(`{"member_id":%q,"channel":"app","birth_date":%q}`, erasedMember, erasedBirth))
	publishEvents(t, env, []domain.Event{
		ev("bob-enrol", "bob-2", domain.Enrolment{Channel: "web"}),
		ev("active-enrol", "active", domain.Enrolment{Channel: "web"}),
		ev("members-enrol", "members", domain.Enrolment{Channel: "web"}),
		ev("active-buy", "active", domain.Purchase{OrderID: "o-x1", Total: domain.Money{Minor: 30_00, Currency: "EUR"}, Channel: "web"}),
		ev("carol-enrol", "carol-3", domain.Enrolment{Channel: "web", ReferredBy: erasedMember}),
		ev("alice-buy-1", erasedMember, domain.Purchase{OrderID: "o-a1", Total: domain.Money{Minor: 120_00, Currency: "EUR"}, Channel: "web"}),
		ev("alice-buy-2", erasedMember, domain.Purchase{OrderID: "o-a2", Total: domain.Money{Minor: 45_50, Currency: "EUR"}, Channel: "store"}),
		ev("alice-feedback", erasedMember, domain.Feedback{OrderID: "o-a1", Rating: &rating, Comment: erasedComment, Channel: "web"}),
		ev("bob-buy", "bob-2", domain.Purchase{OrderID: "o-b1", Total: domain.Money{Minor: 80_00, Currency: "EUR"}, Channel: "web"}),
		ev("carol-buy", "carol-3", domain.Purchase{OrderID: "o-c1", Total: domain.Money{Minor: 60_00, Currency: "EUR"}, Channel: "web"}),
		ev("bob-gives", "bob-2", domain.TransferRequest{RequestID: "gift-1", ToMemberID: erasedMember, Points: 30}),
	})
	raw(domain.TypePurchaseCompleted, erasedMember, "alice-bad",
		fmt.Sprintf(`{"member_id":%q,"order_id":"o-bad","amount":-5,"currency":"EUR"}`, erasedMember))
	waitAllCaughtUp(t, env, pool)
	mustLoyalty(t, "member", "adjust", erasedMember, "--nats-url", url, "--points", "1025", "--reason", "goodwill",
		"--note", erasedNote, "--operator", "agent-7", "--request-id", "case-9")
	// A voucher: a key of the vouchers bucket names the member.
	var redeemed handlers.RedeemReply
	data, _ := json.Marshal(handlers.RedeemRequestJSON{MemberID: erasedMember, RequestID: "till-9", RewardID: "voucher-10"})
	msg, err := env.Conn.Request(handlers.RedeemSubject, data, 10*time.Second)
	if err != nil || json.Unmarshal(msg.Data, &redeemed) != nil || redeemed.Status != "accepted" || len(redeemed.Vouchers) != 1 {
		t.Fatalf("redeem a voucher: %v %s", err, msg.Data)
	}
	waitAllCaughtUp(t, env, pool)
}

// waitAllCaughtUp waits until the engine and projections have taken every
// input the stream holds.
func waitAllCaughtUp(t *testing.T, env *natstest.Env, pool *pgxpool.Pool) {
	t.Helper()
	in, err := env.JS.Stream(context.Background(), streams.InputStream)
	if err != nil {
		t.Fatal(err)
	}
	waitCaughtUp(t, env.JS, pool, in.CachedInfo().State.Msgs)
}

// needles are the forms in which the member may be stored.
func needles() []string {
	escaped, _ := json.Marshal(erasedMember)
	return []string{erasedMember, string(escaped[1 : len(escaped)-1]), streams.MemberKey(erasedMember), erasedBirth, erasedComment, erasedNote,
		`"birthday":"05-17"`, `"birthday": "05-17"`}
}

// findMember says where the member's data is: any message of any stream
// (read through the NATS API, the key-value buckets' included), any row of
// any table or view of the read models, any line of the engine's log.
func findMember(t *testing.T, js jetstream.JetStream, pool *pgxpool.Pool, log string) []string {
	t.Helper()
	ctx := context.Background()
	var found []string
	look := func(where, text string) {
		for _, n := range needles() {
			if strings.Contains(text, n) {
				found = append(found, fmt.Sprintf("%s: %q", where, n))
			}
		}
	}
	names := js.StreamNames(ctx)
	for name := range names.Name() {
		for _, m := range streamMessages(t, js, name) {
			meta, _ := m.Metadata()
			text := m.Subject() + " " + string(m.Data())
			for k, v := range m.Headers() {
				text += " " + k + "=" + strings.Join(v, ",")
			}
			look(fmt.Sprintf("%s seq %d", name, meta.Sequence.Stream), text)
		}
	}
	rows, err := pool.Query(ctx, `select table_name from information_schema.tables where table_schema = $1`, projections.Schema)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for _, table := range tables {
		rows, err := pool.Query(ctx, fmt.Sprintf(`select row_to_json(t)::text from %s.%s t`,
			pgx.Identifier{projections.Schema}.Sanitize(), pgx.Identifier{table}.Sanitize()))
		if err != nil {
			t.Fatal(err)
		}
		texts, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		for _, text := range texts {
			look("table "+table, text)
		}
	}
	for i, line := range strings.Split(log, "\n") {
		look(fmt.Sprintf("serve log line %d", i+1), line)
	}
	slices.Sort(found)
	return slices.Compact(found)
}

// readTotals are the figures an erasure must leave as they were.
func readTotals(t *testing.T, pool *pgxpool.Pool) map[string]string {
	t.Helper()
	totals := map[string]string{}
	for name, q := range map[string]string{
		"points_ledger":               `select count(*) || ' rows, ' || coalesce(sum(points), 0) from loyalty.points_ledger`,
		"points_ledger rows of alice": `select count(*)::text from loyalty.points_ledger where member_id = '` + erasedMember + `'`,
		"member_ltv":                  `select count(*) || ' members, ' || coalesce(sum(predicted_value), 0) || ' value, ' || coalesce(sum(historical_revenue), 0) || ' revenue' from loyalty.member_ltv`,
		"member_churn":                `select count(*) || ' members' from loyalty.member_churn`,
		"points_liability":            `select available || ' ' || pending || ' ' || negative || ' ' || members_with_points from loyalty.points_liability`,
		"revenue":                     `select coalesce(sum(revenue), 0)::text from loyalty.activity_by_month`,
		"cohorts":                     `select coalesce(string_agg(cohort || ':' || cohort_members || ':' || active_members, ' ' order by cohort, month), '') from loyalty.cohort_retention`,
		"members":                     `select count(*) || ' members, ' || sum(points_balance) from loyalty.members`,
		"model_fits":                  `select count(*)::text from loyalty.model_fits`,
	} {
		var v string
		if err := pool.QueryRow(context.Background(), q).Scan(&v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		totals[name] = v
	}
	return totals
}

// dumpReadModels is every row of the ledger's read models, sorted: what a
// rebuild writes again.
func dumpReadModels(t *testing.T, pool *pgxpool.Pool, schema string) []string {
	t.Helper()
	var lines []string
	for _, p := range []projections.Rebuildable{projections.Members{}, projections.Activity{}} {
		for _, table := range p.Tables() {
			rows, err := pool.Query(context.Background(), fmt.Sprintf(`select row_to_json(t)::text from %s.%s t`,
				pgx.Identifier{schema}.Sanitize(), pgx.Identifier{table}.Sanitize()))
			if err != nil {
				t.Fatal(err)
			}
			texts, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatal(err)
			}
			for _, text := range texts {
				lines = append(lines, table+" "+withoutTimes(text))
			}
		}
	}
	slices.Sort(lines)
	return lines
}

// withoutTimes drops the columns a rebuild writes anew (when rows were
// written, not what they say).
func withoutTimes(row string) string {
	var m map[string]any
	if json.Unmarshal([]byte(row), &m) != nil {
		return row
	}
	for _, k := range []string{"updated_at", "computed_at", "recorded_at"} {
		delete(m, k)
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func balances(t *testing.T, pool *pgxpool.Pool, schema string) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), fmt.Sprintf(`select member_id || ' ' || points_balance || ' ' || points_pending from %s.members order by 1`,
		pgx.Identifier{schema}.Sanitize()))
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func diffLines(want, got []string) string {
	var b strings.Builder
	for _, l := range want {
		if !slices.Contains(got, l) {
			fmt.Fprintf(&b, "- %s\n", l)
		}
	}
	for _, l := range got {
		if !slices.Contains(want, l) {
			fmt.Fprintf(&b, "+ %s\n", l)
		}
	}
	return b.String()
}

// checkErasedIDRefused: a purchase for the erased id is dead-lettered as
// member_erased and changes nothing; no event may name an erased id.
func checkErasedIDRefused(t *testing.T, env *natstest.Env, pool *pgxpool.Pool, erased string) {
	t.Helper()
	at := time.Now().UTC().Add(-time.Minute)
	var bobBefore int64
	if err := pool.QueryRow(context.Background(), `select points_balance from loyalty.members where member_id = 'bob-2'`).Scan(&bobBefore); err != nil {
		t.Fatal(err)
	}
	publishEvents(t, env, []domain.Event{
		{ID: "alice-after", Type: domain.TypePurchaseCompleted, Source: "erase-test", MemberID: erasedMember, OccurredAt: at,
			Body: domain.Purchase{OrderID: "o-after", Total: domain.Money{Minor: 10_00, Currency: "EUR"}}},
		{ID: "bob-gives-again", Type: domain.TypeTransfer, Source: "erase-test", MemberID: "bob-2", OccurredAt: at,
			Body: domain.TransferRequest{RequestID: "gift-2", ToMemberID: erasedMember, Points: 10}},
	})
	data, _ := json.Marshal(map[string]string{"member_id": erasedMember})
	if msg, err := env.Conn.Request(handlers.BalanceSubject, data, 10*time.Second); err != nil || msg.Header.Get("Nats-Service-Error-Code") != "404" {
		t.Errorf("the balance of the erased id: %v %v", err, msg)
	}
	ev := domain.Event{ID: "as-erased", Type: domain.TypeMemberEnrolled, Source: "erase-test", MemberID: erased, OccurredAt: at,
		Body: domain.Enrolment{}}
	if err := domain.Validate(ev, at); err == nil {
		t.Errorf("an event for %s is valid", erased)
	}
	deadline := time.Now().Add(time.Minute)
	for ; time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		for _, m := range streamMessages(t, env.JS, streams.DeadLetterStream) {
			if m.Headers().Get(jetstream.MsgIDHeader) == "alice-after" || strings.Contains(string(m.Data()), `"alice-after"`) {
				if reason := m.Headers().Get(handlers.HeaderReason); reason != string(domain.ReasonMemberErased) {
					t.Errorf("the erased id's purchase was dead-lettered as %q", reason)
				}
				var n int
				if err := pool.QueryRow(context.Background(), `select count(*) from loyalty.members where member_id = $1`, erasedMember).Scan(&n); err != nil || n != 0 {
					t.Errorf("members holds %d rows of the erased id (%v)", n, err)
				}
				checkTransferToErasedRefused(t, env, pool, bobBefore)
				return
			}
		}
	}
	t.Error("the erased id's purchase was not dead-lettered within a minute")
}

// memberKeyBytes is the erased member's data key as the bucket holds it.
func memberKeyBytes(t *testing.T, env *natstest.Env) []byte {
	t.Helper()
	ctx := context.Background()
	secret, err := handlers.ReadFollowUpIDKey(ctx, env.JS)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := env.JS.KeyValue(ctx, streams.MemberKeysBucket)
	if err != nil {
		t.Fatal(err)
	}
	entry, err := kv.Get(ctx, streams.MemberToken(secret, erasedMember))
	if err != nil || len(entry.Value()) < 32 {
		t.Fatalf("the member's key: %v", err)
	}
	return entry.Value()[:32]
}

// checkStoreFiles: the server's files (of the member keys, the input, the
// outbound events, the dead letters, every bucket) hold neither the
// member's key, which would open what the ledger seals, nor their id.
func checkStoreFiles(t *testing.T, env *natstest.Env, key []byte) {
	t.Helper()
	if err := env.JS.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // the store is flushed every second
	err := filepath.WalkDir(env.Dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for what, b := range map[string][]byte{"the member's key": key, "the member's id": []byte(erasedMember),
			"the comment": []byte(erasedComment), "the birth date": []byte(erasedBirth)} {
			if bytes.Contains(data, b) {
				t.Errorf("%s holds %s", path, what)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkTransferToErasedRefused: a transfer to the erased member is refused
// (member_erased) and takes nothing from the sender.
func checkTransferToErasedRefused(t *testing.T, env *natstest.Env, pool *pgxpool.Pool, bobBefore int64) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for ; time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		for _, m := range streamMessages(t, env.JS, streams.DeadLetterStream) {
			if !strings.Contains(string(m.Data()), `"bob-gives-again"`) {
				continue
			}
			if reason := m.Headers().Get(handlers.HeaderReason); reason != string(domain.ReasonMemberErased) {
				t.Errorf("the transfer to the erased member was dead-lettered as %q", reason)
			}
			waitAllCaughtUp(t, env, pool)
			var bob int64
			if err := pool.QueryRow(context.Background(), `select points_balance from loyalty.members where member_id = 'bob-2'`).Scan(&bob); err != nil || bob != bobBefore {
				t.Errorf("bob has %d points after a refused transfer, had %d (%v)", bob, bobBefore, err)
			}
			return
		}
	}
	t.Error("the transfer to the erased member was not dead-lettered within a minute")
}
