package cache

import (
	"context"
	"errors"
	"testing"
)

// A tenant name that could make its keys another tenant's, or the stats
// keys, gets a view that refuses every call; ValidTenant says why.
func TestTenantNamesThatCollideAreRefused(t *testing.T) {
	c, rdb := sharedCache(t, Options{Name: "tenants"})
	acme := c.Tenant("acme")
	if err := acme.Set(bg, "x:y", "acme's"); err != nil {
		t.Fatal(err)
	}
	var s string
	if _, err := acme.Get(bg, "x:y", &s); err != nil { // something to publish
		t.Fatal(err)
	}
	if err := c.FlushStats(bg); err != nil {
		t.Fatal(err)
	}
	statsType := rdb.Type(bg, StatsKey(c.prefix, c.name)).Val()

	for _, name := range []string{"acme:x", ReservedTenant, "a:", ":a", ":"} {
		if err := c.ValidTenant(name); !errors.Is(err, ErrInvalidTenant) {
			t.Errorf("ValidTenant(%q) = %v, want ErrInvalidTenant", name, err)
		}
		v := c.Tenant(name)
		if found, err := v.Get(bg, "y", &s); found || !errors.Is(err, ErrInvalidTenant) {
			t.Errorf("Tenant(%q).Get = %v, %v (%q); want ErrInvalidTenant", name, found, err, s)
		}
		if found, err := v.Get(bg, c.name, &s); found || !errors.Is(err, ErrInvalidTenant) {
			t.Errorf("Tenant(%q).Get of the cache name = %v, %v; want ErrInvalidTenant", name, found, err)
		}
		if err := v.Set(bg, c.name, "overwrite"); !errors.Is(err, ErrInvalidTenant) {
			t.Errorf("Tenant(%q).Set = %v, want ErrInvalidTenant", name, err)
		}
		if err := v.Delete(bg, "y"); !errors.Is(err, ErrInvalidTenant) {
			t.Errorf("Tenant(%q).Delete = %v, want ErrInvalidTenant", name, err)
		}
		if _, err := GetMany[string](bg, v, []string{"y"}); !errors.Is(err, ErrInvalidTenant) {
			t.Errorf("GetMany(Tenant(%q)) = %v, want ErrInvalidTenant", name, err)
		}
		if err := SetMany(bg, v, map[string]string{c.name: "x"}); !errors.Is(err, ErrInvalidTenant) {
			t.Errorf("SetMany(Tenant(%q)) = %v, want ErrInvalidTenant", name, err)
		}
		loads := 0
		if _, err := GetOrLoad(bg, v, c.name, func(ctx context.Context) (string, error) { loads++; return "x", nil }); !errors.Is(err, ErrInvalidTenant) || loads != 0 {
			t.Errorf("GetOrLoad(Tenant(%q)) = %v after %d loads, want ErrInvalidTenant and none", name, err, loads)
		}
	}

	if found, err := acme.Get(bg, "x:y", &s); !found || err != nil || s != "acme's" {
		t.Fatalf("acme's x:y = %v, %v, %q; want it unchanged", found, err, s)
	}
	if got := rdb.Type(bg, StatsKey(c.prefix, c.name)).Val(); got != statsType || got != "hash" {
		t.Fatalf("the stats key is a %q, want the hash it was (%q)", got, statsType)
	}
	for op := range numOps {
		if n := c.m.errors[op].Load(); n != 0 {
			t.Errorf("cache_errors_total{operation=%q} = %d, want 0", op, n)
		}
	}
	for _, name := range []string{"", "acme", "acme.x", "stats2", "a-b_c"} {
		if err := c.ValidTenant(name); err != nil {
			t.Errorf("ValidTenant(%q) = %v, want nil", name, err)
		}
	}
}

// With a separator of several characters, a tenant ending with its start
// would move where the tenant ends in a key.
func TestValidTenantWithALongSeparator(t *testing.T) {
	c, _ := sharedCache(t, Options{Name: "longsep", Separator: "::"})
	for name, valid := range map[string]bool{"a:": false, "a::b": false, "a:b": true, ":a": true, "a": true, ReservedTenant: false} {
		if err := c.ValidTenant(name); (err == nil) != valid {
			t.Errorf("ValidTenant(%q) = %v, want valid %v", name, err, valid)
		}
	}
}
