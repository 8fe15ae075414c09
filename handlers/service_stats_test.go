package handlers_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/pointsledger/loyalty/handlers"
)

// The service's statistics count what callers got: an error reply is an
// error, and a redemption's time includes its wait for the ledger, in both
// the micro protocol's STATS (`nats micro stats`) and Prometheus.
func TestServiceStatsCountWhatCallersGot(t *testing.T) {
	env, reg := startRunningEngine(t)
	publish(t, env.JS, purchase("p-1", "m-1", "o-1", 5000, time.Now().UTC().Add(-time.Hour)))
	waitForRecords(t, env.JS, 1)

	var bal handlers.BalanceReply
	var red handlers.RedeemReply
	for _, c := range []struct {
		subject string
		req     any
		reply   any
		want    string
	}{
		{handlers.BalanceSubject, handlers.BalanceRequest{MemberID: "m-1"}, &bal, ""},
		{handlers.BalanceSubject, handlers.BalanceRequest{MemberID: "nobody"}, &bal, handlers.CodeUnknownMember},
		{handlers.BalanceSubject, map[string]int{"member_id": 7}, &bal, handlers.CodeBadRequest},
		// An id longer than any member's is refused, not echoed back.
		{handlers.BalanceSubject, handlers.BalanceRequest{MemberID: strings.Repeat("\U000F0000", 1000)}, &bal, handlers.CodeBadRequest},
		{handlers.RedeemSubject, handlers.RedeemRequestJSON{MemberID: "m-1", RequestID: "r-1", RewardID: "mug"}, &red, ""},
		{handlers.RedeemSubject, handlers.RedeemRequestJSON{MemberID: "m-1", RequestID: "r-2"}, &red, handlers.CodeBadRequest},
		{handlers.RedeemSubject, handlers.RedeemRequestJSON{MemberID: "m-1", RequestID: "r-3", RewardID: "mug", Quantity: 50}, &red, ""},
	} {
		if code, desc := call(t, env.Conn, c.subject, c.req, c.reply); code != c.want {
			t.Fatalf("%s %+v: code %q (%s), want %q", c.subject, c.req, code, desc, c.want)
		}
	}

	msg, err := env.Conn.Request("$SRV.STATS."+handlers.ServiceName, nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var stats micro.Stats
	if err := json.Unmarshal(msg.Data, &stats); err != nil || stats.Type != micro.StatsResponseType || stats.Name != handlers.ServiceName {
		t.Fatalf("STATS answer %s (%v): want micro's stats of %s", msg.Data, err, handlers.ServiceName)
	}
	byName := map[string]*micro.EndpointStats{}
	for _, e := range stats.Endpoints {
		byName[e.Name] = e
	}
	if b := byName["balance"]; b == nil || b.NumRequests != 4 || b.NumErrors != 3 || b.LastError == "" || len(b.LastError) > 1000 {
		t.Errorf("balance stats %+v; want 4 requests, 3 errors (404, 400, 400), the last error short", b)
	}
	r := byName["redeem"]
	if r == nil || r.NumRequests != 3 || r.NumErrors != 1 {
		t.Fatalf("redeem stats %+v; want 3 requests, 1 error (400; a refusal is a decision, not an error)", r)
	}
	// Two redemptions waited for their ledger append: at least one
	// acknowledged write each, far above the microseconds of a handler
	// that only starts a goroutine.
	if r.ProcessingTime <= 0 || r.AverageProcessingTime <= 0 {
		t.Errorf("redeem processing time %v (average %v); want the time until the answers", r.ProcessingTime, r.AverageProcessingTime)
	}

	for _, c := range []struct {
		endpoint, code string
		want           float64
	}{
		{"balance", "200", 1}, {"balance", "404", 1}, {"balance", "400", 2},
		{"redeem", "200", 2}, {"redeem", "400", 1}, {"transfer", "200", 0},
	} {
		if got := serviceRequests(t, reg, c.endpoint, c.code); got != c.want {
			t.Errorf("loyalty_service_requests_total{endpoint=%q, code=%q} = %v, want %v", c.endpoint, c.code, got, c.want)
		}
	}
	if n := serviceLatencyCount(t, reg, "redeem"); n != 3 {
		t.Errorf("loyalty_service_request_seconds{endpoint=redeem} counts %d answers, want 3", n)
	}

	// PING and INFO answer as micro's do, and a discovery request whose
	// reply subject is not an inbox is dropped like any other.
	for _, verb := range []string{"PING", "INFO"} {
		msg, err := env.Conn.Request("$SRV."+verb+"."+handlers.ServiceName, nil, 5*time.Second)
		var id micro.ServiceIdentity
		if err != nil || json.Unmarshal(msg.Data, &id) != nil || id.Name != handlers.ServiceName || id.ID == "" {
			t.Errorf("$SRV.%s: %v %v; want the service's identity", verb, err, msg)
		}
	}
	before := labeledValue(t, reg, "loyalty_service_refused_total", "reason", "reply_subject")
	if err := env.Conn.PublishRequest("$SRV.STATS", "$JS.API.STREAM.DELETE.LOYALTY_LEDGER", nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() bool { // the STATS request with a JetStream API reply subject, refused
		return labeledValue(t, reg, "loyalty_service_refused_total", "reason", "reply_subject") == before+1
	})
}

// series is the series of name with all the given labels.
func series(t testing.TB, reg *prometheus.Registry, name string, labels map[string]string) *dto.Metric {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			matched := 0
			for _, l := range m.GetLabel() {
				if v, ok := labels[l.GetName()]; ok && v == l.GetValue() {
					matched++
				}
			}
			if matched == len(labels) {
				return m
			}
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return nil
}

func serviceRequests(t *testing.T, reg *prometheus.Registry, endpoint, code string) float64 {
	t.Helper()
	return series(t, reg, "loyalty_service_requests_total", map[string]string{"endpoint": endpoint, "code": code}).GetCounter().GetValue()
}

func serviceLatencyCount(t *testing.T, reg *prometheus.Registry, endpoint string) uint64 {
	t.Helper()
	return series(t, reg, "loyalty_service_request_seconds", map[string]string{"endpoint": endpoint}).GetHistogram().GetSampleCount()
}
