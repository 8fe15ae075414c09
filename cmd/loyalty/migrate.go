package main

import (
	"github.com/spf13/cobra"
)

func newMigrateCommand(g *globals) *cobra.Command {
	var pgPort int
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply the read-model schema migrations (serve also does this at start)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			log, err := g.logger()
			if err != nil {
				return err
			}
			url := g.databaseURL
			if url == "" {
				if recorded, err := g.recorded(databaseURLFile, "--database-url", "LOYALTY_DATABASE_URL"); err == nil {
					url = recorded
				} else {
					started, stop, err := startDatabase(ctx, g, &serveOptions{pgPort: pgPort}, log)
					if err != nil {
						return err
					}
					defer stop()
					url = started
				}
			}
			pool, err := openDatabase(ctx, url)
			if err != nil {
				return err
			}
			defer pool.Close()
			return migrate(ctx, pool, log)
		},
	}
	cmd.Flags().IntVar(&pgPort, "pg-port", 0, "port of the managed PostgreSQL when no --database-url is given")
	return cmd
}
