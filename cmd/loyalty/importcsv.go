package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/pointsledger/loyalty/streams"
	"github.com/pointsledger/loyalty/streams/csvimport"
)

func newImportCommand(g *globals) *cobra.Command {
	var quiet bool
	var source string
	cmd := &cobra.Command{
		Use:   "import FILE.csv",
		Short: "Backfill purchase history from a CSV file",
		Long: `Publish past purchases from a CSV file with the header
  member_id,occurred_at,amount,currency,order_id
(occurred_at in RFC 3339, amount a decimal in major units such as 12.99,
order_id optional) through the same stream and rules as live events. Bad rows
are reported with their line number and skipped; the good rows are imported.
Importing the same file again awards nothing twice.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return fmt.Errorf("import: %w", err)
			}
			defer f.Close()
			t, err := g.connectTool("loyalty-import", jetstream.WithPublishAsyncMaxPending(4096), jetstream.WithPublishAsyncTimeout(streams.AckTimeout))
			if err != nil {
				return err
			}
			defer t.close()
			return importCSV(cmd, g, t.js, t.log, f, source, quiet)
		},
	}
	cmd.Flags().BoolVar(&quiet, "quiet", false, "no progress bar")
	cmd.Flags().StringVar(&source, "source", "csv-import", "event source recorded on the imported events")
	return cmd
}

func importCSV(cmd *cobra.Command, g *globals, js jetstream.JetStream, log *slog.Logger, f *os.File, source string, quiet bool) error {
	ctx := cmd.Context()
	var size int64 = -1
	if st, err := f.Stat(); err == nil {
		size = st.Size()
	}
	bar := newProgressOf(g, quiet, size, "importing", "bytes")
	reader, err := csvimport.NewReader(io.TeeReader(f, bar), source)
	if err != nil {
		return fmt.Errorf("import %s: %w", f.Name(), err)
	}
	pub := streams.NewPublisher(js, log)
	started := time.Now()
	good, bad := 0, 0
	for {
		row, err := reader.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		var rowErr *csvimport.RowError
		if errors.As(err, &rowErr) {
			bad++
			fmt.Fprintf(g.stderr, "%s: %v\n", f.Name(), rowErr)
			continue
		}
		if err != nil {
			return fmt.Errorf("import %s: %w", f.Name(), err)
		}
		if err := pub.Publish(ctx, row.Event); err != nil {
			return fmt.Errorf("import %s line %d: %w", f.Name(), row.Line, err)
		}
		good++
	}
	if err := pub.Wait(ctx); err != nil {
		return fmt.Errorf("import %s: %w", f.Name(), err)
	}
	_ = bar.Finish()
	fmt.Fprintf(g.stdout, "imported %d purchases from %s in %s; %d bad rows skipped\n",
		good, f.Name(), time.Since(started).Round(time.Millisecond), bad)
	if bad > 0 {
		return fmt.Errorf("%d rows of %s were not imported (see the lines above); fix them and import the file again: rows already imported are not counted twice", bad, f.Name())
	}
	return nil
}
