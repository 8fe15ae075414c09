package main_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/handlers"
	"github.com/pointsledger/loyalty/projections/pgtest"
	"github.com/pointsledger/loyalty/streams"
	"github.com/pointsledger/loyalty/streams/natstest"
)

// A purchase in a currency the program does not take is dead-lettered; the
// program is fixed; `dlq replay` applies it, once however often it is run.
func TestDeadLetterListShowAndReplayAfterAProgramFix(t *testing.T) {
	env := natstest.Start(t)
	db := pgtest.New(t)
	natsURL := env.Server.ClientURL()
	noGBP := writeProgramWithout(t, "GBP:")
	srv := startServe(t, "--nats-url", natsURL, "--database-url", db.URL, "--data-dir", t.TempDir(), "--program", noGBP)

	ctx := context.Background()
	purchase := domain.Event{ID: "gbp-order-1", Type: domain.TypePurchaseCompleted, Source: "test", MemberID: "dlq-member",
		OccurredAt: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		Body:       domain.Purchase{OrderID: "o-1", Total: domain.Money{Minor: 5000, Currency: "GBP"}, Channel: "web"}}
	pub := streams.NewPublisher(env.JS, nil)
	if err := pub.Publish(ctx, purchase); err != nil {
		t.Fatal(err)
	}
	subject, err := streams.InputSubject(domain.TypePurchaseCompleted, "dlq-member")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.JS.PublishMsg(ctx, &nats.Msg{Subject: subject, Data: []byte(`{"id":`)}); err != nil {
		t.Fatal(err)
	}
	if err := pub.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	waitCaughtUp(t, env.JS, db.Pool, 2)

	var listed []handlers.DeadLetter
	if err := json.Unmarshal([]byte(mustLoyalty(t, "dlq", "list", "--json", "--nats-url", natsURL)), &listed); err != nil {
		t.Fatal(err)
	}
	// Newest first.
	if len(listed) != 2 || listed[0].Reason != "malformed_json" || listed[1].Reason != domain.ReasonCurrencyNotAccepted {
		t.Fatalf("dlq list: %+v", listed)
	}
	id := strconv.FormatUint(listed[1].ID, 10)
	text := mustLoyalty(t, "dlq", "list", "--nats-url", natsURL)
	for _, want := range []string{"currency_not_accepted", "malformed_json", "gbp-order-1", "2 dead letters, newest first"} {
		if !strings.Contains(text, want) {
			t.Errorf("dlq list lacks %q:\n%s", want, text)
		}
	}
	// A page says how many there are and how to read the next one.
	page := mustLoyalty(t, "dlq", "list", "--limit", "1", "--nats-url", natsURL)
	next := "--before " + strconv.FormatUint(listed[0].ID, 10)
	if !strings.Contains(page, "malformed_json") || strings.Contains(page, "currency_not_accepted") || !strings.Contains(page, "1 of 2 dead letters") ||
		!strings.Contains(page, next) {
		t.Errorf("dlq list --limit 1: want the newest, \"1 of 2 dead letters\" and %q:\n%s", next, page)
	}
	filtered := mustLoyalty(t, "dlq", "list", "--reason", "malformed_json", "--after", "0", "--limit", "1", "--nats-url", natsURL)
	if !strings.Contains(filtered, "1 dead letter, newest first") {
		t.Errorf("dlq list --reason malformed_json: want the one:\n%s", filtered)
	}
	if _, errOut, err := loyalty(t, "dlq", "list", "--reason", "nosuch", "--nats-url", natsURL); err == nil || !strings.Contains(errOut, "malformed_json") {
		t.Errorf("dlq list --reason nosuch: %v %q; want a refusal listing the reasons", err, errOut)
	}
	if _, errOut, err := loyalty(t, "dlq", "list", "--limit", "-1", "--nats-url", natsURL); err == nil || !strings.Contains(errOut, "--limit -1") {
		t.Errorf("dlq list --limit -1: %v %q; want it refused", err, errOut)
	}
	if older := mustLoyalty(t, "dlq", "list", "--before", strconv.FormatUint(listed[0].ID, 10), "--nats-url", natsURL); !strings.Contains(older, "currency_not_accepted") ||
		strings.Contains(older, "malformed_json") {
		t.Errorf("dlq list %s: want the older one only:\n%s", next, older)
	}
	shown := mustLoyalty(t, "dlq", "show", id, "--nats-url", natsURL)
	if !strings.Contains(shown, "currency_not_accepted") || !strings.Contains(shown, `"gbp-order-1"`) {
		t.Errorf("dlq show %s:\n%s", id, shown)
	}
	// The subject it was published on, not the one the stream stored it under.
	if listed[1].OriginalSubject != subject {
		t.Errorf("dead letter's original subject %q, want the published %q", listed[1].OriginalSubject, subject)
	}
	if _, errOut, err := loyalty(t, "dlq", "show", "999", "--nats-url", natsURL); err == nil || !strings.Contains(errOut, "no such dead letter") {
		t.Errorf("dlq show of an unknown ID: err %v, stderr %q", err, errOut)
	}
	if _, errOut, err := loyalty(t, "dlq", "replay", "--nats-url", natsURL); err == nil || !strings.Contains(errOut, "--reason") {
		t.Errorf("dlq replay without targets: err %v, stderr %q", err, errOut)
	}

	// The fix: the default program takes GBP.
	srv.stop(t)
	srv = startServe(t, "--nats-url", natsURL, "--database-url", db.URL, "--data-dir", t.TempDir())
	out := mustLoyalty(t, "dlq", "replay", id, "--nats-url", natsURL)
	if !strings.Contains(out, "1 replayed") {
		t.Errorf("dlq replay %s: %s", id, out)
	}
	waitCaughtUp(t, env.JS, db.Pool, 3)
	balance := memberBalance(t, db, "dlq-member")
	if balance <= 0 {
		t.Fatalf("after the replay dlq-member has %d points", balance)
	}

	again := mustLoyalty(t, "dlq", "replay", id, "--nats-url", natsURL)
	byReason := mustLoyalty(t, "dlq", "replay", "--reason", "currency_not_accepted", "--nats-url", natsURL)
	if !strings.Contains(again, "replayed already") || !strings.Contains(byReason, "0 replayed") {
		t.Errorf("second replay: %q; replay by reason: %q", again, byReason)
	}
	waitCaughtUp(t, env.JS, db.Pool, 3)
	if got := memberBalance(t, db, "dlq-member"); got != balance {
		t.Errorf("balance %d after replaying again, %d before", got, balance)
	}
	if err := json.Unmarshal([]byte(mustLoyalty(t, "dlq", "list", "--json", "--nats-url", natsURL)), &listed); err != nil {
		t.Fatal(err)
	}
	if len(listed) != 2 || listed[1].Replayed == nil || listed[0].Replayed != nil {
		t.Errorf("after the replay, dlq list: %+v", listed)
	}
	srv.stop(t)
}

// writeProgramWithout writes the default program without the lines that
// start with prefix (after indentation).
func writeProgramWithout(t *testing.T, prefix string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "programs", "default.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), prefix) {
			kept = append(kept, line)
		}
	}
	path := filepath.Join(t.TempDir(), "program.yaml")
	if err := os.WriteFile(path, []byte(strings.Join(kept, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func memberBalance(t *testing.T, db *pgtest.Database, id string) int64 {
	t.Helper()
	var balance int64
	if err := db.Pool.QueryRow(context.Background(), `select points_balance from loyalty.members where member_id = $1`, id).Scan(&balance); err != nil {
		t.Fatalf("member %s: %v", id, err)
	}
	return balance
}
