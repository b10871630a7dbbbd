package search

import (
	"context"
	"math"
	"sort"
	"sync/atomic"
	"time"
)

// counters is what a Resilient counts, lock-free.
type counters struct {
	requests  [len(backends)]atomic.Uint64
	errors    [len(backends)]atomic.Uint64
	fallbacks [len(Reasons)]atomic.Uint64
	durations [len(backends)]histogram
}

func newCounters(buckets []float64) *counters {
	c := &counters{}
	for i := range c.durations {
		c.durations[i] = histogram{upper: buckets, counts: make([]atomic.Uint64, len(buckets)+1)}
	}
	return c
}

// record counts one call to a backend. A call that failed because the
// caller gave up is a request, but neither an error nor a duration: it
// says nothing about the backend.
func (c *counters) record(b Backend, start, end time.Time, err error, caller context.Context) {
	c.requests[b].Add(1)
	if err != nil && caller.Err() != nil {
		return
	}
	if err != nil {
		c.errors[b].Add(1)
	}
	c.durations[b].observe(end.Sub(start).Seconds())
}

// histogram is a fixed-bucket histogram of durations in seconds.
type histogram struct {
	upper   []float64
	counts  []atomic.Uint64 // per bucket, not cumulative; the last is +Inf
	sumBits atomic.Uint64
}

func (h *histogram) observe(v float64) {
	h.counts[sort.SearchFloat64s(h.upper, v)].Add(1)
	for {
		old := h.sumBits.Load()
		if h.sumBits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

func (h *histogram) snapshot() Histogram {
	s := Histogram{Buckets: make(map[float64]uint64, len(h.upper)), Sum: math.Float64frombits(h.sumBits.Load())}
	for i := range h.counts {
		s.Count += h.counts[i].Load()
		if i < len(h.upper) {
			s.Buckets[h.upper[i]] = s.Count
		}
	}
	return s
}

// Stats is a snapshot of what a Resilient counted since it was made.
type Stats struct {
	// Requests counts calls to each backend, indexed by Backend: a search
	// whose primary the breaker refused is no primary request, retries of
	// one search are one request.
	Requests [2]uint64
	// Errors counts the requests that failed, for reasons other than the
	// caller giving up, indexed by Backend.
	Errors [2]uint64
	// Fallbacks counts the searches handed to the fallback, by reason.
	Fallbacks map[Reason]uint64
	// Durations are the requests' durations, indexed by Backend.
	Durations [2]Histogram
}

// Stats indexes its arrays by Backend: there must be two.
var _ [2]Backend = backends

// Histogram is a snapshot of a duration histogram, in the form
// prometheus.NewConstHistogram takes.
type Histogram struct {
	Count uint64
	Sum   float64 // seconds
	// Buckets maps each upper bound (seconds) to the cumulative count.
	Buckets map[float64]uint64
}

// Stats returns what r counted so far.
func (r *Resilient) Stats() Stats {
	c := r.stats
	s := Stats{Fallbacks: make(map[Reason]uint64, len(Reasons))}
	for _, b := range backends {
		s.Requests[b] = c.requests[b].Load()
		s.Errors[b] = c.errors[b].Load()
		s.Durations[b] = c.durations[b].snapshot()
	}
	for i, reason := range Reasons {
		s.Fallbacks[reason] = c.fallbacks[i].Load()
	}
	return s
}
