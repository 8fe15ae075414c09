package projections

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/tern/v2/migrate"
)

// Schema is the PostgreSQL schema that holds every read model.
const Schema = "loyalty"

// versionTable is tern's bookkeeping table. Renaming it makes tern think the
// database is empty and re-run every migration.
const versionTable = Schema + ".schema_version"

// migrateLockKey is the pg_advisory_lock key that serialises Migrate across
// processes ("loyalty\x00" as a big-endian int64). Tern takes its own lock
// around each step; this one also covers creating the schema, which tern's
// version table needs and which is not safe to race.
const migrateLockKey int64 = 0x6c6f79616c747900

//go:embed migrations/*.sql
var migrationFiles embed.FS

// ErrSchemaTooNew is returned by Migrate when the database was migrated by a
// newer version of the program than this one: this binary must not write to
// tables it does not know.
var ErrSchemaTooNew = errors.New("database schema is newer than this program")

// Migrate brings the loyalty schema up to the latest migration in
// projections/migrations and reports the versions before and after. It is
// safe to run at every start and from several processes at once: a session
// advisory lock serialises concurrent callers, and the second finds nothing
// left to do. Each migration runs in its own transaction.
//
// To migrate through a pool, acquire a connection:
//
//	c, err := pool.Acquire(ctx)
//	...
//	defer c.Release()
//	from, to, err := projections.Migrate(ctx, c.Conn())
//
// Errors: ErrSchemaTooNew, or the PostgreSQL error of the failing step
// (*migrate.MigrationPgError names the migration and statement).
func Migrate(ctx context.Context, conn *pgx.Conn) (from, to int32, err error) {
	if _, err := conn.Exec(ctx, "select pg_advisory_lock($1)", migrateLockKey); err != nil {
		return 0, 0, fmt.Errorf("migrate: take advisory lock: %w", err)
	}
	defer func() {
		// Unlock even when ctx is done: otherwise the lock lives as long as
		// the connection, which may be a pooled one.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, uerr := conn.Exec(uctx, "select pg_advisory_unlock($1)", migrateLockKey); uerr != nil && err == nil {
			err = fmt.Errorf("migrate: release advisory lock: %w", uerr)
		}
	}()

	if _, err := conn.Exec(ctx, "create schema if not exists "+Schema); err != nil {
		return 0, 0, fmt.Errorf("migrate: create schema %s: %w", Schema, err)
	}
	m, err := migrate.NewMigrator(ctx, conn, versionTable)
	if err != nil {
		return 0, 0, fmt.Errorf("migrate: version table: %w", err)
	}
	files, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return 0, 0, fmt.Errorf("migrate: %w", err)
	}
	if err := m.LoadMigrations(files); err != nil {
		return 0, 0, fmt.Errorf("migrate: load migrations: %w", err)
	}
	from, err = m.GetCurrentVersion(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("migrate: current version: %w", err)
	}
	latest := int32(len(m.Migrations))
	if from > latest {
		return from, from, fmt.Errorf("%w: database is at version %d, this program knows %d", ErrSchemaTooNew, from, latest)
	}
	if err := m.Migrate(ctx); err != nil {
		to, _ = m.GetCurrentVersion(ctx)
		return from, to, fmt.Errorf("migrate from version %d: %w", from, err)
	}
	return from, latest, nil
}

// SchemaVersion is the number of migrations this program knows: what Migrate
// brings a database to.
func SchemaVersion() int32 {
	names, err := migrate.FindMigrations(mustSub(migrationFiles, "migrations"))
	if err != nil {
		// The files are embedded at build time; TestMigrations covers them.
		panic(fmt.Sprintf("projections: embedded migrations: %v", err))
	}
	return int32(len(names))
}

func mustSub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err)
	}
	return sub
}

// AnalystRole is the read-only role of migration 003.
const AnalystRole = "loyalty_analyst"

// GrantAnalyst gives AnalystRole read access to the loyalty schema: to
// every table there and to those created later. It does nothing when the
// role does not exist (the engine's role may not create roles; see
// migrations/003_analyst_role.sql). serve runs it after the migrations.
func GrantAnalyst(ctx context.Context, conn *pgx.Conn) error {
	var exists bool
	if err := conn.QueryRow(ctx, `select exists (select from pg_roles where rolname = $1)`, AnalystRole).Scan(&exists); err != nil {
		return fmt.Errorf("look up role %s: %w", AnalystRole, err)
	}
	if !exists {
		return nil
	}
	role := pgx.Identifier{AnalystRole}.Sanitize()
	// Engines starting together grant together, and PostgreSQL refuses
	// two GRANTs on one object at once ("tuple concurrently updated"): one
	// engine grants at a time.
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `select pg_advisory_xact_lock(hashtext('loyalty.grant_analyst'))`); err != nil {
			return fmt.Errorf("wait for another engine's grants: %w", err)
		}
		for _, stmt := range []string{
			"grant usage on schema " + Schema + " to " + role,
			"grant select on all tables in schema " + Schema + " to " + role,
			"alter default privileges in schema " + Schema + " grant select on tables to " + role,
		} {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("%s: %w", stmt, err)
			}
		}
		return nil
	})
}
