package cache

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/health-exporter/health-exporter/breaker"
)

// A caller's own cancelled or expired context ends its calls with an error,
// but against a healthy Redis it is neither a failure of the breaker nor a
// Redis error in cache_errors_total: the breaker stays closed and counts the
// calls as excluded.
func TestCallerEndedIsNotARedisFailure(t *testing.T) {
	c, _ := sharedCache(t, Options{Name: "callerctx"})
	v := c.Tenant("acme")
	if err := v.Set(bg, "k", "v"); err != nil {
		t.Fatal(err)
	}
	expired, cancel1 := context.WithDeadline(bg, time.Now().Add(-time.Second))
	defer cancel1()
	cancelled, cancel2 := context.WithCancel(bg)
	cancel2()

	before := c.Breaker().Counts()
	calls := 0
	for _, ctx := range []context.Context{expired, cancelled} {
		for range 2 * DefaultBreakerFailureThreshold {
			var s string
			if found, err := v.Get(ctx, "k", &s); found || err == nil || !errors.Is(err, ctx.Err()) {
				t.Fatalf("Get with an ended context = %v, %v; want a miss with %v", found, err, ctx.Err())
			}
			if err := v.Set(ctx, "k", "w"); !errors.Is(err, ctx.Err()) {
				t.Fatalf("Set with an ended context = %v, want %v", err, ctx.Err())
			}
			if err := v.Delete(ctx, "k"); !errors.Is(err, ctx.Err()) {
				t.Fatalf("Delete with an ended context = %v, want %v", err, ctx.Err())
			}
			if _, err := GetMany[string](ctx, v, []string{"k", "j"}); !errors.Is(err, ctx.Err()) {
				t.Fatalf("GetMany with an ended context = %v, want %v", err, ctx.Err())
			}
			if err := SetMany(ctx, v, map[string]string{"k": "w", "j": "w"}); !errors.Is(err, ctx.Err()) {
				t.Fatalf("SetMany with an ended context = %v, want %v", err, ctx.Err())
			}
			v.stats.lookup(miss) // something to publish
			if err := c.FlushStats(ctx); !errors.Is(err, ctx.Err()) {
				t.Fatalf("FlushStats with an ended context = %v, want %v", err, ctx.Err())
			}
			calls += 6
		}
	}

	if st := c.Breaker().State(); st != breaker.Closed {
		t.Fatalf("breaker %v after calls whose callers gave up, want closed", st)
	}
	after := c.Breaker().Counts()
	if got := after.Failures - before.Failures; got != 0 {
		t.Errorf("breaker failures = %d, want 0", got)
	}
	if got := after.Excluded - before.Excluded; got != uint64(calls) {
		t.Errorf("breaker excluded = %d, want %d", got, calls)
	}
	for op := range numOps {
		if n := c.m.errors[op].Load(); n != 0 {
			t.Errorf("cache_errors_total{operation=%q} = %d, want 0", op, n)
		}
	}
	var s string
	if found, err := v.Get(bg, "k", &s); !found || err != nil || s != "v" {
		t.Fatalf("Get after = %v, %v, %q; want the value written before", found, err, s)
	}
}

// A leader whose context ends while its loader runs still writes the loaded
// value back, and no Redis error is counted.
func TestGetOrLoadWritesBackAfterTheCallerEnded(t *testing.T) {
	c, rdb := sharedCache(t, Options{Name: "writeback", NegativeTTL: time.Minute})
	v := c.Tenant("acme")
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	got, err := GetOrLoad(ctx, v, "k", func(context.Context) (string, error) {
		cancel() // the caller gives up as the load returns
		return "loaded", nil
	})
	if err != nil || got != "loaded" {
		t.Fatalf("GetOrLoad = %q, %v; want the loaded value", got, err)
	}
	if raw, err := rdb.Get(bg, v.Key("k")).Result(); err != nil || raw != `"loaded"` {
		t.Fatalf("Redis holds %q, %v; want the written-back value", raw, err)
	}

	ctx2, cancel2 := context.WithCancel(bg)
	defer cancel2()
	_, err = GetOrLoad(ctx2, v, "gone", func(context.Context) (string, error) {
		cancel2()
		return "", ErrNotFound
	})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetOrLoad of a missing value = %v, want ErrNotFound", err)
	}
	if raw, err := rdb.Get(bg, v.Key("gone")).Bytes(); err != nil || !isTombstone(raw) {
		t.Fatalf("Redis holds %q, %v; want the not-found marker", raw, err)
	}
	for op := range numOps {
		if n := c.m.errors[op].Load(); n != 0 {
			t.Errorf("cache_errors_total{operation=%q} = %d, want 0", op, n)
		}
	}
}

// A caller whose context has ended gets its error and no load.
func TestGetOrLoadDoesNotLoadForAnEndedContext(t *testing.T) {
	c, _ := sharedCache(t, Options{Name: "noload"})
	v := c.Tenant("acme")
	ctx, cancel := context.WithCancel(bg)
	cancel()
	loads := 0
	_, err := GetOrLoad(ctx, v, "k", func(context.Context) (string, error) {
		loads++
		return "loaded", nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("GetOrLoad with a cancelled context = %v, want context.Canceled", err)
	}
	if loads != 0 {
		t.Fatalf("the loader ran %d times for a cancelled caller, want 0", loads)
	}
	if st := c.Breaker().State(); st != breaker.Closed {
		t.Fatalf("breaker %v, want closed", st)
	}
}
