package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// watchdogScript blocks on its stdin, a pipe whose only writer is the test
// binary. A clean release writes "done" after removing the directory
// itself. When the pipe closes without it, the test binary died: the script
// kills every process whose working directory lies in $1 and removes $1.
// Server processes run there (redis-server and the postmaster chdir into
// it, PostgreSQL backends inherit it), including stopped ones that the
// parent-death signal does not reach.
const watchdogScript = `
case "$1" in /?*/?*) ;; *) exit 2 ;; esac
if read -r word && [ "$word" = done ]; then exit 0; fi
i=0
while [ "$i" -lt 100 ]; do
	pids=$(find /proc -mindepth 2 -maxdepth 2 -name cwd \( -lname "$1" -o -lname "$1/*" -o -lname "$1 (deleted)" \) 2>/dev/null |
		sed 's|^/proc/||; s|/cwd$||')
	[ -z "$pids" ] && break
	kill -KILL $pids 2>/dev/null
	i=$((i + 1))
	sleep 0.05
done
rm -rf -- "$1"
`

// watchdog owns a server directory: release removes it; if the test binary
// dies first, the script kills whatever still runs in it and removes it.
type watchdog struct {
	cmd  *exec.Cmd
	dir  string
	pipe *os.File // write end; closing it wakes the script
}

// startWatchdog starts the watchdog of dir, which must be an absolute path
// at least two levels deep.
func startWatchdog(dir string) (*watchdog, error) {
	if !filepath.IsAbs(dir) || strings.Count(filepath.Clean(dir), "/") < 2 {
		return nil, fmt.Errorf("watchdog for %q: want an absolute path two levels deep", dir)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("watchdog pipe: %w", err)
	}
	defer r.Close()
	cmd := exec.Command("/bin/sh", "-c", watchdogScript, "testenv-watchdog", filepath.Clean(dir))
	cmd.Dir = "/"
	cmd.Stdin = r
	// Its own process group keeps a Ctrl-C from killing it before it cleans.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return nil, fmt.Errorf("start watchdog: %w", err)
	}
	return &watchdog{cmd: cmd, dir: filepath.Clean(dir), pipe: w}, nil
}

// release removes the directory, whose servers must have stopped, and
// lets the watchdog exit.
func (w *watchdog) release() error {
	err := os.RemoveAll(w.dir)
	if err != nil {
		err = fmt.Errorf("remove %s: %w", w.dir, err)
	} else {
		_, _ = w.pipe.WriteString("done\n")
	}
	w.pipe.Close() // without "done" the script cleans up itself
	_ = w.cmd.Wait()
	return err
}

// newServerDir creates a private directory for a server, owned by cred's
// user when cred is set, with a watchdog guarding it.
func newServerDir(kind string, cred *syscall.Credential) (string, *watchdog, error) {
	dir, err := os.MkdirTemp(serverDirBase(cred), "he-testenv-"+kind+"-")
	if err != nil {
		return "", nil, fmt.Errorf("create %s directory: %w", kind, err)
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			os.RemoveAll(dir)
			return "", nil, fmt.Errorf("hand %s directory to uid %d: %w", kind, cred.Uid, err)
		}
	}
	dog, err := startWatchdog(dir)
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return dir, dog, nil
}

// serverDirBase picks where server directories go: /dev/shm when it is a
// roomy tmpfs (initdb and cluster copies there are many times faster than
// on a slow disk), else os.TempDir, else /tmp when another user (cred)
// could not reach os.TempDir or it is too long for a Unix socket path.
func serverDirBase(cred *syscall.Credential) string {
	const tmpfsMagic = 0x01021994
	var st syscall.Statfs_t
	if syscall.Statfs("/dev/shm", &st) == nil && st.Type == tmpfsMagic &&
		uint64(st.Bavail)*uint64(st.Bsize) >= 1<<30 && reachableByOthers("/dev/shm") {
		return "/dev/shm"
	}
	base := os.TempDir()
	if len(base) > 60 || (cred != nil && !reachableByOthers(base)) {
		return "/tmp"
	}
	return base
}

// reachableByOthers reports whether every directory from / down to dir
// lets other users through.
func reachableByOthers(dir string) bool {
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		if d == "/" {
			return true
		}
	}
}
