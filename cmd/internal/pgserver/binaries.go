package pgserver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// serverTools must all sit in one directory: pg_ctl and initdb find the
// postgres binary next to themselves.
var serverTools = []string{"initdb", "pg_ctl", "postgres"}

// wellKnownBinPatterns are where distributions and Homebrew put server
// binaries without adding them to PATH (Debian and RHEL both do that).
var wellKnownBinPatterns = []string{
	"usr/lib/postgresql/*/bin",
	"usr/pgsql-*/bin",
	"opt/homebrew/opt/postgresql*/bin",
	"usr/local/opt/postgresql*/bin",
}

// findBinaries picks s.bin and returns the PostgreSQL major version there.
// An existing cluster can only be run by its own major version, so when
// there is one the first candidate of that version wins; otherwise the first
// candidate does. With no candidate at all the binaries are downloaded.
func (s *Server) findBinaries(ctx context.Context) (string, error) {
	runtimeBin := filepath.Join(s.dir, "runtime", "bin")
	candidates := binDirCandidates(ctx, "/", runtimeBin)
	if len(candidates) == 0 {
		s.log.Info("no PostgreSQL binaries installed; downloading them", "into", filepath.Dir(runtimeBin))
		bin, err := fetchEmbedded(ctx, s.dir, s.log)
		if err != nil {
			return "", fmt.Errorf("no PostgreSQL server binaries found (looked at pg_config --bindir, initdb and pg_ctl on PATH, %s) and downloading them failed: %w; install PostgreSQL (e.g. `apt-get install postgresql` or `brew install postgresql`) or pass --database-url to use an existing server",
				strings.Join(wellKnownBinPatterns, ", "), err)
		}
		candidates = []string{bin}
	}

	want, err := clusterVersion(s.dataDir)
	if err != nil {
		return "", err
	}
	var seen []string
	for _, dir := range candidates {
		version, err := serverVersion(ctx, dir)
		if err != nil {
			s.log.Warn("skipping unusable PostgreSQL binaries", "bin", dir, "err", err)
			continue
		}
		if want == "" || version == want {
			s.bin = dir
			return version, nil
		}
		seen = append(seen, fmt.Sprintf("%s (%s)", version, dir))
	}
	if want != "" {
		return "", fmt.Errorf("the cluster in %s was created by PostgreSQL %s, but only these binaries were found: %s; install PostgreSQL %s or move the data dir aside",
			s.dataDir, want, strings.Join(seen, ", "), want)
	}
	return "", fmt.Errorf("none of the PostgreSQL binaries found work: %s", strings.Join(candidates, ", "))
}

// binDirCandidates lists directories holding all serverTools, most preferred
// first: what pg_config reports, then initdb/pg_ctl on PATH, then the newest
// well-known install under root, then binaries downloaded by an earlier run.
// root is "/" except in tests, which point it at a fake tree.
func binDirCandidates(ctx context.Context, root, runtimeBin string) []string {
	var dirs []string
	if pgConfig, err := exec.LookPath("pg_config"); err == nil {
		// Debian's libpq-dev pg_config answers /usr/bin, which has no
		// initdb; the hasServerTools filter below drops such answers.
		if out, err := exec.CommandContext(ctx, pgConfig, "--bindir").Output(); err == nil {
			dirs = append(dirs, strings.TrimSpace(string(out)))
		}
	}
	for _, tool := range []string{"initdb", "pg_ctl"} {
		if p, err := exec.LookPath(tool); err == nil {
			// Follow symlinks such as /usr/local/bin/initdb to the real
			// bin dir, where the other tools live.
			if real, err := filepath.EvalSymlinks(p); err == nil {
				p = real
			}
			dirs = append(dirs, filepath.Dir(p))
		}
	}
	dirs = append(dirs, wellKnownBinDirs(root)...)
	dirs = append(dirs, runtimeBin)

	var out []string
	for _, d := range dirs {
		if d == "" {
			continue
		}
		if real, err := filepath.EvalSymlinks(d); err == nil {
			d = real
		}
		if !slices.Contains(out, d) && hasServerTools(d) {
			out = append(out, d)
		}
	}
	return out
}

// wellKnownBinDirs returns the matches of wellKnownBinPatterns under root,
// newest version first. Unversioned ones (Homebrew's plain "postgresql")
// come last because their version is unknown.
func wellKnownBinDirs(root string) []string {
	var dirs []string
	for _, pattern := range wellKnownBinPatterns {
		matches, _ := filepath.Glob(filepath.Join(root, pattern)) // only ErrBadPattern, and ours are fine
		dirs = append(dirs, matches...)
	}
	// slices.Compare on []int orders 9.6 < 13 < 16, and nil before all.
	slices.SortStableFunc(dirs, func(a, b string) int {
		return -slices.Compare(pathVersion(a), pathVersion(b))
	})
	return dirs
}

var versionInName = regexp.MustCompile(`(\d+)(?:\.(\d+))?`)

// pathVersion reads the version from the directory above bin, as in
// /usr/lib/postgresql/15/bin, /usr/pgsql-9.6/bin or postgresql@17/bin.
func pathVersion(bin string) []int {
	m := versionInName.FindStringSubmatch(filepath.Base(filepath.Dir(bin)))
	if m == nil {
		return nil
	}
	v := []int{atoi(m[1])}
	if m[2] != "" {
		v = append(v, atoi(m[2]))
	}
	return v
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func hasServerTools(dir string) bool {
	for _, tool := range serverTools {
		fi, err := os.Stat(filepath.Join(dir, tool))
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			return false
		}
	}
	return true
}

// serverVersion runs `postgres --version` (allowed even as root) and returns
// the major version in PG_VERSION's spelling.
func serverVersion(ctx context.Context, bin string) (string, error) {
	out, err := exec.CommandContext(ctx, filepath.Join(bin, "postgres"), "--version").Output()
	if err != nil {
		return "", fmt.Errorf("postgres --version: %w", err)
	}
	return parseMajorVersion(string(out))
}

var versionOutput = regexp.MustCompile(`\(PostgreSQL\) (\d+)(?:\.(\d+))?`)

// parseMajorVersion turns "postgres (PostgreSQL) 15.13 (Debian ...)" into
// "15" and "... 9.6.24" into "9.6": before 10 the major version had two
// parts, which is also how PG_VERSION spells it.
func parseMajorVersion(out string) (string, error) {
	m := versionOutput.FindStringSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("unrecognised version output %q", strings.TrimSpace(out))
	}
	if atoi(m[1]) < 10 && m[2] != "" {
		return m[1] + "." + m[2], nil
	}
	return m[1], nil
}

// clusterVersion returns the major version in dataDir/PG_VERSION, or "" if
// the cluster has not been created yet.
func clusterVersion(dataDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, "PG_VERSION"))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read cluster version: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}
