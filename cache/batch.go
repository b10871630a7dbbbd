package cache

import (
	"context"
	"fmt"
	"reflect"
	"time"

	"github.com/redis/go-redis/v9"
)

// GetMany reads keys in one pipelined round trip (after the in-process
// tier) and returns the values found, by key. The values are the caller's
// own, never shared with other callers. Each key is a GET of its own,
// so in a Redis Cluster the keys may live in different slots: the cluster
// client splits the pipeline by node. It fails open per key: keys Redis
// could not answer are missing from the result, and the first such error is
// returned, with the keys that failed counted in cache_errors_total (unless
// ctx ended: see Tenant.Get). The whole batch is one observation of the get
// duration.
func GetMany[T any](ctx context.Context, t *Tenant, keys []string) (map[string]T, error) {
	if t.err != nil {
		return nil, t.err
	}
	c := t.c
	out := make(map[string]T, len(keys))
	rest := make([]string, 0, len(keys))
	seen := make(map[string]struct{}, len(keys))
	for _, key := range keys {
		if _, dup := seen[key]; dup {
			continue
		}
		seen[key] = struct{}{}
		if c.local != nil {
			var buf [128]byte
			if v, ok := c.local.get(t.appendKey(buf[:0], key)); ok {
				switch v := v.(type) {
				case notFound:
					t.stats.lookup(miss)
					continue
				case *privateEntry:
					var tv T
					if c.copyOut(v, &tv) {
						out[key] = tv
						t.stats.lookup(localHit)
						continue
					}
				case T:
					if sharable(reflect.TypeFor[T]()) {
						out[key] = v
						t.stats.lookup(localHit)
						continue
					}
					var tv T // kept by GetOrLoad, which shares it
					if copyValue(&tv, reflect.ValueOf(v)) {
						out[key] = tv
						t.stats.lookup(localHit)
						continue
					}
				}
			}
		}
		rest = append(rest, key)
	}
	if len(rest) == 0 {
		return out, nil
	}

	p, err := c.breaker.Allow()
	if err != nil {
		c.m.errors[opGet].Add(uint64(len(rest)) - 1)
		return out, c.rejected(opGet, err)
	}
	start := monoNow()
	cctx, cancel := c.deadlines.context(ctx, start)
	defer cancel()
	pipe := c.client.Pipeline()
	cmds := make([]*redis.StringCmd, len(rest))
	for i, key := range rest {
		cmds[i] = pipe.Get(cctx, t.Key(key))
	}
	_, _ = pipe.Exec(cctx) // errors are read per command
	c.m.duration[opGet].observe(monoNow() - start)

	var failed uint64
	var firstErr, failure, callErr error
	for i, cmd := range cmds {
		data, err := cmd.Bytes()
		switch {
		case err == redis.Nil:
			t.stats.lookup(miss)
			continue
		case err != nil:
			failed++
			if callErr == nil {
				callErr = err
			}
			if failure == nil && IsRedisFailure(err) {
				failure = err
			}
			if firstErr == nil {
				firstErr = fmt.Errorf("cache %s: get %s: %w", c.name, cmd.Args()[1], err)
			}
			continue
		case isTombstone(data):
			t.stats.lookup(miss)
			continue
		}
		var v T
		if err := c.codec.Unmarshal(data, &v); err != nil {
			c.m.errors[opGet].Add(1)
			if firstErr == nil {
				firstErr = fmt.Errorf("cache %s: decode %s: %w", c.name, cmd.Args()[1], err)
			}
			continue
		}
		out[rest[i]] = v
		t.stats.lookup(redisHit)
		c.localSet(t.Key(rest[i]), localValue(&v, data), c.ttl)
	}
	if callerEnded(ctx, callErr, start, c.timeout) {
		p.Done(context.Canceled) // the caller gave up: not a Redis error
	} else {
		p.Done(failure)
		c.m.errors[opGet].Add(failed)
	}
	return out, firstErr
}

// SetMany stores items for the cache's TTL in one pipelined round trip.
// See SetManyTTL.
func SetMany[T any](ctx context.Context, t *Tenant, items map[string]T) error {
	return SetManyTTL(ctx, t, items, t.c.ttl)
}

// SetManyTTL stores items for ttl (each shortened by the jitter, if set) in
// one pipelined round trip of SETs, which a cluster client splits by node.
// Nothing is written if a value cannot be encoded. Keys Redis failed to
// store are counted in cache_errors_total (unless ctx ended: see
// Tenant.Get) and reported in the returned error. The keys leave this process's in-process tier.
func SetManyTTL[T any](ctx context.Context, t *Tenant, items map[string]T, ttl time.Duration) error {
	if t.err != nil {
		return t.err
	}
	c := t.c
	if err := validTTL(ttl); err != nil {
		return fmt.Errorf("cache %s: set: %w", c.name, err)
	}
	if len(items) == 0 {
		return nil
	}
	keys := make([]string, 0, len(items))
	values := make([][]byte, 0, len(items))
	for key, v := range items {
		data, err := c.codec.Marshal(v)
		if err != nil {
			return fmt.Errorf("cache %s: encode %s: %w", c.name, key, err)
		}
		keys = append(keys, t.Key(key))
		values = append(values, data)
	}
	if c.local != nil {
		defer func() {
			for _, k := range keys {
				c.local.del(k)
			}
		}()
	}

	p, err := c.breaker.Allow()
	if err != nil {
		c.m.errors[opSet].Add(uint64(len(keys)) - 1)
		return c.rejected(opSet, err)
	}
	start := monoNow()
	cctx, cancel := c.deadlines.context(ctx, start)
	defer cancel()
	pipe := c.client.Pipeline()
	cmds := make([]*redis.StatusCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.Set(cctx, k, values[i], c.jittered(ttl))
	}
	_, _ = pipe.Exec(cctx)
	c.m.duration[opSet].observe(monoNow() - start)

	var failed int
	var firstErr, failure error
	for _, cmd := range cmds {
		if err := cmd.Err(); err != nil {
			failed++
			if firstErr == nil {
				firstErr = err
			}
			if failure == nil && IsRedisFailure(err) {
				failure = err
			}
		}
	}
	if callerEnded(ctx, firstErr, start, c.timeout) {
		p.Done(context.Canceled) // the caller gave up: not a Redis error
	} else {
		p.Done(failure)
		c.m.errors[opSet].Add(uint64(failed))
	}
	if failed > 0 {
		return fmt.Errorf("cache %s: set: %d of %d keys failed: %w", c.name, failed, len(keys), firstErr)
	}
	return nil
}
