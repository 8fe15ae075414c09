package pgserver

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// readyTimeout bounds the wait for connections after pg_ctl says the server
// is up (or when adopting one), in case the caller's ctx has no deadline.
const readyTimeout = 30 * time.Second

func connString(port int, db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", superuser, port, db)
}

// ping opens and closes one connection to the maintenance database.
func ping(ctx context.Context, port int) error {
	conn, err := pgx.Connect(ctx, connString(port, "postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return conn.Ping(ctx)
}

// waitReady retries connecting until the server accepts us: pg_ctl -w only
// knows the postmaster is up, not that our TCP listener and role work.
func waitReady(ctx context.Context, port int) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	for {
		attempt, cancelAttempt := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(attempt, connString(port, "postgres"))
		cancelAttempt()
		if err == nil {
			return conn, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("PostgreSQL on port %d did not accept connections: %w", port, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ensureDatabase creates the loyalty database unless it exists.
func (s *Server) ensureDatabase(ctx context.Context) error {
	conn, err := waitReady(ctx, s.port)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", dbName).Scan(&exists); err != nil {
		return fmt.Errorf("look for database %s: %w", dbName, err)
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{dbName}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database: a concurrent start won
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database %s: %w", dbName, err)
	}
	s.log.Info("created database", "name", dbName)
	return nil
}
