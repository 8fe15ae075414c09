package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// The engine id is kept in the data directory across restarts, and not
// taken over from another host's directory or from a damaged file.
func TestEngineIDIsKeptInTheDataDirectory(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	first, err := engineID(dir, log)
	if err != nil {
		t.Fatal(err)
	}
	again, err := engineID(dir, log)
	if err != nil || again != first {
		t.Fatalf("second start: id %q (%v), want the first's %q", again, err, first)
	}
	for _, content := range []string{first + " another-host\n", "not an id\n", "", first} {
		if err := os.WriteFile(filepath.Join(dir, engineIDFile), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		id, err := engineID(dir, log)
		if err != nil {
			t.Fatal(err)
		}
		if id == first {
			t.Errorf("file %q: the id was reused", content)
		}
	}
}
