package collectors

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ScrapeTimeoutHeader is the header in which Prometheus sends its scrape timeout.
const ScrapeTimeoutHeader = "X-Prometheus-Scrape-Timeout-Seconds"

// Budget returns how long checks may take for request r: the scrape timeout
// Prometheus announced minus offset. It returns 0 (no budget: each check's
// own timeout) when the header is absent, unreadable, not a positive finite
// number, or no larger than offset: a tiny or hostile header must not give
// every check a deadline it cannot meet and so open every breaker.
func Budget(r *http.Request, offset time.Duration) time.Duration {
	v := r.Header.Get(ScrapeTimeoutHeader)
	if v == "" {
		return 0
	}
	secs, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(secs) || secs <= 0 || secs >= maxBudgetSeconds {
		return 0 // +Inf and values past time.Duration's range: no limit either
	}
	b := time.Duration(secs*float64(time.Second)) - offset
	if b <= 0 {
		return 0
	}
	return b
}

// maxBudgetSeconds is the largest header value a time.Duration holds.
const maxBudgetSeconds = float64(math.MaxInt64) / float64(time.Second)

// refresh runs the due checks under the request's budget.
func refresh(r *http.Request, runner *Runner, offset time.Duration) []Snapshot {
	ctx := r.Context()
	if b := Budget(r, offset); b > 0 {
		var cancel context.CancelFunc
		// A little past the budget, so checks report their own timeout first.
		ctx, cancel = context.WithTimeout(ctx, b+offset/2)
		defer cancel()
		return runner.Refresh(ctx, b)
	}
	return runner.Refresh(ctx, 0)
}

// MetricsHandler serves g after bringing runner's results up to date. A
// failing dependency is a metric value: the response is 200 all the same.
// It answers GET and HEAD; other methods get 405.
func MetricsHandler(runner *Runner, g prometheus.Gatherer, offset time.Duration, opts promhttp.HandlerOpts) http.Handler {
	h := promhttp.HandlerFor(g, opts)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !getOrHead(w, r) {
			return
		}
		refresh(r, runner, offset)
		h.ServeHTTP(w, r)
	})
}

// getOrHead answers a request that is neither GET nor HEAD with 405 and an
// Allow header, before any check runs; it reports whether r may be served.
func getOrHead(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	http.Error(w, "method not allowed: use GET or HEAD", http.StatusMethodNotAllowed)
	return false
}

// HealthReport is the JSON health summary, in the shape of the
// application/health+json draft: an overall status and one entry per
// dependency.
type HealthReport struct {
	Status      string                   `json:"status"` // pass, warn or fail
	Description string                   `json:"description"`
	Checks      map[string][]HealthCheck `json:"checks"`
}

// HealthCheck is one dependency's entry in a HealthReport.
type HealthCheck struct {
	ComponentType string    `json:"componentType"`
	Endpoint      string    `json:"endpoint"`
	Status        string    `json:"status"` // pass, warn or fail
	State         string    `json:"state"`  // healthy, degraded or down
	Reason        string    `json:"reason,omitempty"`
	Output        string    `json:"output,omitempty"`
	ObservedValue float64   `json:"observedValue"`
	ObservedUnit  string    `json:"observedUnit"`
	Time          time.Time `json:"time"`
	Background    bool      `json:"background,omitempty"`
}

// NewHealthReport summarises snapshots: fail if any dependency is down, warn
// if any is degraded, pass otherwise.
func NewHealthReport(snaps []Snapshot) HealthReport {
	rep := HealthReport{Status: "pass", Description: "all dependencies healthy", Checks: make(map[string][]HealthCheck, len(snaps))}
	worst := Healthy
	for _, s := range snaps {
		if s.Result.Status > worst {
			worst = s.Result.Status
		}
		rep.Checks[s.Name] = []HealthCheck{{
			ComponentType: s.Kind,
			Endpoint:      s.Endpoint,
			Status:        healthStatus(s.Result.Status),
			State:         s.Result.Status.String(),
			Reason:        string(s.Result.Reason),
			Output:        s.Result.Detail,
			ObservedValue: s.Result.Duration.Seconds(),
			ObservedUnit:  "s",
			Time:          s.Result.Time.UTC(),
			Background:    s.Background,
		}}
	}
	rep.Status = healthStatus(worst)
	switch worst {
	case Degraded:
		rep.Description = "some dependencies are degraded"
	case Down:
		rep.Description = "some dependencies are down"
	}
	return rep
}

func healthStatus(s Status) string {
	switch s {
	case Healthy:
		return "pass"
	case Degraded:
		return "warn"
	default:
		return "fail"
	}
}

// HealthHandler serves the JSON health summary from the same coalesced run
// as /metrics: 200 for pass and warn, 503 for fail. It answers GET and HEAD;
// other methods get 405.
func HealthHandler(runner *Runner, offset time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !getOrHead(w, r) {
			return
		}
		rep := NewHealthReport(refresh(r, runner, offset))
		w.Header().Set("Content-Type", "application/health+json")
		w.Header().Set("Cache-Control", "no-store")
		if rep.Status == "fail" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	})
}
