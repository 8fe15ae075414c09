//go:build unix

package pgserver

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// runAsAccount returns nil when we are not root, and otherwise the user to
// run PostgreSQL as: "postgres" where a distribution created it, else
// "nobody", which exists everywhere.
func runAsAccount() (*account, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil || uid == 0 {
			continue
		}
		return &account{name: name, uid: uint32(uid), gid: uint32(gid)}, nil
	}
	return nil, errors.New("running as root, but neither a postgres nor a nobody user exists to run PostgreSQL as (it refuses root); create a postgres user or run as an ordinary user")
}

// apply makes cmd run as a, with no supplementary groups.
func (a *account) apply(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: a.uid, Gid: a.gid}}
}

// chownTree gives root and everything under it to a. It walks only when
// root itself belongs to someone else, so a cluster that is already right
// costs one stat per start.
func (a *account) chownTree(root string) error {
	if perm, err := statPerm(root); err == nil && perm.uid == a.uid && perm.gid == a.gid {
		return nil
	}
	return filepath.WalkDir(root, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, int(a.uid), int(a.gid))
	})
}

func statPerm(path string) (dirPerm, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return dirPerm{}, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return dirPerm{}, fmt.Errorf("no ownership information for %s", path)
	}
	return dirPerm{mode: fi.Mode(), uid: st.Uid, gid: st.Gid}, nil
}

// processAlive reports whether pid exists; EPERM means it does but belongs
// to another user.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
