package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestGetOrLoadSingleflight(t *testing.T) {
	c, rdb := sharedCache(t, Options{})
	v := c.Tenant("acme")
	if err := rdb.Del(bg, v.Key("wf:1")).Err(); err != nil { // a cold key, even on a rerun
		t.Fatal(err)
	}
	const callers = 1000
	var loads atomic.Int64
	release := make(chan struct{})
	load := func(ctx context.Context) (workflow, error) {
		loads.Add(1)
		<-release
		return workflow{ID: 1, Title: "loaded once"}, nil
	}

	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Go(func() {
			w, err := GetOrLoad(bg, v, "wf:1", load)
			if err == nil && w.Title != "loaded once" {
				err = fmt.Errorf("got %+v", w)
			}
			errs <- err
		})
	}
	poll(t, "every caller to join the one load", func() bool { return c.flights.waiting(v.Key("wf:1")) == callers-1 })
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := loads.Load(); n != 1 {
		t.Fatalf("%d concurrent misses ran %d loads, want 1", callers, n)
	}
	if ttl := rdb.PTTL(bg, v.Key("wf:1")).Val(); ttl <= 59*time.Minute {
		t.Fatalf("loaded value stored with TTL %v, want the default 1h", ttl)
	}
	// The key was cold and every caller shared the one lookup, which Redis
	// answered with nothing: each caller counts one request and no hit.
	r, l, h := counts(v)
	if r != callers || l != 0 || h != 0 {
		t.Fatalf("requests %d, local hits %d, redis hits %d; want %d misses", r, l, h, callers)
	}
}

func TestGetOrLoadHitDoesNotLoad(t *testing.T) {
	c, _ := sharedCache(t, Options{})
	v := c.Tenant("acme")
	if err := v.Set(bg, "k", 42); err != nil {
		t.Fatal(err)
	}
	got, err := GetOrLoad(bg, v, "k", func(context.Context) (int, error) { return 0, errors.New("loaded") })
	if err != nil || got != 42 {
		t.Fatalf("GetOrLoad = %d, %v; want the cached 42", got, err)
	}
	if r, _, h := counts(v); r != 1 || h != 1 {
		t.Fatalf("requests %d, hits %d; want 1, 1", r, h)
	}
}

func TestGetOrLoadErrorsAreNotCached(t *testing.T) {
	c, rdb := sharedCache(t, Options{})
	v := c.Tenant("acme")
	boom := errors.New("database down")
	if _, err := GetOrLoad(bg, v, "k", func(context.Context) (int, error) { return 0, boom }); !errors.Is(err, boom) {
		t.Fatalf("GetOrLoad = %v, want the loader's error", err)
	}
	if n := rdb.Exists(bg, v.Key("k")).Val(); n != 0 {
		t.Fatal("a load error was stored")
	}
	if n := c.m.errors[opLoad].Load(); n != 1 {
		t.Fatalf("load errors %d, want 1", n)
	}
	// Without NegativeTTL, "not found" is not remembered either.
	calls := 0
	for range 2 {
		_, err := GetOrLoad(bg, v, "gone", func(context.Context) (int, error) { calls++; return 0, ErrNotFound })
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("GetOrLoad = %v, want ErrNotFound", err)
		}
	}
	if calls != 2 {
		t.Fatalf("loader called %d times, want 2", calls)
	}
}

func TestGetOrLoadNegativeCaching(t *testing.T) {
	c, rdb := sharedCache(t, Options{NegativeTTL: time.Minute})
	v := c.Tenant("acme")
	calls := 0
	load := func(context.Context) (workflow, error) {
		calls++
		return workflow{}, fmt.Errorf("workflow 9: %w", ErrNotFound)
	}
	for i := range 3 {
		if _, err := GetOrLoad(bg, v, "wf:9", load); !errors.Is(err, ErrNotFound) {
			t.Fatalf("GetOrLoad %d = %v, want ErrNotFound", i, err)
		}
	}
	if calls != 1 {
		t.Fatalf("loader called %d times, want 1 (then remembered)", calls)
	}
	if ttl := rdb.PTTL(bg, v.Key("wf:9")).Val(); ttl <= 0 || ttl > time.Minute {
		t.Fatalf("tombstone TTL %v, want NegativeTTL", ttl)
	}
	var w workflow
	if found, err := v.Get(bg, "wf:9", &w); found || err != nil {
		t.Fatalf("Get of a remembered not-found = %v, %v; want a clean miss", found, err)
	}
	if r, _, h := counts(v); r != 4 || h != 2 {
		t.Fatalf("requests %d, hits %d; want 4 (1 miss, 2 remembered, 1 Get) and 2", r, h)
	}
}

func TestGetOrLoadWaiterLeavesOnItsContext(t *testing.T) {
	c, _ := sharedCache(t, Options{})
	v := c.Tenant("acme")
	started, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := GetOrLoad(bg, v, "k", func(context.Context) (int, error) {
			close(started)
			<-release
			return 1, nil
		})
		done <- err
	}()
	<-started
	ctx, cancel := context.WithCancel(bg)
	cancel()
	if _, err := GetOrLoad(ctx, v, "k", func(context.Context) (int, error) { return 2, nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled waiter got %v, want context.Canceled", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestGetOrLoadWaiterRunsWhenTheRunnerIsCancelled(t *testing.T) {
	c, _ := sharedCache(t, Options{})
	v := c.Tenant("acme")
	ctx, cancel := context.WithCancel(bg)
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := GetOrLoad(ctx, v, "k", func(ctx context.Context) (int, error) {
			close(started)
			<-ctx.Done()
			return 0, ctx.Err()
		})
		done <- err
	}()
	<-started
	waiter := make(chan int, 1)
	go func() {
		got, err := GetOrLoad(bg, v, "k", func(context.Context) (int, error) { return 7, nil })
		if err != nil {
			got = -1
		}
		waiter <- got
	}()
	poll(t, "the waiter to join", func() bool { return c.flights.waiting(v.Key("k")) == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("the cancelled runner got %v", err)
	}
	if got := <-waiter; got != 7 {
		t.Fatalf("the waiter got %d, want its own load's 7", got)
	}
}

func TestGetOrLoadPanicReachesTheRunner(t *testing.T) {
	c, _ := sharedCache(t, Options{})
	v := c.Tenant("acme")
	defer func() {
		if r := recover(); r != "loader bug" {
			t.Fatalf("recovered %v, want the loader's panic", r)
		}
		// The key is free again.
		if got, err := GetOrLoad(bg, v, "k", func(context.Context) (int, error) { return 3, nil }); err != nil || got != 3 {
			t.Fatalf("GetOrLoad after a panic = %d, %v", got, err)
		}
	}()
	_, _ = GetOrLoad(bg, v, "k", func(context.Context) (int, error) { panic("loader bug") })
}

// A caller waiting for a load that panics gets errLoadPanicked; the panic
// goes on up in the caller that ran the load.
func TestGetOrLoadPanicReachesWaiterAsError(t *testing.T) {
	c, _ := sharedCache(t, Options{})
	v := c.Tenant("acme")
	release := make(chan struct{})
	recovered := make(chan any, 1)
	go func() {
		defer func() { recovered <- recover() }()
		_, _ = GetOrLoad(bg, v, "k", func(context.Context) (int, error) {
			<-release
			panic("loader bug")
		})
	}()
	poll(t, "the load to start", func() bool {
		c.flights.mu.Lock()
		defer c.flights.mu.Unlock()
		_, running := c.flights.m[v.Key("k")]
		return running
	})
	waiter := make(chan error, 1)
	go func() {
		_, err := GetOrLoad(bg, v, "k", func(context.Context) (int, error) { return 0, errors.New("the waiter ran its own load") })
		waiter <- err
	}()
	poll(t, "the waiter to join the load", func() bool { return c.flights.waiting(v.Key("k")) == 1 })
	close(release)
	if r := <-recovered; r != "loader bug" {
		t.Fatalf("the running caller recovered %v, want the loader's panic", r)
	}
	if err := <-waiter; !errors.Is(err, errLoadPanicked) {
		t.Fatalf("the waiter got %v, want errLoadPanicked", err)
	}
}
