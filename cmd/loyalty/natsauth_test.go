package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/nats-io/nkeys"

	"github.com/pointsledger/loyalty/projections"
)

func TestNATSAuthOptions(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	user, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, err := user.Seed()
	if err != nil {
		t.Fatal(err)
	}
	seedFile := write("user.nk", string(seed))
	token := write("token", "tok-123\n")
	empty := write("empty", "\n")
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	cases := []struct {
		name    string
		auth    natsAuth
		env     func(string) string
		options int
		err     string
	}{
		{"nothing", natsAuth{}, env(), 0, ""},
		{"user and password from the environment", natsAuth{user: "engine"}, env("LOYALTY_NATS_PASSWORD", "pw"), 1, ""},
		{"user without password", natsAuth{user: "engine"}, env(), 0, "needs a password"},
		{"password without user", natsAuth{}, env("LOYALTY_NATS_PASSWORD", "pw"), 0, "without --nats-user"},
		{"token file", natsAuth{tokenFile: token}, env(), 1, ""},
		{"empty token file", natsAuth{tokenFile: empty}, env(), 0, "is empty"},
		{"missing token file", natsAuth{tokenFile: filepath.Join(dir, "none")}, env(), 0, "--nats-token-file"},
		{"nkey seed", natsAuth{nkeyFile: seedFile}, env(), 1, ""},
		{"bad nkey seed", natsAuth{nkeyFile: token}, env(), 0, "--nats-nkey"},
		{"missing creds", natsAuth{credsFile: filepath.Join(dir, "none.creds")}, env(), 0, "--nats-creds"},
		{"two ways", natsAuth{nkeyFile: seedFile}, env("LOYALTY_NATS_TOKEN", "t"), 0, "more than one way"},
		{"CA", natsAuth{tlsCA: token}, env(), 1, ""},
		{"cert without key", natsAuth{tlsCert: token}, env(), 0, "go together"},
		{"cert and key", natsAuth{tlsCert: token, tlsKey: token}, env(), 1, ""},
	}
	for _, c := range cases {
		opts, err := c.auth.options(c.env)
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: err %v, want one mentioning %q", c.name, err, c.err)
		case c.err == "" && len(opts) != c.options:
			t.Errorf("%s: %d options, want %d", c.name, len(opts), c.options)
		}
		if err != nil && (strings.Contains(err.Error(), "tok-123") || strings.Contains(err.Error(), string(seed))) {
			t.Errorf("%s: the error shows a secret: %v", c.name, err)
		}
	}
}

func TestRedactURLs(t *testing.T) {
	got := redactURLs("nats://u:secret@a:4222,nats://tok@b:4222,nats://c:4222,alice:pw@d:4222")
	if strings.Contains(got, "secret") || strings.Contains(got, "tok@") || strings.Contains(got, "pw") || !strings.Contains(got, "nats://c:4222") {
		t.Errorf("redactURLs = %q", got)
	}
}

func TestWorthWaitingForTheDatabase(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{errors.New("dial tcp 127.0.0.1:5432: connect: connection refused"), true},
		{&pgconn.PgError{Code: "57P03"}, true},
		{&pgconn.PgError{Code: "08006"}, true},
		{fmt.Errorf("migrate: %w", &pgconn.PgError{Code: "42501"}), false},
		{&pgconn.PgError{Code: "28P01"}, false},
		{&pgconn.PgError{Code: "3D000"}, false},
		{fmt.Errorf("%w: database is at version 9", projections.ErrSchemaTooNew), false},
	} {
		if got := worthWaiting(c.err); got != c.want {
			t.Errorf("worthWaiting(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
