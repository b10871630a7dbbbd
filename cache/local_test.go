package cache

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestLocalTierServesAndInvalidates(t *testing.T) {
	c, rdb := sharedCache(t, Options{LocalSize: 100, LocalTTL: time.Hour})
	v := c.Tenant("acme")
	if err := v.Set(bg, "k", workflow{ID: 1}); err != nil {
		t.Fatal(err)
	}
	var w workflow
	for range 3 {
		if found, err := v.Get(bg, "k", &w); !found || err != nil || w.ID != 1 {
			t.Fatalf("Get = %v, %v, %+v", found, err, w)
		}
	}
	if r, l, h := counts(v); r != 3 || l != 2 || h != 1 {
		t.Fatalf("requests %d, local hits %d, redis hits %d; want 3, 2, 1", r, l, h)
	}

	// Another process changes Redis: this one serves its copy (the
	// documented staleness, bounded by LocalTTL).
	if err := rdb.Set(bg, v.Key("k"), `{"id":2}`, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if _, _ = v.Get(bg, "k", &w); w.ID != 1 {
		t.Fatalf("local tier gave %+v, want its copy", w)
	}

	// Set in this process replaces the copy.
	if err := v.Set(bg, "k", workflow{ID: 3}); err != nil {
		t.Fatal(err)
	}
	if _, _ = v.Get(bg, "k", &w); w.ID != 3 {
		t.Fatalf("after Set, Get gave %+v", w)
	}

	// Delete in this process drops the copy.
	if err := v.Delete(bg, "k"); err != nil {
		t.Fatal(err)
	}
	if found, err := v.Get(bg, "k", &w); found || err != nil {
		t.Fatalf("after Delete, Get = %v, %v", found, err)
	}

	// GetOrLoad shares the tier.
	loads := 0
	for range 3 {
		got, err := GetOrLoad(bg, v, "k2", func(context.Context) (workflow, error) { loads++; return workflow{ID: 5}, nil })
		if err != nil || got.ID != 5 {
			t.Fatalf("GetOrLoad = %+v, %v", got, err)
		}
	}
	if loads != 1 {
		t.Fatalf("%d loads, want 1", loads)
	}
	if _, l, _ := counts(v); l != 5 {
		t.Fatalf("local hits %d, want 5", l)
	}
}

func TestLocalTierExpires(t *testing.T) {
	c, rdb := sharedCache(t, Options{LocalSize: 10, LocalTTL: 20 * time.Millisecond})
	v := c.Tenant("acme")
	if err := v.Set(bg, "k", "old"); err != nil {
		t.Fatal(err)
	}
	var s string
	if _, err := v.Get(bg, "k", &s); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Set(bg, v.Key("k"), `"new"`, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	poll(t, "the local copy to expire", func() bool {
		_, _ = v.Get(bg, "k", &s)
		return s == "new"
	})
}

func TestLocalTierIsBounded(t *testing.T) {
	l := newLocalTier(64, time.Hour)
	for i := range 10000 {
		l.set(fmt.Sprint("k", i), i, time.Hour)
	}
	n := 0
	for i := range l.shards {
		n += len(l.shards[i].m)
	}
	if n > 64 {
		t.Fatalf("local tier holds %d entries, want at most 64", n)
	}
	l.set("hot", 1, time.Hour)
	if v, ok := l.get([]byte("hot")); !ok || v != 1 {
		t.Fatalf("the newest entry is missing: %v, %v", v, ok)
	}
}

func TestLocalTierTypeMismatchGoesToRedis(t *testing.T) {
	c, _ := sharedCache(t, Options{LocalSize: 10, LocalTTL: time.Hour})
	v := c.Tenant("acme")
	if err := v.Set(bg, "k", 7); err != nil {
		t.Fatal(err)
	}
	var n int
	if _, err := v.Get(bg, "k", &n); err != nil || n != 7 {
		t.Fatal(err)
	}
	var f float64
	if found, err := v.Get(bg, "k", &f); !found || err != nil || f != 7 {
		t.Fatalf("Get into another type = %v, %v, %v", found, err, f)
	}
}
