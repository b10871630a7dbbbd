// Package collectors health-checks an application's dependencies and
// reports what it finds as Prometheus metrics, a JSON summary and a landing
// page.
//
// It has four parts:
//
//   - Checks: one Checker per dependency kind (redis, postgres, http, tcp,
//     search), built by NewChecker from the configuration. A check returns
//     a Result — healthy, degraded or down, with a Reason from a closed set
//     and a short detail for people — and never an error: an unhealthy
//     dependency is data. Checks keep I/O thin; the judging of what a server
//     said (Redis INFO, PostgreSQL's role and connections, an HTTP status or
//     body) is done by pure functions.
//   - Runner: runs the checks of a configuration under each dependency's
//     deadline, circuit breaker and retry policy, at scrape time (coalesced
//     across concurrent scrapes, a young result reused) or in the
//     background, and keeps counters, last results and breakers across
//     reloads (Apply).
//   - Exporter: the prometheus.Collector that turns the Runner's snapshots
//     into the health_* metrics, with the series checkers export themselves
//     (Redis keyspace counters, fleet cache statistics, search metrics).
//   - Handlers: MetricsHandler, HealthHandler and LandingHandler bring the
//     results up to date within the scrape's budget (Budget) and serve them;
//     a failing dependency never fails the request to /metrics.
package collectors
