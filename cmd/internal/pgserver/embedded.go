package pgserver

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	embeddedpostgres "github.com/fergusstrange/embedded-postgres"
)

// embeddedVersion is the PostgreSQL downloaded when the machine has none.
// It is pinned rather than left to the library's default so that upgrading
// the library never changes which major version new clusters get.
const embeddedVersion = embeddedpostgres.V18

// fetchEmbedded downloads PostgreSQL binaries into dir/runtime and returns
// their bin directory.
//
// embedded-postgres has no "download only" call, so we run its Start with a
// throwaway data directory (dir/runtime/scratch, removed afterwards) purely
// for its side effect of fetching the archive into dir/runtime/cache and
// extracting it into dir/runtime. We do not let it run our cluster: it would
// initdb and start as the current user, which PostgreSQL refuses when that
// is root, and it knows nothing of our port record or socket settings.
// So a Start that fails after extracting (as it always does under root, at
// its initdb) is fine; all that matters is that the binaries are there.
// When it does succeed (not root) it has started a server, which we stop.
// It also leaves an empty embedded_postgres_log* file in os.TempDir; that
// happens once per data dir, so we live with it.
func fetchEmbedded(ctx context.Context, dir string, log *slog.Logger) (string, error) {
	runtimeDir := filepath.Join(dir, "runtime")
	scratch := filepath.Join(runtimeDir, "scratch")
	port, err := freePort(ctx)
	if err != nil {
		return "", err
	}
	cfg := embeddedpostgres.DefaultConfig().
		Version(embeddedVersion).
		Port(uint32(port)).
		CachePath(filepath.Join(runtimeDir, "cache")).
		BinariesPath(runtimeDir).
		RuntimePath(scratch). // the library empties this on every Start
		DataPath(filepath.Join(scratch, "data")).
		Logger(logWriter{log: log, msg: "embedded-postgres output"})

	// The library takes no context; run it aside so ctx can still abandon
	// the wait. An abandoned download finishes (and cleans up) on its own.
	done := make(chan error, 1)
	go func() {
		db := embeddedpostgres.NewDatabase(cfg)
		err := db.Start()
		if err == nil {
			err = db.Stop()
		}
		done <- err
	}()
	var startErr error
	select {
	case <-ctx.Done():
		return "", fmt.Errorf("download PostgreSQL: %w", ctx.Err())
	case startErr = <-done:
	}
	if err := os.RemoveAll(scratch); err != nil {
		log.Warn("could not remove embedded-postgres scratch dir", "dir", scratch, "err", err)
	}

	bin := filepath.Join(runtimeDir, "bin")
	if !hasServerTools(bin) {
		return "", fmt.Errorf("embedded-postgres did not leave initdb, pg_ctl and postgres in %s: %w", bin, startErr)
	}
	if startErr != nil {
		log.Info("embedded-postgres extracted the binaries but could not start its throwaway server; expected as root, harmless otherwise", "err", startErr)
	}
	return bin, nil
}

// logWriter turns a library's text output into debug log records.
type logWriter struct {
	log *slog.Logger
	msg string
}

func (w logWriter) Write(p []byte) (int, error) {
	if s := strings.TrimSpace(string(p)); s != "" {
		w.log.Debug(w.msg, "output", s)
	}
	return len(p), nil
}
