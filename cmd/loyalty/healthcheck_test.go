package main_test

import (
	"net"
	"strings"
	"testing"

	"github.com/pointsledger/loyalty/projections/pgtest"
	"github.com/pointsledger/loyalty/streams/natstest"
)

// `loyalty healthcheck` is the container healthcheck: 0 while serve is
// ready, non-zero with the reason once it is gone.
func TestHealthcheckAsksServe(t *testing.T) {
	env := natstest.Start(t)
	db := pgtest.New(t)
	srv := startServe(t, "--nats-url", env.Server.ClientURL(), "--database-url", db.URL, "--data-dir", t.TempDir())
	if out := mustLoyalty(t, "healthcheck", "--metrics-addr", srv.metricsAddr); !strings.Contains(out, "ready") {
		t.Errorf("healthcheck of a ready serve printed %q, want ready", out)
	}
	_, port, err := net.SplitHostPort(srv.metricsAddr)
	if err != nil {
		t.Fatal(err)
	}
	// As a compose file writes it: every interface, asked on localhost.
	mustLoyalty(t, "healthcheck", "--metrics-addr", ":"+port)
	srv.stop(t)
	if out, errOut, err := loyalty(t, "healthcheck", "--metrics-addr", srv.metricsAddr); err == nil || !strings.Contains(errOut, "not ready") {
		t.Errorf("healthcheck of a stopped serve: %v, %q %q; want a failure saying not ready", err, out, errOut)
	}
	if _, errOut, err := loyalty(t, "healthcheck", "--metrics-addr", "9464"); err == nil || !strings.Contains(errOut, "host:port") {
		t.Errorf("healthcheck --metrics-addr 9464: %v, %q; want it to say how to write the address", err, errOut)
	}
	if _, errOut, err := loyalty(t, "healthcheck", "--metrics-addr", "example.com:80/../x"); err == nil || !strings.Contains(errOut, "port must be a number") {
		t.Errorf("healthcheck with a path in the port: %v, %q; want the port refused", err, errOut)
	}
}
