// Package cache is a multi-tenant Redis cache for Go services, the
// successor of the origin stack's CacheService.
//
// Keys are "{prefix}:{tenant}:{key}" ("cache:acme:user:42"); values are JSON
// by default, so Go and Python services share entries (see Time for
// Python's datetimes); entries expire after one hour unless told otherwise.
// A Cache holds one go-redis UniversalClient (single node, Sentinel or
// Cluster) and hands out cheap per-tenant views:
//
//	c, err := cache.New(cache.Options{Client: rdb, Name: "workflows"})
//	acme := c.Tenant("acme")
//	found, err := acme.Get(ctx, "wf:1", &wf)
//	err = acme.Set(ctx, "wf:1", wf)
//	wf, err := cache.GetOrLoad(ctx, acme, "wf:1", loadWorkflow)
//
// The cache fails open. A Redis error or timeout is a miss for Get and a
// reported failure for Set and Delete; the error is returned and counted,
// never a panic. Every Redis call has a small deadline (Options.Timeout,
// 100ms) and goes through a circuit breaker, so a dead or hung Redis costs
// one refusal, microseconds, per call until it recovers.
//
// Calls made at the same time share round trips: while Options.MaxInFlight
// (4 per CPU) round trips are under way, further Get, Set and Delete calls
// queue and go out together, one pipeline per round trip, each keeping its
// own outcome and deadline. Under load that halves what a call costs; with
// few callers nothing waits. See coalesce.go and docs/cache.md.
//
// GetOrLoad lets one caller per key and process look up and load at a time,
// and still loads when Redis fails. An optional in-process tier
// (Options.LocalSize) keeps hot keys for a second; Delete and Set drop the
// key from this process's tier, other processes may serve their copy until
// it expires.
//
// Collector exports per-process hit rates by tenant and tier. FlushStats
// and Publish add the counts to a Redis hash that the exporter reads, for
// the fleet-wide hit rate per tenant.
package cache
