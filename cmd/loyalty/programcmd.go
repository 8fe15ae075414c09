package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/handlers"
	"github.com/pointsledger/loyalty/streams"
)

func newProgramCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "program", Short: "Check a program file and try it on events"}
	check := &cobra.Command{
		Use:   "check FILE|DIR",
		Short: "Validate a program file (or directory of versions); print its versions or every problem",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			ps, err := loadPrograms(args[0])
			if err != nil {
				return err
			}
			return printVersions(g.stdout, args[0], ps)
		},
	}
	var programPath string
	evaluate := &cobra.Command{
		Use:   "evaluate EVENT.json",
		Short: "Dry run: what an event would earn its member now, without publishing it",
		Long: `Decide an event as the engine would, for its member as the ledger has them
now, and print the facts it would append (points by rule, tier changes) or why
it would be rejected. Exits 0 when the engine would apply it, 1 when it
would dead-letter it (for its form or by the rules). Nothing is published. The event is a JSON event as
upstream publishes it (docs/events.md); its time picks the program version.
--program tries a candidate program; by default the built-in one.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := readEventFile(args[0])
			if err != nil {
				return err
			}
			ev, err := streams.DecodeEvent(data)
			if err != nil {
				return rejected(g.stdout, err)
			}
			ps, err := loadPrograms(programPath)
			if err != nil {
				return err
			}
			return g.withTool("loyalty-evaluate", func(t tool) error {
				if err := domain.Validate(ev, time.Now().UTC()); err != nil {
					return rejected(g.stdout, err)
				}
				p := ps.At(ev.OccurredAt)
				member, facts, err := handlers.DryRun(cmd.Context(), t.js, ev, p)
				if member == nil {
					return err
				}
				return printEvaluation(g.stdout, member, p, facts, err)
			})
		},
	}
	evaluate.Flags().StringVar(&programPath, "program", g.getenv("LOYALTY_PROGRAM"), "program file or directory; empty: the built-in one (env LOYALTY_PROGRAM)")
	cmd.AddCommand(check, evaluate)
	return cmd
}

func printVersions(w io.Writer, path string, ps *domain.Programs) error {
	fmt.Fprintf(w, "%s: valid, %d version(s)\n", path, len(ps.Versions()))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tIN EFFECT FROM\tCURRENCY\tACCEPTS\tTIERS")
	for _, p := range ps.Versions() {
		from := "the beginning"
		if !p.EffectiveFrom.IsZero() {
			from = p.EffectiveFrom.Format(time.RFC3339)
		}
		var tiers []string
		for _, t := range p.Tiers {
			tiers = append(tiers, t.Name)
		}
		var accepts []string
		for c := range p.Earning.Currencies {
			accepts = append(accepts, c)
		}
		slices.Sort(accepts)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.Version, from, p.Currency, strings.Join(accepts, " "), strings.Join(tiers, " < "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if err := printRules(w, ps.Latest()); err != nil {
		return err
	}
	return printExperiments(w, ps)
}

// printRules lists the latest version's rules as they were read: what
// fires them, what they give and how often.
func printRules(w io.Writer, p *domain.Program) error {
	if len(p.Earning.Rules) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "RULES (%s)\tON\tAWARD\tLIMITS\n", p.Version)
	for _, r := range p.Earning.Rules {
		on := domain.EventKind(r.On)
		switch r.Trigger {
		case domain.TriggerChange:
			on = "change"
		case domain.TriggerInactivity:
			on = fmt.Sprintf("inactivity, %d days", r.InactiveDays)
		}
		if r.Scope == domain.ScopeLine {
			on += " (lines)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.ID, on, describeAward(r.Award), orDash(describeLimits(r)))
	}
	return tw.Flush()
}

func describeAward(a domain.Award) string {
	switch {
	case a.Offer != "":
		return "offer " + a.Offer
	case a.PointsPerUnit != (domain.Ratio{}):
		return a.PointsPerUnit.String() + " points per unit"
	case a.Multiplier != (domain.Ratio{}):
		return "base points x" + a.Multiplier.String()
	}
	return fmt.Sprintf("%d points", a.Points)
}

func describeLimits(r domain.Rule) string {
	var parts []string
	if r.Limit.Points > 0 {
		parts = append(parts, fmt.Sprintf("%d points per %s", r.Limit.Points, r.Limit.Per))
	}
	if r.OncePerDays > 0 {
		parts = append(parts, fmt.Sprintf("once per %d days", r.OncePerDays))
	}
	if r.Stop {
		parts = append(parts, "stop")
	}
	return strings.Join(parts, ", ")
}

// printExperiments lists each experiment once, as its latest version has
// it: what it tests, its arms and when it runs.
func printExperiments(w io.Writer, ps *domain.Programs) error {
	latest := map[string]domain.Experiment{}
	var ids []string
	for _, p := range ps.Versions() {
		for _, x := range p.Experiments {
			if _, seen := latest[x.ID]; !seen {
				ids = append(ids, x.ID)
			}
			latest[x.ID] = x
		}
	}
	if len(ids) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EXPERIMENT\tRULES UNDER TEST\tARMS\tRUNS")
	for _, id := range ids {
		x := latest[id]
		var arms []string
		for _, a := range x.Arms {
			given := "all"
			switch {
			case a.Name == domain.ControlArm:
				given = "none"
			case a.Rules != nil:
				given = strings.Join(a.Rules, "+")
			}
			arms = append(arms, fmt.Sprintf("%s %d%% (%s)", a.Name, a.Share, orDash(given)))
		}
		to := "open"
		if !x.To.IsZero() {
			to = x.To.Format(time.DateOnly)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s to %s\n", x.ID, strings.Join(x.Rules, " "), strings.Join(arms, ", "), x.From.Format(time.DateOnly), to)
	}
	return tw.Flush()
}

// printEvaluation prints what each fact would do to the member's points
// (the available balance and the pending account apart) and the balance
// after; facts that move no points are listed by type.
func printEvaluation(w io.Writer, m *domain.Member, p *domain.Program, facts []domain.Fact, err error) error {
	fmt.Fprintf(w, "member %s: balance %d, pending %d, tier %s; program %s\n", m.ID, m.Balance, m.Pending, orDash(m.Tier), p.Version)
	if err != nil {
		return rejected(w, err)
	}
	var available, pending int64
	for _, f := range facts {
		a, pe := domain.PointsDelta(f), domain.PendingDelta(f)
		available, pending = available+a, pending+pe
		switch f := f.(type) {
		case domain.PointsEarned:
			if !f.AvailableAt.IsZero() {
				fmt.Fprintf(w, "  earns %d points by rule %s, pending until %s\n", f.Points, f.Rule, f.AvailableAt.Format(time.RFC3339))
			} else {
				fmt.Fprintf(w, "  earns %d points by rule %s\n", f.Points, f.Rule)
			}
		case domain.TierChanged:
			fmt.Fprintf(w, "  tier %s -> %s (%s)\n", orDash(f.From), f.To, f.Reason)
		case domain.OfferMade:
			fmt.Fprintf(w, "  offer %s by rule %s\n", f.Offer, f.Rule)
		case domain.ExperimentAssigned:
			fmt.Fprintf(w, "  experiment %s: arm %s\n", f.Experiment, f.Arm)
		default:
			fmt.Fprintf(w, "  %s%s\n", strings.TrimPrefix(fmt.Sprintf("%T", f), "domain."), pointsMoved(a, pe))
		}
	}
	fmt.Fprintf(w, "balance after: %d (%+d)\n", m.Balance+available, available)
	if pending != 0 || m.Pending != 0 {
		fmt.Fprintf(w, "pending after: %d (%+d)\n", m.Pending+pending, pending)
	}
	return nil
}

// pointsMoved says how a fact moves points: ": -60 points", ": +80
// pending", or nothing.
func pointsMoved(available, pending int64) string {
	var parts []string
	if available != 0 {
		parts = append(parts, fmt.Sprintf("%+d points", available))
	}
	if pending != 0 {
		parts = append(parts, fmt.Sprintf("%+d pending", pending))
	}
	if len(parts) == 0 {
		return ""
	}
	return ": " + strings.Join(parts, ", ")
}

// errWouldReject is program evaluate's answer for an event the engine would
// dead-letter, whatever the reason (its form or the rules): the command
// exits 1, having printed the reason, and 0 for an event it would apply.
var errWouldReject = errors.New("the engine would dead-letter this event")

func rejected(w io.Writer, err error) error {
	var rej *domain.RejectedError
	if errors.As(err, &rej) {
		fmt.Fprintf(w, "  rejected: %s\n", rej.Error())
		return errWouldReject
	}
	return err
}

// readEventFile reads an event from path, refusing one larger than any the
// engine accepts before reading more of it (path may be /dev/zero).
func readEventFile(path string) ([]byte, error) {
	data, err := readBounded(path, streams.MaxEventBytes)
	if err != nil {
		return nil, fmt.Errorf("evaluate: %w (the most an event may have)", err)
	}
	return data, nil
}

// readBounded reads a file of at most limit bytes; a larger one is an
// error, read no further than the limit.
func readBounded(path string, limit int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > limit {
		return nil, fmt.Errorf("%s: more than %d bytes", path, limit)
	}
	return data, nil
}
