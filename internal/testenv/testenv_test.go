package testenv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestMain(m *testing.M) { Main(m) }

// recordingTB records what Require asks of a test instead of ending it.
type recordingTB struct {
	testing.TB
	fatal, skip string
}

func (r *recordingTB) Helper()                        {}
func (r *recordingTB) Fatalf(format string, a ...any) { r.fatal = fmt.Sprintf(format, a...) }
func (r *recordingTB) Skipf(format string, a ...any)  { r.skip = fmt.Sprintf(format, a...) }

func TestRequire(t *testing.T) {
	missing := errors.New("no such thing")
	tests := []struct {
		name      string
		ci        string
		err       error
		wantFatal bool
		wantSkip  bool
	}{
		{name: "present under CI", ci: "true", err: nil},
		{name: "present locally", ci: "", err: nil},
		{name: "missing under CI", ci: "true", err: missing, wantFatal: true},
		{name: "missing under CI=1", ci: "1", err: missing, wantFatal: true},
		{name: "missing locally", ci: "", err: missing, wantSkip: true},
		{name: "missing with CI=false", ci: "false", err: missing, wantSkip: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("CI", tt.ci)
			rec := &recordingTB{TB: t}
			Require(rec, "widget", tt.err)
			if got := rec.fatal != ""; got != tt.wantFatal {
				t.Errorf("failed = %v (%q), want %v", got, rec.fatal, tt.wantFatal)
			}
			if got := rec.skip != ""; got != tt.wantSkip {
				t.Errorf("skipped = %v (%q), want %v", got, rec.skip, tt.wantSkip)
			}
			for _, msg := range []string{rec.fatal, rec.skip} {
				if msg != "" && !(strings.Contains(msg, "widget") && strings.Contains(msg, "no such thing")) {
					t.Errorf("message %q does not name what is missing and why", msg)
				}
			}
		})
	}
}

func TestLookPathSearchesKnownDirs(t *testing.T) {
	first, second := t.TempDir(), t.TempDir()
	write := func(dir, name string, mode os.FileMode) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	write(first, "he-tool-a", 0o644) // not executable: passed over
	write(second, "he-tool-a", 0o755)
	write(first, "he-tool-b", 0o755)

	tests := []struct {
		name string
		want string
	}{
		{name: "he-tool-a", want: filepath.Join(second, "he-tool-a")},
		{name: "he-tool-b", want: filepath.Join(first, "he-tool-b")},
		{name: "sh", want: mustLookPath(t, "sh")},
	}
	for _, tt := range tests {
		got, err := lookPathIn(tt.name, []string{first, second})
		if err != nil || got != tt.want {
			t.Errorf("lookPathIn(%q) = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
	if _, err := lookPathIn("he-tool-c", []string{first, second}); !errors.Is(err, exec.ErrNotFound) {
		t.Errorf("lookPathIn(missing) error = %v, want exec.ErrNotFound", err)
	}
}

func mustLookPath(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestKnownDirsPutsNewestPostgresFirst(t *testing.T) {
	if got := pgMajor("/usr/lib/postgresql/15/bin"); got != 15 {
		t.Errorf("pgMajor = %d, want 15", got)
	}
	if got := pgMajor("/usr/lib/postgresql/x/bin"); got != -1 {
		t.Errorf("pgMajor of a non-version = %d, want -1", got)
	}
	dirs := knownDirs()
	last := 1 << 30
	for _, d := range dirs {
		if !strings.HasPrefix(d, "/usr/lib/postgresql/") {
			continue
		}
		if v := pgMajor(d); v > last {
			t.Errorf("knownDirs() = %v: version %d after %d", dirs, v, last)
		}
		last = pgMajor(d)
	}
}

func TestFreePortIsBindable(t *testing.T) {
	port := FreePort(t)
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("listen on the free port %d: %v", port, err)
	}
	l.Close()
}

func TestProcState(t *testing.T) {
	state, ppid, ok := procState(os.Getpid())
	if !ok || ppid != os.Getppid() || state == 'Z' {
		t.Errorf("procState(self) = %q, %d, %v; want running, parent %d", state, ppid, ok, os.Getppid())
	}
	if !gone(1 << 30) {
		t.Error("gone(no such pid) = false")
	}
}
