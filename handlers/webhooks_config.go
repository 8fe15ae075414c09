package handlers

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/pointsledger/loyalty/streams"
)

// WebhooksFile is the webhook relay's configuration file: the HTTP
// endpoints that get outbound events (docs/outbound.md).
type WebhooksFile struct {
	Endpoints []WebhookEndpoint `yaml:"endpoints"`
}

// WebhookEndpoint is one receiver of outbound events.
type WebhookEndpoint struct {
	// ID names the endpoint in metrics, dead letters and commands; it
	// also names the endpoint's consumer, so renaming one starts it
	// again from the first outbound event.
	ID  string `yaml:"id"`
	URL string `yaml:"url"`
	// Events are outbound event names (streams.OutboundTypes), or "*".
	Events []string `yaml:"events"`
	// Secrets sign the deliveries (Standard Webhooks, whsec_...); during a
	// rotation two are given and each delivery carries both signatures.
	// "env:NAME" reads a secret from the environment.
	Secrets []string `yaml:"secrets"`
	// RateLimit is the most deliveries per second (0: no limit).
	RateLimit int `yaml:"rate_limit"`
	// RetryFor is how long after an event was published a failing
	// delivery is retried before it is dead-lettered (default 72h).
	RetryFor time.Duration `yaml:"retry_for"`
	// Timeout bounds one attempt (default 10s).
	Timeout time.Duration `yaml:"timeout"`
	// Lanes is how many members' deliveries run at once (default 16, at
	// most 64): a member's events go one after another, in order. Each
	// lane has a consumer of its own, of its share of the 64 member
	// partitions.
	Lanes int `yaml:"lanes"`
	// From is where an endpoint new to the relay starts: FromNew (the
	// default) at the events published from then on, FromAll at the
	// outbound stream's first.
	From string `yaml:"from"`

	keys [][]byte // the decoded secrets
}

// Where a new endpoint starts (WebhookEndpoint.From).
const (
	FromNew = "new"
	FromAll = "all"
)

const (
	defaultRetryFor     = 72 * time.Hour
	defaultTimeout      = 10 * time.Second
	defaultLanes        = 16
	maxLanes            = streams.Partitions // a lane takes whole member partitions
	maxEndpoints        = 64
	minSecretBytes      = 24
	maxSecretBytes      = 64
	webhookSecretPrefix = "whsec_"
)

var endpointIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// ParseWebhooks reads a webhooks file; getenv resolves "env:" secrets.
// Every problem is reported, each with the endpoint and field it is in.
func ParseWebhooks(data []byte, getenv func(string) string) (*WebhooksFile, error) {
	if err := noAliases(data); err != nil {
		return nil, err
	}
	var f WebhooksFile
	dec := yaml.NewDecoder(bytes.NewReader(data), yaml.DisallowUnknownField())
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("webhooks file: %w", err)
	}
	if err := f.check(getenv); err != nil {
		return nil, err
	}
	return &f, nil
}

func (f *WebhooksFile) check(getenv func(string) string) error {
	var errs []error
	if len(f.Endpoints) == 0 {
		errs = append(errs, errors.New("endpoints: none given"))
	}
	if len(f.Endpoints) > maxEndpoints {
		errs = append(errs, fmt.Errorf("endpoints: %d given, at most %d", len(f.Endpoints), maxEndpoints))
	}
	seen := map[string]bool{}
	for i := range f.Endpoints {
		e := &f.Endpoints[i]
		where := fmt.Sprintf("endpoints[%d]", i)
		if endpointIDPattern.MatchString(e.ID) {
			where = fmt.Sprintf("endpoint %q", e.ID)
		}
		if seen[e.ID] {
			errs = append(errs, fmt.Errorf("%s: id: used twice", where))
		}
		seen[e.ID] = true
		for _, err := range e.check(getenv) {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		}
	}
	return errors.Join(errs...)
}

func (e *WebhookEndpoint) check(getenv func(string) string) []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !endpointIDPattern.MatchString(e.ID) {
		add("id: %q must be 1 to 32 of a-z, 0-9, _ and -, starting with a letter or digit", e.ID)
	}
	if u, err := url.Parse(e.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.Fragment != "" {
		add("url: %s must be an http or https URL with a host and no user name, password or fragment", shownURL(e.URL))
	}
	switch e.From {
	case "":
		e.From = FromNew
	case FromNew, FromAll:
	default:
		add("from: %q; give new (events published from the endpoint's first start on) or all (every event the outbound stream holds)", e.From)
	}
	if len(e.Events) == 0 {
		add("events: none given; list outbound event names (%s) or \"*\"", strings.Join(streams.OutboundTypes, ", "))
	}
	for _, name := range e.Events {
		if name != "*" && !slices.Contains(streams.OutboundTypes, name) {
			add("events: %q is not an outbound event; known: %s, or \"*\"", name, strings.Join(streams.OutboundTypes, ", "))
		}
	}
	if n := len(e.Secrets); n < 1 || n > 2 {
		add("secrets: %d given; give one, or two while rotating", n)
	}
	e.keys = nil
	for i, s := range e.Secrets {
		key, err := webhookKey(s, getenv)
		if err != nil {
			add("secrets[%d]: %w", i, err)
			continue
		}
		e.keys = append(e.keys, key)
	}
	if e.RateLimit < 0 || e.RateLimit > 100_000 {
		add("rate_limit: %d; give 0 (no limit) to 100000 per second", e.RateLimit)
	}
	if e.RetryFor == 0 {
		e.RetryFor = defaultRetryFor
	}
	if e.RetryFor < time.Second || e.RetryFor > 30*24*time.Hour {
		add("retry_for: %s; give 1s to 720h", e.RetryFor)
	}
	if e.Timeout == 0 {
		e.Timeout = defaultTimeout
	}
	if e.Timeout < 100*time.Millisecond || e.Timeout > 5*time.Minute {
		add("timeout: %s; give 100ms to 5m", e.Timeout)
	}
	if e.Lanes == 0 {
		e.Lanes = defaultLanes
	}
	if e.Lanes < 1 || e.Lanes > maxLanes {
		add("lanes: %d; give 1 to %d", e.Lanes, maxLanes)
	}
	return errs
}

// webhookKey decodes a whsec_ secret, read from the environment for
// "env:NAME". The error never quotes the secret.
func webhookKey(s string, getenv func(string) string) ([]byte, error) {
	if name, ok := strings.CutPrefix(s, "env:"); ok {
		if s = getenv(name); s == "" {
			return nil, fmt.Errorf("environment variable %s is not set", name)
		}
	}
	b64, ok := strings.CutPrefix(s, webhookSecretPrefix)
	if !ok {
		return nil, fmt.Errorf("not a %s secret (make one with: loyalty webhooks secret)", webhookSecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, errors.New("the part after " + webhookSecretPrefix + " is not standard base64")
	}
	if len(key) < minSecretBytes || len(key) > maxSecretBytes {
		return nil, fmt.Errorf("decodes to %d bytes; give %d to %d", len(key), minSecretBytes, maxSecretBytes)
	}
	return key, nil
}

// filterSubjects are the outbound subjects of the endpoint's lane: the
// types it chose, for the member partitions of the lane.
func (e *WebhookEndpoint) filterSubjects(lane int) []string {
	names := e.Events
	if slices.Contains(names, "*") {
		names = []string{"*"}
	}
	var subjects []string
	for p := lane; p < streams.Partitions; p += e.Lanes {
		for _, name := range names {
			if s := streams.OutboundPartitionFilter(name, p); !slices.Contains(subjects, s) {
				subjects = append(subjects, s)
			}
		}
	}
	return subjects
}

// shownURL is a URL as errors and logs show it: without its user name,
// password and query, which may hold secrets.
func shownURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(not a URL)"
	}
	u.User = nil
	if u.RawQuery != "" || u.ForceQuery {
		u.RawQuery, u.ForceQuery = "…", false
	}
	u.Fragment, u.RawFragment = "", ""
	return strconv.Quote(u.String())
}

// noAliases refuses YAML anchors and aliases: a file of a few hundred bytes
// can expand through them to gigabytes, and a webhooks file has no use for
// them.
func noAliases(data []byte) error {
	file, err := parser.ParseBytes(data, 0)
	if err != nil {
		return fmt.Errorf("webhooks file: %w", err)
	}
	var found aliasFinder
	for _, doc := range file.Docs {
		ast.Walk(&found, doc)
	}
	if found.line > 0 {
		return fmt.Errorf("webhooks file: line %d: YAML anchors and aliases (& and *) are not accepted; write each value out", found.line)
	}
	return nil
}

type aliasFinder struct{ line int }

func (a *aliasFinder) Visit(n ast.Node) ast.Visitor {
	switch n.(type) {
	case *ast.AliasNode, *ast.AnchorNode:
		if a.line == 0 {
			a.line = n.GetToken().Position.Line
		}
		return nil
	}
	return a
}

// signature names the share of the outbound events a lane of the endpoint
// gets: its partitions and the types chosen.
func (e *WebhookEndpoint) signature(lane int) string {
	names := slices.Clone(e.Events)
	slices.Sort(names)
	return fmt.Sprintf("%d/%d/%s", lane, e.Lanes, strings.Join(names, ","))
}
