package cache

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestFlushStatsAddsUpAcrossProcesses(t *testing.T) {
	p := testPrefix(t)
	// Two caches of one name stand for two processes of one service.
	a, rdb := sharedCache(t, Options{Name: "workflows", Prefix: p, Tenants: []string{"acme"}})
	b, _ := sharedCache(t, Options{Name: "workflows", Prefix: p, Tenants: []string{"acme"}})
	for _, c := range []*Cache{a, b} {
		if err := c.Tenant("acme").Set(bg, "k", 1); err != nil {
			t.Fatal(err)
		}
		var n int
		_, _ = c.Tenant("acme").Get(bg, "k", &n)       // hit
		_, _ = c.Tenant("acme").Get(bg, "nope", &n)    // miss
		_, _ = c.Tenant("initech").Get(bg, "nope", &n) // other
	}
	for range 2 { // a second flush adds nothing
		for _, c := range []*Cache{a, b} {
			if err := c.FlushStats(bg); err != nil {
				t.Fatalf("FlushStats: %v", err)
			}
		}
	}
	got := rdb.HGetAll(bg, StatsKey(p, "workflows")).Val()
	want := map[string]string{"acme:requests": "4", "acme:hits": "2", "other:requests": "2"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("stats hash %v, want %v", got, want)
	}
	if ttl := rdb.PTTL(bg, StatsKey(p, "workflows")).Val(); ttl <= 23*time.Hour {
		t.Fatalf("stats hash TTL %v, want 24h", ttl)
	}
	if names := rdb.SMembers(bg, StatsIndexKey(p)).Val(); fmt.Sprint(names) != "[workflows]" {
		t.Fatalf("index set %v, want [workflows]", names)
	}
	if ttl := rdb.PTTL(bg, StatsIndexKey(p)).Val(); ttl <= 23*time.Hour {
		t.Fatalf("index set TTL %v, want 24h", ttl)
	}
}

func TestFlushStatsKeepsCountsRedisDidNotTake(t *testing.T) {
	c, srv, clock := faultCache(t)
	v := c.Tenant("acme")
	var n int
	_, _ = v.Get(bg, "k", &n) // a miss
	srv.Stop()
	if err := c.FlushStats(bg); err == nil {
		t.Fatal("FlushStats with Redis stopped returned no error")
	}
	if got := c.m.errors[opPublish].Load(); got != 1 {
		t.Fatalf("publish errors %d, want 1", got)
	}
	srv.Start()
	clock.Advance(time.Minute)
	poll(t, "a flush to succeed", func() bool { return c.FlushStats(bg) == nil })
	rdb := client(t, srv.Addr)
	if got := rdb.HGet(bg, StatsKey(DefaultPrefix, "faults"), "acme:requests").Val(); got != "1" {
		t.Fatalf("acme:requests = %q after the failed flush was retried, want 1", got)
	}
}

func TestPublishLoop(t *testing.T) {
	c, rdb := sharedCache(t, Options{Name: "loop"})
	v := c.Tenant("acme")
	ctx, cancel := context.WithCancel(bg)
	var wg sync.WaitGroup
	wg.Go(func() { c.Publish(ctx, 10*time.Millisecond) })

	var n int
	_, _ = v.Get(bg, "k", &n)
	key := StatsKey(testPrefix(t), "loop")
	poll(t, "a tick to publish", func() bool { return rdb.HGet(bg, key, "acme:requests").Val() == "1" })

	_, _ = v.Get(bg, "k", &n)
	cancel()
	wg.Wait()
	// The last count went out with the final flush.
	if got := rdb.HGet(bg, key, "acme:requests").Val(); got != "2" {
		t.Fatalf("after Publish returned, acme:requests = %q, want 2", got)
	}
}
