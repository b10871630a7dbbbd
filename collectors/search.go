package collectors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/health-exporter/health-exporter/breaker"
	"github.com/health-exporter/health-exporter/config"
	"github.com/health-exporter/health-exporter/search"
)

// The search check reports search_requests_total, search_errors_total,
// search_fallbacks_total and search_duration_seconds with the dependency as
// the searcher. Its primary's breaker, <dependency>_primary, is exported by
// the runner with the dependencies' own breakers.
func init() {
	ch := make(chan *prometheus.Desc, 8)
	search.NewCollector("").Describe(ch)
	close(ch)
	for d := range ch {
		extraDescs = append(extraDescs, d)
	}
}

// searchCheck runs a canary query through a search.Resilient: the HTTP
// primary behind its own breaker, falling back to PostgreSQL. It says
// which backend served.
type searchCheck struct {
	cfg       *config.Search
	resilient *search.Resilient
	metrics   *search.Collector
	primary   *search.HTTP
	pool      *pgxpool.Pool // nil without a fallback
}

func newSearchCheck(dc config.Dependency, logger *slog.Logger) (Checker, error) {
	cfg := dc.Search
	primary, err := newSearchPrimary(cfg)
	if err != nil {
		return nil, err
	}
	c := &searchCheck{cfg: cfg, primary: primary}
	opts := search.Options{
		Name:    dc.Name,
		Primary: primary,
		// The runner retries the whole check; retrying inside too would
		// multiply the attempts.
		Breaker: breakerSettings(dc, logger),
		OnFallback: func(reason search.Reason, err error) {
			logger.Debug("search fallback", "reason", string(reason), "err", describe(err))
		},
	}
	opts.Breaker.Name = dc.Name + "_primary"
	if pg := cfg.Fallback.Postgres; pg != nil {
		if opts.Fallback, c.pool, err = newSearchFallback(pg, cfg.Tenant != ""); err != nil {
			primary.Close()
			return nil, err
		}
	}
	if c.resilient, err = search.NewResilient(opts); err != nil {
		c.Close()
		return nil, err
	}
	c.metrics = search.NewCollector("", c.resilient)
	return c, nil
}

func newSearchPrimary(cfg *config.Search) (*search.HTTP, error) {
	h := cfg.Primary.HTTP
	tr := &http.Transport{Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: 1}
	if h.TLS.Enabled || strings.HasPrefix(h.URL, "https:") {
		tc, err := h.TLS.Build()
		if err != nil {
			return nil, fmt.Errorf("building the TLS configuration: %w", err)
		}
		tr.TLSClientConfig = tc
	}
	client := &http.Client{Transport: tr}
	switch {
	case !h.FollowRedirects:
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	case hasCredentials(h.HTTPClient):
		client.CheckRedirect = keepCredentialsHome
	}
	opts := search.HTTPOptions{
		URL: h.URL, Index: h.Index, Fields: h.Fields, TenantField: h.TenantField,
		Headers: map[string]string{}, BearerToken: h.BearerToken.Value(), Client: client,
	}
	if cfg.Tenant == "" {
		opts.TenantField = "-"
	}
	for k, v := range h.Headers {
		opts.Headers[k] = v
	}
	for k, v := range h.HeaderFiles {
		opts.Headers[k] = v.Value()
	}
	if ba := h.BasicAuth; ba != nil {
		opts.Username, opts.Password = ba.Username, ba.Password.Value()
	}
	p, err := search.NewHTTP(opts)
	if err != nil {
		return nil, fmt.Errorf("search primary: %w", err)
	}
	return p, nil
}

// newSearchFallback opens a small pool; it connects on first use, so a
// database that is down does not stop the exporter from starting.
func newSearchFallback(cfg *config.SearchPostgres, tenants bool) (*search.Postgres, *pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(cfg.DSN)
	if err != nil {
		var pe *pgconn.ParseConfigError
		if errors.As(err, &pe) && pe.Unwrap() != nil {
			err = pe.Unwrap() // pgx quotes the DSN in its errors
		}
		return nil, nil, fmt.Errorf("search fallback dsn: %s", describe(err))
	}
	if cfg.Password != "" {
		pc.ConnConfig.Password = cfg.Password.Value()
	}
	pc.ConnConfig.RuntimeParams["application_name"] = "health-exporter"
	pc.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		return nil, nil, fmt.Errorf("search fallback pool: %w", err)
	}
	table := cfg.Table
	if cfg.Schema != "" {
		table = cfg.Schema + "." + cfg.Table
	}
	cols := search.Columns{ID: cfg.IDColumn, Tenant: cfg.TenantColumn, Name: cfg.NameColumn,
		Description: cfg.DescriptionColumn, UpdatedAt: cfg.UpdatedColumn, SearchVector: cfg.VectorColumn}
	if !tenants {
		cols.Tenant = "-"
	}
	p, err := search.NewPostgres(pool, search.PostgresOptions{Table: table, Columns: cols, TextSearchConfig: cfg.Language})
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	return p, pool, nil
}

// Close closes the primary's idle connections and the fallback's pool.
func (c *searchCheck) Close() error {
	c.primary.Close()
	if c.pool != nil {
		c.pool.Close()
	}
	return nil
}

func (c *searchCheck) Check(ctx context.Context) Result {
	a, err := c.resilient.Ask(ctx, search.Query{Text: c.cfg.Query, Tenant: c.cfg.Tenant, Limit: c.cfg.Limit})
	return evaluateSearch(a, err, c.cfg.MinResults)
}

// report exports the Resilient's counters; the collector's searcher label
// is the dependency already.
func (c *searchCheck) report(ch chan<- prometheus.Metric, _ string) {
	c.metrics.Collect(ch)
}

// breakers returns the breaker around the primary, named
// <dependency>_primary, for the runner to export as circuit_breaker_*.
func (c *searchCheck) breakers() []*breaker.Breaker {
	return []*breaker.Breaker{c.resilient.Breaker()}
}

// evaluateSearch judges the canary's outcome; it does no I/O.
//
// An answer from the primary with fewer than minResults hits is down
// (unexpected_response) and is not handed to the fallback: Resilient
// falls back on failures only, so that is what the application's own
// searches get too.
func evaluateSearch(a search.Answer, err error, minResults int) Result {
	var both *search.Error
	switch {
	case errors.As(err, &both):
		return searchDown(both)
	case errors.Is(err, search.ErrInvalidQuery):
		return Failure(ReasonError, "canary query: "+describe(err))
	case err != nil: // the check's deadline passed
		return errorResult("search", err)
	}
	n := len(a.Workflows)
	if a.Backend == search.Primary {
		if n < minResults {
			return Failure(ReasonUnexpectedResponse, fmt.Sprintf("primary answered %d results, fewer than min_results %d", n, minResults))
		}
		return Result{Detail: fmt.Sprintf("primary answered %d results", n)}
	}
	why := fmt.Sprintf("primary %s: %s", a.Reason, describe(a.PrimaryErr))
	if n < minResults {
		return Failure(ReasonUnexpectedResponse, fmt.Sprintf("fallback answered %d results, fewer than min_results %d; %s", n, minResults, why))
	}
	return Degradation(ReasonFallback, fmt.Sprintf("fallback served %d results; %s", n, why))
}

// searchDown reports a search neither backend served. The reason is the
// primary's failure, or the fallback's when the breaker kept the primary
// from being asked at all.
func searchDown(e *search.Error) Result {
	detail := "primary: " + describe(e.Primary)
	if e.Fallback != nil {
		detail += "; fallback: " + describe(e.Fallback)
	}
	reason := Classify(searchError(e.Primary))
	if e.Reason == search.ReasonBreakerOpen && e.Fallback != nil {
		reason = Classify(searchError(e.Fallback))
	}
	return Failure(reason, detail)
}

// searchError marks the errors of the search backends whose reason the
// network layer cannot tell.
func searchError(err error) error {
	var status *search.StatusError
	var pgErr *pgconn.PgError
	switch {
	case errors.Is(err, breaker.ErrOpen), errors.Is(err, breaker.ErrTooManyRequests):
		return WithReason(ReasonBreakerOpen, err)
	case errors.As(err, &status):
		if status.Code == http.StatusUnauthorized || status.Code == http.StatusForbidden {
			return WithReason(ReasonAuth, err)
		}
		return WithReason(ReasonUnexpectedResponse, err)
	case errors.Is(err, search.ErrBadResponse):
		return WithReason(ReasonUnexpectedResponse, err)
	case errors.As(err, &pgErr):
		if r := Classify(postgresError(err)); r == ReasonAuth || r == ReasonRefused {
			return WithReason(r, err)
		}
		return WithReason(ReasonQueryFailed, err)
	}
	return err
}
