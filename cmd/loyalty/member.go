package main

import (
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/pointsledger/loyalty/projections"
)

func newMemberCommand(g *globals) *cobra.Command {
	member := &cobra.Command{Use: "member", Short: "Look up members; adjust their points, cancel their redemptions, export and erase their data"}
	var asJSON bool
	var recent int
	show := &cobra.Command{
		Use:   "show MEMBER_ID",
		Short: "Print a member's balance, tier and recent ledger entries",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withDatabase(cmd.Context(), func(pool *pgxpool.Pool) error {
				view, err := projections.MemberSummary(cmd.Context(), pool, args[0], recent)
				if errors.Is(err, projections.ErrMemberNotFound) {
					return fmt.Errorf("member %q not found: no events for that id have reached the read models, "+
						"or the member was erased (their rows are under erased:<token> then; docs/privacy.md)", args[0])
				}
				if pending, perr := erasureRecorded(cmd.Context(), pool, args[0]); perr == nil && pending {
					fmt.Fprintf(g.stdout, "erasure decided and not completed: run loyalty member erase --pending\n")
				}
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(g.stdout, memberJSON(view))
				}
				return printMember(g.stdout, view)
			})
		},
	}
	show.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	show.Flags().IntVar(&recent, "recent", 10, "how many recent ledger entries to show")
	member.AddCommand(show, newMemberAdjustCommand(g), newMemberCancelCommand(g), newMemberExportCommand(g), newMemberEraseCommand(g))
	return member
}

func printMember(w io.Writer, v projections.MemberView) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "member\t%s\n", v.MemberID)
	fmt.Fprintf(tw, "balance\t%d points\n", v.Balance)
	fmt.Fprintf(tw, "pending\t%d points\n", v.Pending)
	fmt.Fprintf(tw, "lifetime\t%d points\n", v.Lifetime)
	fmt.Fprintf(tw, "redeemed\t%d points\n", v.Redeemed)
	fmt.Fprintf(tw, "tier\t%s (since %s, next review %s)\n", v.Tier, formatTime(v.TierSince), formatTime(v.TierExpires))
	if v.NextTier != "" {
		fmt.Fprintf(tw, "next tier\t%s: %d so far, %d more to go\n", v.NextTier, v.TierValue, v.Missing)
	}
	fmt.Fprintf(tw, "projected tier\t%s (at the next review, if nothing more counts)\n", v.ProjectedTier)
	if v.TierFloor != "" {
		fmt.Fprintf(tw, "assigned tier\t%s (a floor)\n", v.TierFloor)
	}
	fmt.Fprintf(tw, "status\t%s\n", v.Status)
	fmt.Fprintf(tw, "qualifying spend\t%d (minor units, last 365 days)\n", v.QualifyingSpend)
	fmt.Fprintf(tw, "purchases\t%d\n", v.Purchases)
	fmt.Fprintf(tw, "active\t%s .. %s\n", formatTime(v.FirstActivity), formatTime(v.LastActivity))
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nrecent ledger entries:")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "occurred at\tpoints\trule\torder\tevent\t")
	for _, e := range v.Recent {
		fmt.Fprintf(tw, "%s\t%+d\t%s\t%s\t%s\t\n", formatTime(e.OccurredAt), e.Points, e.Rule, e.OrderID, e.SourceEventID)
	}
	return tw.Flush()
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// memberJSON is the stable JSON shape of `member show --json`.
func memberJSON(v projections.MemberView) any {
	type entry struct {
		OccurredAt    time.Time `json:"occurred_at"`
		Points        int64     `json:"points"`
		Rule          string    `json:"rule"`
		OrderID       string    `json:"order_id,omitempty"`
		SourceEventID string    `json:"source_event_id"`
	}
	entries := make([]entry, 0, len(v.Recent))
	for _, e := range v.Recent {
		entries = append(entries, entry{e.OccurredAt, e.Points, e.Rule, e.OrderID, e.SourceEventID})
	}
	return struct {
		MemberID        string     `json:"member_id"`
		PointsBalance   int64      `json:"points_balance"`
		LifetimePoints  int64      `json:"lifetime_points"`
		PointsRedeemed  int64      `json:"points_redeemed"`
		PointsPending   int64      `json:"points_pending"`
		TierExpiresAt   *time.Time `json:"tier_expires_at"`
		NextTier        string     `json:"next_tier"`
		NextTierMissing int64      `json:"next_tier_missing"`
		ProjectedTier   string     `json:"projected_tier"`
		Tier            string     `json:"tier"`
		TierSince       *time.Time `json:"tier_since"`
		Status          string     `json:"status"`
		QualifyingSpend int64      `json:"qualifying_spend"`
		PurchasesCount  int64      `json:"purchases_count"`
		EnrolledAt      *time.Time `json:"enrolled_at"`
		FirstActivityAt time.Time  `json:"first_activity_at"`
		LastActivityAt  time.Time  `json:"last_activity_at"`
		Recent          []entry    `json:"recent_ledger"`
	}{v.MemberID, v.Balance, v.Lifetime, v.Redeemed, v.Pending, timeOrNull(v.TierExpires), v.NextTier, v.Missing, v.ProjectedTier, v.Tier, timeOrNull(v.TierSince), v.Status, v.QualifyingSpend,
		v.Purchases, timeOrNull(v.EnrolledAt), v.FirstActivity, v.LastActivity, entries}
}

// timeOrNull is nil for the zero time, which the read models store as NULL
// ("none"): JSON says null, as the service does, not year 1.
func timeOrNull(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
