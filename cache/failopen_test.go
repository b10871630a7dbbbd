package cache

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/health-exporter/health-exporter/breaker"
	"github.com/health-exporter/health-exporter/internal/testenv"
)

// faultCache returns a cache on a private Redis the test can stop and
// pause, with a breaker on a clock the test moves.
func faultCache(t *testing.T) (*Cache, *testenv.Redis, *fakeClock) {
	t.Helper()
	srv := testenv.StartRedis(t)
	clock := newFakeClock()
	br := breaker.New(breaker.Settings{
		Name:             "cache_faults",
		FailureThreshold: 3,
		OpenTimeout:      10 * time.Second,
		IsFailure:        IsRedisFailure,
		Now:              clock.Now,
	})
	c, err := New(Options{Client: client(t, srv.Addr), Name: "faults", Breaker: br, Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return c, srv, clock
}

// assertOpenAndRefusing checks that the breaker is open and that further
// calls are refused by it, without reaching Redis: counted as rejected, as
// errors matching breaker.ErrOpen, and never as requests.
func assertOpenAndRefusing(t *testing.T, c *Cache, v *Tenant) {
	t.Helper()
	if st := c.Breaker().State(); st != breaker.Open {
		t.Fatalf("breaker %v, want open", st)
	}
	before := c.Breaker().Counts()
	reqBefore, _, _ := counts(v)
	errsBefore := c.m.errors[opGet].Load()
	const n = 100
	for range n {
		var s string
		found, err := v.Get(bg, "k", &s)
		if found || !errors.Is(err, breaker.ErrOpen) {
			t.Fatalf("Get with the breaker open = %v, %v; want a miss with ErrOpen", found, err)
		}
	}
	if err := v.Set(bg, "k", "v"); !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("Set with the breaker open = %v, want ErrOpen", err)
	}
	if err := v.Delete(bg, "k"); !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("Delete with the breaker open = %v, want ErrOpen", err)
	}
	after := c.Breaker().Counts()
	if got := after.Rejected - before.Rejected; got != n+2 {
		t.Fatalf("breaker rejected %d calls, want %d", got, n+2)
	}
	if after.Successes+after.Failures != before.Successes+before.Failures {
		t.Fatal("calls reached Redis while the breaker was open")
	}
	if got := c.m.errors[opGet].Load() - errsBefore; got != n {
		t.Fatalf("counted %d get errors, want %d", got, n)
	}
	if r, _, _ := counts(v); r != reqBefore {
		t.Fatalf("refused lookups counted as requests (misses): %d → %d", reqBefore, r)
	}
}

func TestFailOpenRedisStopped(t *testing.T) {
	c, srv, _ := faultCache(t)
	v := c.Tenant("acme")
	srv.Stop()

	for i := range 3 {
		var s string
		found, err := v.Get(bg, "k", &s)
		if found || err == nil {
			t.Fatalf("Get %d with Redis stopped = %v, %v; want a miss with an error", i, found, err)
		}
		if errors.Is(err, breaker.ErrOpen) {
			t.Fatalf("Get %d refused before the threshold: %v", i, err)
		}
	}
	assertOpenAndRefusing(t, c, v)

	loads := 0
	got, err := GetOrLoad(bg, v, "k", func(context.Context) (string, error) { loads++; return "from db", nil })
	if err != nil || got != "from db" || loads != 1 {
		t.Fatalf("GetOrLoad with Redis down = %q, %v after %d loads; want the loaded value", got, err, loads)
	}
}

func TestFailOpenRedisHung(t *testing.T) {
	c, srv, _ := faultCache(t)
	v := c.Tenant("acme")
	if err := v.Set(bg, "k", "v"); err != nil { // a pooled connection to hang on
		t.Fatal(err)
	}
	srv.Pause()
	for i := range 3 {
		var s string
		found, err := v.Get(bg, "k", &s)
		if found || !isTimeout(err) {
			t.Fatalf("Get %d with Redis hung = %v, %v; want a miss with a timeout", i, found, err)
		}
	}
	assertOpenAndRefusing(t, c, v)
	srv.Resume()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

func TestRecoveryAfterRestart(t *testing.T) {
	c, srv, clock := faultCache(t)
	v := c.Tenant("acme")
	srv.Stop()
	for range 3 {
		var s string
		_, _ = v.Get(bg, "k", &s)
	}
	if st := c.Breaker().State(); st != breaker.Open {
		t.Fatalf("breaker %v, want open", st)
	}
	srv.Start()

	// Still open: the restart is not noticed before the open timeout.
	var s string
	if _, err := v.Get(bg, "k", &s); !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("Get before the open timeout = %v, want ErrOpen", err)
	}
	clock.Advance(10 * time.Second)
	if st := c.Breaker().State(); st != breaker.HalfOpen {
		t.Fatalf("breaker %v after the open timeout, want half_open", st)
	}
	// The trial call may meet a pooled connection the restart closed; the
	// next open period then ends the same way.
	poll(t, "the cache to work again", func() bool {
		err := v.Set(bg, "k", "back")
		if err != nil {
			clock.Advance(10 * time.Second)
		}
		return err == nil
	})
	if st := c.Breaker().State(); st != breaker.Closed {
		t.Fatalf("breaker %v after a successful trial, want closed", st)
	}
	if found, err := v.Get(bg, "k", &s); err != nil || !found || s != "back" {
		t.Fatalf("Get after recovery = %v, %v, %q", found, err, s)
	}
}
