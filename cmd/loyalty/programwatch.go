package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/handlers"
)

// programPollInterval is how often serve looks for a changed program file.
const programPollInterval = 2 * time.Second

// watchProgram reloads the program into the engine when its file (or a
// file of its directory) changes, and on SIGHUP, until ctx ends. A program
// that does not load is refused and the engine keeps the one it runs. With
// the built-in program there is nothing to reload; SIGHUP is then only
// logged, rather than ending the process as it would by default.
func watchProgram(ctx context.Context, path string, engine *handlers.Engine, log *slog.Logger, every time.Duration) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	seen := fingerprint(path)
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	reload := func(why string) {
		if path == "" {
			log.Info("nothing to reload: the engine runs the built-in program (pass --program FILE)", "trigger", why)
			return
		}
		_ = engine.ReloadPrograms(why, func() (*domain.Programs, error) { return loadPrograms(path) })
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			seen = fingerprint(path)
			reload("SIGHUP")
		case <-ticker.C:
			if path == "" {
				continue
			}
			if now := fingerprint(path); now != seen {
				seen = now
				reload("file changed")
			}
		}
	}
}

// fingerprint sums up the program file, or the program files of a
// directory: names, sizes and modification times.
func fingerprint(path string) string {
	if path == "" {
		return ""
	}
	info, err := os.Stat(path)
	if err != nil {
		return "missing"
	}
	if !info.IsDir() {
		return fmt.Sprint(info.Size(), info.ModTime().UnixNano())
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return "unreadable"
	}
	var b strings.Builder
	for _, e := range entries {
		if fi, err := os.Stat(filepath.Join(path, e.Name())); err == nil {
			fmt.Fprintf(&b, "%s:%d:%d;", e.Name(), fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return b.String()
}
