package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// newHealthcheckCommand asks a running serve whether it is ready: the
// container healthcheck of images without curl or wget (distroless).
func newHealthcheckCommand(g *globals) *cobra.Command {
	var addr string
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 if the serve on --metrics-addr is ready (its /readyz), 1 with the reason if not",
		Long: `Asks the serve listening on --metrics-addr for /readyz: ready means its
pipeline runs, NATS is connected and PostgreSQL answers. An address without a
host (":9464") or with an unspecified one ("0.0.0.0:9464") is asked on
127.0.0.1. For docker compose and Kubernetes exec probes.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			return checkReady(ctx, addr, g.stdout)
		},
	}
	c.Flags().StringVar(&addr, "metrics-addr", envOr(g.getenv, "LOYALTY_METRICS_ADDR", defaultMetricsAddr),
		"address serve serves /readyz on (env LOYALTY_METRICS_ADDR)")
	c.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "how long to wait for the answer")
	return c
}

// checkReady asks addr's /readyz and returns an error naming what is not
// ready.
func checkReady(ctx context.Context, addr string, out io.Writer) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--metrics-addr %q: %w (want host:port, e.g. 127.0.0.1:9464)", addr, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("--metrics-addr %q: the port must be a number from 1 to 65535", addr)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	url := "http://" + net.JoinHostPort(host, port) + "/readyz"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	// /readyz answers itself: a redirect is not serve's answer.
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("not ready: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	text := strings.TrimSpace(string(body))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("not ready (%s): %s", resp.Status, text)
	}
	fmt.Fprintln(out, text)
	return nil
}
