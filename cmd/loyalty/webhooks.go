package main

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/pointsledger/loyalty/handlers"
)

// maxWebhooksFile bounds the webhooks file serve and check read.
const maxWebhooksFile = 1 << 20

// readWebhooks reads and checks a webhooks file.
func readWebhooks(g *globals, path string) (*handlers.WebhooksFile, error) {
	data, err := readBounded(path, maxWebhooksFile)
	if err != nil {
		return nil, fmt.Errorf("webhooks file: %w", err)
	}
	file, err := handlers.ParseWebhooks(data, g.getenv)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return file, nil
}

// newWebhooks is serve's webhook relay, or nil without a webhooks file.
func newWebhooks(g *globals, o *serveOptions, p pipeline, reg prometheus.Registerer) (*handlers.Webhooks, error) {
	if o.webhooksPath == "" {
		return nil, nil
	}
	file, err := readWebhooks(g, o.webhooksPath)
	if err != nil {
		return nil, err
	}
	if !o.outbound {
		p.log.Warn("webhooks are configured but this engine's outbound relay is off: they get only what another engine relays")
	}
	return handlers.NewWebhooks(p.js, handlers.WebhooksConfig{File: file, Logger: p.log, Registerer: reg,
		Agent: "loyalty-webhooks/" + buildVersion()})
}

func newWebhooksCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "webhooks", Short: "Check webhook files, make secrets, list and replay webhook dead letters"}
	var endpoint string
	var limit int
	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List webhook deliveries given up on (refused, or out of retry time), newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 0 {
				return fmt.Errorf("--limit %d: want a number of dead letters, or 0 for all", limit)
			}
			return g.withTool("loyalty-webhooks", func(t tool) error {
				page, total, err := handlers.WebhookDeadLetters(cmd.Context(), t.js, endpoint, limit)
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(g.stdout, page)
				}
				return printWebhookDeadLetters(g.stdout, page, total)
			})
		},
	}
	list.Flags().StringVar(&endpoint, "endpoint", "", "only this endpoint's")
	list.Flags().IntVar(&limit, "limit", 100, "at most this many, the newest; 0 for all")
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON (an array, newest first)")

	replay := &cobra.Command{
		Use:   "replay NUMBER...",
		Short: "Send webhook dead letters to their endpoints again (the engine delivers them, signed afresh)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var seqs []uint64
			for _, a := range args {
				n, err := strconv.ParseUint(a, 10, 64)
				if err != nil || n == 0 {
					return fmt.Errorf("dead letter number %q: want a number `loyalty webhooks list` shows", a)
				}
				seqs = append(seqs, n)
			}
			return g.withTool("loyalty-webhooks", func(t tool) error {
				for _, n := range seqs {
					dl, err := handlers.ReplayWebhookDeadLetter(cmd.Context(), t.js, n)
					if err != nil {
						return err
					}
					fmt.Fprintf(g.stdout, "%d: %s queued for %s: the engine delivers it after the endpoint's backlog\n", n, cell(dl.ID), dl.Endpoint)
				}
				return nil
			})
		},
	}
	enable := &cobra.Command{
		Use:   "enable ENDPOINT",
		Short: "Turn on an endpoint the relay disabled after it answered 410 Gone; delivery resumes where it stopped",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withTool("loyalty-webhooks", func(t tool) error {
				was, err := handlers.EnableWebhookEndpoint(cmd.Context(), t.js, args[0])
				if err != nil {
					return err
				}
				if !was {
					return fmt.Errorf("endpoint %q is not disabled (or no engine ever delivered to it): nothing to enable", cell(args[0]))
				}
				fmt.Fprintf(g.stdout, "endpoint %s enabled: the engine delivers to it again within 5 seconds\n", args[0])
				return nil
			})
		},
	}
	check := &cobra.Command{
		Use:   "check FILE",
		Short: "Check a webhooks file (and that its env: secrets are set) without starting anything",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			file, err := readWebhooks(g, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "%s: valid (endpoints: %d)\n", args[0], len(file.Endpoints))
			return nil
		},
	}
	secret := &cobra.Command{
		Use:   "secret",
		Short: "Print a new signing secret (whsec_...) for a webhooks file and its receiver",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := handlers.NewWebhookSecret()
			if err != nil {
				return err
			}
			fmt.Fprintln(g.stdout, s)
			return nil
		},
	}
	cmd.AddCommand(list, replay, enable, check, secret)
	return cmd
}

func printWebhookDeadLetters(w io.Writer, page []handlers.WebhookDeadLetter, total int) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NUMBER\tAT\tENDPOINT\tWEBHOOK ID\tREASON\tSTATUS\tDETAIL")
	for _, d := range page {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Seq, d.At.Format("2006-01-02T15:04:05Z"), cell(d.Endpoint), cell(d.ID),
			cell(d.Reason), cell(d.Status), cell(d.Detail))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d shown of %d\n", len(page), total)
	return err
}
