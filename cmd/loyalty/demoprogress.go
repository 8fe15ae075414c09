package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pointsledger/loyalty/streams"
)

// demoProgressFile is where serve --demo keeps how much of its load it has
// published, in the data directory.
const demoProgressFile = "demo-progress.json"

// demoProgress is how much of a demo load was published into which input
// stream. A restarted demo goes on after it instead of publishing again
// what the engine has, which it would dead-letter one by one as
// duplicate_event. The stream's creation time tells a fresh stream (a
// wiped store, another NATS) from the one the events went into.
type demoProgress struct {
	path string
	// Load names the simulation: the same load gives the same events.
	Load          string    `json:"load"`
	StreamCreated time.Time `json:"stream_created"`
	Published     int       `json:"published"`
}

// demoProgressEvery is how many events go between two records of progress;
// JetStream's duplicate window absorbs the few a crash publishes twice.
const demoProgressEvery = 2000

// openDemoProgress reads the progress of load into the input stream, or
// starts it at 0 when none was recorded for them.
func openDemoProgress(ctx context.Context, js jetstream.JetStream, dataDir, load string) (*demoProgress, error) {
	s, err := js.Stream(ctx, streams.InputStream)
	if err != nil {
		return nil, fmt.Errorf("demo: input stream: %w", err)
	}
	p := &demoProgress{path: filepath.Join(dataDir, demoProgressFile), Load: load, StreamCreated: s.CachedInfo().Created.UTC()}
	data, err := os.ReadFile(p.path)
	if errors.Is(err, fs.ErrNotExist) {
		return p, nil
	}
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	var was demoProgress
	if json.Unmarshal(data, &was) == nil && was.Load == load && was.StreamCreated.Equal(p.StreamCreated) {
		p.Published = max(0, was.Published)
	}
	return p, nil
}

// save records that the first n events are published (acknowledged). The
// file is written under a fresh name and renamed over the old one: a link
// planted at a fixed temporary name is never followed.
func (p *demoProgress) save(n int) error {
	p.Published = n
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p.path), ".demo-progress-*")
	if err != nil {
		return fmt.Errorf("demo: record progress: %w", err)
	}
	_, werr := tmp.Write(data)
	if err := errors.Join(werr, tmp.Close()); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("demo: record progress: %w", err)
	}
	if err := os.Rename(tmp.Name(), p.path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("demo: record progress: %w", err)
	}
	return nil
}
