package main_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Settings serve cannot use are refused before anything starts, each with
// what was wrong; a flag given overrides a bad environment variable (the
// error is then the next problem's, not the variable's).
func TestServeRefusesSettingsItCannotUse(t *testing.T) {
	cases := []struct {
		env  []string
		args []string
		want string
	}{
		{nil, []string{"--replicas", "9"}, "--replicas 9: give 1 to 5"},
		{nil, []string{"--replicas", "-1"}, "--replicas -1: give 1 to 5"},
		{nil, []string{"--snapshot-interval", "0s"}, "--snapshot-interval 0s: must be above 0"},
		{nil, []string{"--member-memory", "lots"}, `"lots" is not a size`},
		{nil, []string{"--validate-holdout-days", "-1"}, "--validate-holdout-days -1: give 0 (no validation) or a holdout of 1 to 3660 days"},
		{nil, []string{"--validate-holdout-days", "99999"}, "--validate-holdout-days 99999"},
		{nil, []string{"--model", "../../etc"}, `model "../../etc": use bgnbd, pareto_nbd or best`},
		{nil, []string{"--member-memory", "-5MiB"}, `"-5MiB" is not a size`},
		{[]string{"LOYALTY_MEMBER_MEMORY=garbage"}, nil, "LOYALTY_MEMBER_MEMORY"},
		{[]string{"LOYALTY_SNAPSHOT_INTERVAL=soon"}, nil, "LOYALTY_SNAPSHOT_INTERVAL"},
		{[]string{"LOYALTY_MEMBER_MEMORY=garbage"}, []string{"--member-memory", "64MiB", "--replicas", "9"}, "--replicas 9"},
	}
	for _, c := range cases {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := exec.CommandContext(ctx, binary, append([]string{"serve", "--data-dir", t.TempDir(), "--metrics-addr", "127.0.0.1:0"}, c.args...)...)
		cmd.Env = append(os.Environ(), c.env...)
		var errOut bytes.Buffer
		cmd.Stderr = &errOut
		err := cmd.Run()
		cancel()
		if err == nil || !strings.Contains(errOut.String(), c.want) {
			t.Errorf("serve %v with %v: %v, stderr %q; want a refusal saying %q", c.args, c.env, err, errOut.String(), c.want)
		}
	}
}
