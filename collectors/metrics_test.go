package collectors

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestExporterExposition(t *testing.T) {
	clock := newFakeClock()
	// The checks run concurrently, so they report their own durations rather
	// than move the shared clock.
	queue := &fakeCheck{fn: func(context.Context) Result {
		return Result{Status: Down, Reason: ReasonRefused, Detail: "connect: connection refused", Duration: 250 * time.Millisecond}
	}}
	db := &fakeCheck{fn: func(context.Context) Result {
		return Result{Detail: "ok", Duration: 5 * time.Millisecond}
	}}
	r := newTestRunner(t, clock, map[string]Checker{"message_queue": queue, "database": db}, dep("message_queue"), dep("database"))
	r.Refresh(context.Background(), 1500*time.Millisecond)

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewExporter(r))
	want := `
# HELP health_check_duration_seconds How long the last check of the dependency took.
# TYPE health_check_duration_seconds gauge
health_check_duration_seconds{dependency="database"} 0.005
health_check_duration_seconds{dependency="message_queue"} 0.25
# HELP health_check_failures_total Checks of the dependency that did not report healthy, by reason.
# TYPE health_check_failures_total counter
` + failureLines("database", "") + failureLines("message_queue", "refused") + `# HELP health_check_timeout_seconds The deadline the last check of the dependency ran under.
# TYPE health_check_timeout_seconds gauge
health_check_timeout_seconds{dependency="database"} 1.5
health_check_timeout_seconds{dependency="message_queue"} 1.5
# HELP health_checks_total Checks run against the dependency.
# TYPE health_checks_total counter
health_checks_total{dependency="database"} 1
health_checks_total{dependency="message_queue"} 1
# HELP health_dependency_info Always 1: what the dependency is and where it is (host:port, never credentials).
# TYPE health_dependency_info gauge
health_dependency_info{dependency="database",endpoint="127.0.0.1:1",kind="tcp"} 1
health_dependency_info{dependency="message_queue",endpoint="127.0.0.1:1",kind="tcp"} 1
# HELP health_dependency_last_success_timestamp_seconds Unix time of the dependency's last healthy check; 0 if it never had one.
# TYPE health_dependency_last_success_timestamp_seconds gauge
health_dependency_last_success_timestamp_seconds{dependency="database"} 1.767323045e+09
health_dependency_last_success_timestamp_seconds{dependency="message_queue"} 0
# HELP health_dependency_reason 1 for the reason the dependency is not healthy; no series while it is healthy.
# TYPE health_dependency_reason gauge
health_dependency_reason{dependency="message_queue",kind="tcp",reason="refused"} 1
# HELP health_dependency_status The dependency's state: one series per state (healthy, degraded, down), 1 for the current one.
# TYPE health_dependency_status gauge
health_dependency_status{dependency="database",kind="tcp",state="degraded"} 0
health_dependency_status{dependency="database",kind="tcp",state="down"} 0
health_dependency_status{dependency="database",kind="tcp",state="healthy"} 1
health_dependency_status{dependency="message_queue",kind="tcp",state="degraded"} 0
health_dependency_status{dependency="message_queue",kind="tcp",state="down"} 1
health_dependency_status{dependency="message_queue",kind="tcp",state="healthy"} 0
# HELP health_dependency_up 1 unless the last check of the dependency said down.
# TYPE health_dependency_up gauge
health_dependency_up{dependency="database",kind="tcp"} 1
health_dependency_up{dependency="message_queue",kind="tcp"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}

// failureLines renders the failure counters of one dependency: every reason
// present, 1 for the given one.
func failureLines(dependency string, failed Reason) string {
	var b strings.Builder
	lines := make([]string, 0, len(Reasons))
	for _, r := range Reasons {
		v := "0"
		if r == failed {
			v = "1"
		}
		lines = append(lines, `health_check_failures_total{dependency="`+dependency+`",reason="`+string(r)+`"} `+v)
	}
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	return b.String()
}

func TestHealthHandler(t *testing.T) {
	status := Result{Detail: "ok"}
	c := &fakeCheck{fn: func(context.Context) Result { return status }}
	d := dep("storage")
	d.MinInterval = 0
	r := newTestRunner(t, nil, map[string]Checker{"storage": c}, d)
	h := HealthHandler(r, 500*time.Millisecond)

	tests := []struct {
		result     Result
		code       int
		status     string
		checkState string
	}{
		{Result{Detail: "ok"}, http.StatusOK, "pass", "healthy"},
		{Degradation(ReasonUnexpectedResponse, "status 429"), http.StatusOK, "warn", "degraded"},
		{Failure(ReasonTimeout, "no answer within 2s"), http.StatusServiceUnavailable, "fail", "down"},
	}
	for _, tt := range tests {
		status = tt.result
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/health", nil))
		if rec.Code != tt.code {
			t.Errorf("%s: code %d, want %d", tt.status, rec.Code, tt.code)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/health+json" {
			t.Errorf("content type %q", ct)
		}
		var rep HealthReport
		if err := json.Unmarshal(rec.Body.Bytes(), &rep); err != nil {
			t.Fatal(err)
		}
		got := rep.Checks["storage"][0]
		if rep.Status != tt.status || got.State != tt.checkState || got.Reason != string(tt.result.Reason) || got.Output != tt.result.Detail || got.ComponentType != "tcp" {
			t.Errorf("report %+v", rep)
		}
	}
}
