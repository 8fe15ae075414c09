package main_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pointsledger/loyalty/projections/pgtest"
)

// A demo started again on the same data directory goes on where it stopped:
// a finished one publishes nothing, rather than every event again for the
// engine to dead-letter as duplicate_event one by one; the progress file
// says what was published into which stream.
func TestRestartedDemoPublishesNothingAgain(t *testing.T) {
	db := pgtest.New(t)
	dir := t.TempDir()
	args := []string{"--data-dir", dir, "--nats-port", "0", "--database-url", db.URL, "--refit-check-interval", "300ms",
		"--demo", "--demo-members", "30", "--demo-days", "20", "--demo-start", "2026-01-01", "--demo-quiet"}
	srv := startServe(t, args...)
	waitForLog(t, srv, "demo load in the input stream;", 1)
	// Serve says when the tables hold it all, and fits the demo's members
	// as of its last day (2026-01-20), not as of today.
	waitForLog(t, srv, "caught up: every event published is in the read models", 1)
	deadline := time.Now().Add(time.Minute)
	var asOf time.Time
	for db.Pool.QueryRow(context.Background(), `select as_of from loyalty.model_fits order by id limit 1`).Scan(&asOf) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("no fit within a minute:\n%s", srv.log.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if want := time.Date(2026, 1, 20, 0, 0, 0, 0, time.UTC); !asOf.Equal(want) {
		t.Errorf("the demo was fitted as of %s, want its last day %s", asOf.Format(time.DateOnly), want.Format(time.DateOnly))
	}
	first := regexp.MustCompile(`published (\d+) events for 30 members`).FindStringSubmatch(srv.log.String())
	if first == nil {
		t.Fatalf("the first demo did not say what it published:\n%s", srv.log.String())
	}
	progress, err := os.ReadFile(filepath.Join(dir, "demo-progress.json"))
	if err != nil || !strings.Contains(string(progress), `"published":`+first[1]) {
		t.Fatalf("demo progress %s (%v); want %s published", progress, err, first[1])
	}
	srv.stop(t)

	srv = startServe(t, args...)
	waitForLog(t, srv, "demo load in the input stream;", 1)
	log := srv.log.String()
	if !strings.Contains(log, "demo load published before ("+first[1]+" events") || strings.Contains(log, "events for 30 members over 20 days in") {
		t.Errorf("the restarted demo published again, or did not say why not:\n%s", log)
	}
	srv.stop(t)
}
