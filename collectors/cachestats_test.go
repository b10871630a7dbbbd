package collectors

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/health-exporter/health-exporter/cache"
	"github.com/health-exporter/health-exporter/internal/testenv"
)

func TestParseCacheStats(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fields map[string]string
		max    int
		want   string
	}{
		{"empty", map[string]string{}, 50, "[]"},
		{"tenants by name", map[string]string{
			"globex:requests": "5", "globex:hits": "1",
			"acme:requests": "10", "acme:hits": "7",
		}, 50, "[{acme 10 7} {globex 5 1}]"},
		{"tenant with a colon, and the tenant-less view", map[string]string{
			"eu:acme:requests": "3", "eu:acme:hits": "2", ":requests": "4",
		}, 50, "[{eu:acme 3 2} {none 4 0}]"},
		{"junk skipped", map[string]string{
			"acme:requests": "3", "acme:misses": "9", "acme:hits": "-1", "nofield": "1", "acme2:requests": "x",
		}, 50, "[{acme 3 0}]"},
		{"cap keeps the busiest, other sums the rest", map[string]string{
			"a:requests": "1", "a:hits": "1",
			"b:requests": "30", "b:hits": "20",
			"c:requests": "20", "c:hits": "10",
			"d:requests": "2", "d:hits": "2",
			"other:requests": "100", "other:hits": "50",
		}, 2, "[{b 30 20} {c 20 10} {other 103 53}]"},
		{"published other kept", map[string]string{"other:requests": "1"}, 50, "[{other 1 0}]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := parseCacheStats("workflows", tc.fields, tc.max)
			if got.cache != "workflows" {
				t.Fatalf("cache %q", got.cache)
			}
			if s := fmt.Sprintf("%v", got.tenants); s != tc.want {
				t.Fatalf("parsed %s, want %s", s, tc.want)
			}
		})
	}
}

// What the cache package publishes is what a redis check with
// cache_prefixes exports.
func TestRedisCheckExportsPublishedCacheStats(t *testing.T) {
	srv := testenv.StartRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()

	publish := func(prefix, name string, tenants []string, gets map[string]int) {
		c, err := cache.New(cache.Options{Client: rdb, Prefix: prefix, Name: name, Tenants: tenants})
		if err != nil {
			t.Fatal(err)
		}
		for tenant, n := range gets {
			v := c.Tenant(tenant)
			if err := v.Set(ctx, "k", 1); err != nil {
				t.Fatal(err)
			}
			var x int
			for i := range n {
				key := "k"
				if i%2 == 1 {
					key = "missing"
				}
				if _, err := v.Get(ctx, key, &x); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := c.FlushStats(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Two processes of one cache add up; a second cache and a second prefix.
	publish("cache", "workflows", []string{"acme"}, map[string]int{"acme": 4, "initech": 3})
	publish("cache", "workflows", []string{"acme"}, map[string]int{"acme": 2})
	publish("cache", "sessions", nil, map[string]int{"": 1})
	publish("other-app", "search", nil, map[string]int{"globex": 2})
	publish("unlisted", "hidden", nil, map[string]int{"acme": 1})

	d := redisDep(srv.Addr)
	d.Redis.CachePrefixes = []string{"cache", "other-app"}
	check, err := newRedisCheck(d)
	if err != nil {
		t.Fatal(err)
	}
	if res := check.Check(ctx); res.Status != Healthy {
		t.Fatalf("check: %+v", res)
	}

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(reporterCollector{check, d.Name})
	want := `
# HELP health_cache_hits_total Cache lookups answered with a value, summed over every process that publishes the cache's stats to this Redis.
# TYPE health_cache_hits_total counter
health_cache_hits_total{cache="search",dependency="message_queue",tenant="globex"} 1
health_cache_hits_total{cache="sessions",dependency="message_queue",tenant="none"} 1
health_cache_hits_total{cache="workflows",dependency="message_queue",tenant="acme"} 3
health_cache_hits_total{cache="workflows",dependency="message_queue",tenant="other"} 2
# HELP health_cache_requests_total Cache lookups answered, summed over every process that publishes the cache's stats to this Redis.
# TYPE health_cache_requests_total counter
health_cache_requests_total{cache="search",dependency="message_queue",tenant="globex"} 2
health_cache_requests_total{cache="sessions",dependency="message_queue",tenant="none"} 1
health_cache_requests_total{cache="workflows",dependency="message_queue",tenant="acme"} 6
health_cache_requests_total{cache="workflows",dependency="message_queue",tenant="other"} 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "health_cache_requests_total", "health_cache_hits_total"); err != nil {
		t.Fatal(err)
	}

	// Stats that cannot be read leave the last ones exported.
	if err := rdb.Set(ctx, cache.StatsIndexKey("cache"), "not a set", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if res := check.Check(ctx); res.Status != Healthy {
		t.Fatalf("an unreadable stats index changed the check: %+v", res)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "health_cache_requests_total", "health_cache_hits_total"); err != nil {
		t.Fatal(err)
	}
}

// reporterCollector exposes one checker's own metrics.
type reporterCollector struct {
	check      metricsReporter
	dependency string
}

func (r reporterCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descCacheRequests
	ch <- descCacheHits
	ch <- descRedisHits
	ch <- descRedisMisses
}

func (r reporterCollector) Collect(ch chan<- prometheus.Metric) { r.check.report(ch, r.dependency) }
