package testenv

import (
	"context"
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// redisDo runs one command against r and fails the test on error.
func redisDo(t *testing.T, addr string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	reply, err := redisCommand(ctx, addr, args...)
	if err != nil {
		t.Fatal(err)
	}
	return reply
}

// isTimeout reports whether err comes from a deadline running out.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

func TestRedisPauseResume(t *testing.T) {
	t.Parallel()
	r := StartRedis(t)
	if got := redisDo(t, r.Addr, "SET", "k", "v"); got != "OK" {
		t.Fatalf("SET = %q", got)
	}

	r.Pause()
	if !stopped(r.PID()) {
		t.Fatalf("redis-server %d is not stopped after Pause", r.PID())
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if reply, err := redisCommand(ctx, r.Addr, "PING"); !isTimeout(err) {
		t.Fatalf("PING to a paused server = %q, %v; want it to hang until the deadline", reply, err)
	}

	r.Resume()
	if got := redisDo(t, r.Addr, "GET", "k"); got != "v" {
		t.Errorf("GET after Resume = %q, want v", got)
	}
}

func TestRedisStopStartKeepsData(t *testing.T) {
	t.Parallel()
	r := StartRedis(t, "--appendonly", "yes")
	addr, pid := r.Addr, r.PID()
	redisDo(t, r.Addr, "SET", "k", "kept")
	if got := redisDo(t, r.Addr, "CONFIG", "GET", "appendonly"); got != "appendonly yes" {
		t.Fatalf("CONFIG GET appendonly = %q, want the extra argument to win", got)
	}

	r.Stop()
	if r.PID() != 0 || !gone(pid) {
		t.Fatalf("after Stop: PID() = %d, process %d gone = %v", r.PID(), pid, gone(pid))
	}
	if _, err := redisCommand(t.Context(), addr, "PING"); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("PING to a stopped server: %v, want connection refused", err)
	}

	r.Start()
	if r.Addr != addr || r.PID() == pid || r.PID() == 0 {
		t.Fatalf("after Start: %s pid %d; want %s and a new pid (old %d)", r.Addr, r.PID(), addr, pid)
	}
	if got := redisDo(t, r.Addr, "GET", "k"); got != "kept" {
		t.Errorf("GET after restart = %q, want kept (appendonly from extra args)", got)
	}
}

func TestRedisServerHasNoPersistence(t *testing.T) {
	t.Parallel()
	r := RedisServer(t)
	for _, tt := range []struct{ key, want string }{
		{"save", "save "},
		{"appendonly", "appendonly no"},
		{"bind", "bind 127.0.0.1"},
		{"dir", "dir " + r.Dir},
	} {
		if got := redisDo(t, r.Addr, "CONFIG", "GET", tt.key); got != tt.want {
			t.Errorf("CONFIG GET %s = %q, want %q", tt.key, got, tt.want)
		}
	}
	if got := redisDo(t, r.Addr, "DBSIZE"); got != "0" {
		t.Errorf("DBSIZE of a new server = %s, want 0", got)
	}
}

func TestRedisRequirePassIsReady(t *testing.T) {
	t.Parallel()
	r := StartRedis(t, "--requirepass", "s3cret")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := redisCommand(ctx, r.Addr, "GET", "k"); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Errorf("GET without a password: %v, want NOAUTH", err)
	}
}
