package collectors

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func TestHandlersAnswerGetAndHeadOnly(t *testing.T) {
	c := &fakeCheck{fn: func(context.Context) Result { return Result{Detail: "ok"} }}
	d := dep("storage")
	d.MinInterval = 0
	r := newTestRunner(t, nil, map[string]Checker{"storage": c}, d)
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewExporter(r))
	handlers := map[string]http.Handler{
		"/metrics": MetricsHandler(r, reg, 0, promhttp.HandlerOpts{}),
		"/health":  HealthHandler(r, 0),
		"/":        LandingHandler(r, LandingInfo{MetricsPath: "/metrics"}),
	}
	for path, h := range handlers {
		for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions} {
			before := c.calls.Load()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
			if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
				t.Errorf("%s %s: %d, Allow %q", method, path, rec.Code, rec.Header().Get("Allow"))
			}
			if c.calls.Load() != before {
				t.Errorf("%s %s ran the checks", method, path)
			}
		}
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
			if rec.Code != http.StatusOK {
				t.Errorf("%s %s: %d", method, path, rec.Code)
			}
		}
	}
}

func TestLandingHandler(t *testing.T) {
	hostile := `<script>alert("pwned")</script>`
	storage := &fakeCheck{fn: func(context.Context) Result { return Failure(ReasonUnexpectedResponse, "status 500: "+hostile) }}
	queue := &fakeCheck{fn: func(context.Context) Result { return Result{Detail: "redis 7.0.15, role master"} }}
	qd := dep("message_queue")
	qd.Kind, qd.TCP, qd.Redis = "redis", nil, nil
	r := newTestRunner(t, nil, map[string]Checker{"storage": storage, "message_queue": queue}, dep("storage"), qd)
	h := LandingHandler(r, LandingInfo{Version: "1.2.3", MetricsPath: "/custom/metrics", ConfigSource: "<b>health.yml</b>"})

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/elsewhere", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("GET /elsewhere: %d, want 404", rec.Code)
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	body := rec.Body.String()
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET /: %d, %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	for _, want := range []string{
		"<td>storage</td><td>tcp</td>", "<td>message_queue</td><td>redis</td>",
		`<td class="down">down</td><td>unexpected_response</td>`, "redis 7.0.15, role master",
		"&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;", "&lt;b&gt;health.yml&lt;/b&gt;",
		`<a href="/custom/metrics">Metrics</a>`, "Version 1.2.3",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %s:\n%s", want, body)
		}
	}
	if strings.Contains(body, "<script>") || strings.Contains(body, "<b>") {
		t.Errorf("markup from a detail or the configuration reached the page:\n%s", body)
	}
}

func TestHealthHandlerSeveralDependencies(t *testing.T) {
	var apiDown atomic.Bool
	api := &fakeCheck{fn: func(context.Context) Result {
		if apiDown.Load() {
			return Failure(ReasonRefused, "connect: connection refused")
		}
		return Result{Detail: "status 200"}
	}}
	queue := &fakeCheck{fn: func(context.Context) Result {
		return Degradation(ReasonUnexpectedResponse, "loading its dataset into memory")
	}}
	nightly := &fakeCheck{fn: func(context.Context) Result { return Result{Detail: "indexed"} }}
	ad, qd, nd := dep("api"), dep("queue"), dep("nightly")
	ad.MinInterval = 0
	nd.Interval = time.Hour
	r := newTestRunner(t, nil, map[string]Checker{"api": api, "queue": queue, "nightly": nightly}, ad, qd, nd)
	h := HealthHandler(r, 0)

	get := func() (int, HealthReport) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/health", nil))
		var rep HealthReport
		if err := json.Unmarshal(rec.Body.Bytes(), &rep); err != nil {
			t.Fatalf("%v: %s", err, rec.Body)
		}
		return rec.Code, rep
	}
	code, rep := get()
	if code != http.StatusOK || rep.Status != "warn" || len(rep.Checks) != 3 {
		t.Fatalf("one degraded: %d %+v", code, rep)
	}
	want := map[string]struct {
		status, state, output string
		background            bool
	}{
		"api":     {"pass", "healthy", "status 200", false},
		"queue":   {"warn", "degraded", "loading its dataset into memory", false},
		"nightly": {"pass", "healthy", "indexed", true},
	}
	for name, w := range want {
		got := rep.Checks[name]
		if len(got) != 1 || got[0].Status != w.status || got[0].State != w.state || got[0].Output != w.output || got[0].Background != w.background {
			t.Errorf("%s: %+v, want %+v", name, got, w)
		}
	}

	apiDown.Store(true)
	code, rep = get()
	if c := rep.Checks["api"]; code != http.StatusServiceUnavailable || rep.Status != "fail" || len(c) != 1 || c[0].Reason != "refused" {
		t.Fatalf("one down: %d %+v", code, rep)
	}
}
