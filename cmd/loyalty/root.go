package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
)

// globals are the flags every command shares.
type globals struct {
	dataDir     string
	natsURL     string
	databaseURL string
	logLevel    string
	natsAuth    natsAuth
	getenv      func(string) string
	stdout      io.Writer
	stderr      io.Writer
}

func newRootCommand(getenv func(string) string, stdout, stderr io.Writer) *cobra.Command {
	g := &globals{getenv: getenv, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "loyalty",
		Short:         "An event-sourced loyalty engine on NATS JetStream and PostgreSQL",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&g.dataDir, "data-dir", envOr(getenv, "LOYALTY_DATA_DIR", ".loyalty"),
		"directory of serve's own state: the engine's key index and member snapshots, and the embedded NATS store and managed PostgreSQL when serve runs them; one serve per directory (env LOYALTY_DATA_DIR)")
	pf.StringVar(&g.natsURL, "nats-url", getenv("LOYALTY_NATS_URL"),
		"NATS server URL, or the URLs of a cluster's servers separated by commas; empty: the embedded server (env LOYALTY_NATS_URL)")
	pf.StringVar(&g.databaseURL, "database-url", getenv("LOYALTY_DATABASE_URL"),
		"PostgreSQL URL; empty: a server managed in the data directory (env LOYALTY_DATABASE_URL)")
	g.natsAuth.register(pf, getenv)
	pf.StringVar(&g.logLevel, "log-level", envOr(getenv, "LOYALTY_LOG_LEVEL", "info"), "debug, info, warn or error (env LOYALTY_LOG_LEVEL)")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error { return noSecretsInFlags(cmd) }
	root.AddCommand(newServeCommand(g), newSimulateCommand(g), newImportCommand(g),
		newMemberCommand(g), newMigrateCommand(g), newDLQCommand(g), newProjectionsCommand(g), newProgramCommand(g), newBacktestCommand(g), newAnalyticsCommand(g), newExperimentCommand(g),
		newLedgerCommand(g), newHealthcheckCommand(g), newVersionCommand(g), newWebhooksCommand(g))
	for _, c := range root.Commands() {
		strictArgs(c)
	}
	return root
}

// strictArgs makes c and the commands under it refuse what they do not
// know: a command that only groups others fails on an unknown one (cobra
// prints the group's help and exits 0), and one that declares no arguments
// takes none (cobra ignores extra ones). A typo in a script must not pass
// for success.
func strictArgs(c *cobra.Command) {
	for _, sub := range c.Commands() {
		strictArgs(sub)
	}
	switch {
	case c.HasSubCommands() && !c.Runnable():
		c.Args = cobra.ArbitraryArgs
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			return fmt.Errorf("unknown command %q for %q: run '%s --help' for its commands", args[0], cmd.CommandPath(), cmd.CommandPath())
		}
	case c.Args == nil:
		c.Args = cobra.NoArgs
	}
}

// noSecretsInFlags refuses a password or token given in a URL flag: other
// users of the machine can read command lines. The environment variables
// take the same URLs.
func noSecretsInFlags(cmd *cobra.Command) error {
	checks := []struct {
		flag, env string
		secret    func(string) bool
	}{
		{"database-url", "LOYALTY_DATABASE_URL (or PGPASSWORD, PGPASSFILE)", postgresHasPassword},
		{"nats-url", "LOYALTY_NATS_URL (or --nats-password-file, --nats-token-file)", natsHasSecret},
	}
	for _, c := range checks {
		f := cmd.Flags().Lookup(c.flag)
		if f != nil && f.Changed && c.secret(f.Value.String()) {
			return fmt.Errorf("--%s holds a password or token, which other users of this machine can read in the process list: "+
				"use %s instead", c.flag, c.env)
		}
	}
	return nil
}

// postgresHasPassword looks for a password in a PostgreSQL URL or keyword
// connection string.
func postgresHasPassword(conn string) bool {
	if !strings.Contains(conn, "://") {
		return keywordPassword.MatchString(conn)
	}
	u, err := url.Parse(conn)
	if err != nil {
		return strings.Contains(strings.ToLower(conn), "password")
	}
	_, has := u.User.Password()
	return has || u.Query().Has("password")
}

var keywordPassword = regexp.MustCompile(`(?i)(^|\s)password\s*=`)

// natsHasSecret looks for user information (a password, or a token as the
// user name) in a NATS server list; a server without a scheme is read as
// nats://, as the client does.
func natsHasSecret(urls string) bool {
	for _, part := range strings.Split(urls, ",") {
		if u := parseNATSURL(part); u != nil && u.User != nil {
			return true
		}
	}
	return false
}

func parseNATSURL(s string) *url.URL {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "://") {
		s = "nats://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil
	}
	return u
}

func envOr(getenv func(string) string, key, fallback string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return fallback
}

func (g *globals) logger() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", g.logLevel)
	}
	return slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: level})), nil
}

// Files in the data directory through which a running `loyalty serve` tells
// the other commands where its embedded servers are.
const (
	natsURLFile     = "nats.url"
	databaseURLFile = "database.url"
)

// resolveNATS returns the NATS URL to use: the flag or environment, else the
// one a running `loyalty serve` recorded in the data directory.
func (g *globals) resolveNATS() (string, error) {
	if g.natsURL != "" {
		return g.natsURL, nil
	}
	return g.recorded(natsURLFile, "--nats-url", "LOYALTY_NATS_URL")
}

// resolveDatabase is resolveNATS for PostgreSQL.
func (g *globals) resolveDatabase() (string, error) {
	if g.databaseURL != "" {
		return g.databaseURL, nil
	}
	return g.recorded(databaseURLFile, "--database-url", "LOYALTY_DATABASE_URL")
}

func (g *globals) recorded(file, flag, env string) (string, error) {
	path := filepath.Join(g.dataDir, file)
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("no %s given and no running `loyalty serve` found (%s not readable): "+
			"start `loyalty serve` with the same --data-dir, or pass %s / set %s", flag, path, flag, env)
	}
	return strings.TrimSpace(string(b)), nil
}

func (g *globals) record(file, value string) error {
	if err := os.MkdirAll(g.dataDir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(g.dataDir, file), []byte(value+"\n"), 0o600)
}

func (g *globals) forget(file string) {
	_ = os.Remove(filepath.Join(g.dataDir, file))
}

// tool is what a one-shot command needs to reach a running system: the
// logger, and the JetStream connection to the configured or recorded NATS
// server. close releases it.
type tool struct {
	log   *slog.Logger
	js    jetstream.JetStream
	close func()
}

// connectTool resolves the NATS server (flag, environment or a running
// serve's data directory) and connects as name.
func (g *globals) connectTool(name string, opts ...jetstream.JetStreamOpt) (tool, error) {
	url, err := g.resolveNATS()
	if err != nil {
		return tool{}, err
	}
	log, err := g.logger()
	if err != nil {
		return tool{}, err
	}
	nc, js, err := g.connectJetStream(url, name, log, opts...)
	if err != nil {
		return tool{}, err
	}
	return tool{log: log, js: js, close: nc.Close}, nil
}

// openResolvedDatabase opens the configured or recorded PostgreSQL.
func (g *globals) openResolvedDatabase(ctx context.Context) (*pgxpool.Pool, error) {
	url, err := g.resolveDatabase()
	if err != nil {
		return nil, err
	}
	return openDatabase(ctx, url)
}

// withTool connects as name (see connectTool), runs do and disconnects,
// whatever do returns.
func (g *globals) withTool(name string, do func(tool) error) error {
	t, err := g.connectTool(name)
	if err != nil {
		return err
	}
	defer t.close()
	return do(t)
}

// withDatabase opens the configured or recorded PostgreSQL for do and
// closes it afterwards.
func (g *globals) withDatabase(ctx context.Context, do func(*pgxpool.Pool) error) error {
	pool, err := g.openResolvedDatabase(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	return withMigrateHint(do(pool))
}

// withMigrateHint adds to an error about a missing loyalty table what to
// do: a database that serve has never run against has none yet.
func withMigrateHint(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" && strings.Contains(pgErr.Message, "loyalty.") {
		return fmt.Errorf("%w\nthe database has no loyalty tables yet: run `loyalty migrate` with the same --database-url (serve applies them when it starts)", err)
	}
	return err
}

// withToolAndReadModels is withTool for the commands that also write the
// read models: it opens the database as well and applies the schema
// migrations first, as serve would, so that the tables are there.
func (g *globals) withToolAndReadModels(ctx context.Context, name string, do func(tool, *pgxpool.Pool) error) error {
	return g.withTool(name, func(t tool) error {
		return g.withDatabase(ctx, func(pool *pgxpool.Pool) error {
			if err := migrate(ctx, pool, t.log); err != nil {
				return err
			}
			return do(t, pool)
		})
	})
}
