// Package e2e holds the end-to-end test of the alerting bundle: the
// exporter, real Prometheus and Alertmanager running the shipped rules and
// routing (with demo timings derived through monitoring.ShortenHoldTimes and
// monitoring.RenderAlertmanagerConfig), a real Redis to take down, and an
// OnCall-compatible receiver (package oncall) to page. It has no code of its
// own; run it alone with
//
//	go test -v -run TestAlertingEndToEnd ./monitoring/e2e/
package e2e
