// Package testenv gives tests real services on 127.0.0.1: private Redis and
// PostgreSQL servers a test starts, pauses and stops (StartRedis,
// StartPostgres), servers shared by all tests of a test binary
// (SharedRedis, SharedPostgres), and the tools tests drive (Binary).
//
// A test whose service is missing fails when the environment variable CI is
// true and is skipped otherwise; see Require.
//
// Server directories go to /dev/shm when it is a roomy tmpfs, else to the
// temporary directory. Private PostgreSQL clusters are copies of one
// template cluster that the first of them initdb's, so after the first they
// start in a few hundred milliseconds.
//
// No server outlives the test binary. Each runs in its own process group (a
// Ctrl-C of go test reaches only the test binary), is stopped by PID and
// waited for in t.Cleanup (which also runs when a test panics), and is
// started with a parent-death signal, so the kernel kills it when the test
// binary dies. A small /bin/sh watchdog per server directory covers what
// that signal cannot: when the test binary is gone it kills every process
// still working in the directory (stopped PostgreSQL backends among them)
// and removes it. Shared servers and the template are stopped and removed
// by Main (or StopShared) after the tests, else by the same machinery when
// the binary exits.
package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
)

// InCI reports whether the environment variable CI holds a true value
// ("true", "1", ...), the mark of a machine where every service must exist.
func InCI() bool {
	ci, err := strconv.ParseBool(os.Getenv("CI"))
	return err == nil && ci
}

// Require does nothing when err is nil. Otherwise it fails the test when CI
// is true (services must exist in CI) and skips it elsewhere, naming what is
// missing and why.
func Require(t testing.TB, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if InCI() {
		t.Fatalf("%s is required (CI=true): %v", what, err)
		return
	}
	t.Skipf("%s is unavailable (set CI=true to fail instead): %v", what, err)
}

// Binary returns the path of the executable name, looked up in PATH and then
// in the directories Debian packages put server binaries in
// (/usr/lib/postgresql/<version>/bin, newest first, /usr/sbin, ...). A
// missing executable goes through Require.
func Binary(t testing.TB, name string) string {
	t.Helper()
	path, err := LookPath(name)
	Require(t, name, err)
	return path
}

// LookPath is Binary without a test: the path of the executable name, or an
// error matching exec.ErrNotFound.
func LookPath(name string) (string, error) {
	return lookPathIn(name, knownDirs())
}

func lookPathIn(name string, dirs []string) (string, error) {
	if path, err := exec.LookPath(name); err == nil {
		return path, nil
	}
	for _, dir := range dirs {
		path := filepath.Join(dir, name)
		if isExecutable(path) {
			return path, nil
		}
	}
	return "", fmt.Errorf("look up %q in PATH and %v: %w", name, dirs, exec.ErrNotFound)
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// knownDirs lists where Debian installs binaries that are not in a default
// PATH: PostgreSQL's server tools per major version, newest first, and the
// sbin directories a non-login root shell may lack.
func knownDirs() []string {
	pg, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(pg, func(i, j int) bool { return pgMajor(pg[i]) > pgMajor(pg[j]) })
	return append(pg, "/usr/sbin", "/usr/local/sbin", "/sbin", "/usr/local/bin", "/usr/local/go/bin")
}

// pgMajor returns the version in /usr/lib/postgresql/<version>/bin, or -1.
func pgMajor(binDir string) int {
	v, err := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	if err != nil {
		return -1
	}
	return v
}

// errNotReady marks a server that has not answered yet; readiness polls retry it.
var errNotReady = errors.New("not ready")
