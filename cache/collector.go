package cache

import (
	"sort"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector exports the counters of a set of caches, as seen by this
// process:
//
//	cache_requests_total{cache,tenant}                  counter: lookups answered (hit or miss)
//	cache_hits_total{cache,tenant,tier}                 counter: hits, tier local or redis
//	cache_errors_total{cache,operation}                 counter: failed Redis calls and refusals
//	cache_operation_duration_seconds{cache,operation}   histogram: get, set, delete, load, publish
//	cache_pipelines_total{cache}                        counter: pipelines coalescing sent (2+ calls)
//	cache_pipelined_calls_total{cache}                  counter: the calls they carried
//
// The hit ratio is sum(hits) / requests; a lookup Redis could not answer is
// an error, not a miss. Tenants come from Options.Tenants or the first
// Options.MaxTenants seen; the rest are "other". Local-tier hits take no
// time worth a histogram and are not observed.
type Collector struct {
	mu     sync.RWMutex
	caches map[string]*Cache

	requests, hits, errors, duration *prometheus.Desc
	pipelines, pipelined             *prometheus.Desc
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a Collector of the given caches. A non-empty
// namespace prefixes the metric names: "x" gives x_cache_requests_total.
func NewCollector(namespace string, cs ...*Cache) *Collector {
	name := func(n string) string { return prometheus.BuildFQName(namespace, "cache", n) }
	c := &Collector{
		caches: make(map[string]*Cache, len(cs)),
		requests: prometheus.NewDesc(name("requests_total"),
			"Cache lookups answered by the local tier or Redis, hit or miss; lookups Redis could not answer are errors.",
			[]string{"cache", "tenant"}, nil),
		hits: prometheus.NewDesc(name("hits_total"),
			"Cache lookups answered with a value, by the tier that had it (local or redis).",
			[]string{"cache", "tenant", "tier"}, nil),
		errors: prometheus.NewDesc(name("errors_total"),
			"Cache operations that failed on Redis or were refused by the open breaker; the cache failed open.",
			[]string{"cache", "operation"}, nil),
		duration: prometheus.NewDesc(name("operation_duration_seconds"),
			"Duration of the cache's Redis calls (get, set, delete, publish) and of its loader runs (load).",
			[]string{"cache", "operation"}, nil),
		pipelines: prometheus.NewDesc(name("pipelines_total"),
			"Pipelines of two or more Get, Set and Delete calls that the cache sent together (coalescing).",
			[]string{"cache"}, nil),
		pipelined: prometheus.NewDesc(name("pipelined_calls_total"),
			"Get, Set and Delete calls that went out in the cache's pipelines, not in round trips of their own.",
			[]string{"cache"}, nil),
	}
	for _, cache := range cs {
		c.Add(cache)
	}
	return c
}

// Add exports cache, replacing one of the same name.
func (c *Collector) Add(cache *Cache) {
	c.mu.Lock()
	c.caches[cache.name] = cache
	c.mu.Unlock()
}

// Remove stops exporting the cache named name.
func (c *Collector) Remove(name string) {
	c.mu.Lock()
	delete(c.caches, name)
	c.mu.Unlock()
}

// Describe sends the six descriptions.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.requests
	ch <- c.hits
	ch <- c.errors
	ch <- c.duration
	ch <- c.pipelines
	ch <- c.pipelined
}

// Collect sends every cache's counters.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.RLock()
	caches := make([]*Cache, 0, len(c.caches))
	for _, cache := range c.caches {
		caches = append(caches, cache)
	}
	c.mu.RUnlock()
	sort.Slice(caches, func(i, j int) bool { return caches[i].name < caches[j].name })

	for _, cache := range caches {
		for _, ts := range cache.labels.all() {
			requests, local, redis := ts.counts()
			ch <- prometheus.MustNewConstMetric(c.requests, prometheus.CounterValue, float64(requests), cache.name, ts.label)
			ch <- prometheus.MustNewConstMetric(c.hits, prometheus.CounterValue, float64(local), cache.name, ts.label, "local")
			ch <- prometheus.MustNewConstMetric(c.hits, prometheus.CounterValue, float64(redis), cache.name, ts.label, "redis")
		}
		for op := range numOps {
			ch <- prometheus.MustNewConstMetric(c.errors, prometheus.CounterValue, float64(cache.m.errors[op].Load()), cache.name, op.String())
			n, sum, buckets := cache.m.duration[op].snapshot()
			ch <- prometheus.MustNewConstHistogram(c.duration, n, sum, buckets, cache.name, op.String())
		}
		ch <- prometheus.MustNewConstMetric(c.pipelines, prometheus.CounterValue, float64(cache.m.pipelines.Load()), cache.name)
		ch <- prometheus.MustNewConstMetric(c.pipelined, prometheus.CounterValue, float64(cache.m.pipelined.Load()), cache.name)
	}
}
