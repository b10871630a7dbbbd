package search

import (
	"sort"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector exports what a set of Resilients did as Prometheus metrics:
//
//	search_requests_total{searcher,backend}      counter: calls to the primary or the fallback
//	search_errors_total{searcher,backend}        counter: those calls that failed
//	search_fallbacks_total{searcher,reason}      counter: searches handed to the fallback, by Reason
//	search_duration_seconds{searcher,backend}    histogram: how long the calls took
//
// Every backend and reason is always present. The primaries' breakers are
// not included: add Resilient.Breaker to a breaker.Collector. Resilients can
// be added and removed while the Collector is registered.
type Collector struct {
	mu         sync.RWMutex
	resilients map[string]*Resilient

	requests, errors, fallbacks, duration *prometheus.Desc
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a Collector of rs. A non-empty namespace prefixes the
// metric names: "x" gives x_search_requests_total.
func NewCollector(namespace string, rs ...*Resilient) *Collector {
	name := func(n string) string { return prometheus.BuildFQName(namespace, "search", n) }
	c := &Collector{
		resilients: make(map[string]*Resilient, len(rs)),
		requests: prometheus.NewDesc(name("requests_total"),
			"Search calls made to a backend (primary or fallback); a search the primary's breaker refused is no primary call.",
			[]string{"searcher", "backend"}, nil),
		errors: prometheus.NewDesc(name("errors_total"),
			"Search calls to a backend that failed; calls abandoned by their caller are not counted.",
			[]string{"searcher", "backend"}, nil),
		fallbacks: prometheus.NewDesc(name("fallbacks_total"),
			"Searches handed to the fallback, by why the primary did not serve: breaker_open, timeout or error.",
			[]string{"searcher", "reason"}, nil),
		duration: prometheus.NewDesc(name("duration_seconds"),
			"Duration of search calls to a backend, retries included.",
			[]string{"searcher", "backend"}, nil),
	}
	for _, r := range rs {
		c.Add(r)
	}
	return c
}

// Add exports r, replacing a Resilient of the same name.
func (c *Collector) Add(r *Resilient) {
	c.mu.Lock()
	c.resilients[r.Name()] = r
	c.mu.Unlock()
}

// Remove stops exporting the Resilient named name.
func (c *Collector) Remove(name string) {
	c.mu.Lock()
	delete(c.resilients, name)
	c.mu.Unlock()
}

// Describe sends the descriptors of the four metrics.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.requests
	ch <- c.errors
	ch <- c.fallbacks
	ch <- c.duration
}

// Collect sends the current metrics of every Resilient.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.RLock()
	rs := make([]*Resilient, 0, len(c.resilients))
	for _, r := range c.resilients {
		rs = append(rs, r)
	}
	c.mu.RUnlock()
	sort.Slice(rs, func(i, j int) bool { return rs[i].Name() < rs[j].Name() })

	for _, r := range rs {
		s := r.Stats()
		for _, b := range backends {
			ch <- prometheus.MustNewConstMetric(c.requests, prometheus.CounterValue, float64(s.Requests[b]), r.Name(), b.String())
			ch <- prometheus.MustNewConstMetric(c.errors, prometheus.CounterValue, float64(s.Errors[b]), r.Name(), b.String())
			h := s.Durations[b]
			ch <- prometheus.MustNewConstHistogram(c.duration, h.Count, h.Sum, h.Buckets, r.Name(), b.String())
		}
		for _, reason := range Reasons {
			ch <- prometheus.MustNewConstMetric(c.fallbacks, prometheus.CounterValue, float64(s.Fallbacks[reason]), r.Name(), string(reason))
		}
	}
}
