package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/pointsledger/loyalty/streams/natstest"
)

// The demo's progress file is read defensively: garbage or another load's
// progress starts from the beginning, a file that cannot be read is an
// error (serve then leaves the demo unpublished and goes on), and saving
// never writes through a link planted next to it.
func TestDemoProgressFile(t *testing.T) {
	env := natstest.Start(t)
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, demoProgressFile)

	p, err := openDemoProgress(ctx, env.JS, dir, "load-a")
	if err != nil || p.Published != 0 {
		t.Fatalf("no file: %+v, %v; want 0 published", p, err)
	}
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, planted := range []string{path + ".tmp", path} {
		os.Remove(planted)
		if err := os.Symlink(victim, planted); err != nil {
			t.Fatal(err)
		}
		if err := p.save(42); err != nil {
			t.Fatal(err)
		}
		if data, _ := os.ReadFile(victim); string(data) != "keep" {
			t.Fatalf("saving wrote through a link at %s: victim holds %q", planted, data)
		}
		os.Remove(path + ".tmp")
	}
	if p, err := openDemoProgress(ctx, env.JS, dir, "load-a"); err != nil || p.Published != 42 {
		t.Errorf("after saving 42: %+v, %v", p, err)
	}
	if p, err := openDemoProgress(ctx, env.JS, dir, "load-b"); err != nil || p.Published != 0 {
		t.Errorf("another load: %+v, %v; want 0 published", p, err)
	}
	for _, garbage := range []string{"not json", `{"load":"load-a","published":-5}`, `{"load":"load-a","stream_created":"2001-01-01T00:00:00Z","published":42}`} {
		if err := os.WriteFile(path, []byte(garbage), 0o600); err != nil {
			t.Fatal(err)
		}
		if p, err := openDemoProgress(ctx, env.JS, dir, "load-a"); err != nil || p.Published != 0 {
			t.Errorf("progress file %q: %+v, %v; want 0 published", garbage, p, err)
		}
	}
	os.Remove(path)
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := openDemoProgress(ctx, env.JS, dir, "load-a"); err == nil {
		t.Error("a progress file that is a directory was read without an error")
	}
}
