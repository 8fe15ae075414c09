//go:build !unix

package pgserver

import (
	"errors"
	"os"
	"os/exec"
)

// Outside Unix there is no root to drop, so these are no-ops; they exist so
// the package builds everywhere the program does.

func runAsAccount() (*account, error) { return nil, nil }

func (a *account) apply(*exec.Cmd) {}

func (a *account) chownTree(string) error { return nil }

func statPerm(string) (dirPerm, error) {
	return dirPerm{}, errors.New("ownership checks are Unix-only")
}

func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	p.Release()
	return true
}
