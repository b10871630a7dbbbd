package cache

import (
	"context"
	"testing"
	"time"
)

// A caller that changes what Get or GetMany gave it changes nothing that
// another caller gets from the in-process tier.
func TestLocalTierHandsOutPrivateCopies(t *testing.T) {
	c, _ := sharedCache(t, Options{LocalSize: 100, LocalTTL: time.Hour})
	v := c.Tenant("acme")
	if err := v.Set(bg, "m", map[string]int{"a": 1}); err != nil {
		t.Fatal(err)
	}
	if err := v.Set(bg, "w", workflow{ID: 1, Tags: []string{"x"}}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 { // from Redis, then twice from the local tier
		var m map[string]int
		if found, err := v.Get(bg, "m", &m); !found || err != nil || len(m) != 1 || m["a"] != 1 {
			t.Fatalf("Get %d of the map = %v, %v, %v; want map[a:1]", i, found, err, m)
		}
		m["a"], m["b"] = 99, 2
		var w workflow
		if found, err := v.Get(bg, "w", &w); !found || err != nil || len(w.Tags) != 1 || w.Tags[0] != "x" {
			t.Fatalf("Get %d of the struct = %v, %v, %+v; want tags [x]", i, found, err, w)
		}
		w.Tags[0] = "changed"
		many, err := GetMany[workflow](bg, v, []string{"w"})
		if err != nil || len(many["w"].Tags) != 1 || many["w"].Tags[0] != "x" {
			t.Fatalf("GetMany %d = %+v, %v; want tags [x]", i, many, err)
		}
		many["w"].Tags[0] = "changed too"
	}
	if _, l, _ := counts(v); l < 6 {
		t.Fatalf("local hits %d, want the later reads served by the local tier", l)
	}

	// Values whose copies share nothing are still handed out as they are.
	if err := v.Set(bg, "s", "text"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		var s string
		if found, err := v.Get(bg, "s", &s); !found || err != nil || s != "text" {
			t.Fatalf("Get of a string = %v, %v, %q", found, err, s)
		}
	}
	if _, ok := c.local.get([]byte(v.Key("s"))); !ok {
		t.Fatal("the string is not in the local tier")
	}
}

// A value GetOrLoad keeps in the in-process tier, which its callers share,
// reaches Get callers as a private copy, without a Redis call.
func TestGetCopiesWhatGetOrLoadShares(t *testing.T) {
	c, _ := sharedCache(t, Options{LocalSize: 100, LocalTTL: time.Hour})
	v := c.Tenant("acme")
	load := func(context.Context) (workflow, error) { return workflow{ID: 1, Tags: []string{"x"}}, nil }
	shared, err := GetOrLoad(bg, v, "w", load)
	if err != nil {
		t.Fatal(err)
	}
	getsBefore := getCount(c)
	for range 2 {
		var w workflow
		if found, err := v.Get(bg, "w", &w); !found || err != nil || len(w.Tags) != 1 || w.Tags[0] != "x" {
			t.Fatalf("Get = %v, %v, %+v; want tags [x]", found, err, w)
		}
		w.Tags[0] = "changed"
	}
	if shared.Tags[0] != "x" {
		t.Fatalf("GetOrLoad's shared value changed to %+v by a Get caller", shared)
	}
	if n := getCount(c) - getsBefore; n != 0 {
		t.Fatalf("Get made %d Redis calls, want the local tier to answer", n)
	}
}

// getCount is how many Redis GETs the cache observed.
func getCount(c *Cache) uint64 {
	n, _, _ := c.m.duration[opGet].snapshot()
	return n
}
