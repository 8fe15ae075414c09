package main_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/projections/pgtest"
	"github.com/pointsledger/loyalty/streams"
	"github.com/pointsledger/loyalty/streams/natstest"
)

// BenchmarkServeRestart measures what a restart costs a large programme:
// LOYALTY_BENCH_MEMBERS members (default 1,000,000), each enrolled and with
// one purchase, are handled by serve; serve is stopped and started again on
// the same data directory, and the benchmark reports the seconds from the
// start until the service answers a balance, and the serve process's peak
// resident memory (VmHWM) at that moment. NATS runs in the benchmark's
// process and PostgreSQL is the machine's, so the memory is serve's own.
func BenchmarkServeRestart(b *testing.B) {
	members := 1_000_000
	if s := os.Getenv("LOYALTY_BENCH_MEMBERS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("LOYALTY_BENCH_MEMBERS=%q: want a positive number", s)
		}
		members = n
	}
	env := natstest.Start(b)
	db := pgtest.New(b)
	args := []string{"--nats-url", env.Server.ClientURL(), "--database-url", db.URL, "--data-dir", b.TempDir()}
	srv := startServe(b, args...)
	start := time.Now()
	publishMembers(b, env, members)
	b.Logf("%d members' events published in %s", members, time.Since(start).Round(time.Second))
	waitEngineSettledWithin(b, env.JS, time.Duration(members/500+60)*time.Second)
	b.Logf("serve handled them %s after the first publish", time.Since(start).Round(time.Second))
	srv.stop(b)

	for b.Loop() {
		// A clean restart, then one after a kill -9 (no snapshot at stop,
		// no saved key filter).
		srv = measureStart(b, env, args, members, "")
		srv.stop(b)
		srv = startServe(b, args...)
		serviceBalance(b, env.Conn, memberName(members-1), 10*time.Minute)
		srv.kill(b)
		srv = measureStart(b, env, args, members, "-after-kill")
		srv.stop(b)
	}
}

// measureStart starts serve and reports the seconds until the service
// answers a balance, and serve's peak resident memory then.
func measureStart(b *testing.B, env *natstest.Env, args []string, members int, suffix string) *server {
	start := time.Now()
	srv := startServe(b, args...)
	reply := serviceBalance(b, env.Conn, memberName(members-1), 10*time.Minute)
	took := time.Since(start)
	if reply.Balance <= 0 {
		b.Fatalf("member %s has balance %d: the state was not rebuilt", reply.MemberID, reply.Balance)
	}
	hwm := vmHWM(b, srv.cmd.Process.Pid)
	b.ReportMetric(took.Seconds(), "s-to-first-answer"+suffix)
	b.ReportMetric(float64(hwm)/(1<<20), "MiB-peak-rss"+suffix)
	// NATS runs in this process: its heap is what an embedded server
	// would add to serve's.
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "MiB-nats-heap"+suffix)
	b.Logf("%d members: the service answered %s after the start%s, serve's peak RSS %d MiB", members, took.Round(time.Millisecond), suffix, hwm>>20)
	for _, line := range strings.Split(srv.log.String(), "\n") {
		if strings.Contains(line, "key index") || strings.Contains(line, "state rebuilt") {
			b.Log(line)
		}
	}
	return srv
}

func memberName(i int) string { return fmt.Sprintf("bench-%07d", i) }

// publishMembers publishes an enrolment and a purchase for each member.
func publishMembers(b *testing.B, env *natstest.Env, members int) {
	ctx := context.Background()
	pub := streams.NewPublisher(env.JS, nil)
	at := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	for i := range members {
		id := memberName(i)
		for _, e := range []domain.Event{
			{ID: id + "-enrol", Type: domain.TypeMemberEnrolled, Source: "bench", MemberID: id, OccurredAt: at, Body: domain.Enrolment{Channel: "app"}},
			{ID: id + "-buy", Type: domain.TypePurchaseCompleted, Source: "bench", MemberID: id, OccurredAt: at.Add(time.Hour),
				Body: domain.Purchase{OrderID: "o-" + id, Total: domain.Money{Minor: 25_00, Currency: "EUR"}, Channel: "web"}},
		} {
			if err := pub.Publish(ctx, e); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := pub.Wait(ctx); err != nil {
		b.Fatal(err)
	}
}

// vmHWM is a process's peak resident set size in bytes.
func vmHWM(b *testing.B, pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb << 10
		}
	}
	b.Fatal("no VmHWM in /proc status")
	return 0
}
