// Package healthexporter is the root of the health-exporter module: the
// exporter lives in cmd/health-exporter, the resilience library in breaker,
// retry, cache and search, and the alerting bundle in monitoring/.
package healthexporter
