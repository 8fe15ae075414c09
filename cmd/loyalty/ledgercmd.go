package main

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/pointsledger/loyalty/streams"
)

func newLedgerCommand(g *globals) *cobra.Command {
	ledger := &cobra.Command{Use: "ledger", Short: "Operate on the ledger stream (the event store)"}
	var reason string
	quarantine := &cobra.Command{
		Use:   "quarantine SEQ",
		Short: "Set aside a ledger message that cannot be decoded, so that the engine and the projections skip it",
		Long: `Set aside the ledger message at SEQ, which the engine or a projection stopped at
because it cannot be decoded. The ledger is not edited (it denies delete and
purge): the message stays, and an entry in the key-value bucket
` + streams.QuarantineBucket + ` (with its digest, your reason, who and when)
makes every reader skip it. A message that decodes is refused: quarantine
never drops facts. Restart serve afterwards. See docs/operations.md.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			seq, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil || seq == 0 {
				return fmt.Errorf("ledger sequence %q: want the number the engine's or the projection's error names (\"ledger seq N\")", args[0])
			}
			return g.withTool("loyalty-ledger", func(t tool) error {
				e, err := streams.QuarantineLedgerMessage(cmd.Context(), t.js, seq, reason, operatorName(), time.Now())
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(g.stdout, "quarantined %s seq %d (%s, sha256 %s): %s\nit could not be decoded: %s\n",
					streams.LedgerStream, e.Seq, e.Subject, e.SHA256, e.Reason, e.Error)
				return err
			})
		},
	}
	quarantine.Flags().StringVar(&reason, "reason", "", "why the message is set aside (required: it is the audit trail)")
	var asJSON bool
	list := &cobra.Command{
		Use:   "quarantined",
		Short: "List the quarantined ledger messages",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withTool("loyalty-ledger", func(t tool) error {
				q, err := streams.LoadQuarantine(cmd.Context(), t.js)
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(g.stdout, q.Sorted())
				}
				w := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "SEQ\tSUBJECT\tAT\tBY\tREASON")
				for _, e := range q.Sorted() {
					fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\n", e.Seq, e.Subject, e.At.Format(time.RFC3339), e.By, e.Reason)
				}
				return w.Flush()
			})
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	ledger.AddCommand(quarantine, list)
	return ledger
}

// operatorName is who ran the command, for the audit trail.
func operatorName() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	if host, err := os.Hostname(); err == nil {
		name += "@" + host
	}
	return name
}
