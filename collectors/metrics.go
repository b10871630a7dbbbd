package collectors

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Descriptions of the dependency metrics, built once.
var (
	descUp = prometheus.NewDesc("health_dependency_up",
		"1 unless the last check of the dependency said down.",
		[]string{"dependency", "kind"}, nil)
	descStatus = prometheus.NewDesc("health_dependency_status",
		"The dependency's state: one series per state (healthy, degraded, down), 1 for the current one.",
		[]string{"dependency", "kind", "state"}, nil)
	descReason = prometheus.NewDesc("health_dependency_reason",
		"1 for the reason the dependency is not healthy; no series while it is healthy.",
		[]string{"dependency", "kind", "reason"}, nil)
	descDuration = prometheus.NewDesc("health_check_duration_seconds",
		"How long the last check of the dependency took.",
		[]string{"dependency"}, nil)
	descTimeout = prometheus.NewDesc("health_check_timeout_seconds",
		"The deadline the last check of the dependency ran under.",
		[]string{"dependency"}, nil)
	descChecks = prometheus.NewDesc("health_checks_total",
		"Checks run against the dependency.",
		[]string{"dependency"}, nil)
	descFailures = prometheus.NewDesc("health_check_failures_total",
		"Checks of the dependency that did not report healthy, by reason.",
		[]string{"dependency", "reason"}, nil)
	descLastSuccess = prometheus.NewDesc("health_dependency_last_success_timestamp_seconds",
		"Unix time of the dependency's last healthy check; 0 if it never had one.",
		[]string{"dependency"}, nil)
	descInfo = prometheus.NewDesc("health_dependency_info",
		"Always 1: what the dependency is and where it is (host:port, never credentials).",
		[]string{"dependency", "kind", "endpoint"}, nil)
)

// Exporter is the prometheus.Collector of the dependencies' state. Collect
// reads what the Runner last found; it never runs a check itself, so the
// /metrics handler refreshes the runner first, under the scrape's deadline.
type Exporter struct {
	runner *Runner
}

// NewExporter returns the collector for r's dependencies.
func NewExporter(r *Runner) *Exporter { return &Exporter{runner: r} }

// metricsReporter is implemented by checkers that export metrics of their own,
// using descriptions fixed at package level so Describe can list them.
type metricsReporter interface {
	report(ch chan<- prometheus.Metric, dependency string)
}

// Describe sends every description the exporter can emit.
func (e *Exporter) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descUp, descStatus, descReason, descDuration, descTimeout,
		descChecks, descFailures, descLastSuccess, descInfo} {
		ch <- d
	}
	for _, d := range extraDescs {
		ch <- d
	}
}

// Collect sends the current state of every dependency.
func (e *Exporter) Collect(ch chan<- prometheus.Metric) {
	for _, s := range e.runner.Snapshots() {
		e.collect(ch, s)
	}
	for _, d := range e.runner.dependencies() {
		if rep, ok := d.check.(metricsReporter); ok {
			rep.report(ch, d.cfg.Name)
		}
	}
}

func (e *Exporter) collect(ch chan<- prometheus.Metric, s Snapshot) {
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}
	counter := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, v, labels...)
	}
	r := s.Result
	gauge(descUp, boolFloat(r.Status != Down), s.Name, s.Kind)
	for _, st := range Statuses {
		gauge(descStatus, boolFloat(st == r.Status), s.Name, s.Kind, st.String())
	}
	if r.Status != Healthy && r.Reason != ReasonNone {
		gauge(descReason, 1, s.Name, s.Kind, string(r.Reason))
	}
	gauge(descDuration, r.Duration.Seconds(), s.Name)
	gauge(descTimeout, r.Timeout.Seconds(), s.Name)
	counter(descChecks, float64(s.Checks), s.Name)
	// Every reason is always present, so rate() sees a dependency's first failure.
	for _, reason := range Reasons {
		counter(descFailures, float64(s.Failures[reason]), s.Name, string(reason))
	}
	var last float64
	if !s.LastSuccess.IsZero() {
		last = float64(s.LastSuccess.UnixNano()) / 1e9
	}
	gauge(descLastSuccess, last, s.Name)
	gauge(descInfo, 1, s.Name, s.Kind, s.Endpoint)
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
