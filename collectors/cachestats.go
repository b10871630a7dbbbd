package collectors

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/health-exporter/health-exporter/cache"
)

// The fleet-wide cache hit rates that services publish to Redis with
// cache.Cache.FlushStats (format in docs/cache.md), read by a redis check
// whose cache_prefixes is set.
var (
	descCacheRequests = prometheus.NewDesc("health_cache_requests_total",
		"Cache lookups answered, summed over every process that publishes the cache's stats to this Redis.",
		[]string{"dependency", "cache", "tenant"}, nil)
	descCacheHits = prometheus.NewDesc("health_cache_hits_total",
		"Cache lookups answered with a value, summed over every process that publishes the cache's stats to this Redis.",
		[]string{"dependency", "cache", "tenant"}, nil)
)

// Bounds on what a redis check exports from the stats hashes, whatever the
// publishers wrote: the caches of a prefix in name order, the tenants of a
// cache with the most requests; the other tenants are summed into "other".
const (
	maxCachesPerPrefix = 32
	maxTenantsPerCache = 50
)

// cacheTenant is one tenant's fleet counters.
type cacheTenant struct {
	tenant         string
	requests, hits uint64
}

// cacheStats are one cache's fleet counters by tenant, "other" last.
type cacheStats struct {
	cache   string
	tenants []cacheTenant
}

// parseCacheStats turns the fields of a stats hash ("{tenant}:requests",
// "{tenant}:hits") into per-tenant counters, keeping the maxTenants tenants
// with the most requests (ties by name) and summing the rest, and any
// "other" field, into "other". Unknown fields and values that are not
// non-negative integers are skipped. It does no I/O.
func parseCacheStats(name string, fields map[string]string, maxTenants int) cacheStats {
	byTenant := map[string]*cacheTenant{}
	for field, value := range fields {
		i := strings.LastIndexByte(field, ':')
		if i < 0 {
			continue
		}
		n, err := strconv.ParseUint(value, 10, 64)
		if err != nil {
			continue
		}
		tenant := field[:i]
		if tenant == "" {
			tenant = cache.NoTenant
		}
		t := byTenant[tenant]
		if t == nil {
			t = &cacheTenant{tenant: tenant}
		}
		switch field[i+1:] {
		case cache.StatsRequestsField:
			t.requests = n
		case cache.StatsHitsField:
			t.hits = n
		default:
			continue
		}
		byTenant[tenant] = t
	}

	other, hadOther := cacheTenant{tenant: cache.OtherTenant}, false
	if t, ok := byTenant[cache.OtherTenant]; ok {
		other, hadOther = *t, true
		delete(byTenant, cache.OtherTenant)
	}
	tenants := make([]cacheTenant, 0, len(byTenant))
	for _, t := range byTenant {
		tenants = append(tenants, *t)
	}
	sort.Slice(tenants, func(i, j int) bool {
		if tenants[i].requests != tenants[j].requests {
			return tenants[i].requests > tenants[j].requests
		}
		return tenants[i].tenant < tenants[j].tenant
	})
	folded := false
	if len(tenants) > maxTenants {
		for _, t := range tenants[maxTenants:] {
			other.requests += t.requests
			other.hits += t.hits
		}
		tenants, folded = tenants[:maxTenants], true
	}
	sort.Slice(tenants, func(i, j int) bool { return tenants[i].tenant < tenants[j].tenant })
	if folded || hadOther {
		tenants = append(tenants, other)
	}
	return cacheStats{cache: name, tenants: tenants}
}

// readCacheStats reads the stats hashes of the caches publishing under
// prefixes, in two pipelined round trips whatever their number: SMEMBERS of
// each prefix's index set ("{prefix}:stats"), then HGETALL of each cache's
// hash ("{prefix}:stats:{cache}"). The index set, which the publishers keep,
// spares a SCAN of the whole keyspace on every scrape. A cache name found
// under several prefixes is summed.
func readCacheStats(ctx context.Context, client redis.UniversalClient, prefixes []string) ([]cacheStats, error) {
	pipe := client.Pipeline()
	members := make([]*redis.StringSliceCmd, len(prefixes))
	for i, p := range prefixes {
		members[i] = pipe.SMembers(ctx, cache.StatsIndexKey(p))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("cache stats index: %w", err)
	}

	type hash struct {
		name string
		cmd  *redis.MapStringStringCmd
	}
	var hashes []hash
	pipe = client.Pipeline()
	for i, p := range prefixes {
		names := members[i].Val()
		sort.Strings(names)
		for _, name := range names[:min(len(names), maxCachesPerPrefix)] {
			hashes = append(hashes, hash{name, pipe.HGetAll(ctx, cache.StatsKey(p, name))})
		}
	}
	if len(hashes) == 0 {
		return nil, nil
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("cache stats: %w", err)
	}

	merged := map[string]map[string]string{}
	var names []string
	for _, h := range hashes {
		fields := h.cmd.Val()
		if len(fields) == 0 { // expired: no process publishes it any more
			continue
		}
		m := merged[h.name]
		if m == nil {
			m = map[string]string{}
			merged[h.name] = m
			names = append(names, h.name)
		}
		for f, v := range fields {
			m[f] = addCounts(m[f], v)
		}
	}
	sort.Strings(names)
	out := make([]cacheStats, 0, len(names))
	for _, name := range names {
		out = append(out, parseCacheStats(name, merged[name], maxTenantsPerCache))
	}
	return out, nil
}

// addCounts adds two decimal counters; a value that is not one is dropped.
func addCounts(a, b string) string {
	if a == "" {
		return b
	}
	x, errA := strconv.ParseUint(a, 10, 64)
	y, errB := strconv.ParseUint(b, 10, 64)
	switch {
	case errA != nil:
		return b
	case errB != nil:
		return a
	}
	return strconv.FormatUint(x+y, 10)
}

// reportCacheStats sends the fleet cache counters of one dependency.
func reportCacheStats(ch chan<- prometheus.Metric, dependency string, caches []cacheStats) {
	for _, c := range caches {
		for _, t := range c.tenants {
			ch <- prometheus.MustNewConstMetric(descCacheRequests, prometheus.CounterValue, float64(t.requests), dependency, c.cache, t.tenant)
			ch <- prometheus.MustNewConstMetric(descCacheHits, prometheus.CounterValue, float64(t.hits), dependency, c.cache, t.tenant)
		}
	}
}
