package search_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/health-exporter/health-exporter/breaker"
	"github.com/health-exporter/health-exporter/search"
)

// steppingClock advances by step at every reading, so every timed call
// takes exactly step.
func steppingClock(step time.Duration) func() time.Time {
	t := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	return func() time.Time {
		t = t.Add(step)
		return t
	}
}

func TestCollector(t *testing.T) {
	clk := newClock()
	p, f := &fake{ws: primaryHits}, &fake{ws: fallbackHit}
	r := newResilient(t, p, f, search.Options{
		Name:    "workflows",
		Buckets: []float64{0.005, 0.05},
		Now:     steppingClock(20 * time.Millisecond),
		Breaker: breaker.Settings{FailureThreshold: 2, Now: clk.Now},
	})
	ask := func() {
		t.Helper()
		if _, err := r.Ask(t.Context(), q); err != nil {
			t.Fatal(err)
		}
	}
	ask()                    // primary serves
	p.set(errPrimary, false) // two failures open the breaker
	ask()
	ask()
	ask() // breaker open
	f.set(errFallback, false)
	if _, err := r.Ask(t.Context(), q); err == nil {
		t.Fatal("both down, yet no error")
	}

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(search.NewCollector("app", r))
	want := `
# HELP app_search_duration_seconds Duration of search calls to a backend, retries included.
# TYPE app_search_duration_seconds histogram
app_search_duration_seconds_bucket{backend="fallback",searcher="workflows",le="0.005"} 0
app_search_duration_seconds_bucket{backend="fallback",searcher="workflows",le="0.05"} 4
app_search_duration_seconds_bucket{backend="fallback",searcher="workflows",le="+Inf"} 4
app_search_duration_seconds_sum{backend="fallback",searcher="workflows"} 0.08
app_search_duration_seconds_count{backend="fallback",searcher="workflows"} 4
app_search_duration_seconds_bucket{backend="primary",searcher="workflows",le="0.005"} 0
app_search_duration_seconds_bucket{backend="primary",searcher="workflows",le="0.05"} 3
app_search_duration_seconds_bucket{backend="primary",searcher="workflows",le="+Inf"} 3
app_search_duration_seconds_sum{backend="primary",searcher="workflows"} 0.06
app_search_duration_seconds_count{backend="primary",searcher="workflows"} 3
# HELP app_search_errors_total Search calls to a backend that failed; calls abandoned by their caller are not counted.
# TYPE app_search_errors_total counter
app_search_errors_total{backend="fallback",searcher="workflows"} 1
app_search_errors_total{backend="primary",searcher="workflows"} 2
# HELP app_search_fallbacks_total Searches handed to the fallback, by why the primary did not serve: breaker_open, timeout or error.
# TYPE app_search_fallbacks_total counter
app_search_fallbacks_total{reason="breaker_open",searcher="workflows"} 2
app_search_fallbacks_total{reason="error",searcher="workflows"} 2
app_search_fallbacks_total{reason="timeout",searcher="workflows"} 0
# HELP app_search_requests_total Search calls made to a backend (primary or fallback); a search the primary's breaker refused is no primary call.
# TYPE app_search_requests_total counter
app_search_requests_total{backend="fallback",searcher="workflows"} 4
app_search_requests_total{backend="primary",searcher="workflows"} 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}

	// The breaker goes to a breaker.Collector; a removed searcher is gone.
	bc := breaker.NewCollector("app", r.Breaker())
	if n := testutil.CollectAndCount(bc, "app_circuit_breaker_state"); n != 3 {
		t.Fatalf("%d breaker state series", n)
	}
	c := search.NewCollector("", r)
	c.Remove("workflows")
	if n := testutil.CollectAndCount(c); n != 0 {
		t.Fatalf("%d series after Remove", n)
	}
}
