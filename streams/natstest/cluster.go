package natstest

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Cluster is n real NATS servers clustered on loopback, with JetStream,
// and a client connection that knows all of them.
type Cluster struct {
	Servers []*server.Server
	Conn    *nats.Conn
	JS      jetstream.JetStream
}

// URLs is every server's client URL, comma-separated (nats.go's form).
func (c *Cluster) URLs() string {
	var s string
	for i, srv := range c.Servers {
		if i > 0 {
			s += ","
		}
		s += srv.ClientURL()
	}
	return s
}

// StartCluster starts n servers clustered with each other and waits until
// JetStream has a meta leader. It skips under -short; the servers stop
// when the test ends.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs the embedded NATS servers (run without -short)")
	}
	c := &Cluster{}
	// Every server routes to every other, so their cluster ports are
	// picked first; each waits for the others to be ready.
	ports := make([]int, n)
	for i := range ports {
		ports[i] = FreePort(t)
	}
	for i := range n {
		var routes []*url.URL
		for j, p := range ports {
			if j != i {
				routes = append(routes, &url.URL{Scheme: "nats-route", Host: fmt.Sprintf("127.0.0.1:%d", p)})
			}
		}
		opts := &server.Options{
			ServerName: fmt.Sprintf("loyalty-test-%d", i),
			Host:       "127.0.0.1",
			Port:       -1,
			JetStream:  true,
			StoreDir:   t.TempDir(),
			NoSigs:     true,
			Cluster:    server.ClusterOpts{Name: "loyalty-test", Host: "127.0.0.1", Port: ports[i]},
			Routes:     routes,
		}
		ns, err := server.NewServer(opts)
		if err != nil {
			t.Fatalf("nats server %d: %v", i, err)
		}
		go ns.Start()
		t.Cleanup(ns.Shutdown)
		c.Servers = append(c.Servers, ns)
	}
	for i, ns := range c.Servers {
		if !ns.ReadyForConnections(30 * time.Second) {
			t.Fatalf("nats server %d not ready", i)
		}
	}
	nc, err := nats.Connect(c.URLs())
	if err != nil {
		t.Fatalf("connect to the cluster: %v", err)
	}
	t.Cleanup(nc.Close)
	if c.JS, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	c.Conn = nc
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.JS.AccountInfo(ctx)
		cancel()
		if err == nil {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cluster's JetStream is not ready: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// FreePort is a loopback port free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
