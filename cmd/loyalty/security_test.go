package main_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/domain/simulate"
	"github.com/pointsledger/loyalty/handlers"
	"github.com/pointsledger/loyalty/projections/pgtest"
	"github.com/pointsledger/loyalty/streams"
)

// The engine, an upstream publisher and an operator, each as the NATS user
// deploy/nats/permissions.conf defines, over TLS checked against a CA: the
// pipeline works, upstream can do nothing but publish, and wrong or missing
// settings fail with a message that says what to fix and shows no secret.
func TestLeastPrivilegeNATSUsersOverTLS(t *testing.T) {
	sec := startSecuredNATS(t)
	dir, url, ca, passwords, passwordFile, as := sec.dir, sec.url, sec.ca, sec.passwords, sec.passwordFile, sec.as

	db := pgtest.New(t)
	srv := startServe(t, append(as("engine"), "--database-url", db.URL, "--data-dir", t.TempDir())...)
	mustLoyalty(t, append(as("upstream"), "simulate", "--members", "50", "--days", "30", "--seed", "4", "--start", "2026-01-01", "--quiet")...)
	events, err := simulate.All(simulate.Config{Members: 50, Days: 30, Seed: 4, Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(url, nats.UserInfo("operator", passwords["operator"]), nats.RootCAs(ca), nats.CustomInboxPrefix("_INBOX_operator"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	waitCaughtUp(t, js, db.Pool, uint64(len(events)))
	want, _ := referenceFold(t, events)
	assertMembersEqual(t, db.Pool, want)
	mustLoyalty(t, append(as("operator"), "dlq", "list")...)
	mustLoyalty(t, append(as("operator"), "ledger", "quarantined")...)

	// A till, as upstream, asks the engine's service for a balance.
	till, err := nats.Connect(url, nats.UserInfo("upstream", passwords["upstream"]), nats.RootCAs(ca), nats.CustomInboxPrefix("_INBOX_upstream"))
	if err != nil {
		t.Fatal(err)
	}
	defer till.Close()
	member := ""
	for id, m := range want {
		if m.Available() >= 100 && (member == "" || id < member) {
			member = id
		}
	}
	reply, err := till.Request(handlers.BalanceSubject, []byte(`{"member_id":`+strconv.Quote(member)+`}`), 10*time.Second)
	if err != nil {
		t.Fatalf("balance request as upstream: %v", err)
	}
	var balance handlers.BalanceReply
	if err := json.Unmarshal(reply.Data, &balance); err != nil || balance.MemberID != member || balance.Balance != want[member].Balance {
		t.Errorf("balance reply %s (%v); want %d points of %s", reply.Data, err, want[member].Balance, member)
	}
	// and redeems 100 of them: the engine publishes the request as its input.
	reply, err = till.Request(handlers.RedeemSubject, []byte(`{"member_id":`+strconv.Quote(member)+`,"request_id":"till-1","points":100}`), 10*time.Second)
	if err != nil {
		t.Fatalf("redeem request as upstream: %v", err)
	}
	var redeemed handlers.RedeemReply
	if err := json.Unmarshal(reply.Data, &redeemed); err != nil || redeemed.Status != "accepted" || redeemed.Balance != want[member].Balance-100 {
		t.Errorf("redeem reply %s (%v); want 100 points accepted of %d", reply.Data, err, want[member].Balance)
	}

	// Upstream may not read the streams, nor others' replies.
	if _, errOut, err := loyalty(t, append(as("upstream"), "dlq", "list")...); err == nil || !strings.Contains(strings.ToLower(errOut), "permission") {
		t.Errorf("dlq list as upstream: err %v, stderr %q", err, errOut)
	}
	snoop, err := nats.Connect(url, nats.UserInfo("upstream", passwords["upstream"]), nats.RootCAs(ca), nats.CustomInboxPrefix("_INBOX_upstream"))
	if err != nil {
		t.Fatal(err)
	}
	defer snoop.Close()
	denied := make(chan error, 1)
	snoop.SetErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { denied <- err })
	if _, err := snoop.SubscribeSync("_INBOX_engine.>"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-denied:
		if !strings.Contains(strings.ToLower(err.Error()), "permission") {
			t.Errorf("subscribing to the engine's inbox as upstream: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("upstream could subscribe to the engine's inboxes")
	}
	// Upstream publishes its own input, but none that only the engine makes:
	// a stock answer of its own would grant its held redemption, a clock
	// event expire points.
	engineOnly := map[domain.EventType]bool{domain.TypeMemberClock: true, domain.TypeTransferIn: true,
		domain.TypeReferralReward: true, domain.TypeStockRequest: true, domain.TypeStockAnswer: true,
		domain.TypeAdjustment: true, domain.TypeRedemptionCancel: true, domain.TypeVoucherUse: true, domain.TypeMemberScored: true}
	var allowed, forbidden []string
	for _, typ := range domain.EventTypes {
		subject, err := streams.InputSubject(typ, "permission-check")
		if err != nil {
			t.Fatal(err)
		}
		if engineOnly[typ] != domain.MadeByEngine(typ) {
			t.Errorf("%s: engine-only here %v, domain.MadeByEngine %v", typ, engineOnly[typ], domain.MadeByEngine(typ))
		}
		// An erasure is the privacy team's (loyalty member erase), never a till's.
		if engineOnly[typ] || typ == domain.TypeErasure {
			forbidden = append(forbidden, subject)
		} else {
			allowed = append(allowed, subject)
		}
	}
	// Nor the subjects on which one engine forwards a request to the owner
	// of the member's partition.
	// nor the back office's part of the service.
	forbidden = append(forbidden, "loyalty.svc.p.00.redeem", "loyalty.svc.p.63.balance", handlers.AdjustSubject, handlers.CancelSubject)
	forger, err := nats.Connect(url, nats.UserInfo("upstream", passwords["upstream"]), nats.RootCAs(ca), nats.CustomInboxPrefix("_INBOX_upstream"))
	if err != nil {
		t.Fatal(err)
	}
	defer forger.Close()
	refusals := make(chan error, len(domain.EventTypes))
	forger.SetErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { refusals <- err })
	// The allowed first: the server answers in order, so once the refusals of
	// the forbidden are in, any refusal of an allowed subject is in too.
	for _, subject := range append(append([]string{}, allowed...), forbidden...) {
		if err := forger.Publish(subject, []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	if err := forger.Flush(); err != nil {
		t.Fatal(err)
	}
	refused := map[string]bool{}
	allRefused := func() bool {
		for _, subject := range forbidden {
			if !refused[subject] {
				return false
			}
		}
		return true
	}
	deadline := time.After(5 * time.Second)
waitRefusals:
	for !allRefused() {
		select {
		case err := <-refusals:
			if !errors.Is(err, nats.ErrPermissionViolation) {
				t.Errorf("publishing input as upstream: %v", err)
				continue
			}
			for _, subject := range append(append([]string{}, allowed...), forbidden...) {
				if strings.Contains(err.Error(), strconv.Quote(subject)) {
					refused[subject] = true
				}
			}
		case <-deadline:
			break waitRefusals
		}
	}
	for _, subject := range forbidden {
		if !refused[subject] {
			t.Errorf("upstream may publish %s, input only the engine makes", subject)
		}
	}
	for _, subject := range allowed {
		if refused[subject] {
			t.Errorf("upstream may not publish %s, its own input", subject)
		}
	}
	// A wrong password, no CA, a password without a user.
	wrong := filepath.Join(dir, "wrong")
	if err := os.WriteFile(wrong, []byte("not-it"), 0o600); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		args []string
		want string
	}{
		{[]string{"--nats-url", url, "--nats-user", "engine", "--nats-password-file", wrong, "--nats-tls-ca", ca}, "--nats-user"},
		{[]string{"--nats-url", url, "--nats-user", "engine", "--nats-password-file", passwordFile["engine"]}, "certificate"},
		{[]string{"--nats-url", url, "--nats-password-file", passwordFile["engine"], "--nats-tls-ca", ca}, "without --nats-user"},
		{[]string{"--nats-url", url, "--nats-user", "engine", "--nats-tls-ca", ca}, "LOYALTY_NATS_PASSWORD"},
	}
	for _, c := range checks {
		_, errOut, err := loyalty(t, append(c.args, "dlq", "list")...)
		if err == nil || !strings.Contains(errOut, c.want) {
			t.Errorf("loyalty %v: err %v, stderr %q, want it to mention %q", c.args, err, errOut, c.want)
		}
		for _, pw := range passwords {
			if strings.Contains(errOut, pw) {
				t.Errorf("loyalty %v printed a password: %q", c.args, errOut)
			}
		}
	}
	if strings.Contains(srv.log.String(), passwords["engine"]) {
		t.Error("serve logged its NATS password")
	}
	srv.stop(t)
}

// securedNATS is the real server with deploy/nats/permissions.conf and TLS,
// and what its users need to connect.
type securedNATS struct {
	dir, url, ca string
	passwords    map[string]string // by user
	passwordFile map[string]string // by user
}

// as is the loyalty command's flags connecting as user.
func (s securedNATS) as(user string) []string {
	return []string{"--nats-url", s.url, "--nats-user", user, "--nats-password-file", s.passwordFile[user], "--nats-tls-ca", s.ca,
		"--nats-inbox-prefix", "_INBOX_" + user}
}

// connect connects as user, with the user's own inbox prefix.
func (s securedNATS) connect(t *testing.T, user string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(s.url, nats.UserInfo(user, s.passwords[user]), nats.RootCAs(s.ca), nats.CustomInboxPrefix("_INBOX_"+user))
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// jetStream connects as user (see connect) and returns the JetStream API
// on that connection.
func (s securedNATS) jetStream(t *testing.T, user string) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(s.connect(t, user))
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// startSecuredNATS runs the real server with deploy/nats/permissions.conf
// and TLS checked against a CA of the test's own.
func startSecuredNATS(t *testing.T) securedNATS {
	t.Helper()
	s := securedNATS{dir: t.TempDir(), passwords: map[string]string{"upstream": "up-s3cret", "engine": "eng-s3cret", "operator": "op-s3cret",
		"backoffice": "bo-s3cret"},
		passwordFile: map[string]string{}}
	for user, pw := range s.passwords {
		t.Setenv("LOYALTY_"+strings.ToUpper(user)+"_PASSWORD", pw)
		s.passwordFile[user] = filepath.Join(s.dir, user+".password")
		if err := os.WriteFile(s.passwordFile[user], []byte(pw+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var cert tls.Certificate
	s.ca, cert = testCertificates(t, s.dir)
	opts, err := natsserver.ProcessConfigFile(filepath.Join("..", "..", "deploy", "nats", "permissions.conf"))
	if err != nil {
		t.Fatalf("deploy/nats/permissions.conf: %v", err)
	}
	opts.Host, opts.Port, opts.NoSigs = "127.0.0.1", -1, true
	opts.JetStream, opts.StoreDir = true, t.TempDir()
	opts.TLS, opts.TLSConfig = true, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	ns, err := natsserver.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("secured NATS server not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	s.url = ns.ClientURL()
	return s
}

// testCertificates makes a CA (written to dir, its path returned) and a
// server certificate for 127.0.0.1 signed by it.
func testCertificates(t *testing.T, dir string) (caFile string, cert tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "loyalty test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644); err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return caFile, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// A password on the command line is refused: others can read it there.
func TestPasswordsInURLFlagsAreRefused(t *testing.T) {
	for _, args := range [][]string{
		{"member", "show", "x", "--database-url", "postgres://engine:hunter2@127.0.0.1:5432/loyalty"},
		{"dlq", "list", "--nats-url", "nats://engine:hunter2@127.0.0.1:4222"},
		{"dlq", "list", "--nats-url", "hunter2@127.0.0.1:4222"},
		{"dlq", "list", "--nats-url", "nats://a:4222,engine:hunter2@b:4222"},
		{"member", "show", "x", "--database-url", "host=127.0.0.1 user=engine password=hunter2"},
		{"member", "show", "x", "--database-url", "postgres://engine@127.0.0.1/loyalty?password=hunter2"},
	} {
		_, errOut, err := loyalty(t, args...)
		if err == nil || !strings.Contains(errOut, "process list") || strings.Contains(errOut, "hunter2") {
			t.Errorf("loyalty %v: err %v, stderr %q", args, err, errOut)
		}
	}
}

// The back office and the tills, each as the NATS user
// deploy/nats/permissions.conf defines: the back office adjusts points and
// cancels redemptions through `loyalty member`, and may do nothing else; a
// till may redeem but not adjust or cancel.
func TestBackOfficeAndTillRoles(t *testing.T) {
	sec := startSecuredNATS(t)
	db := pgtest.New(t)
	srv := startServe(t, append(sec.as("engine"), "--database-url", db.URL, "--data-dir", t.TempDir())...)
	const member = "role-member"
	at := time.Now().UTC().Add(-time.Hour)
	upstream := sec.jetStream(t, "upstream")
	for _, e := range []domain.Event{
		{ID: "role-enrol", Type: domain.TypeMemberEnrolled, Source: "roles", MemberID: member, OccurredAt: at, Body: domain.Enrolment{Channel: "app"}},
		{ID: "role-buy", Type: domain.TypePurchaseCompleted, Source: "roles", MemberID: member, OccurredAt: at,
			Body: domain.Purchase{OrderID: "o-1", Total: domain.Money{Minor: 100_00, Currency: "EUR"}}},
	} {
		subject, err := streams.InputSubject(e.Type, e.MemberID)
		if err != nil {
			t.Fatal(err)
		}
		data, err := streams.EncodeEvent(e)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := upstream.Publish(context.Background(), subject, data, jetstream.WithMsgID(e.ID)); err != nil {
			t.Fatalf("publish as upstream: %v", err)
		}
	}
	// A till redeems (300 points: 100 base, 200 first-purchase bonus).
	till := sec.connect(t, "upstream")
	waitForAnswer := func(nc *nats.Conn, subject, request string) []byte {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			msg, err := nc.Request(subject, []byte(request), 5*time.Second)
			if err == nil && msg.Header.Get("Nats-Service-Error-Code") == "" {
				return msg.Data
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s %s: %v %v", subject, request, err, msg)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitForAnswer(till, handlers.RedeemSubject, `{"member_id":"role-member","request_id":"till-1","points":100}`)

	// The back office adjusts and cancels.
	bo := sec.as("backoffice")
	if out := mustLoyalty(t, append(bo, "member", "adjust", member, "--points", "50", "--reason", "goodwill", "--operator", "agent-7")...); !strings.Contains(out, "accepted") {
		t.Errorf("member adjust as the back office:\n%s", out)
	}
	if out := mustLoyalty(t, append(bo, "member", "cancel-redemption", member, "till-1", "--reason", "till_error", "--operator", "agent-7")...); !strings.Contains(out, "balance 350") {
		t.Errorf("member cancel-redemption as the back office:\n%s", out)
	}
	// A till checks a voucher code (this one is no one's).
	var checked handlers.VoucherReply
	if err := json.Unmarshal(waitForAnswer(till, handlers.VoucherCheckSubject, `{"code":"2345-6789-ABCD-EFGH"}`), &checked); err != nil || checked.Status != "unknown" {
		t.Errorf("a till's voucher check: %+v %v", checked, err)
	}
	// A till may not adjust or cancel: its request is refused by the server, not answered.
	for _, subject := range []string{handlers.AdjustSubject, handlers.CancelSubject} {
		refused := make(chan error, 1)
		nc := sec.connect(t, "upstream")
		nc.SetErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { refused <- err })
		if msg, err := nc.Request(subject, []byte(`{"member_id":"role-member","request_id":"x","points":5000,"reason_code":"a","operator_id":"b"}`), 2*time.Second); err == nil {
			t.Errorf("a till's request on %s was answered: %s", subject, msg.Data)
		}
		select {
		case err := <-refused:
			if !errors.Is(err, nats.ErrPermissionViolation) {
				t.Errorf("a till on %s: %v", subject, err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("a till's request on %s was not refused as a permission violation", subject)
		}
	}
	// The back office may not redeem, publish input, or read the streams.
	office := sec.connect(t, "backoffice")
	refused := make(chan error, 5)
	office.SetErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { refused <- err })
	for _, subject := range []string{handlers.RedeemSubject, handlers.VoucherUseSubject, "loyalty.in.purchase-completed.cm9sZS1tZW1iZXI", "$JS.API.STREAM.LIST"} {
		if err := office.Publish(subject, []byte("{}")); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-refused:
			if !errors.Is(err, nats.ErrPermissionViolation) || !strings.Contains(err.Error(), strconv.Quote(subject)) {
				t.Errorf("the back office publishing on %s: %v", subject, err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("the back office may publish on %s", subject)
		}
	}
	// The ledger holds exactly the till's redemption, the adjustment and the cancellation.
	var balance int64
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := db.Pool.QueryRow(context.Background(), `select points_balance from loyalty.members where member_id = $1`, member).Scan(&balance)
		if err == nil && balance == 350 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("balance %d (%v), want 350: 300 earned, 100 redeemed and back, 50 credited", balance, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Erasure is the operator's: the back office cannot, the operator can,
	// with the users' permissions as they are.
	if out, errOut, err := loyalty(t, append(bo, "member", "erase", member, "--database-url", db.URL)...); err == nil {
		t.Errorf("member erase as the back office succeeded:\n%s", out)
	} else {
		t.Logf("member erase as the back office: %s", errOut)
	}
	out := mustLoyalty(t, append(sec.as("operator"), "member", "erase", member, "--database-url", db.URL)...)
	if !strings.Contains(out, "erased "+member+" as erased:t") {
		t.Errorf("member erase as the operator:\n%s", out)
	}
	if msg, err := till.Request(handlers.BalanceSubject, []byte(`{"member_id":"role-member"}`), 5*time.Second); err != nil || msg.Header.Get("Nats-Service-Error-Code") != "404" {
		t.Errorf("a till's balance of the erased member: %v %v", err, msg)
	}
	srv.stop(t)
}
