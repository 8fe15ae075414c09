package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/handlers"
)

func newDLQCommand(g *globals) *cobra.Command {
	dlq := &cobra.Command{Use: "dlq", Short: "Inspect and replay dead letters (input the engine could not apply)"}
	var asJSON bool
	var reason string
	var limit int
	var after, before uint64
	list := &cobra.Command{
		Use:   "list",
		Short: "List dead letters, newest first, with their reasons, and how many there are",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 0 {
				return fmt.Errorf("--limit %d: want a number of dead letters, or 0 for all", limit)
			}
			if err := knownReason(reason); err != nil {
				return err
			}
			return withDeadLetters(cmd.Context(), g, func(d *handlers.DeadLetters) error {
				page, total, err := d.Newest(cmd.Context(), after, before, domain.Reason(reason), limit)
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(g.stdout, page)
				}
				var filters []string
				if reason != "" {
					filters = append(filters, "--reason "+reason)
				}
				if after > 0 {
					filters = append(filters, "--after "+strconv.FormatUint(after, 10))
				}
				return printDeadLetters(g.stdout, page, total, strings.Join(filters, " "))
			})
		},
	}
	list.Flags().StringVar(&reason, "reason", "", "only this reason (see docs/events.md)")
	list.Flags().IntVar(&limit, "limit", 100, "at most this many, the newest; 0 for all")
	list.Flags().Uint64Var(&before, "before", 0, "only dead letters with a smaller ID: the next page is --before the last ID shown")
	list.Flags().Uint64Var(&after, "after", 0, "only dead letters with a larger ID")
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON (an array, newest first)")

	show := &cobra.Command{
		Use:   "show ID",
		Short: "Print one dead letter: its reason, headers and the event as published",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseDeadLetterID(args[0])
			if err != nil {
				return err
			}
			return withDeadLetters(cmd.Context(), g, func(d *handlers.DeadLetters) error {
				dl, err := d.Get(cmd.Context(), id)
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(g.stdout, struct {
						handlers.DeadLetter
						Body string `json:"body"`
					}{dl, string(dl.Body)})
				}
				return printDeadLetter(g.stdout, dl)
			})
		},
	}
	show.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	var replayReason string
	var replayAll bool
	replay := &cobra.Command{
		Use:   "replay [ID...]",
		Args:  cobra.ArbitraryArgs, // checked in RunE, with --reason and --all
		Short: "Publish dead letters again, after a fix to the program or the contract",
		Long: `Publish dead-lettered events again, as they were published, on their original
subjects, for the engine to apply. Give IDs, or --reason to replay every dead
letter of a reason, or --all. A dead letter is replayed once: replaying it
again does nothing. An event that is still rejected is dead-lettered again,
under a new ID.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 && replayReason == "" && !replayAll {
				return errors.New("name the dead letters to replay: IDs (see `loyalty dlq list`), --reason REASON or --all")
			}
			if len(args) > 0 && (replayReason != "" || replayAll) {
				return errors.New("give either IDs or --reason/--all, not both")
			}
			if err := knownReason(replayReason); err != nil {
				return err
			}
			return withDeadLetters(cmd.Context(), g, func(d *handlers.DeadLetters) error {
				ids, err := replayTargets(cmd.Context(), d, args, domain.Reason(replayReason))
				if err != nil {
					return err
				}
				return replayAllOf(cmd.Context(), g.stdout, d, ids)
			})
		},
	}
	replay.Flags().StringVar(&replayReason, "reason", "", "replay every dead letter of this reason")
	replay.Flags().BoolVar(&replayAll, "all", false, "replay every dead letter")
	dlq.AddCommand(list, show, replay)
	return dlq
}

func withDeadLetters(ctx context.Context, g *globals, do func(*handlers.DeadLetters) error) error {
	return g.withTool("loyalty-dlq", func(t tool) error {
		d, err := handlers.OpenDeadLetters(ctx, t.js)
		if err != nil {
			return err
		}
		return do(d)
	})
}

func parseDeadLetterID(s string) (uint64, error) {
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil || id == 0 {
		return 0, fmt.Errorf("dead letter ID %q: want the number `loyalty dlq list` shows", s)
	}
	return id, nil
}

func replayTargets(ctx context.Context, d *handlers.DeadLetters, args []string, reason domain.Reason) ([]uint64, error) {
	var ids []uint64
	if len(args) > 0 {
		for _, a := range args {
			id, err := parseDeadLetterID(a)
			if err != nil {
				return nil, err
			}
			ids = append(ids, id)
		}
		return ids, nil
	}
	all, err := d.List(ctx, 0, reason, 0)
	if err != nil {
		return nil, err
	}
	for _, dl := range all {
		if dl.Replayed == nil {
			ids = append(ids, dl.ID)
		}
	}
	return ids, nil
}

func replayAllOf(ctx context.Context, w io.Writer, d *handlers.DeadLetters, ids []uint64) error {
	replayed, skipped := 0, 0
	for _, id := range ids {
		r, done, err := d.Replay(ctx, id)
		if err != nil {
			return fmt.Errorf("%w (%d replayed before it)", err, replayed)
		}
		if done {
			replayed++
			fmt.Fprintf(w, "dead letter %d replayed as input seq %d\n", id, r.InputSeq)
		} else {
			skipped++
			fmt.Fprintf(w, "dead letter %d was replayed already, on %s as input seq %d: skipped\n",
				id, r.At.Format(time.RFC3339), r.InputSeq)
		}
	}
	fmt.Fprintf(w, "%d replayed, %d already replayed before\n", replayed, skipped)
	return nil
}

// knownReason refuses a reason no dead letter can carry: a misspelt one
// would list nothing and look like good news.
func knownReason(reason string) error {
	if reason == "" || slices.Contains(handlers.DeadLetterReasons(), domain.Reason(reason)) {
		return nil
	}
	var names []string
	for _, r := range handlers.DeadLetterReasons() {
		names = append(names, string(r))
	}
	return fmt.Errorf("--reason %q: no dead letter has it; the reasons are %s (docs/events.md)", reason, strings.Join(names, ", "))
}

// printDeadLetters prints a page of dead letters, newest first, and how it
// stands among the total that matched; filters are the flags that chose
// them, repeated in the command for the next page.
func printDeadLetters(w io.Writer, all []handlers.DeadLetter, total int, filters string) error {
	if len(all) == 0 {
		_, err := fmt.Fprintln(w, "no dead letters")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTORED\tREASON\tINPUT SEQ\tEVENT\tREPLAYED\tERROR")
	for _, dl := range all {
		replayed := "-"
		if dl.Replayed != nil {
			replayed = "seq " + strconv.FormatUint(dl.Replayed.InputSeq, 10)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\t%s\n", dl.ID, dl.At.Format(time.RFC3339), cell(string(dl.Reason)), dl.InputSeq,
			cell(orDash(dl.EventID)), replayed, cell(shorten(dl.Error, 80)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if filters != "" {
		filters += " "
	}
	var err error
	switch {
	case len(all) < total:
		_, err = fmt.Fprintf(w, "%s of %s dead letters, newest first; older ones: %s--before %d; all: %s--limit 0\n",
			thousands(len(all)), thousands(total), filters, all[len(all)-1].ID, filters)
	case total == 1:
		_, err = fmt.Fprintln(w, "1 dead letter, newest first")
	default:
		_, err = fmt.Fprintf(w, "%s dead letters, newest first\n", thousands(total))
	}
	return err
}

func printDeadLetter(w io.Writer, dl handlers.DeadLetter) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "dead letter\t%d\n", dl.ID)
	fmt.Fprintf(tw, "stored\t%s\n", dl.At.Format(time.RFC3339Nano))
	fmt.Fprintf(tw, "reason\t%s\n", cell(string(dl.Reason)))
	fmt.Fprintf(tw, "error\t%s\n", cell(dl.Error))
	fmt.Fprintf(tw, "subject\t%s\n", cell(dl.OriginalSubject))
	fmt.Fprintf(tw, "input seq\t%d\n", dl.InputSeq)
	fmt.Fprintf(tw, "event id\t%s\n", cell(orDash(dl.EventID)))
	fmt.Fprintf(tw, "message id\t%s\n", cell(orDash(dl.MsgID)))
	if dl.Replayed != nil {
		fmt.Fprintf(tw, "replayed\t%s as input seq %d\n", dl.Replayed.At.Format(time.RFC3339), dl.Replayed.InputSeq)
	}
	if dl.Truncated {
		fmt.Fprintf(tw, "body\tcut to %d bytes; the whole event is in LOYALTY_IN at seq %d\n", len(dl.Body), dl.InputSeq)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	_, err := fmt.Fprintln(w, terminalSafe(string(dl.Body), "\n\t"))
	return err
}

// cell is s for one cell of a table on a terminal: see terminalSafe.
func cell(s string) string { return terminalSafe(s, "") }

// terminalSafe writes the characters of s that a terminal would act on
// (escape sequences, bells, carriage returns, bidirectional overrides) and
// bytes that are not UTF-8 as Go escapes, keeping those in keep: dead
// letters hold whatever upstream sent, and an event id must not recolour an
// operator's terminal or hide the rows after it.
func terminalSafe(s, keep string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\ufffd"):
			fmt.Fprintf(&b, "\\x%02x", s[i])
		case strings.ContainsRune(keep, r):
			b.WriteRune(r)
		case unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r):
			b.WriteString(strings.Trim(strconv.QuoteRune(r), "'"))
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func shorten(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) <= n {
		return s
	}
	cut := n - 3
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// thousands writes a count with thousands separators: 15,855.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
