package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
)

// Redis is a redis-server listening on 127.0.0.1. A private one (StartRedis)
// belongs to one test; a shared one (SharedRedis) cannot be paused, stopped
// or started.
type Redis struct {
	mu sync.Mutex // guards the fields below Dir

	// Addr is the server's host:port, 127.0.0.1 and a free port.
	Addr string
	// Port is the port part of Addr.
	Port int
	// Dir is the server's working directory, where RDB and AOF files land
	// when extra arguments turn persistence on. Empty for an external server.
	Dir string

	tb     testing.TB // fails the owning test when Start cannot restart the server
	shared bool
	bin    string
	args   []string
	cmd    *exec.Cmd // nil while stopped
	dog    *watchdog
}

// StartRedis starts a private redis-server on a free 127.0.0.1 port with
// its data in a fresh directory and persistence off. extraArgs are
// redis-server command-line options appended last, so they win, e.g.
// "--appendonly", "yes" or "--maxmemory", "1mb". It returns once the server
// answers PING; t.Cleanup stops it (resuming it first if paused) and removes
// its directory. A missing redis-server goes through Require.
func StartRedis(t testing.TB, extraArgs ...string) *Redis {
	t.Helper()
	bin := Binary(t, "redis-server")
	r, err := startRedis(t.Context(), bin, extraArgs)
	if err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	r.tb = t
	t.Cleanup(r.close)
	return r
}

// RedisServer is StartRedis without extra arguments.
func RedisServer(t testing.TB) *Redis {
	t.Helper()
	return StartRedis(t)
}

func startRedis(ctx context.Context, bin string, extraArgs []string) (*Redis, error) {
	dir, dog, err := newServerDir("redis", nil)
	if err != nil {
		return nil, err
	}
	r := &Redis{Dir: dir, bin: bin, args: extraArgs, dog: dog}
	for attempt := 0; ; attempt++ {
		if r.Port, err = freePort(); err != nil {
			break
		}
		r.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(r.Port))
		if err = r.launch(ctx); err == nil || !errors.Is(err, errAddrInUse) || attempt == 2 {
			break
		}
	}
	if err != nil {
		_ = dog.release()
		return nil, err
	}
	return r, nil
}

// launch starts redis-server on r.Port and waits until it answers PING.
func (r *Redis) launch(ctx context.Context) error {
	args := append([]string{
		"--port", strconv.Itoa(r.Port),
		"--bind", "127.0.0.1",
		"--dir", r.Dir,
		"--save", "",
		"--appendonly", "no",
		"--daemonize", "no",
	}, r.args...)
	logPath := filepath.Join(r.Dir, "redis.log")
	cmd, err := startProcess(r.bin, args, r.Dir, logPath, nil, os.Environ())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	var early error
	err = pollUntil(ctx, func() bool {
		if gone(cmd.Process.Pid) {
			early = exitedEarly(cmd, "redis-server", logPath)
			return true
		}
		attempt, cancel := context.WithTimeout(ctx, connectTimeout)
		defer cancel()
		return redisPing(attempt, r.Addr) == nil
	})
	switch {
	case early != nil:
		return early
	case err != nil:
		_ = stopProcess(cmd, syscall.SIGKILL, nil)
		return fmt.Errorf("redis-server on %s did not answer PING in %v: %w\n%s", r.Addr, readyTimeout, err, logTail(logPath))
	}
	r.cmd = cmd
	return nil
}

// Pause stops the server with SIGSTOP: connections stay open and every
// request hangs until Resume. It returns once the process is stopped.
func (r *Redis) Pause() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mustOwn("Pause")
	pid := r.cmd.Process.Pid
	signalAll([]int{pid}, syscall.SIGSTOP)
	if err := waitStates([]int{pid}, true); err != nil {
		r.tb.Fatalf("pause redis-server: %v", err)
	}
}

// Resume continues a paused server with SIGCONT.
func (r *Redis) Resume() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mustOwn("Resume")
	pid := r.cmd.Process.Pid
	signalAll([]int{pid}, syscall.SIGCONT)
	if err := waitStates([]int{pid}, false); err != nil {
		r.tb.Fatalf("resume redis-server: %v", err)
	}
}

// Stop terminates the server (SIGTERM, resuming it first if paused) and
// waits for it to exit. Clients then get "connection refused".
func (r *Redis) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mustOwn("Stop")
	if err := r.stop(); err != nil {
		r.tb.Errorf("stop redis-server: %v", err)
	}
}

// Start starts a stopped server again on the same port and directory and
// waits until it answers PING. Call it from the test's goroutine.
func (r *Redis) Start() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.shared {
		panic("testenv: Start on a shared Redis; use StartRedis for a private one")
	}
	r.tb.Helper()
	if r.cmd != nil {
		r.tb.Fatalf("start redis-server on %s: already running", r.Addr)
	}
	if err := r.launch(context.Background()); err != nil {
		r.tb.Fatalf("restart redis-server on %s: %v", r.Addr, err)
	}
}

// PID returns the server's process ID, 0 while it is stopped or when it is
// not a process of this test binary.
func (r *Redis) PID() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return 0
	}
	return r.cmd.Process.Pid
}

// mustOwn panics on a shared server and fails the test on a stopped one.
func (r *Redis) mustOwn(op string) {
	if r.shared {
		panic("testenv: " + op + " on a shared Redis; use StartRedis for a private one")
	}
	if r.cmd == nil {
		r.tb.Fatalf("%s redis-server on %s: it is stopped", op, r.Addr)
	}
}

func (r *Redis) stop() error {
	if r.cmd == nil {
		return nil
	}
	err := stopProcess(r.cmd, syscall.SIGTERM, nil)
	r.cmd = nil
	return err
}

// close stops the server and removes its directory.
func (r *Redis) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	err := r.stop()
	if r.dog != nil {
		err = errors.Join(err, r.dog.release())
		r.dog = nil
	}
	if err != nil && r.tb != nil {
		r.tb.Errorf("stop redis-server: %v", err)
	}
}
