package cache

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

func TestCollectorExposition(t *testing.T) {
	c, _ := sharedCache(t, Options{Name: "workflows", Tenants: []string{"acme", "globex"}, LocalSize: 10, LocalTTL: time.Hour})
	acme := c.Tenant("acme")
	var n int
	_ = acme.Set(bg, "k", 1)
	_, _ = acme.Get(bg, "k", &n)                   // redis hit
	_, _ = acme.Get(bg, "k", &n)                   // local hit
	_, _ = acme.Get(bg, "nope", &n)                // miss
	_, _ = c.Tenant("initech").Get(bg, "nope", &n) // other
	c.m.errors[opDelete].Add(2)
	c.m.pipelines.Add(3)
	c.m.pipelined.Add(40)

	// Durations vary; this histogram gets known ones.
	h := &c.m.duration[opLoad]
	*h = histogram{}
	for _, d := range []time.Duration{40 * time.Microsecond, 300 * time.Microsecond, 2 * time.Millisecond, 3 * time.Second} {
		h.observe(d)
	}

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector("", c))
	want := `
# HELP cache_errors_total Cache operations that failed on Redis or were refused by the open breaker; the cache failed open.
# TYPE cache_errors_total counter
cache_errors_total{cache="workflows",operation="delete"} 2
cache_errors_total{cache="workflows",operation="get"} 0
cache_errors_total{cache="workflows",operation="load"} 0
cache_errors_total{cache="workflows",operation="publish"} 0
cache_errors_total{cache="workflows",operation="set"} 0
# HELP cache_pipelined_calls_total Get, Set and Delete calls that went out in the cache's pipelines, not in round trips of their own.
# TYPE cache_pipelined_calls_total counter
cache_pipelined_calls_total{cache="workflows"} 40
# HELP cache_pipelines_total Pipelines of two or more Get, Set and Delete calls that the cache sent together (coalescing).
# TYPE cache_pipelines_total counter
cache_pipelines_total{cache="workflows"} 3
# HELP cache_hits_total Cache lookups answered with a value, by the tier that had it (local or redis).
# TYPE cache_hits_total counter
cache_hits_total{cache="workflows",tenant="acme",tier="local"} 1
cache_hits_total{cache="workflows",tenant="acme",tier="redis"} 1
cache_hits_total{cache="workflows",tenant="globex",tier="local"} 0
cache_hits_total{cache="workflows",tenant="globex",tier="redis"} 0
cache_hits_total{cache="workflows",tenant="other",tier="local"} 0
cache_hits_total{cache="workflows",tenant="other",tier="redis"} 0
# HELP cache_requests_total Cache lookups answered by the local tier or Redis, hit or miss; lookups Redis could not answer are errors.
# TYPE cache_requests_total counter
cache_requests_total{cache="workflows",tenant="acme"} 3
cache_requests_total{cache="workflows",tenant="globex"} 0
cache_requests_total{cache="workflows",tenant="other"} 1
# HELP cache_operation_duration_seconds Duration of the cache's Redis calls (get, set, delete, publish) and of its loader runs (load).
# TYPE cache_operation_duration_seconds histogram
cache_operation_duration_seconds_bucket{cache="workflows",operation="load",le="5e-05"} 1
cache_operation_duration_seconds_bucket{cache="workflows",operation="load",le="0.0001"} 1
cache_operation_duration_seconds_bucket{cache="workflows",operation="load",le="0.00025"} 1
cache_operation_duration_seconds_bucket{cache="workflows",operation="load",le="0.0005"} 2
cache_operation_duration_seconds_bucket{cache="workflows",operation="load",le="0.001"} 2
cache_operation_duration_seconds_bucket{cache="workflows",operation="load",le="0.0025"} 3
cache_operation_duration_seconds_bucket{cache="workflows",operation="load",le="0.005"} 3
cache_operation_duration_seconds_bucket{cache="workflows",operation="load",le="0.01"} 3
cache_operation_duration_seconds_bucket{cache="workflows",operation="load",le="0.025"} 3
cache_operation_duration_seconds_bucket{cache="workflows",operation="load",le="0.05"} 3
cache_operation_duration_seconds_bucket{cache="workflows",operation="load",le="0.1"} 3
cache_operation_duration_seconds_bucket{cache="workflows",operation="load",le="0.25"} 3
cache_operation_duration_seconds_bucket{cache="workflows",operation="load",le="0.5"} 3
cache_operation_duration_seconds_bucket{cache="workflows",operation="load",le="1"} 3
cache_operation_duration_seconds_bucket{cache="workflows",operation="load",le="2.5"} 3
cache_operation_duration_seconds_bucket{cache="workflows",operation="load",le="+Inf"} 4
cache_operation_duration_seconds_sum{cache="workflows",operation="load"} 3.00234
cache_operation_duration_seconds_count{cache="workflows",operation="load"} 4
`
	// The other operations' histograms hold real, varying durations: compare
	// the counters and the load histogram only.
	got, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range got {
		if mf.GetName() != "cache_operation_duration_seconds" {
			continue
		}
		kept := mf.Metric[:0]
		for _, m := range mf.Metric {
			for _, l := range m.Label {
				if l.GetName() == "operation" && l.GetValue() == "load" {
					kept = append(kept, m)
				}
			}
		}
		mf.Metric = kept
	}
	if err := testutil.GatherAndCompare(prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return got, nil }),
		strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}

func TestCollectorNamespaceAndTenantCap(t *testing.T) {
	c, _ := sharedCache(t, Options{Name: "capped", MaxTenants: 2})
	var n int
	for _, tenant := range []string{"a", "b", "c", "d", ""} {
		_, _ = c.Tenant(tenant).Get(bg, "k", &n)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector("app", c))
	want := `
# HELP app_cache_requests_total Cache lookups answered by the local tier or Redis, hit or miss; lookups Redis could not answer are errors.
# TYPE app_cache_requests_total counter
app_cache_requests_total{cache="capped",tenant="a"} 1
app_cache_requests_total{cache="capped",tenant="b"} 1
app_cache_requests_total{cache="capped",tenant="other"} 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "app_cache_requests_total"); err != nil {
		t.Fatal(err)
	}
	// 3 tenants' requests, their hits by 2 tiers, 5 operations' errors and
	// durations, and the 2 pipeline counters.
	if n := testutil.CollectAndCount(NewCollector("", c)); n != 3+6+5+5+2 {
		t.Fatalf("collected %d series, want 21", n)
	}
}
