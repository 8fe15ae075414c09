package deploy_test

import (
	"os"
	"strings"
	"testing"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/streams"
)

// TestPermissionsNameEveryInputType: the least-privilege NATS accounts let
// upstream publish every input type it may publish, and none the engine
// keeps for itself, nor erasure requests; a new event type must be added
// there.
func TestPermissionsNameEveryInputType(t *testing.T) {
	conf, err := os.ReadFile("nats/permissions.conf")
	if err != nil {
		t.Fatal(err)
	}
	text := string(conf)
	for _, typ := range domain.EventTypes {
		subject, err := streams.InputSubject(typ, "x")
		if err != nil {
			t.Fatal(err)
		}
		pattern := subject[:strings.LastIndexByte(subject, '.')] + ".*"
		export := `{ service: "` + pattern + `", accounts: [UPSTREAM] }`
		imp := `{ service: { account: LOYALTY, subject: "` + pattern + `" } }`
		upstreamMay := strings.Contains(text, export) && strings.Contains(text, imp)
		switch {
		case typ == domain.TypeErasure: // the privacy team's (loyalty member erase), never a till's
			if upstreamMay || strings.Contains(text, export) {
				t.Errorf("deploy/nats/permissions.conf lets upstream publish %s, an erasure request", pattern)
			}
		case domain.MadeByEngine(typ) && upstreamMay:
			t.Errorf("%s is the engine's own, but deploy/nats/permissions.conf lets upstream publish %s", typ, pattern)
		case !domain.MadeByEngine(typ) && !upstreamMay:
			t.Errorf("deploy/nats/permissions.conf does not let upstream publish %s: add %s to LOYALTY's exports and %s to UPSTREAM's imports",
				typ, export, imp)
		}
	}
}
