package main

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// newVersionCommand prints what the binary was built from, so that
// operators can check that every engine runs the same one.
func newVersionCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version this binary was built from: module version, commit and Go version",
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintln(g.stdout, buildVersion())
			return err
		},
	}
}

// buildVersion is "loyalty <module version> (commit <revision>[, modified], <go version>)"
// from the build information Go records in the binary.
func buildVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "loyalty (no build information)"
	}
	commit, modified := "unknown", ""
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			commit = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = ", modified"
			}
		}
	}
	return fmt.Sprintf("loyalty %s (commit %s%s, %s)", info.Main.Version, commit, modified, info.GoVersion)
}
