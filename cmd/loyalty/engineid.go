package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/uuid"
)

// engineIDFile holds, in the data directory, the id this engine takes
// among the engines sharing the partitions, and the host it was made on.
const engineIDFile = "engine-id"

// engineID returns the id recorded in the data directory, or records a new
// one. The same id after a restart gives the engine the same partitions
// back, whose snapshots and keys its data directory holds. An id recorded
// on another host is not reused: a data directory copied to run a second
// engine must not make two engines with one id.
func engineID(dataDir string, log *slog.Logger) (string, error) {
	path := filepath.Join(dataDir, engineIDFile)
	host, _ := os.Hostname()
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		id, recordedHost, _ := strings.Cut(strings.TrimSpace(string(data)), " ")
		if recordedHost == host && uuid.Validate(id) == nil {
			return id, nil
		}
		log.Info("the engine id in the data directory is of another host, or not an id: this engine takes a new one",
			"file", path, "recorded_host", recordedHost, "host", host)
	case !errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	id := uuid.NewString()
	if err := os.WriteFile(path, []byte(id+" "+host+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("record the engine id in %s: %w (is --data-dir writable?)", path, err)
	}
	return id, nil
}
