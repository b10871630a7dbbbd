package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Deadlines for real processes to catch up. Generous: test machines are
// shared and slow; a poll returns as soon as the state is reached.
const (
	readyTimeout   = 60 * time.Second
	stopTimeout    = 30 * time.Second
	stateTimeout   = 10 * time.Second
	connectTimeout = 5 * time.Second
	pollInterval   = 10 * time.Millisecond
)

// errAddrInUse marks a server that exited because its port was taken
// between choosing and binding it.
var errAddrInUse = errors.New("address already in use")

// startProcess starts a server in its own process group with SIGKILL as
// its parent-death signal, writing stdout and stderr to logPath. No
// goroutine is left behind: the log is an *os.File the child inherits.
func startProcess(path string, args []string, dir, logPath string, cred *syscall.Credential, env []string) (*exec.Cmd, error) {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	defer log.Close() // the child holds its own copy
	cmd := exec.Command(path, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout = log
	cmd.Stderr = log
	cmd.SysProcAttr = serverAttr(cred)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", path, err)
	}
	return cmd, nil
}

func serverAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: cred}
}

// procState returns the state letter of /proc/<pid>/stat (R, S, T, Z, ...)
// and the parent PID; ok is false when the process does not exist.
func procState(pid int) (state byte, ppid int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	// The command name in parentheses may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < 2 {
		return 0, 0, false
	}
	ppid, _ = strconv.Atoi(fields[1])
	return fields[0][0], ppid, true
}

// gone reports whether pid has exited (a zombie counts: it runs no more).
func gone(pid int) bool {
	state, _, ok := procState(pid)
	return !ok || state == 'Z' || state == 'X'
}

func stopped(pid int) bool {
	state, _, ok := procState(pid)
	return ok && (state == 'T' || state == 't')
}

// descendants returns every live process below pid, parents before children.
func descendants(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if _, ppid, ok := procState(p); ok {
			children[ppid] = append(children[ppid], p)
		}
	}
	var out []int
	queue := children[pid]
	for len(queue) > 0 {
		p := queue[0]
		queue = append(queue[1:], children[p]...)
		out = append(out, p)
	}
	return out
}

// signalAll sends sig to each pid, ignoring processes that already exited.
func signalAll(pids []int, sig syscall.Signal) {
	for _, p := range pids {
		_ = syscall.Kill(p, sig)
	}
}

// pollUntil calls cond until it returns true or ctx ends.
func pollUntil(ctx context.Context, cond func() bool) error {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// waitStates waits until every pid still alive is stopped (want true) or
// running (want false).
func waitStates(pids []int, want bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), stateTimeout)
	defer cancel()
	err := pollUntil(ctx, func() bool {
		for _, p := range pids {
			if !gone(p) && stopped(p) != want {
				return false
			}
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("wait for processes %v to be stopped=%v: %w", pids, want, err)
	}
	return nil
}

// stopProcess resumes cmd's process and the given others, sends sig, waits
// for the exit and reaps it; after stopTimeout it sends SIGKILL to all of them.
func stopProcess(cmd *exec.Cmd, sig syscall.Signal, others []int) error {
	pid := cmd.Process.Pid
	signalAll(append(others, pid), syscall.SIGCONT)
	_ = cmd.Process.Signal(sig)
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	var err error
	if pollUntil(ctx, func() bool { return gone(pid) }) != nil {
		err = fmt.Errorf("process %d ignored %v for %v; killed it", pid, sig, stopTimeout)
		signalAll(append(others, pid), syscall.SIGKILL)
	}
	_ = cmd.Wait() // reaps; the exit status of a stopped server says nothing
	return err
}

// exitedEarly reaps a server that died while starting and describes why,
// quoting the end of its log.
func exitedEarly(cmd *exec.Cmd, what, logPath string) error {
	werr := cmd.Wait()
	tail := logTail(logPath)
	if strings.Contains(tail, "Address already in use") {
		return fmt.Errorf("%s exited (%v): %w", what, werr, errAddrInUse)
	}
	return fmt.Errorf("%s exited while starting (%v); end of %s:\n%s", what, werr, filepath.Base(logPath), tail)
}

// logTail returns the last lines of a log file for error messages.
func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return strings.Join(lines, "\n")
}
