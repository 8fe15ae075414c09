package deploy_test

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// grafanaDashboard is what these tests read of a dashboard file.
type grafanaDashboard struct {
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []grafanaPanel `json:"panels"`
}

type grafanaPanel struct {
	Title      string             `json:"title"`
	Type       string             `json:"type"`
	Datasource *grafanaDatasource `json:"datasource"`
	Targets    []struct {
		Expr       string             `json:"expr"`
		RawSQL     string             `json:"rawSql"`
		Datasource *grafanaDatasource `json:"datasource"`
	} `json:"targets"`
	FieldConfig struct {
		Defaults struct {
			Thresholds *struct {
				Steps []struct {
					Color string   `json:"color"`
					Value *float64 `json:"value"`
				} `json:"steps"`
			} `json:"thresholds"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
}

type grafanaDatasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

func readDashboard(t *testing.T, path string) grafanaDashboard {
	t.Helper()
	var d grafanaDashboard
	if err := json.Unmarshal([]byte(readFile(t, path)), &d); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(d.Panels) == 0 {
		t.Fatalf("%s has no panels", path)
	}
	return d
}

// engineSelector is a selector of the engine's own series (its metrics and
// Go's and the process's, and up), with its label matchers if any.
var engineSelector = regexp.MustCompile(`\b(up|loyalty_[a-z_]+|process_[a-z_]+|go_[a-z_]+)(\{[^}]*\})?`)

// The operations dashboard imports into any Grafana: every panel takes its
// data source from the dashboard's datasource variable, none names a uid
// of its own, and every query of the engine's series is narrowed by the job
// and instance variables.
func TestDashboardImportsWithVariables(t *testing.T) {
	d := readDashboard(t, "grafana/dashboards/loyalty.json")
	var vars []string
	for _, v := range d.Templating.List {
		vars = append(vars, v.Name)
		if v.Name == "datasource" && (v.Type != "datasource" || v.Query != "prometheus") {
			t.Errorf("variable datasource is a %s of %v; want a datasource variable of type prometheus", v.Type, v.Query)
		}
	}
	for _, want := range []string{"datasource", "job", "instance"} {
		if !slices.Contains(vars, want) {
			t.Errorf("the dashboard has no %q variable (it has %v)", want, vars)
		}
	}
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: data source %+v; want uid ${datasource}", p.Title, p.Datasource)
		}
		for _, target := range p.Targets {
			if target.Datasource != nil && target.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q: a query names data source %+v; want uid ${datasource}", p.Title, target.Datasource)
			}
			for _, m := range engineSelector.FindAllStringSubmatch(target.Expr, -1) {
				if !regexp.MustCompile(`job=~"\$job"`).MatchString(m[2]) || !regexp.MustCompile(`instance=~"\$instance"`).MatchString(m[2]) {
					t.Errorf("panel %q: %s%s is not narrowed to $job and $instance", p.Title, m[1], m[2])
				}
			}
		}
	}
}

// A stat panel shows red or orange when its value is bad: "Engine up" at 0
// is not green.
func TestDashboardStatsHaveThresholds(t *testing.T) {
	d := readDashboard(t, "grafana/dashboards/loyalty.json")
	for _, p := range d.Panels {
		if p.Type != "stat" || p.Title == "Members" {
			continue
		}
		th := p.FieldConfig.Defaults.Thresholds
		if th == nil || len(th.Steps) < 2 {
			t.Errorf("stat %q has no thresholds", p.Title)
			continue
		}
		if p.Title == "Engine up" && (th.Steps[0].Color != "red" || th.Steps[1].Value == nil || *th.Steps[1].Value != 1) {
			t.Errorf("stat %q: thresholds %+v; want red below 1", p.Title, th.Steps)
		}
	}
}

// The analysts' dashboard imports the same way, on a PostgreSQL data
// source; compose provisions that data source with a login that has the
// analyst role's rights only (its SQL is run as that role by
// projections/dashboard_sql_test.go).
func TestAnalystDashboardImportsWithVariables(t *testing.T) {
	d := readDashboard(t, "grafana/dashboards/programme.json")
	if len(d.Templating.List) == 0 || d.Templating.List[0].Name != "datasource" || d.Templating.List[0].Query != "grafana-postgresql-datasource" {
		t.Errorf("programme dashboard variables %+v; want a datasource variable of PostgreSQL data sources first", d.Templating.List)
	}
	for _, p := range d.Panels {
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 || p.Targets[0].RawSQL == "" {
			t.Errorf("panel %q: data source %+v, %d queries; want uid ${datasource} and SQL", p.Title, p.Datasource, len(p.Targets))
		}
	}
	provisioned := readFile(t, "grafana/provisioning/datasources/postgres.yml")
	if !regexp.MustCompile(`(?m)^\s+user: grafana$`).MatchString(provisioned) || !regexp.MustCompile(`password: \$GRAFANA_DB_PASSWORD`).MatchString(provisioned) {
		t.Errorf("the PostgreSQL data source does not log in as grafana with the password from the environment:\n%s", provisioned)
	}
	login := readFile(t, "postgres/initdb/10-grafana-login.sh")
	for _, want := range []string{
		`create role grafana login password :'pw' in role loyalty_analyst connection limit 5;`,
		`alter role grafana set statement_timeout = '30s';`,
		`alter role grafana set default_transaction_read_only = on;`,
		`revoke temporary on database :"DBNAME" from public;`,
	} {
		if !strings.Contains(login, want) {
			t.Errorf("the grafana login lacks %q:\n%s", want, login)
		}
	}
	// Any Grafana viewer may send the data source SQL: no anonymous ones.
	if env := loadCompose(t).Services["grafana"].Environment; env["GF_AUTH_ANONYMOUS_ENABLED"] != "false" {
		t.Errorf("grafana allows anonymous viewers (GF_AUTH_ANONYMOUS_ENABLED=%q), who could query members' data", env["GF_AUTH_ANONYMOUS_ENABLED"])
	}
	assertMounted(t, loadCompose(t).Services["postgres"].Volumes, "./deploy/postgres/initdb")
}
