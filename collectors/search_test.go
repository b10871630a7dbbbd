package collectors

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/health-exporter/health-exporter/breaker"
	"github.com/health-exporter/health-exporter/config"
	"github.com/health-exporter/health-exporter/internal/testenv"
	"github.com/health-exporter/health-exporter/search"
)

func TestEvaluateSearch(t *testing.T) {
	hits := func(n int) []search.Workflow { return make([]search.Workflow, n) }
	status500 := fmt.Errorf("search http: %w", &search.StatusError{Code: 500})
	cases := []struct {
		name   string
		a      search.Answer
		err    error
		status Status
		reason Reason
		detail string
	}{
		{"primary", search.Answer{Workflows: hits(3)}, nil, Healthy, ReasonNone, "primary answered 3 results"},
		{"primary too few", search.Answer{Workflows: hits(0)}, nil, Down, ReasonUnexpectedResponse, "primary answered 0 results, fewer than min_results 1"},
		{"fallback", search.Answer{Workflows: hits(2), Backend: search.Fallback, Reason: search.ReasonError, PrimaryErr: status500},
			nil, Degraded, ReasonFallback, "fallback served 2 results; primary error: search http: status 500"},
		{"fallback too few", search.Answer{Backend: search.Fallback, Reason: search.ReasonTimeout, PrimaryErr: context.DeadlineExceeded},
			nil, Down, ReasonUnexpectedResponse, "fallback answered 0 results, fewer than min_results 1; primary timeout: context deadline exceeded"},
		{"both down", search.Answer{}, &search.Error{Reason: search.ReasonTimeout, Primary: context.DeadlineExceeded, Fallback: syscall.ECONNREFUSED},
			Down, ReasonTimeout, "primary: context deadline exceeded; fallback: connection refused"},
		{"breaker open, fallback down", search.Answer{}, &search.Error{Reason: search.ReasonBreakerOpen, Primary: breaker.ErrOpen, Fallback: syscall.ECONNREFUSED},
			Down, ReasonRefused, "primary: circuit breaker is open; fallback: connection refused"},
		{"auth", search.Answer{}, &search.Error{Reason: search.ReasonError, Primary: &search.StatusError{Code: 401}},
			Down, ReasonAuth, "primary: status 401"},
		{"bad response", search.Answer{}, &search.Error{Reason: search.ReasonError, Primary: search.ErrBadResponse,
			Fallback: &pgconn.PgError{Severity: "ERROR", Code: "42P01", Message: "relation does not exist"}},
			Down, ReasonUnexpectedResponse, "primary: search engine gave an unexpected response; fallback: ERROR: relation does not exist (SQLSTATE 42P01)"},
		{"deadline", search.Answer{}, fmt.Errorf("search %q: %w", "s", context.DeadlineExceeded), Down, ReasonTimeout, `search: search "s": context deadline exceeded`},
		{"invalid", search.Answer{}, fmt.Errorf("x: %w", search.ErrInvalidQuery), Down, ReasonError, "canary query: x: invalid search query"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := evaluateSearch(c.a, c.err, 1)
			if r.Status != c.status || r.Reason != c.reason || r.Detail != c.detail {
				t.Fatalf("got %v %q %q\nwant %v %q %q", r.Status, r.Reason, r.Detail, c.status, c.reason, c.detail)
			}
		})
	}
}

func TestSearchErrorReasons(t *testing.T) {
	for _, c := range []struct {
		err  error
		want Reason
	}{
		{&search.StatusError{Code: 403}, ReasonAuth},
		{&search.StatusError{Code: 503}, ReasonUnexpectedResponse},
		{fmt.Errorf("x: %w", search.ErrBadResponse), ReasonUnexpectedResponse},
		{&pgconn.PgError{Code: "28P01"}, ReasonAuth},
		{&pgconn.PgError{Code: "53300"}, ReasonRefused},
		{&pgconn.PgError{Code: "42703"}, ReasonQueryFailed},
		{breaker.ErrTooManyRequests, ReasonBreakerOpen},
		{syscall.ECONNREFUSED, ReasonRefused},
	} {
		if got := Classify(searchError(c.err)); got != c.want {
			t.Errorf("%v: got %q, want %q", c.err, got, c.want)
		}
	}
}

// searchEngine is an OpenSearch-like _search endpoint whose answer a test
// switches: "ok" (two hits), "empty", "500" or "hang".
type searchEngine struct {
	*httptest.Server
	mode     atomic.Value
	requests atomic.Int32
}

func newSearchEngine(t *testing.T) *searchEngine {
	t.Helper()
	e := &searchEngine{}
	e.mode.Store("ok")
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.requests.Add(1)
		// Read the body through, so the server notices a client that goes.
		io.Copy(io.Discard, r.Body)
		switch e.mode.Load().(string) {
		case "500":
			http.Error(w, "unavailable", http.StatusInternalServerError)
		case "hang":
			<-r.Context().Done()
		case "empty":
			io.WriteString(w, `{"hits":{"hits":[]}}`)
		default:
			io.WriteString(w, `{"hits":{"hits":[{"_id":"a","_score":2,"_source":{"name":"Customer onboarding"}},{"_id":"b","_score":1,"_source":{"name":"Employee onboarding"}}]}}`)
		}
	}))
	t.Cleanup(e.Close)
	return e
}

// searchDatabase returns a DSN (without password) and the password of a
// fresh database holding the search schema and a few workflows.
func searchDatabase(t *testing.T) (dsn, password string) {
	t.Helper()
	pg := testenv.SharedPostgres(t)
	db := pg.CreateDatabase(t)
	conn, err := pgx.Connect(t.Context(), pg.DSN("postgres", pg.Password, db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), search.Schema); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(t.Context(), `INSERT INTO workflows (tenant_id, name, description) VALUES
		('acme', 'Customer onboarding', 'Welcome new customers'),
		('acme', 'Expense report', 'Monthly'),
		('globex', 'Vendor onboarding', 'Not acme''s')`); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("postgres://postgres@%s/%s?sslmode=disable", pg.Addr, db), pg.Password
}

// searchDep parses a search dependency the way the exporter does.
func searchDep(t *testing.T, url, dsn, password string, extra string) config.Dependency {
	t.Helper()
	yml := fmt.Sprintf(`
dependencies:
  - name: workflow_search
    kind: search
    timeout: 2s
    breaker: {failure_threshold: 3, open_timeout: 30s}
    search:
      query: onboarding
      tenant: acme
      %s
      primary:
        http: {url: %q}
      fallback:
        postgres: {dsn: %q, password: %q}
`, extra, url, dsn, password)
	cfg, err := config.Parse([]byte(yml), "search.yml")
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Dependencies[0]
}

func newTestSearchCheck(t *testing.T, dc config.Dependency) *searchCheck {
	t.Helper()
	c, err := newSearchCheck(dc, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.(*searchCheck).Close() })
	return c.(*searchCheck)
}

func runSearchCheck(t *testing.T, c *searchCheck) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	return c.Check(ctx)
}

func TestSearchCheck(t *testing.T) {
	e := newSearchEngine(t)
	dsn, pw := searchDatabase(t)
	c := newTestSearchCheck(t, searchDep(t, e.URL, dsn, pw, "min_results: 2"))

	if r := runSearchCheck(t, c); r.Status != Healthy || r.Detail != "primary answered 2 results" {
		t.Fatalf("healthy: %+v", r)
	}
	e.mode.Store("empty")
	if r := runSearchCheck(t, c); r.Status != Down || r.Reason != ReasonUnexpectedResponse {
		t.Fatalf("empty primary: %+v", r)
	}
	// The fallback finds one acme workflow: fewer than min_results.
	e.mode.Store("500")
	if r := runSearchCheck(t, c); r.Status != Down || r.Reason != ReasonUnexpectedResponse ||
		!strings.Contains(r.Detail, "fallback answered 1 results") || !strings.Contains(r.Detail, "status 500") {
		t.Fatalf("short fallback: %+v", r)
	}
}

func TestSearchCheckFallback(t *testing.T) {
	e := newSearchEngine(t)
	dsn, pw := searchDatabase(t)
	c := newTestSearchCheck(t, searchDep(t, e.URL, dsn, pw, ""))

	e.mode.Store("500")
	r := runSearchCheck(t, c)
	if r.Status != Degraded || r.Reason != ReasonFallback || r.Detail != "fallback served 1 results; primary error: search http: status 500: unavailable" {
		t.Fatalf("500: %+v", r)
	}
	e.mode.Store("hang")
	r = runSearchCheck(t, c)
	if r.Status != Degraded || r.Reason != ReasonFallback || !strings.Contains(r.Detail, "primary timeout") {
		t.Fatalf("hang: %+v", r)
	}
	e.mode.Store("500")
	runSearchCheck(t, c)
	// Three failures opened the primary's breaker: the engine is spared.
	e.mode.Store("ok")
	before := e.requests.Load()
	r = runSearchCheck(t, c)
	if r.Status != Degraded || !strings.Contains(r.Detail, "primary breaker_open") || e.requests.Load() != before {
		t.Fatalf("open breaker: %+v", r)
	}

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(searchReporter{c, "workflow_search"}, breaker.NewCollector("", c.breakers()...))
	want := `
# HELP circuit_breaker_calls_total Calls through the circuit breaker by result: success, failure, rejected (refused while open or half-open) or excluded (counted neither way, such as a cancelled call).
# TYPE circuit_breaker_calls_total counter
circuit_breaker_calls_total{breaker="workflow_search_primary",result="excluded"} 0
circuit_breaker_calls_total{breaker="workflow_search_primary",result="failure"} 3
circuit_breaker_calls_total{breaker="workflow_search_primary",result="rejected"} 1
circuit_breaker_calls_total{breaker="workflow_search_primary",result="success"} 0
# HELP circuit_breaker_state Circuit breaker state: 1 for the current state (closed, half_open, open), 0 for the others.
# TYPE circuit_breaker_state gauge
circuit_breaker_state{breaker="workflow_search_primary",state="closed"} 0
circuit_breaker_state{breaker="workflow_search_primary",state="half_open"} 0
circuit_breaker_state{breaker="workflow_search_primary",state="open"} 1
# HELP search_fallbacks_total Searches handed to the fallback, by why the primary did not serve: breaker_open, timeout or error.
# TYPE search_fallbacks_total counter
search_fallbacks_total{reason="breaker_open",searcher="workflow_search"} 1
search_fallbacks_total{reason="error",searcher="workflow_search"} 2
search_fallbacks_total{reason="timeout",searcher="workflow_search"} 1
# HELP search_requests_total Search calls made to a backend (primary or fallback); a search the primary's breaker refused is no primary call.
# TYPE search_requests_total counter
search_requests_total{backend="fallback",searcher="workflow_search"} 4
search_requests_total{backend="primary",searcher="workflow_search"} 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"circuit_breaker_calls_total", "circuit_breaker_state", "search_fallbacks_total", "search_requests_total"); err != nil {
		t.Fatal(err)
	}
}

// searchReporter registers a search checker's own metrics on their own.
type searchReporter struct {
	c          *searchCheck
	dependency string
}

func (r searchReporter) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range extraDescs {
		ch <- d
	}
}

func (r searchReporter) Collect(ch chan<- prometheus.Metric) { r.c.report(ch, r.dependency) }

func TestSearchCheckDown(t *testing.T) {
	e := newSearchEngine(t)
	e.Close() // nothing listens: refused
	dsn := fmt.Sprintf("postgres://app@127.0.0.1:%d/app?sslmode=disable", testenv.FreePort(t))
	c := newTestSearchCheck(t, searchDep(t, e.URL, dsn, "pw", ""))
	r := runSearchCheck(t, c)
	if r.Status != Down || r.Reason != ReasonRefused || !strings.Contains(r.Detail, "primary: ") || !strings.Contains(r.Detail, "fallback: ") {
		t.Fatalf("got %+v", r)
	}
	if strings.Contains(r.Detail, "pw") {
		t.Fatalf("detail shows the password: %q", r.Detail)
	}
}

func TestSearchCheckWrongPassword(t *testing.T) {
	e := newSearchEngine(t)
	dsn, _ := searchDatabase(t)
	e.mode.Store("500")
	c := newTestSearchCheck(t, searchDep(t, e.URL, dsn, "wrong", ""))
	// The primary's 500 is the reason; the fallback's refusal is detail.
	r := runSearchCheck(t, c)
	if r.Status != Down || r.Reason != ReasonUnexpectedResponse || !strings.Contains(r.Detail, "28P01") {
		t.Fatalf("got %+v", r)
	}
}

// Through the runner and the exporter, as a scrape sees it: the search
// metrics sit beside the dependency's and the registry accepts them all.
func TestSearchCheckExported(t *testing.T) {
	e := newSearchEngine(t)
	dsn, pw := searchDatabase(t)
	dc := searchDep(t, e.URL, dsn, pw, "")
	dc.MinInterval = 0
	r := NewRunner(RunnerOptions{})
	t.Cleanup(r.Close)
	if err := r.Apply(&config.Config{Dependencies: []config.Dependency{dc}}); err != nil {
		t.Fatal(err)
	}
	e.mode.Store("500")
	snaps := r.Refresh(t.Context(), 0)
	if len(snaps) != 1 || snaps[0].Result.Status != Degraded || snaps[0].Result.Reason != ReasonFallback {
		t.Fatalf("got %+v", snaps)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewExporter(r), r.Breakers())
	for name, want := range map[string]int{
		"health_dependency_status": 3,
		"search_requests_total":    2,
		"search_fallbacks_total":   3,
		"search_duration_seconds":  2,
		"circuit_breaker_state":    6, // the dependency's and its primary's
	} {
		if n, err := testutil.GatherAndCount(reg, name); err != nil || n != want {
			t.Errorf("%s: %d series, %v; want %d", name, n, err, want)
		}
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP search_fallbacks_total Searches handed to the fallback, by why the primary did not serve: breaker_open, timeout or error.
# TYPE search_fallbacks_total counter
search_fallbacks_total{reason="breaker_open",searcher="workflow_search"} 0
search_fallbacks_total{reason="error",searcher="workflow_search"} 1
search_fallbacks_total{reason="timeout",searcher="workflow_search"} 0
`), "search_fallbacks_total"); err != nil {
		t.Fatal(err)
	}
}

// breakerStates returns the circuit_breaker_state series of c, one
// "breaker state value" line each.
func breakerStates(t *testing.T, c prometheus.Collector) []string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, mf := range mfs {
		if mf.GetName() != "circuit_breaker_state" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			lines = append(lines, fmt.Sprintf("%s %s %g", labels["breaker"], labels["state"], m.GetGauge().GetValue()))
		}
	}
	return lines
}

// The primary's breaker is one of the runner's: exported while the search
// dependency is configured, kept through a reload that keeps the checker,
// and gone once the dependency is.
func TestSearchPrimaryBreakerThroughRunner(t *testing.T) {
	e := newSearchEngine(t)
	dsn, pw := searchDatabase(t)
	dc := searchDep(t, e.URL, dsn, pw, "")
	dc.MinInterval = 0
	r := NewRunner(RunnerOptions{})
	t.Cleanup(r.Close)
	apply := func(deps ...config.Dependency) {
		t.Helper()
		if err := r.Apply(&config.Config{Dependencies: deps}); err != nil {
			t.Fatal(err)
		}
	}
	check := func(step string, want ...string) {
		t.Helper()
		if got := breakerStates(t, r.Breakers()); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("%s: circuit_breaker_state\n%s\nwant\n%s", step, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}

	apply(dc)
	check("applied",
		"workflow_search closed 1", "workflow_search half_open 0", "workflow_search open 0",
		"workflow_search_primary closed 1", "workflow_search_primary half_open 0", "workflow_search_primary open 0")

	// Three primary failures served by the fallback open the primary's
	// breaker; the dependency, degraded, keeps its own closed.
	e.mode.Store("500")
	for range 3 {
		if s := r.Refresh(t.Context(), 0); len(s) != 1 || s[0].Result.Status != Degraded {
			t.Fatalf("got %+v", s)
		}
	}
	opened := []string{
		"workflow_search closed 1", "workflow_search half_open 0", "workflow_search open 0",
		"workflow_search_primary closed 0", "workflow_search_primary half_open 0", "workflow_search_primary open 1"}
	check("opened", opened...)
	apply(dc)
	check("reloaded unchanged", opened...)

	renamed := dc
	renamed.Name = "catalog_search"
	apply(renamed)
	check("renamed",
		"catalog_search closed 1", "catalog_search half_open 0", "catalog_search open 0",
		"catalog_search_primary closed 1", "catalog_search_primary half_open 0", "catalog_search_primary open 0")

	apply()
	check("removed")
}

func TestSearchPrimaryKeepsCredentialsHome(t *testing.T) {
	var leaked atomic.Bool
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			leaked.Store(true)
		}
		io.WriteString(w, `{"hits":{"hits":[]}}`)
	}))
	t.Cleanup(elsewhere.Close)
	primary := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	t.Cleanup(primary.Close)
	dsn, pw := searchDatabase(t)
	yml := fmt.Sprintf(`
dependencies:
  - name: workflow_search
    kind: search
    search:
      query: onboarding
      tenant: acme
      primary:
        http: {url: %q, bearer_token: s3cret-token}
      fallback:
        postgres: {dsn: %q, password: %q}
`, primary.URL, dsn, pw)
	cfg, err := config.Parse([]byte(yml), "search.yml")
	if err != nil {
		t.Fatal(err)
	}
	c := newTestSearchCheck(t, cfg.Dependencies[0])
	if r := runSearchCheck(t, c); r.Status != Degraded || r.Reason != ReasonFallback || !strings.Contains(r.Detail, "another host") {
		t.Fatalf("a redirect to another host must fail the primary: %+v", r)
	}
	if leaked.Load() {
		t.Fatal("the bearer token followed the redirect to another host")
	}
}
