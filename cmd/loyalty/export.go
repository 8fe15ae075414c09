package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/pointsledger/loyalty/handlers"
	"github.com/pointsledger/loyalty/projections"
	"github.com/pointsledger/loyalty/streams"
)

// memberExport is everything the engine holds about one member (GDPR
// articles 15 and 20): the read models' rows, the member's input as
// upstream sent it, their ledger records, the outbound events about them and
// the dead letters of their input.
type memberExport struct {
	MemberID   string                       `json:"member_id"`
	ExportedAt time.Time                    `json:"exported_at"`
	Tables     map[string][]json.RawMessage `json:"tables"`
	Input      []exportedMessage            `json:"input_events"`
	Ledger     []exportedMessage            `json:"ledger_records"`
	Outbound   []exportedMessage            `json:"outbound_events"`
	Dead       []exportedMessage            `json:"dead_letters"`
}

// exportedMessage is one stored message: its stream sequence, subject and
// time, and its body (JSON as it is, anything else as text).
type exportedMessage struct {
	Seq     uint64          `json:"seq"`
	Subject string          `json:"subject"`
	Stored  time.Time       `json:"stored"`
	Body    json.RawMessage `json:"body"`
}

func newMemberExportCommand(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "export MEMBER_ID",
		Short: "Write everything the engine holds about a member as JSON (tables, input, ledger, outbound, dead letters)",
		Long: `Writes one JSON document of everything the engine holds about a member:
every row of the read models with their member_id, the input events
upstream published for them, their ledger records, the outbound events
about them and the dead letters of their input. It reads PostgreSQL and
the streams, so it needs --database-url and a NATS user that may read the
streams (the operator of deploy/nats/permissions.conf). The document is
personal data: --output writes it to a file only its owner may read.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "" {
				if _, err := os.Lstat(output); err == nil {
					return fmt.Errorf("--output %s: it exists; give a new file", output)
				}
			}
			var doc memberExport
			err := g.withTool("loyalty-export", func(t tool) error {
				return g.withDatabase(cmd.Context(), func(pool *pgxpool.Pool) error {
					var err error
					doc, err = exportMember(cmd.Context(), t.js, pool, args[0])
					return err
				})
			})
			if err != nil {
				return err
			}
			if doc.empty() {
				return fmt.Errorf("nothing is on record for member %q: check the id (ids are exact: case, spaces and dots count)", args[0])
			}
			if output == "" {
				return writeExport(g.stdout, doc)
			}
			return writeExportFile(output, doc)
		},
	}
	cmd.Flags().StringVar(&output, "output", "", "write to this new file (mode 0600) instead of standard output")
	return cmd
}

// empty reports whether the engine holds nothing of the member.
func (d memberExport) empty() bool {
	for _, rows := range d.Tables {
		if len(rows) > 0 {
			return false
		}
	}
	return len(d.Input)+len(d.Ledger)+len(d.Outbound)+len(d.Dead) == 0
}

// writeExportFile writes the document to a new file only its owner may
// read; a failed write leaves no file behind.
func writeExportFile(path string, doc memberExport) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("--output: %w (it must not exist yet)", err)
	}
	err = writeExport(f, doc)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("--output %s: %w", path, err)
	}
	return nil
}

func writeExport(w io.Writer, doc memberExport) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(doc)
}

// exportMember gathers the member's document.
func exportMember(ctx context.Context, js jetstream.JetStream, pool *pgxpool.Pool, memberID string) (memberExport, error) {
	doc := memberExport{MemberID: memberID, ExportedAt: time.Now().UTC(), Tables: map[string][]json.RawMessage{}}
	var err error
	if doc.Tables, err = exportTables(ctx, pool, memberID); err != nil {
		return doc, err
	}
	p, key := streams.PartitionOf(memberID), streams.MemberKey(memberID)
	if doc.Input, err = exportSubjects(ctx, js, streams.InputStream, fmt.Sprintf("%s.%d.*.%s", streams.InputPrefix, p, key), nil); err != nil {
		return doc, err
	}
	if doc.Outbound, err = exportSubjects(ctx, js, streams.OutboundStream, streams.OutboundMemberFilter(memberID), nil); err != nil {
		return doc, err
	}
	if doc.Dead, err = exportSubjects(ctx, js, streams.DeadLetterStream, "", func(m jetstream.Msg) bool {
		stored, err := streams.ParseStoredInput(m.Headers().Get(handlers.HeaderStoredSubject))
		return err == nil && stored.MemberKey == key
	}); err != nil {
		return doc, err
	}
	doc.Ledger, err = exportLedger(ctx, js, memberID)
	return doc, err
}

// exportTables reads every row of every read model with a member_id column:
// found in the schema, so that a table added later is exported too.
func exportTables(ctx context.Context, pool *pgxpool.Pool, memberID string) (map[string][]json.RawMessage, error) {
	rows, err := pool.Query(ctx, `select c.table_name from information_schema.columns c
		join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name
		where c.table_schema = $1 and c.column_name = 'member_id' and t.table_type = 'BASE TABLE' order by 1`, projections.Schema)
	if err != nil {
		return nil, fmt.Errorf("read models: %w", err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("read models: %w", err)
	}
	out := map[string][]json.RawMessage{}
	for _, table := range tables {
		q := fmt.Sprintf(`select row_to_json(t)::text from %s.%s t where member_id = $1`,
			pgx.Identifier{projections.Schema}.Sanitize(), pgx.Identifier{table}.Sanitize())
		rows, err := pool.Query(ctx, q, memberID)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", table, err)
		}
		docs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (json.RawMessage, error) {
			var s string
			err := r.Scan(&s)
			return json.RawMessage(s), err
		})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", table, err)
		}
		out[table] = append([]json.RawMessage{}, docs...)
	}
	return out, nil
}

// exportSubjects reads a stream's messages on filter (every one when
// empty) that keep says are the member's (all when nil).
func exportSubjects(ctx context.Context, js jetstream.JetStream, stream, filter string, keep func(jetstream.Msg) bool) ([]exportedMessage, error) {
	s, err := js.Stream(ctx, stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return []exportedMessage{}, nil
	} else if err != nil {
		return nil, fmt.Errorf("%s: %w", stream, err)
	}
	var filtered []string
	if filter != "" {
		filtered = []string{filter}
	}
	out := []exportedMessage{}
	err = eachMessage(ctx, s, filtered, func(msg jetstream.Msg, meta *jetstream.MsgMetadata) {
		if keep != nil && !keep(msg) {
			return
		}
		data := msg.Data()
		if structured, ok := streams.StructuredFromBinary(msg.Headers(), data); ok {
			data = structured
		}
		out = append(out, exportedMessage{Seq: meta.Sequence.Stream, Subject: msg.Subject(), Stored: meta.Timestamp.UTC(), Body: jsonOrText(data)})
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", stream, err)
	}
	return out, nil
}

// exportLedger reads the member's partition of the ledger and keeps their
// records, each as a ledger record of its own.
func exportLedger(ctx context.Context, js jetstream.JetStream, memberID string) ([]exportedMessage, error) {
	r, err := streams.NewLedgerReader(ctx, js, streams.LedgerReaderConfig{Subjects: []string{streams.LedgerSubject(streams.PartitionOf(memberID))}})
	if err != nil {
		return nil, err
	}
	defer r.Stop()
	out := []exportedMessage{}
	for left := r.Pending(); left > 0; {
		m, err := r.Next(ctx)
		if err != nil {
			return nil, err
		}
		left = m.Pending
		recs, _, err := m.Records()
		if err != nil {
			return nil, err
		}
		for _, rec := range recs {
			if rec.MemberID != memberID {
				continue
			}
			data, err := streams.AppendLedgerRecord(nil, rec)
			if err != nil {
				return nil, fmt.Errorf("ledger seq %d: %w", m.Seq, err)
			}
			out = append(out, exportedMessage{Seq: m.Seq, Subject: m.Subject, Stored: m.Stored, Body: data})
		}
	}
	return out, nil
}

// jsonOrText is data itself when it is JSON, else data as a JSON string.
func jsonOrText(data []byte) json.RawMessage {
	if json.Valid(data) {
		return append(json.RawMessage{}, data...)
	}
	s, _ := json.Marshal(strings.ToValidUTF8(string(data), "\uFFFD"))
	return s
}
