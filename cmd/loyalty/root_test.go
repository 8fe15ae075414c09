package main

import (
	"bytes"
	"context"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Every command refuses what it does not know, so that a typo in a script
// fails instead of passing for success: a group fails on an unknown
// command, and a command fails on more arguments than it takes.
func TestEveryCommandRefusesWhatItDoesNotKnow(t *testing.T) {
	getenv := func(string) string { return "" }
	takesAny := []string{"loyalty dlq replay", "loyalty webhooks replay", "loyalty member erase"} // IDs or numbers
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.Name() == "help" || sub.Name() == "completion" {
				continue
			}
			path := strings.Fields(sub.CommandPath())[1:]
			if sub.HasSubCommands() {
				var out, errOut bytes.Buffer
				err := run(context.Background(), append(path, "no-such-command"), getenv, &out, &errOut)
				if err == nil || !strings.Contains(err.Error(), `unknown command "no-such-command"`) {
					t.Errorf("%s no-such-command: %v; want an unknown command error", sub.CommandPath(), err)
				}
				walk(sub)
				continue
			}
			if slices.Contains(takesAny, sub.CommandPath()) {
				continue
			}
			if err := sub.Args(sub, []string{"a", "b", "c", "d", "e"}); err == nil {
				t.Errorf("%s takes five arguments without complaint", sub.CommandPath())
			}
		}
	}
	root := newRootCommand(getenv, &bytes.Buffer{}, &bytes.Buffer{})
	if len(root.Commands()) < 10 {
		t.Fatalf("the root has %d commands; the walk would prove nothing", len(root.Commands()))
	}
	walk(root)
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 15855: "15,855", 1234567: "1,234,567", -1234: "-1,234"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

// Dead letters hold what upstream sent: printed on a terminal, nothing in
// them may act on it.
func TestTerminalSafe(t *testing.T) {
	for in, want := range map[string]string{
		"evil\x1b[31mRED\x1b]0;pwned\x07": `evil\x1b[31mRED\x1b]0;pwned\a`,
		"a\rb\u202eright-to-left":         `a\rb\u202eright-to-left`,
		"bad \xff byte":                   `bad \xff byte`,
		"naïve � ok":                      "naïve � ok",
		"two\nlines\tand a tab":           `two\nlines\tand a tab`,
	} {
		if got := cell(in); got != want {
			t.Errorf("cell(%q) = %q, want %q", in, got, want)
		}
	}
	if got := terminalSafe("{\n\t\"id\": \"x\x1b\"\n}", "\n\t"); got != "{\n\t\"id\": \"x\\x1b\"\n}" {
		t.Errorf("a body keeps its newlines and tabs, escapes the rest: %q", got)
	}
}

// program evaluate reads no more of an event file than an event may be.
func TestReadEventFileIsBounded(t *testing.T) {
	if _, err := readEventFile("/dev/zero"); err == nil || !strings.Contains(err.Error(), "the most an event may have") {
		t.Errorf("readEventFile(/dev/zero) = %v; want it refused for its size", err)
	}
}

func TestBuildVersionNamesGo(t *testing.T) {
	if v := buildVersion(); !strings.HasPrefix(v, "loyalty ") || !strings.Contains(v, runtime.Version()) {
		t.Errorf("buildVersion() = %q; want the binary's version and %s", v, runtime.Version())
	}
}

// Every LOYALTY_ variable the commands read is named in the help of a flag
// (or of a command): a setting nobody can find is no setting.
func TestHelpNamesEveryEnvironmentVariable(t *testing.T) {
	read := map[string]bool{}
	getenv := func(name string) string { read[name] = true; return "" }
	root := newRootCommand(getenv, &bytes.Buffer{}, &bytes.Buffer{})
	var help strings.Builder
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		help.WriteString(c.Long)
		c.LocalFlags().VisitAll(func(f *pflag.Flag) { help.WriteString(f.Usage + "\n") })
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	if len(read) < 10 {
		t.Fatalf("the commands read %d environment variables while being built; the test no longer sees them", len(read))
	}
	for name := range read {
		if strings.HasPrefix(name, "LOYALTY_") && !strings.Contains(help.String(), name) {
			t.Errorf("%s is read but no help text names it", name)
		}
	}
}
