// Package deploy holds the docker-compose stack's configuration, Prometheus
// alert rules and the Grafana dashboard; its tests check them.
package deploy_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pointsledger/loyalty/handlers"
	"github.com/pointsledger/loyalty/projections"
)

type compose struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
		Ports       []string          `yaml:"ports"`
		Healthcheck struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
		Build struct {
			Context    string `yaml:"context"`
			Dockerfile string `yaml:"dockerfile"`
		} `yaml:"build"`
	} `yaml:"services"`
}

func loadCompose(t *testing.T) compose {
	t.Helper()
	data, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c compose
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return c
}

func TestComposeHasTheWholeStack(t *testing.T) {
	c := loadCompose(t)
	for _, name := range []string{"nats", "postgres", "engine", "prometheus", "grafana"} {
		if _, ok := c.Services[name]; !ok {
			t.Errorf("docker-compose.yml has no %q service", name)
		}
	}
	assertNATSConfig(t, c.Services["nats"].Command, c.Services["nats"].Volumes, c.Services["nats"].Environment)
	engine := c.Services["engine"]
	if _, err := os.Stat(filepath.Join("..", engine.Build.Context, engine.Build.Dockerfile)); err != nil {
		t.Errorf("engine is not built from the repository: %v", err)
	}
	if u, err := url.Parse(os.Expand(engine.Environment["LOYALTY_NATS_URL"], composeDefault)); err != nil || u.Host != "nats:4222" || u.User.Username() != "engine" {
		t.Errorf("engine LOYALTY_NATS_URL = %q (%v), want the nats service's engine user", engine.Environment["LOYALTY_NATS_URL"], err)
	}
	if prefix := engine.Environment["LOYALTY_NATS_INBOX_PREFIX"]; prefix != "_INBOX_engine" {
		t.Errorf("engine LOYALTY_NATS_INBOX_PREFIX = %q; permissions.conf lets the engine subscribe to _INBOX_engine.> only", prefix)
	}
	pg := c.Services["postgres"].Environment
	wantDB := "postgres://" + pg["POSTGRES_USER"] + ":" + pg["POSTGRES_PASSWORD"] + "@postgres:5432/" + pg["POSTGRES_DB"]
	if url := engine.Environment["LOYALTY_DATABASE_URL"]; !strings.HasPrefix(url, wantDB) {
		t.Errorf("engine LOYALTY_DATABASE_URL = %q, want %s...", url, wantDB)
	}
	metricsPort := ""
	for i, arg := range engine.Command {
		if arg == "--metrics-addr" && i+1 < len(engine.Command) {
			metricsPort = strings.TrimPrefix(engine.Command[i+1], ":")
		}
	}
	prom := readFile(t, "prometheus/prometheus.yml")
	if metricsPort == "" || !strings.Contains(prom, `"engine:`+metricsPort+`"`) {
		t.Errorf("prometheus does not scrape engine:%s (the engine's --metrics-addr)", metricsPort)
	}
	assertMounted(t, c.Services["prometheus"].Volumes, "./deploy/prometheus")
	assertMounted(t, c.Services["grafana"].Volumes, "./deploy/grafana/provisioning")
	assertMounted(t, c.Services["grafana"].Volumes, "./deploy/grafana/dashboards")
}

func assertMounted(t *testing.T, volumes []string, dir string) {
	t.Helper()
	for _, v := range volumes {
		if strings.HasPrefix(v, dir+":") {
			if _, err := os.Stat(filepath.Join("..", dir)); err != nil {
				t.Errorf("mounted %s: %v", dir, err)
			}
			return
		}
	}
	t.Errorf("%s is not mounted (volumes %v)", dir, volumes)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The dashboard must be valid JSON and only query metrics the engine has.
func TestDashboardQueriesKnownMetrics(t *testing.T) {
	var d struct {
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal([]byte(readFile(t, "grafana/dashboards/loyalty.json")), &d); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	metricsDoc := readFile(t, "../docs/metrics.md")
	if d.UID == "" || len(d.Panels) == 0 {
		t.Fatal("dashboard has no uid or no panels")
	}
	for _, p := range d.Panels {
		for _, target := range p.Targets {
			for _, name := range metricNames(target.Expr) {
				if !strings.Contains(metricsDoc, "`"+name+"`") {
					t.Errorf("panel %q queries %s, which docs/metrics.md does not document", p.Title, name)
				}
			}
		}
	}
}

// metricNames picks the loyalty_ metric names out of a PromQL expression,
// without histogram suffixes.
func metricNames(expr string) []string {
	var names []string
	for _, f := range strings.FieldsFunc(expr, func(r rune) bool {
		return !(r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
	}) {
		if strings.HasPrefix(f, "loyalty_") {
			names = append(names, strings.TrimSuffix(f, "_bucket"))
		}
	}
	return names
}

// promtool ships with Prometheus (Debian: apt-get install prometheus).
func promtool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool not found: CI must install it (apt-get install prometheus)")
		}
		t.Skip("promtool not found; install it (Debian: apt-get install prometheus) to check the alert rules")
	}
	return path
}

func TestAlertRules(t *testing.T) {
	bin := promtool(t)
	for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"test", "rules", "alerts_test.yml"}} {
		cmd := exec.Command(bin, args...)
		cmd.Dir = "prometheus"
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// The engine refuses NATS servers older than handlers.MinServerMajor.Minor;
// the stack must not ship one.
func TestComposeNATSIsNewEnoughForTheEngine(t *testing.T) {
	image := loadCompose(t).Services["nats"].Image
	_, tag, ok := strings.Cut(image, ":")
	var major, minor int
	if _, err := fmt.Sscanf(tag, "%d.%d", &major, &minor); !ok || err != nil {
		t.Fatalf("nats image %q has no major.minor version tag", image)
	}
	if major < handlers.MinServerMajor || major == handlers.MinServerMajor && minor < handlers.MinServerMinor {
		t.Errorf("nats image %q is older than %d.%d, which the engine needs", image, handlers.MinServerMajor, handlers.MinServerMinor)
	}
}

// recorder is a Registerer that keeps what is registered.
type recorder struct{ collectors []prometheus.Collector }

func (r *recorder) Register(c prometheus.Collector) error {
	r.collectors = append(r.collectors, c)
	return nil
}
func (r *recorder) MustRegister(cs ...prometheus.Collector) {
	r.collectors = append(r.collectors, cs...)
}
func (r *recorder) Unregister(prometheus.Collector) bool { return false }

// docs/metrics.md documents exactly the metrics the engine and the
// projections define: none missing, none that does not exist.
func TestDocumentedMetricsAreTheDefinedOnes(t *testing.T) {
	rec := &recorder{}
	if _, err := handlers.NewMetrics(rec); err != nil {
		t.Fatal(err)
	}
	if _, err := projections.NewMetrics(rec); err != nil {
		t.Fatal(err)
	}
	if _, err := handlers.NewOutbound(nil, handlers.OutboundConfig{Registerer: rec}); err != nil {
		t.Fatal(err)
	}
	hooks, err := handlers.ParseWebhooks([]byte("endpoints: [{id: crm, url: 'https://crm.example.com', events: ['*'], secrets: ['env:S']}]"),
		func(string) string { return "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := handlers.NewWebhooks(nil, handlers.WebhooksConfig{File: hooks, Registerer: rec}); err != nil {
		t.Fatal(err)
	}
	fqName := regexp.MustCompile(`fqName: "([a-z_:0-9]+)"`)
	defined := map[string]bool{}
	for _, c := range rec.collectors {
		descs := make(chan *prometheus.Desc, 16)
		go func() { c.Describe(descs); close(descs) }()
		for d := range descs {
			if m := fqName.FindStringSubmatch(d.String()); m != nil {
				defined[m[1]] = true
			}
		}
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(loyalty_[a-z_]+)` \\|").FindAllStringSubmatch(readFile(t, "../docs/metrics.md"), -1) {
		documented[m[1]] = true
	}
	if len(defined) == 0 || len(documented) == 0 {
		t.Fatalf("found %d defined and %d documented metrics", len(defined), len(documented))
	}
	for name := range documented {
		if !defined[name] {
			t.Errorf("docs/metrics.md documents %s, which no code defines", name)
		}
	}
	for name := range defined {
		if !documented[name] {
			t.Errorf("%s is defined but not documented in docs/metrics.md", name)
		}
	}
}
