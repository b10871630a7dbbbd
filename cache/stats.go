package cache

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// The fleet stats format. Every process of a cache adds its counts to one
// Redis hash, so the exporter (and anyone) can read the fleet's hit rate per
// tenant; services in other languages publish the same way:
//
//	key    {prefix}:stats:{cache}           hash, expiry refreshed on each flush
//	field  {tenant}:requests                HINCRBY of the lookups since the last flush
//	field  {tenant}:hits                    HINCRBY of the hits (both tiers) since then
//	key    {prefix}:stats                   set of the cache names that publish, same expiry
//
// The separator in these keys is always ":", whatever Options.Separator is.
// Tenants are the metrics' tenant labels (bounded, "other", "none"); a
// tenant may contain ':', so readers split a field at its last ':'.
const (
	StatsRequestsField = "requests"
	StatsHitsField     = "hits"
)

// StatsKey returns the key of the stats hash of the cache named name whose
// keys start with prefix.
func StatsKey(prefix, name string) string { return prefix + ":stats:" + name }

// StatsIndexKey returns the key of the set of names of the caches that
// publish stats under prefix.
func StatsIndexKey(prefix string) string { return prefix + ":stats" }

// FlushStats adds this process's counts since the last successful flush to
// the fleet stats hash, refreshes its expiry and registers the cache name in
// the index set, in one pipelined round trip. A count that did not reach
// Redis is sent again by the next flush (a reply lost in a timeout can make
// it count twice). It goes through the breaker; a failure is returned and
// counted as operation "publish". Call it every few seconds, or run
// Publish. A flush that fails because ctx ended is not counted and is not a
// failure of the breaker.
func (c *Cache) FlushStats(ctx context.Context) error {
	c.flushMu.Lock()
	defer c.flushMu.Unlock()

	p, err := c.breaker.Allow()
	if err != nil {
		return c.rejected(opPublish, err)
	}
	caller, timeout, begin := ctx, max(c.timeout, time.Second), monoNow()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	type delta struct {
		ts             *tenantStats
		requests, hits uint64
		cmdR, cmdH     *redis.IntCmd
	}
	var deltas []delta
	pipe := c.client.Pipeline()
	for _, ts := range c.labels.all() {
		requests, local, redis := ts.counts()
		d := delta{ts: ts, requests: requests - ts.publishedRequests, hits: local + redis - ts.publishedHits}
		if d.requests == 0 && d.hits == 0 {
			continue
		}
		if d.requests > 0 {
			d.cmdR = pipe.HIncrBy(ctx, c.statsKey, ts.label+":"+StatsRequestsField, int64(d.requests))
		}
		if d.hits > 0 {
			d.cmdH = pipe.HIncrBy(ctx, c.statsKey, ts.label+":"+StatsHitsField, int64(d.hits))
		}
		deltas = append(deltas, d)
	}
	pipe.Expire(ctx, c.statsKey, c.statsTTL)
	pipe.SAdd(ctx, c.statsSet, c.name)
	pipe.Expire(ctx, c.statsSet, c.statsTTL)
	start := time.Now()
	_, err = pipe.Exec(ctx)
	c.m.duration[opPublish].observe(time.Since(start))
	counted := c.settle(caller, p, err, begin, timeout)

	for _, d := range deltas {
		if d.cmdR != nil && d.cmdR.Err() == nil {
			d.ts.publishedRequests += d.requests
		}
		if d.cmdH != nil && d.cmdH.Err() == nil {
			d.ts.publishedHits += d.hits
		}
	}
	if counted {
		c.m.errors[opPublish].Add(1)
	}
	if err != nil {
		return fmt.Errorf("cache %s: publish stats to %s: %w", c.name, c.statsKey, err)
	}
	return nil
}

// Publish calls FlushStats every interval until ctx ends, then flushes once
// more (with a fresh deadline, so the last counts are not lost on shutdown)
// and returns. Failed flushes are counted and retried at the next tick. Run
// it in a goroutine the caller owns:
//
//	go func() { defer wg.Done(); c.Publish(ctx, 5*time.Second) }()
func (c *Cache) Publish(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = 5 * time.Second
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), max(c.timeout, time.Second))
			_ = c.FlushStats(final)
			cancel()
			return
		case <-tick.C:
			_ = c.FlushStats(ctx)
		}
	}
}
