package cache

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/health-exporter/health-exporter/breaker"
)

func testBatch(t *testing.T, c *Cache, rdb redis.UniversalClient) {
	t.Helper()
	v := c.Tenant("acme")
	items := map[string]workflow{}
	var keys []string
	for i := range 50 {
		k := fmt.Sprint("wf:", i)
		items[k] = workflow{ID: i, Title: k}
		keys = append(keys, k)
	}
	if err := SetMany(bg, v, items); err != nil {
		t.Fatalf("SetMany: %v", err)
	}
	for _, k := range keys[:3] {
		if ttl := rdb.PTTL(bg, v.Key(k)).Val(); ttl <= 59*time.Minute {
			t.Fatalf("%s TTL %v, want 1h", k, ttl)
		}
	}
	got, err := GetMany[workflow](bg, v, append(keys, "missing", "wf:0"))
	if err != nil {
		t.Fatalf("GetMany: %v", err)
	}
	if len(got) != len(items) {
		t.Fatalf("GetMany found %d of %d", len(got), len(items))
	}
	for k, w := range items {
		if got[k].ID != w.ID || got[k].Title != w.Title {
			t.Fatalf("GetMany[%s] = %+v, want %+v", k, got[k], w)
		}
	}
	if r, _, h := counts(v); r != 51 || h != 50 {
		t.Fatalf("requests %d, hits %d; want 51 (duplicates once), 50", r, h)
	}
}

func TestBatch(t *testing.T) {
	c, rdb := sharedCache(t, Options{})
	testBatch(t, c, rdb)
}

func TestBatchWithLocalTier(t *testing.T) {
	c, rdb := sharedCache(t, Options{LocalSize: 1000, LocalTTL: time.Hour})
	testBatch(t, c, rdb)
	v := c.Tenant("acme")
	got, err := GetMany[workflow](bg, v, []string{"wf:1", "wf:2"})
	if err != nil || len(got) != 2 {
		t.Fatalf("GetMany = %v, %v", got, err)
	}
	if _, l, _ := counts(v); l != 2 {
		t.Fatalf("local hits %d, want 2", l)
	}
	// SetMany drops the local copies.
	if err := SetMany(bg, v, map[string]workflow{"wf:1": {ID: 100}}); err != nil {
		t.Fatal(err)
	}
	got, _ = GetMany[workflow](bg, v, []string{"wf:1"})
	if got["wf:1"].ID != 100 {
		t.Fatalf("after SetMany, GetMany gave %+v", got["wf:1"])
	}
}

func TestBatchFailsOpen(t *testing.T) {
	c, srv, _ := faultCache(t)
	v := c.Tenant("acme")
	if err := SetMany(bg, v, map[string]int{"a": 1, "b": 2}); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	for range 3 {
		got, err := GetMany[int](bg, v, []string{"a", "b"})
		if err == nil || len(got) != 0 {
			t.Fatalf("GetMany with Redis stopped = %v, %v; want nothing and an error", got, err)
		}
	}
	got, err := GetMany[int](bg, v, []string{"a", "b"})
	if !errors.Is(err, breaker.ErrOpen) || len(got) != 0 {
		t.Fatalf("GetMany with the breaker open = %v, %v", got, err)
	}
	if n := c.m.errors[opGet].Load(); n != 8 {
		t.Fatalf("get errors %d, want 8 (one per key)", n)
	}
	if err := SetMany(bg, v, map[string]int{"a": 1}); !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("SetMany with the breaker open = %v", err)
	}
	if r, _, _ := counts(v); r != 0 {
		t.Fatalf("failed lookups counted %d requests", r)
	}
}
