package main_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestWebhooksCheckAndSecret(t *testing.T) {
	secret := strings.TrimSpace(mustLoyalty(t, "webhooks", "secret"))
	if !regexp.MustCompile(`^whsec_[A-Za-z0-9+/]{43}=$`).MatchString(secret) {
		t.Fatalf("webhooks secret printed %q, want whsec_ and 32 bytes of base64", secret)
	}
	if other := strings.TrimSpace(mustLoyalty(t, "webhooks", "secret")); other == secret {
		t.Fatal("two secrets are the same")
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte("endpoints:\n  - {id: crm, url: 'https://crm.example.com/h', events: [tier_changed], secrets: ['"+secret+"']}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := mustLoyalty(t, "webhooks", "check", good); !strings.Contains(out, "valid (endpoints: 1)") {
		t.Errorf("check of a good file printed %q", out)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("endpoints:\n  - {id: CRM, url: 'https://u:pw@crm/h?k=v', events: [points], secrets: ['env:LOYALTY_NO_SUCH_SECRET']}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, err := loyalty(t, "webhooks", "check", bad)
	if err == nil {
		t.Fatal("check of a bad file passed")
	}
	for _, want := range []string{"id:", "url:", `"points" is not an outbound event`, "LOYALTY_NO_SUCH_SECRET is not set"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("check's error %q does not say %q", errOut, want)
		}
	}
	if strings.Contains(errOut, "pw@") || strings.Contains(errOut, "k=v") {
		t.Errorf("check's error shows the URL's secrets: %q", errOut)
	}
	if _, errOut, err := loyalty(t, "webhooks", "replay", "x1"); err == nil || !strings.Contains(errOut, "want a number") {
		t.Errorf("replay x1: %v %q", err, errOut)
	}
}
