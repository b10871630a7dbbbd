package breaker

import (
	"sort"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector exports the state and counters of a set of breakers as
// Prometheus metrics:
//
//	circuit_breaker_state{breaker,state}          gauge, 1 for the current state
//	circuit_breaker_transitions_total{breaker,to} counter
//	circuit_breaker_calls_total{breaker,result}   counter: success, failure, rejected, excluded
//
// Every state, destination and result is always present. Breakers can be
// added and removed while it is registered, as on a configuration reload.
type Collector struct {
	mu       sync.RWMutex
	breakers map[string]*Breaker

	state, transitions, calls *prometheus.Desc
}

var _ prometheus.Collector = (*Collector)(nil)

var states = [...]State{Closed, HalfOpen, Open}

// NewCollector returns a Collector of the given breakers. A non-empty
// namespace prefixes the metric names: "x" gives x_circuit_breaker_state.
func NewCollector(namespace string, bs ...*Breaker) *Collector {
	name := func(n string) string { return prometheus.BuildFQName(namespace, "circuit_breaker", n) }
	c := &Collector{
		breakers: make(map[string]*Breaker, len(bs)),
		state: prometheus.NewDesc(name("state"),
			"Circuit breaker state: 1 for the current state (closed, half_open, open), 0 for the others.",
			[]string{"breaker", "state"}, nil),
		transitions: prometheus.NewDesc(name("transitions_total"),
			"Circuit breaker state changes, by the state changed to.",
			[]string{"breaker", "to"}, nil),
		calls: prometheus.NewDesc(name("calls_total"),
			"Calls through the circuit breaker by result: success, failure, rejected (refused while open or half-open) or excluded (counted neither way, such as a cancelled call).",
			[]string{"breaker", "result"}, nil),
	}
	for _, b := range bs {
		c.Add(b)
	}
	return c
}

// Add exports b, replacing a breaker of the same name.
func (c *Collector) Add(b *Breaker) {
	c.mu.Lock()
	c.breakers[b.Name()] = b
	c.mu.Unlock()
}

// Remove stops exporting the breaker named name.
func (c *Collector) Remove(name string) {
	c.mu.Lock()
	delete(c.breakers, name)
	c.mu.Unlock()
}

// Describe sends the descriptors of the three metrics.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.state
	ch <- c.transitions
	ch <- c.calls
}

// Collect sends the current metrics of every breaker.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.RLock()
	bs := make([]*Breaker, 0, len(c.breakers))
	for _, b := range c.breakers {
		bs = append(bs, b)
	}
	c.mu.RUnlock()
	sort.Slice(bs, func(i, j int) bool { return bs[i].Name() < bs[j].Name() })

	for _, b := range bs {
		n := b.Counts()
		for _, s := range states {
			v := 0.0
			if n.State == s {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(c.state, prometheus.GaugeValue, v, b.Name(), s.String())
		}
		for _, s := range states {
			ch <- prometheus.MustNewConstMetric(c.transitions, prometheus.CounterValue, float64(n.Transitions[s]), b.Name(), s.String())
		}
		for _, r := range []struct {
			result string
			v      uint64
		}{{"success", n.Successes}, {"failure", n.Failures}, {"rejected", n.Rejected}, {"excluded", n.Excluded}} {
			ch <- prometheus.MustNewConstMetric(c.calls, prometheus.CounterValue, float64(r.v), b.Name(), r.result)
		}
	}
}
