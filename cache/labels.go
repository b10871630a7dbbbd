package cache

import (
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// OtherTenant is the tenant label of the tenants that did not get their own:
// those outside Options.Tenants, or past Options.MaxTenants.
const OtherTenant = "other"

// NoTenant is the tenant label of the view without a tenant, Tenant(""),
// whose keys are the origin stack's "cache:{key}".
const NoTenant = "none"

// tenantStats are one tenant label's counters. Views resolve theirs once, so
// counting a lookup is one atomic add or two on a cache line of the calling
// goroutine's stripe, and allocates nothing.
type tenantStats struct {
	label   string
	stripes [statStripes]lookupCounts

	// published are the counts already added to the fleet stats hash,
	// guarded by Cache.flushMu.
	publishedRequests, publishedHits uint64
}

// lookupCounts are one stripe of a tenant's counters, a cache line of its own.
type lookupCounts struct {
	requests, hitsLocal, hitsRedis atomic.Uint64
	_                              [cacheLine - 24]byte
}

// Where a lookup was answered.
type answer uint8

const (
	miss answer = iota
	localHit
	redisHit
)

// lookup counts one answered lookup.
func (ts *tenantStats) lookup(a answer) {
	st := &ts.stripes[stripeIndex()]
	st.requests.Add(1)
	switch a {
	case localHit:
		st.hitsLocal.Add(1)
	case redisHit:
		st.hitsRedis.Add(1)
	}
}

// counts sums the stripes. Hits are read first: a hit is counted after its
// request, so the requests returned are never fewer than the hits.
func (ts *tenantStats) counts() (requests, hitsLocal, hitsRedis uint64) {
	for i := range ts.stripes {
		hitsLocal += ts.stripes[i].hitsLocal.Load()
		hitsRedis += ts.stripes[i].hitsRedis.Load()
	}
	for i := range ts.stripes {
		requests += ts.stripes[i].requests.Load()
	}
	return requests, hitsLocal, hitsRedis
}

// Counters written on every call are spread over statStripes stripes, so that
// goroutines on different processors do not fight over one cache line.
const (
	statStripes = 8
	cacheLine   = 64
)

// stripeIndex picks the calling goroutine's stripe from the address of its
// stack: a goroutine keeps to one stripe while different goroutines spread.
func stripeIndex() int {
	var marker byte
	h := uint64(uintptr(unsafe.Pointer(&marker))) >> 11 // stacks are at least 2 KiB
	return int((h * 0x9e3779b97f4a7c15) >> (64 - 3))    // 3 = log2(statStripes)
}

// labels maps tenants to their bounded set of labels.
type labels struct {
	allow map[string]*tenantStats // fixed allow-list, or nil
	other *tenantStats
	max   int

	mu    sync.RWMutex
	seen  map[string]*tenantStats // first MaxTenants tenants seen, without an allow-list
	order []*tenantStats          // every label, in the order created; other last
}

func newLabels(allow []string, max int) *labels {
	l := &labels{other: &tenantStats{label: OtherTenant}, max: max}
	if len(allow) > 0 {
		l.allow = make(map[string]*tenantStats, len(allow))
		for _, t := range allow {
			label := labelOf(t)
			if _, dup := l.allow[label]; dup || label == OtherTenant {
				continue
			}
			ts := &tenantStats{label: label}
			l.allow[label] = ts
			l.order = append(l.order, ts)
		}
	} else {
		l.seen = make(map[string]*tenantStats)
	}
	return l
}

func labelOf(tenant string) string {
	if tenant == "" {
		return NoTenant
	}
	return tenant
}

// resolve returns the counters of tenant's label.
func (l *labels) resolve(tenant string) *tenantStats {
	label := labelOf(tenant)
	if l.allow != nil {
		if ts, ok := l.allow[label]; ok {
			return ts
		}
		return l.other
	}
	if label == OtherTenant {
		return l.other
	}
	l.mu.RLock()
	ts, ok := l.seen[label]
	l.mu.RUnlock()
	if ok {
		return ts
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if ts, ok := l.seen[label]; ok {
		return ts
	}
	if len(l.seen) >= l.max {
		return l.other
	}
	ts = &tenantStats{label: label}
	l.seen[label] = ts
	l.order = append(l.order, ts)
	return ts
}

// all returns every label's counters, other last.
func (l *labels) all() []*tenantStats {
	l.mu.RLock()
	out := make([]*tenantStats, 0, len(l.order)+1)
	out = append(out, l.order...)
	l.mu.RUnlock()
	return append(out, l.other)
}

// Operations, the values of the operation label.
type operation int

const (
	opGet operation = iota
	opSet
	opDelete
	opLoad
	opPublish
	numOps
)

var opNames = [numOps]string{"get", "set", "delete", "load", "publish"}

func (o operation) String() string { return opNames[o] }

// durationBuckets are the upper bounds, in seconds, of the
// cache_operation_duration_seconds histogram: from 50µs, for Redis calls on
// a local network, up to 2.5s, for slow loads.
var durationBuckets = []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}

var bucketBounds = func() []time.Duration {
	d := make([]time.Duration, len(durationBuckets))
	for i, s := range durationBuckets {
		d[i] = time.Duration(s * float64(time.Second))
	}
	return d
}()

// histogram is a lock-free, allocation-free duration histogram, striped
// like the tenant counters; the collector turns it into a Prometheus one.
type histogram struct {
	stripes [statStripes]histogramStripe
}

type histogramStripe struct {
	counts [16]atomic.Uint64 // per bucket (not cumulative); the last is +Inf
	sum    atomic.Int64      // nanoseconds
	_      [3*cacheLine - 17*8]byte
}

func (h *histogram) observe(d time.Duration) {
	i := 0
	for i < len(bucketBounds) && d > bucketBounds[i] {
		i++
	}
	st := &h.stripes[stripeIndex()]
	st.counts[i].Add(1)
	st.sum.Add(int64(d))
}

// snapshot returns the count, the sum in seconds and the cumulative bucket
// counts keyed by upper bound.
func (h *histogram) snapshot() (uint64, float64, map[float64]uint64) {
	var counts [16]uint64
	var sum int64
	for s := range h.stripes {
		st := &h.stripes[s]
		for i := range counts {
			counts[i] += st.counts[i].Load()
		}
		sum += st.sum.Load()
	}
	buckets := make(map[float64]uint64, len(durationBuckets))
	var n uint64
	for i, ub := range durationBuckets {
		n += counts[i]
		buckets[ub] = n
	}
	n += counts[len(durationBuckets)]
	return n, time.Duration(sum).Seconds(), buckets
}

// metrics are a cache's counters that are not per tenant.
type metrics struct {
	errors   [numOps]atomic.Uint64
	duration [numOps]histogram
	// Coalescing: pipelines of two calls or more, and the calls in them.
	pipelines, pipelined atomic.Uint64
}
