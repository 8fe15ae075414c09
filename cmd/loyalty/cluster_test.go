package main_test

import (
	"context"
	"strings"
	"testing"

	"github.com/pointsledger/loyalty/projections/pgtest"
	"github.com/pointsledger/loyalty/streams"
	"github.com/pointsledger/loyalty/streams/natstest"
)

// serve on a cluster of three NATS servers, given every server's URL: the
// streams an operator set to three replicas are still three after serve
// restarts, even one told --replicas 1, and the log says what it left.
func TestServeKeepsAnOperatorsReplicas(t *testing.T) {
	c := natstest.StartCluster(t, 3)
	db := pgtest.New(t)
	ctx := context.Background()
	if err := streams.EnsureStreams(ctx, c.JS, streams.StreamsConfig{Replicas: 1}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{streams.InputStream, streams.LedgerStream, streams.DeadLetterStream} {
		s, err := c.JS.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		cfg := s.CachedInfo().Config
		cfg.Replicas = 3 // the operator's
		if _, err := c.JS.UpdateStream(ctx, cfg); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"--nats-url", c.URLs(), "--database-url", db.URL, "--data-dir", t.TempDir(), "--replicas", "1"}
	for range 2 {
		srv := startServe(t, args...)
		srv.stop(t)
		if !strings.Contains(srv.log.String(), "setting=replicas") {
			t.Errorf("serve did not log the replicas it left alone:\n%s", srv.log.String())
		}
	}
	for _, name := range []string{streams.InputStream, streams.LedgerStream, streams.DeadLetterStream} {
		s, err := c.JS.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.CachedInfo().Config.Replicas; got != 3 {
			t.Errorf("%s has %d replicas after serve's restarts, want the operator's 3", name, got)
		}
	}
}
