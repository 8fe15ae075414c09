package deploy_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
)

// composeDefault expands ${NAME:-default} as docker compose does when NAME
// is not set.
func composeDefault(expr string) string {
	if _, def, ok := strings.Cut(expr, ":-"); ok {
		return def
	}
	return ""
}

// assertNATSConfig loads the configuration file the compose NATS server
// runs with through the server's own parser, with the passwords compose
// gives it: JetStream on, every message on disk before its acknowledgement,
// and the accounts of permissions.conf.
func assertNATSConfig(t *testing.T, command, volumes []string, env map[string]string) {
	t.Helper()
	i := slices.Index(command, "--config")
	if i < 0 || i+1 >= len(command) {
		t.Fatalf("nats command %v names no --config", command)
	}
	var confDir string
	for _, v := range volumes {
		host, container, _ := strings.Cut(strings.TrimSuffix(v, ":ro"), ":")
		if strings.HasPrefix(host, "./") && strings.HasPrefix(command[i+1], container+"/") {
			confDir = filepath.Join("..", host)
		}
	}
	if confDir == "" {
		t.Fatalf("nats reads %s, which no volume mounts from the repository (%v)", command[i+1], volumes)
	}
	for name, value := range env {
		t.Setenv(name, os.Expand(value, composeDefault))
	}
	opts, err := server.ProcessConfigFile(filepath.Join(confDir, filepath.Base(command[i+1])))
	if err != nil {
		t.Fatalf("nats configuration: %v", err)
	}
	if !opts.JetStream || !opts.SyncAlways {
		t.Errorf("nats configuration: JetStream %v, sync always %v; want both", opts.JetStream, opts.SyncAlways)
	}
	if opts.HTTPPort != 8222 {
		t.Errorf("nats monitoring port %d, want 8222 for prometheus-nats-exporter", opts.HTTPPort)
	}
	var users []string
	for _, u := range opts.Users {
		users = append(users, u.Username)
		if u.Password == "" {
			t.Errorf("nats user %s has no password: its variable is not set in compose", u.Username)
		}
	}
	for _, want := range []string{"engine", "operator", "upstream"} {
		if !slices.Contains(users, want) {
			t.Errorf("nats users %v: want %s (deploy/nats/permissions.conf)", users, want)
		}
	}
}

// release is an image tag that names a release, not a moving line: 2.15.2,
// v3.5.0, 17.6.
var release = regexp.MustCompile(`:v?\d+\.\d+(\.\d+)?(-[a-z0-9.]+)?$`)

// Every image is pinned, every port is published on this machine only, the
// engine has a healthcheck that works without a shell, Prometheus keeps its
// data and scrapes NATS.
func TestComposeIsPinnedAndWatched(t *testing.T) {
	c := loadCompose(t)
	for name, svc := range c.Services {
		if svc.Image != "" && !release.MatchString(svc.Image) {
			t.Errorf("service %s: image %q floats; pin a release", name, svc.Image)
		}
		if svc.Build.Dockerfile != "" {
			for _, line := range strings.Split(readFile(t, filepath.Join("..", svc.Build.Context, svc.Build.Dockerfile)), "\n") {
				if image, ok := strings.CutPrefix(line, "FROM "); ok && !strings.Contains(image, "distroless") {
					if image, _, _ = strings.Cut(image, " "); !release.MatchString(image) {
						t.Errorf("%s: base image %q floats; pin a release", svc.Build.Dockerfile, image)
					}
				}
			}
		}
		for _, port := range svc.Ports {
			if !strings.HasPrefix(port, "127.0.0.1:") {
				t.Errorf("service %s publishes %s on every interface; publish on 127.0.0.1", name, port)
			}
		}
		if strings.HasPrefix(name, "engine") || strings.HasPrefix(name, "cluster-engine") {
			if want := []string{"CMD", "/usr/local/bin/loyalty", "healthcheck"}; len(svc.Healthcheck.Test) < 3 || !slices.Equal(svc.Healthcheck.Test[:3], want) {
				t.Errorf("service %s: healthcheck %v; want %v ...", name, svc.Healthcheck.Test, want)
			}
		}
	}
	if !slices.ContainsFunc(c.Services["prometheus"].Volumes, func(v string) bool { return strings.HasSuffix(v, ":/prometheus") }) {
		t.Errorf("prometheus keeps no volume for its data (%v)", c.Services["prometheus"].Volumes)
	}
	if _, ok := c.Services["nats-exporter"]; !ok || !strings.Contains(readFile(t, "prometheus/prometheus.yml"), `"nats-exporter:7777"`) {
		t.Error("no nats-exporter service scraped by prometheus")
	}
}
