// Package pgtest gives each test its own PostgreSQL database on a real
// server: LOYALTY_TEST_DATABASE_URL, or else the local server at
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable.
//
// A test that needs PostgreSQL fails when the server is unreachable, because
// a skipped integration test is a failed one in CI; under -short it is
// skipped instead.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// EnvURL names the environment variable with the URL of the server (any
// database on it) where test databases are created. The role needs CREATEDB.
const EnvURL = "LOYALTY_TEST_DATABASE_URL"

// DefaultURL is used when EnvURL is unset: the PostgreSQL that developer
// machines and CI run locally, with trust authentication.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// Database is a fresh database that exists for one test.
type Database struct {
	// Name of the database.
	Name string
	// URL connects to it, e.g. for a binary under test.
	URL string
	// Pool is connected to it and closed when the test ends.
	Pool *pgxpool.Pool
}

var databases sync.Map // testing.TB -> *Database

// New creates a uniquely named empty database for t, with a pool connected
// to it, and drops it when the test ends. Calling it again in the same test
// returns the same database.
func New(t testing.TB) *Database {
	t.Helper()
	if db, ok := databases.Load(t); ok {
		return db.(*Database)
	}
	serverURL := ServerURL()
	if testing.Short() {
		t.Skip("integration test: needs PostgreSQL (run without -short)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := connect(ctx, serverURL)
	if err != nil {
		t.Fatalf("PostgreSQL is unreachable at %s: %v\n"+
			"Integration tests need a PostgreSQL server: start one there, or set %s to the URL of one "+
			"whose role may CREATE DATABASE; go test -short skips these tests.", redact(serverURL), err, EnvURL)
	}
	defer admin.Close(ctx)

	name := databaseName(t.Name())
	if _, err := admin.Exec(ctx, "create database "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	db := &Database{Name: name}
	t.Cleanup(func() { drop(t, serverURL, db) })
	db.URL, err = withDatabase(serverURL, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	db.Pool, err = pgxpool.New(ctx, db.URL)
	if err != nil {
		t.Fatalf("pgtest: connect to %s: %v", name, err)
	}
	if err := db.Pool.Ping(ctx); err != nil {
		t.Fatalf("pgtest: connect to %s: %v", name, err)
	}
	databases.Store(t, db)
	return db
}

// NewDatabase is New(t).Pool: a pool on a fresh database of its own.
func NewDatabase(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return New(t).Pool
}

// URL returns the URL of t's database, creating the database if t has none.
func URL(t testing.TB) string {
	t.Helper()
	return New(t).URL
}

// ServerURL is the URL tests connect to in order to create their databases.
func ServerURL() string {
	if u := os.Getenv(EnvURL); u != "" {
		return u
	}
	return DefaultURL
}

func connect(ctx context.Context, connString string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(connString)
	if err != nil {
		return nil, err
	}
	if cfg.ConnectTimeout == 0 || cfg.ConnectTimeout > 5*time.Second {
		cfg.ConnectTimeout = 5 * time.Second
	}
	return pgx.ConnectConfig(ctx, cfg)
}

func drop(t testing.TB, serverURL string, db *Database) {
	databases.Delete(t)
	if db.Pool != nil {
		db.Pool.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := connect(ctx, serverURL)
	if err != nil {
		t.Errorf("pgtest: drop database %s: %v", db.Name, err)
		return
	}
	defer admin.Close(ctx)
	// FORCE ends connections the test left open (a binary it ran, say).
	if _, err := admin.Exec(ctx, "drop database if exists "+pgx.Identifier{db.Name}.Sanitize()+" with (force)"); err != nil {
		t.Errorf("pgtest: drop database %s: %v", db.Name, err)
	}
}

var unsafeChars = regexp.MustCompile(`[^a-z0-9_]+`)

// databaseName is "test_", a readable part of the test name and a random
// suffix, within PostgreSQL's 63-byte identifier limit.
func databaseName(testName string) string {
	readable := unsafeChars.ReplaceAllString(strings.ToLower(testName), "_")
	readable = strings.Trim(readable, "_")
	if len(readable) > 40 {
		readable = readable[:40]
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "test_" + readable + "_" + hex.EncodeToString(b[:])
}

// withDatabase points a connection string at another database. It takes URLs
// (postgres://...) and keyword/value strings (host=... dbname=...).
func withDatabase(connString, name string) (string, error) {
	if strings.Contains(connString, "://") {
		u, err := url.Parse(connString)
		if err != nil {
			return "", fmt.Errorf("parse %s: %w", EnvURL, err)
		}
		u.Path = "/" + name
		u.RawPath = ""
		return u.String(), nil
	}
	return connString + " dbname=" + name, nil
}

// redact hides a password in a URL for messages.
func redact(connString string) string {
	u, err := url.Parse(connString)
	if err != nil || u.User == nil {
		return connString
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
