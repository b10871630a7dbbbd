// Package monitoring is health-exporter's alerting bundle: the Prometheus
// rules in rules/ (with their promtool unit tests beside them), the
// Alertmanager configuration alertmanager.yml that routes the alerts to
// Grafana OnCall, and the Go tests that hold both to the exporter's metrics
// contract, to the runbooks in docs/runbooks.md and to the real promtool and
// amtool.
//
// The rules carry production timings. Demos and end-to-end runs derive a
// copy with shorter for: and keep_firing_for: through ShortenHoldTimes (or
// the shorten-rules command) instead of keeping a second set of rules, and
// a copy of the Alertmanager configuration with shorter group timings and
// url_file paths of their own through RenderAlertmanagerConfig (or the
// render-alertmanager command).
package monitoring
