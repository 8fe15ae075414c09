package pgserver

import (
	"fmt"
	"io/fs"
	"path/filepath"
)

// account is the unprivileged user PostgreSQL runs as when we are root:
// initdb, pg_ctl and postgres all refuse to run as root, because a
// compromised server process would otherwise own the whole machine.
type account struct {
	name     string
	uid, gid uint32
}

// dirPerm is the part of a directory's metadata that decides whether a user
// may enter it.
type dirPerm struct {
	mode     fs.FileMode
	uid, gid uint32
}

// canEnter applies the POSIX rule: the owner bits alone count for the
// owner, the group bits alone for the group, the other bits for everyone
// else. ACLs are ignored; they are rare on the paths people pick here.
func (a *account) canEnter(p dirPerm) bool {
	switch {
	case a.uid == p.uid:
		return p.mode&0o100 != 0
	case a.gid == p.gid:
		return p.mode&0o010 != 0
	default:
		return p.mode&0o001 != 0
	}
}

// checkReachable returns an error naming the outermost directory on the way
// to dir (dir included) that a cannot enter. Without this, initdb fails deep
// inside with a bare "permission denied"; the common case is a data dir
// under /root, which is mode 0700.
func checkReachable(dir string, a *account, stat func(string) (dirPerm, error)) error {
	var chain []string
	for p := filepath.Clean(dir); ; p = filepath.Dir(p) {
		chain = append(chain, p)
		if filepath.Dir(p) == p {
			break
		}
	}
	for i := len(chain) - 1; i >= 0; i-- {
		perm, err := stat(chain[i])
		if err != nil {
			return fmt.Errorf("check that user %s can reach %s: %w", a.name, dir, err)
		}
		if !a.canEnter(perm) {
			return fmt.Errorf("PostgreSQL refuses to run as root, so it runs as user %q, which cannot enter %s (mode %04o, owner uid %d gid %d) on the way to %s; choose a --data-dir that user can reach, such as /var/lib/loyalty or one under /tmp",
				a.name, chain[i], perm.mode.Perm(), perm.uid, perm.gid, dir)
		}
	}
	return nil
}
