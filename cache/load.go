package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// flightGroup runs one call per key at a time; callers of the same key
// while it runs wait for its result. Unlike x/sync/singleflight, a waiter
// stops waiting when its own context ends, and a waiter whose context is
// alive runs the call again when the caller that ran it was cancelled.
type flightGroup struct {
	mu sync.Mutex
	m  map[string]*flight
}

type flight struct {
	done      chan struct{} // made by the first waiter, under flightGroup.mu
	val       any
	err       error
	cancelled bool // the running caller's context ended before the call did
	panicked  bool
	waiters   atomic.Int32 // callers that joined it; for tests and debugging
}

// errLoadPanicked is what waiters get when the running caller's call
// panicked; the panic itself goes on up in the running caller.
var errLoadPanicked = errors.New("cache: the shared load panicked")

func (g *flightGroup) do(ctx context.Context, key string, fn func(context.Context) (any, error)) (any, error) {
	for {
		g.mu.Lock()
		if g.m == nil {
			g.m = make(map[string]*flight)
		}
		f, running := g.m[key]
		if !running {
			f = &flight{}
			g.m[key] = f
		} else if f.done == nil {
			f.done = make(chan struct{}) // most calls have no waiter: no channel
		}
		done := f.done
		g.mu.Unlock()
		if !running {
			return g.run(ctx, key, f, fn)
		}
		f.waiters.Add(1)
		select {
		case <-done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		switch {
		case f.panicked:
			return nil, fmt.Errorf("%w: %s", errLoadPanicked, key)
		case f.cancelled && f.err != nil && ctx.Err() == nil:
			continue // the caller that ran it gave up; run it for ourselves
		}
		return f.val, f.err
	}
}

// waiting returns how many callers wait for the running call of key.
func (g *flightGroup) waiting(key string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if f, ok := g.m[key]; ok {
		return int(f.waiters.Load())
	}
	return 0
}

func (g *flightGroup) run(ctx context.Context, key string, f *flight, fn func(context.Context) (any, error)) (any, error) {
	defer func() {
		if !f.panicked {
			f.cancelled = ctx.Err() != nil
		}
		g.mu.Lock()
		delete(g.m, key)
		if f.done != nil {
			close(f.done)
		}
		g.mu.Unlock()
	}()
	f.panicked = true
	f.val, f.err = fn(ctx)
	f.panicked = false
	return f.val, f.err
}

// outcome says how a shared lookup was answered, so that every caller who
// shared it counts its own request.
type outcome uint8

const (
	answeredHit     outcome = iota // Redis had the value or a "not found"
	answeredMiss                   // Redis had nothing; the loader ran
	answeredNothing                // Redis failed; the loader ran
)

type loaded[T any] struct {
	v   T
	out outcome
	err error // ErrNotFound or the loader's error
}

// GetOrLoad returns the value of key, calling load on a miss and storing
// its result for the cache's TTL. See GetOrLoadTTL.
func GetOrLoad[T any](ctx context.Context, t *Tenant, key string, load func(context.Context) (T, error)) (T, error) {
	return GetOrLoadTTL(ctx, t, key, t.c.ttl, load)
}

// GetOrLoadTTL returns the value of key from the in-process tier or Redis;
// on a miss it calls load and stores the result for ttl (shortened by the
// jitter, if set). In one process there is one lookup and at most one load
// per key at a time: concurrent callers share the result, so treat a
// returned value holding pointers, maps or slices as read-only.
//
// When Redis fails or its breaker is open, load still runs (it reads the
// source of truth) and its value is returned without an error; the Redis
// error is counted. A load error is returned as it is and not stored,
// except one matching ErrNotFound, which is remembered for NegativeTTL if
// that is set. A ttl under 1ms is ErrInvalidTTL.
//
// If ctx has ended by the time load would be called, load is not called and
// the error matches ctx.Err(). Once load has returned, its value is written
// back even if ctx ends meanwhile: the write runs without ctx's cancellation
// and deadline, bounded by Options.Timeout.
func GetOrLoadTTL[T any](ctx context.Context, t *Tenant, key string, ttl time.Duration, load func(context.Context) (T, error)) (T, error) {
	var zero T
	if t.err != nil {
		return zero, t.err
	}
	c := t.c
	if err := validTTL(ttl); err != nil {
		return zero, fmt.Errorf("cache %s: load: %w", c.name, err)
	}
	if c.local != nil {
		var buf [128]byte
		lk := t.appendKey(buf[:0], key)
		if v, ok := c.local.get(lk); ok {
			switch v := v.(type) {
			case notFound:
				t.stats.lookup(localHit)
				return zero, ErrNotFound
			case *privateEntry: // kept by Get: decode it once, to share from now on
				var tv T
				if c.codec.Unmarshal(v.data, &tv) == nil {
					c.local.upgrade(lk, v, tv)
					t.stats.lookup(localHit)
					return tv, nil
				}
			case T:
				t.stats.lookup(localHit)
				return v, nil
			}
		}
	}
	k := t.Key(key)
	r, err := c.flights.do(ctx, k, func(ctx context.Context) (any, error) {
		res := lookupOrLoad(ctx, c, k, ttl, load)
		return res, res.err
	})
	if r == nil {
		return zero, err
	}
	res, ok := r.(*loaded[T])
	if !ok { // a caller of another type shared the key: look up alone
		res = lookupOrLoad(ctx, c, k, ttl, load)
	}
	switch res.out {
	case answeredHit:
		t.stats.lookup(redisHit)
	case answeredMiss:
		t.stats.lookup(miss)
	}
	return res.v, res.err
}

// lookupOrLoad is the shared part of GetOrLoadTTL: Redis, then the loader.
func lookupOrLoad[T any](ctx context.Context, c *Cache, k string, ttl time.Duration, load func(context.Context) (T, error)) *loaded[T] {
	res := &loaded[T]{out: answeredMiss}
	data, err := c.redisGet(ctx, k)
	switch {
	case err != nil:
		res.out = answeredNothing
	case isTombstone(data):
		res.out, res.err = answeredHit, ErrNotFound
		c.localSet(k, notFound{}, c.negTTL)
		return res
	case data != nil:
		if err := c.codec.Unmarshal(data, &res.v); err == nil {
			res.out = answeredHit
			c.localSet(k, res.v, ttl)
			return res
		}
		c.m.errors[opGet].Add(1) // undecodable: load and overwrite it
		var zero T
		res.v = zero
	}

	if err := ctx.Err(); err != nil { // the caller gave up: load nothing
		res.out, res.err = answeredNothing, fmt.Errorf("cache %s: load %s: %w", c.name, k, err)
		return res
	}
	// The write-back belongs to the cache, not to the caller: a caller whose
	// context ends as the load returns must not lose the value it paid for.
	// Without the caller's cancellation or deadline, it is bounded by Timeout.
	wctx := context.WithoutCancel(ctx)
	start := time.Now()
	res.v, res.err = load(ctx)
	c.m.duration[opLoad].observe(time.Since(start))
	if res.err != nil {
		if errors.Is(res.err, ErrNotFound) {
			if c.negTTL > 0 {
				_ = c.redisSet(wctx, k, tombstone, c.jittered(c.negTTL))
				c.localSet(k, notFound{}, c.negTTL)
			}
			return res
		}
		c.m.errors[opLoad].Add(1)
		return res
	}
	if data, err := c.codec.Marshal(res.v); err != nil {
		c.m.errors[opSet].Add(1)
	} else {
		_ = c.redisSet(wctx, k, data, c.jittered(ttl))
	}
	c.localSet(k, res.v, ttl)
	return res
}

// localSet holds v in the in-process tier, if there is one.
func (c *Cache) localSet(k string, v any, ttl time.Duration) {
	if c.local != nil && ttl > 0 {
		c.local.set(k, v, ttl)
	}
}
