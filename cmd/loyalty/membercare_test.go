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
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/handlers"
	"github.com/pointsledger/loyalty/projections/pgtest"
	"github.com/pointsledger/loyalty/streams"
	"github.com/pointsledger/loyalty/streams/natstest"
)

// The back office through the real binary, under the default program:
// `member adjust` credits once however often it is run with one request
// id, refuses what the program's limits refuse with the reason and a
// failing exit status, and `member cancel-redemption` gives a redemption's
// points back. The read models show both, and a rebuild gives the same rows.
func TestMemberAdjustAndCancelThroughTheBinary(t *testing.T) {
	env := natstest.Start(t)
	db := pgtest.New(t)
	url := env.Server.ClientURL()
	srv := startServe(t, "--nats-url", url, "--database-url", db.URL, "--data-dir", t.TempDir())
	const member = "care.member ✓"
	at := time.Now().UTC().Add(-time.Hour)
	event := func(id string, body domain.EventBody) domain.Event {
		return domain.Event{ID: id, Type: body.EventType(), Source: "care-test", MemberID: member, OccurredAt: at, Body: body}
	}
	// 200 base points and the 200 first-purchase bonus.
	publishEvents(t, env, []domain.Event{
		event("care-enrol", domain.Enrolment{Channel: "app"}),
		event("care-buy", domain.Purchase{OrderID: "o-1", Total: domain.Money{Minor: 200_00, Currency: "EUR"}, Channel: "web"}),
	})
	waitCaughtUp(t, env.JS, db.Pool, 2)

	adjust := []string{"member", "adjust", member, "--nats-url", url, "--points", "250", "--reason", "missing_points",
		"--note", "receipt 4411 was not scanned", "--operator", "agent-7", "--request-id", "case-1"}
	if out := mustLoyalty(t, adjust...); !strings.Contains(out, "case-1: accepted") || !strings.Contains(out, "balance 650") {
		t.Errorf("member adjust:\n%s", out)
	}
	if out := mustLoyalty(t, adjust...); !strings.Contains(out, "decided before") || !strings.Contains(out, "balance 650") {
		t.Errorf("member adjust again with the same request id:\n%s", out)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--points", "20000", "--request-id", "case-2"}, "refused: adjustment_too_large"},
		{[]string{"--points", "-5000", "--request-id", "case-3"}, "refused: insufficient_points"},
		{[]string{"--points", "0"}, "--points is required"},
		{[]string{"--points", "5", "--reason", ""}, "--reason is required"},
		{[]string{"--points", "5", "--operator", ""}, "--operator is required"},
		{[]string{"--points", "5", "--note", "bad\x07note"}, "invalid_field: note"},
	} {
		args := append(slices.Clone(adjust[:3]), "--nats-url", url, "--reason", "goodwill", "--operator", "agent-7")
		out, errOut, err := loyalty(t, append(args, c.args...)...)
		if err == nil || !strings.Contains(errOut, c.want) {
			t.Errorf("member adjust %v: err %v, stderr %q, want %q\n%s", c.args, err, errOut, c.want, out)
		}
	}
	if _, errOut, err := loyalty(t, "member", "adjust", "nobody", "--nats-url", url, "--points", "5", "--reason", "goodwill", "--operator", "a"); err == nil ||
		!strings.Contains(errOut, `no member "nobody" is on record`) {
		t.Errorf("member adjust of an unknown member: err %v, stderr %q", err, errOut)
	}

	// A till redeems a coffee (150 points); the back office cancels it.
	var redeemed handlers.RedeemReply
	data, _ := json.Marshal(handlers.RedeemRequestJSON{MemberID: member, RequestID: "till-1", RewardID: "coffee"})
	msg, err := env.Conn.Request(handlers.RedeemSubject, data, 10*time.Second)
	if err != nil || json.Unmarshal(msg.Data, &redeemed) != nil || redeemed.Status != "accepted" || redeemed.Balance != 500 {
		t.Fatalf("redeem a coffee: %v %s", err, msg.Data)
	}
	cancel := []string{"member", "cancel-redemption", member, "till-1", "--nats-url", url, "--reason", "customer_request", "--operator", "agent-7"}
	if out := mustLoyalty(t, cancel...); !strings.Contains(out, "till-1: 150 points back") || !strings.Contains(out, "balance 650") {
		t.Errorf("member cancel-redemption:\n%s", out)
	}
	if _, errOut, err := loyalty(t, cancel...); err == nil || !strings.Contains(errOut, "already_cancelled") {
		t.Errorf("cancel again: err %v, stderr %q", err, errOut)
	}

	rows := waitForCareRows(t, db.Pool)
	for _, want := range []string{
		`points_ledger: 250 adjusted adjustment`,
		`points_ledger: 150 returned redemption_cancelled`,
		`adjustments: case-1 accepted 250 missing_points "receipt 4411 was not scanned" agent-7`,
		`adjustments: case-2 rejected 20000 adjustment_too_large`,
		`redemptions: till-1 cancelled customer_request agent-7`,
		`members: 650`,
	} {
		if !slices.Contains(rows, want) {
			t.Errorf("read models lack %q; they hold:\n%s", want, strings.Join(rows, "\n"))
		}
	}
	mustLoyalty(t, "projections", "rebuild", "members", "--nats-url", url, "--database-url", db.URL, "--quiet")
	if again := careRows(t, db.Pool); !slices.Equal(rows, again) {
		t.Errorf("after a rebuild:\n%s\nbefore:\n%s", strings.Join(again, "\n"), strings.Join(rows, "\n"))
	}
	checkExport(t, env, db, url, member)
	srv.stop(t)
}

// checkExport exports member and checks that the document holds what the
// engine has of them, and nothing of another member.
func checkExport(t *testing.T, env *natstest.Env, db *pgtest.Database, url, member string) {
	dbURL := db.URL
	t.Helper()
	// Another member of the same partition, whose ledger records share the
	// member's subject.
	other := ""
	for i := 0; other == ""; i++ {
		if id := fmt.Sprintf("other.member-%d", i); streams.PartitionOf(id) == streams.PartitionOf(member) {
			other = id
		}
	}
	publishEvents(t, env, []domain.Event{{ID: "other-buy", Type: domain.TypePurchaseCompleted, Source: "care-test", MemberID: other,
		OccurredAt: time.Now().UTC().Add(-time.Hour), Body: domain.Purchase{OrderID: "o-9", Total: domain.Money{Minor: 10_00, Currency: "EUR"}}}})
	waitForMembers(t, db.Pool, 2)
	file := filepath.Join(t.TempDir(), "export.json")
	mustLoyalty(t, "member", "export", member, "--nats-url", url, "--database-url", dbURL, "--output", file)
	info, err := os.Stat(file)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("export file: %v, mode %v; want 0600", err, info.Mode())
	}
	if _, errOut, err := loyalty(t, "member", "export", member, "--nats-url", url, "--database-url", dbURL, "--output", file); err == nil ||
		!strings.Contains(errOut, "it exists") {
		t.Errorf("export over an existing file: err %v, stderr %q", err, errOut)
	}
	if _, errOut, err := loyalty(t, "member", "export", "no such member", "--nats-url", url, "--database-url", dbURL); err == nil ||
		!strings.Contains(errOut, "nothing is on record") {
		t.Errorf("export of an unknown member: err %v, stderr %q", err, errOut)
	}
	failed := filepath.Join(t.TempDir(), "failed.json")
	if _, _, err := loyalty(t, "member", "export", member, "--nats-url", "nats://127.0.0.1:1", "--database-url", dbURL, "--output", failed); err == nil {
		t.Error("export without NATS worked")
	} else if _, statErr := os.Stat(failed); !os.IsNotExist(statErr) {
		t.Errorf("a failed export left %s behind (%v)", failed, statErr)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		MemberID string                       `json:"member_id"`
		Tables   map[string][]json.RawMessage `json:"tables"`
		Input    []struct{ Subject string }   `json:"input_events"`
		Ledger   []struct {
			Body struct {
				MemberID string `json:"member_id"`
			}
		} `json:"ledger_records"`
		Outbound []struct{ Subject string } `json:"outbound_events"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("export: %v\n%s", err, raw)
	}
	// Input: enrolment, purchase, two adjustments accepted or refused by
	// the rules (four stored), a redemption, two cancellations.
	if doc.MemberID != member || len(doc.Tables["members"]) != 1 || len(doc.Tables["adjustments"]) != 3 ||
		len(doc.Tables["redemptions"]) != 1 || len(doc.Tables["points_ledger"]) == 0 || len(doc.Input) < 6 || len(doc.Ledger) < 6 || len(doc.Outbound) == 0 {
		t.Errorf("export: %d members rows, %d adjustments, %d redemptions, %d points rows, %d inputs, %d ledger records, %d outbound events",
			len(doc.Tables["members"]), len(doc.Tables["adjustments"]), len(doc.Tables["redemptions"]), len(doc.Tables["points_ledger"]),
			len(doc.Input), len(doc.Ledger), len(doc.Outbound))
	}
	for _, r := range doc.Ledger {
		if r.Body.MemberID != member {
			t.Errorf("export holds a ledger record of %q", r.Body.MemberID)
		}
	}
	if !strings.Contains(string(raw), "receipt 4411 was not scanned") {
		t.Error("export lacks the adjustment's note")
	}
	if strings.Contains(string(raw), other) || strings.Contains(string(raw), streams.MemberKey(other)) {
		t.Error("export holds another member's data")
	}
}

// careRows is what the read models show of the back office's requests.
func careRows(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	for _, q := range []string{
		`select 'points_ledger: ' || points || ' ' || kind || ' ' || rule from loyalty.points_ledger where kind in ('adjusted', 'returned')`,
		`select 'adjustments: ' || request_id || ' ' || status || ' ' || points || ' ' || coalesce(reason_code, refused_reason) ||
			coalesce(' "' || note || '" ' || operator_id, '') from loyalty.adjustments`,
		`select 'redemptions: ' || request_id || ' ' || status || coalesce(' ' || cancel_reason_code || ' ' || cancelled_by, '') from loyalty.redemptions`,
		`select 'members: ' || points_balance from loyalty.members`,
	} {
		r, err := pool.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for r.Next() {
			var s string
			if err := r.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		r.Close()
	}
	slices.Sort(out)
	return out
}

// waitForCareRows waits until the cancellation reached the read models.
func waitForCareRows(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		rows := careRows(t, pool)
		seen := map[string]bool{}
		for _, r := range rows {
			seen[r] = true
		}
		if seen["redemptions: till-1 cancelled customer_request agent-7"] && seen["members: 650"] {
			return rows
		}
		if time.Now().After(deadline) {
			t.Fatalf("the read models never showed the cancellation:\n%s", strings.Join(slices.Sorted(maps.Keys(seen)), "\n"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// A voucher through the real binary: a member redeems the default program's
// voucher reward and gets a code; fifty tills, on five connections, use it
// at once, and exactly one succeeds. The read models keep the code's hash,
// not the code.
func TestVoucherUsedOnceThroughTheBinary(t *testing.T) {
	env := natstest.Start(t)
	db := pgtest.New(t)
	url := env.Server.ClientURL()
	srv := startServe(t, "--nats-url", url, "--database-url", db.URL, "--data-dir", t.TempDir())
	const member = "voucher-member"
	at := time.Now().UTC().Add(-time.Hour)
	publishEvents(t, env, []domain.Event{{ID: "v-buy", Type: domain.TypePurchaseCompleted, Source: "voucher-test", MemberID: member,
		OccurredAt: at, Body: domain.Purchase{OrderID: "o-1", Total: domain.Money{Minor: 1000_00, Currency: "EUR"}}}})
	waitCaughtUp(t, env.JS, db.Pool, 1)

	var redeemed handlers.RedeemReply
	data, _ := json.Marshal(handlers.RedeemRequestJSON{MemberID: member, RequestID: "app-1", RewardID: "voucher-10"})
	msg, err := env.Conn.Request(handlers.RedeemSubject, data, 10*time.Second)
	if err != nil || json.Unmarshal(msg.Data, &redeemed) != nil || redeemed.Status != "accepted" || len(redeemed.Vouchers) != 1 {
		t.Fatalf("redeem the voucher: %v %s", err, msg.Data)
	}
	code := redeemed.Vouchers[0].Code
	if !strings.HasPrefix(redeemed.Vouchers[0].ExpiresAt.Format(time.DateOnly), at.AddDate(0, 0, 90).Format("2006-01")) {
		t.Errorf("voucher expires %s, want 90 days after %s", redeemed.Vouchers[0].ExpiresAt, at)
	}

	tills := make([]*nats.Conn, 5)
	for i := range tills {
		nc, err := nats.Connect(url)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		tills[i] = nc
	}
	replies := make([]handlers.VoucherReply, 50)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range replies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := json.Marshal(handlers.VoucherRequestJSON{Code: code, RequestID: fmt.Sprintf("till-%d", i), Channel: "pos"})
			<-start
			msg, err := tills[i%len(tills)].Request(handlers.VoucherUseSubject, req, 20*time.Second)
			if err != nil || json.Unmarshal(msg.Data, &replies[i]) != nil {
				t.Errorf("use %d: %v %v", i, err, msg)
			}
		}()
	}
	close(start)
	wg.Wait()
	accepted := 0
	for _, r := range replies {
		if r.Status == "accepted" {
			accepted++
		} else if r.Reason != "voucher_used" {
			t.Errorf("refused use %+v, want voucher_used", r)
		}
	}
	if accepted != 1 {
		t.Errorf("%d of 50 concurrent uses of one code were accepted, want exactly 1", accepted)
	}

	canonical := strings.ReplaceAll(code, "-", "")
	deadline := time.Now().Add(30 * time.Second)
	for {
		var status, hint string
		err := db.Pool.QueryRow(context.Background(), `select status, code_hint from loyalty.vouchers
			where code_hash = encode(sha256($1::bytea), 'hex')`, canonical).Scan(&status, &hint)
		if err == nil && status == "used" && hint == canonical[12:] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the vouchers table: %s %s %v", status, hint, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	var clear int
	if err := db.Pool.QueryRow(context.Background(), `select count(*) from loyalty.vouchers v
		where position($1 in v::text) > 0 or position($2 in v::text) > 0`, canonical, code).Scan(&clear); err != nil || clear != 0 {
		t.Errorf("%d rows of loyalty.vouchers hold the code itself (%v)", clear, err)
	}
	srv.stop(t)
}
