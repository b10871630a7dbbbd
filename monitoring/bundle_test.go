package monitoring

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"gopkg.in/yaml.v3"
)

// Paths of the bundle, relative to this package's directory (go test runs
// tests there).
const (
	rulesGlob        = "rules/*.rules.yml"
	ruleTestsGlob    = "rules/*_test.yml"
	alertmanagerFile = "alertmanager.yml"
	runbooksFile     = "../docs/runbooks.md"
	runbookBase      = "https://github.com/health-exporter/health-exporter/blob/main/docs/runbooks.md#"
)

// alertSpec is the public contract of one alert: OnCall routes and escalates
// on its name and severity, and Alertmanager inhibits it by name.
type alertSpec struct {
	severity string
	// silenced while HealthDependencyDown fires for the same job and dependency
	inhibitedByDependencyDown bool
	// silenced while HealthExporterDown fires for the same job (and instance)
	inhibitedByExporterDown bool
}

var alertContract = map[string]alertSpec{
	"HealthDependencyDown":             {severity: "critical", inhibitedByExporterDown: true},
	"HealthDependencyDegraded":         {severity: "warning", inhibitedByDependencyDown: true, inhibitedByExporterDown: true},
	"HealthCircuitBreakerOpen":         {severity: "warning", inhibitedByDependencyDown: true, inhibitedByExporterDown: true},
	"HealthCheckStale":                 {severity: "warning", inhibitedByDependencyDown: true, inhibitedByExporterDown: true},
	"HealthCacheHitRateLow":            {severity: "warning", inhibitedByExporterDown: true},
	"HealthSearchFallbackActive":       {severity: "warning", inhibitedByDependencyDown: true, inhibitedByExporterDown: true},
	"HealthExporterDown":               {severity: "critical"},
	"HealthExporterConfigReloadFailed": {severity: "warning"},
	"Watchdog":                         {severity: "none"},
}

// contractMetrics are the series the exporter and the library packages
// expose (DESIGN.md's metrics contract, plus the exporter's fleet-wide cache
// counters and search_errors_total), and Prometheus' own up.
var contractMetrics = setOf(
	"up",
	"health_dependency_up",
	"health_dependency_status",
	"health_dependency_reason",
	"health_check_duration_seconds",
	"health_check_timeout_seconds",
	"health_checks_total",
	"health_check_failures_total",
	"health_dependency_last_success_timestamp_seconds",
	"health_dependency_info",
	"health_redis_keyspace_hits_total",
	"health_redis_keyspace_misses_total",
	"health_cache_requests_total",
	"health_cache_hits_total",
	"circuit_breaker_state",
	"circuit_breaker_transitions_total",
	"circuit_breaker_calls_total",
	"cache_requests_total",
	"cache_hits_total",
	"cache_errors_total",
	"cache_operation_duration_seconds_bucket",
	"cache_operation_duration_seconds_sum",
	"cache_operation_duration_seconds_count",
	"search_requests_total",
	"search_errors_total",
	"search_fallbacks_total",
	"search_duration_seconds_bucket",
	"search_duration_seconds_sum",
	"search_duration_seconds_count",
	"health_exporter_build_info",
	"health_exporter_config_last_reload_successful",
	"health_exporter_config_last_reload_success_timestamp_seconds",
)

func setOf(items ...string) map[string]bool {
	s := make(map[string]bool, len(items))
	for _, it := range items {
		s[it] = true
	}
	return s
}

// ruleFile is a Prometheus rule file as the tests read it: decoded, and as a
// node tree for the comments.
type ruleFile struct {
	path   string
	root   yaml.Node
	Groups []ruleGroup `yaml:"groups"`
}

type ruleGroup struct {
	Name  string `yaml:"name"`
	Rules []rule `yaml:"rules"`
}

type rule struct {
	Record        string            `yaml:"record"`
	Alert         string            `yaml:"alert"`
	Expr          string            `yaml:"expr"`
	For           string            `yaml:"for"`
	KeepFiringFor string            `yaml:"keep_firing_for"`
	Labels        map[string]string `yaml:"labels"`
	Annotations   map[string]string `yaml:"annotations"`
}

// name is the alert or record name of r.
func (r rule) name() string {
	if r.Alert != "" {
		return r.Alert
	}
	return r.Record
}

// globFiles returns the files matching pattern, sorted, and fails when there
// are none: a test that finds nothing to check must not pass.
func globFiles(t *testing.T, pattern string) []string {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatalf("glob %s: %v", pattern, err)
	}
	if len(files) == 0 {
		t.Fatalf("no files match %s", pattern)
	}
	sort.Strings(files)
	return files
}

// loadRuleFiles decodes every rule file strictly (unknown fields fail).
func loadRuleFiles(t *testing.T) []ruleFile {
	t.Helper()
	var files []ruleFile
	for _, path := range globFiles(t, rulesGlob) {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("read rules: %v", err)
		}
		rf := ruleFile{path: path}
		dec := yaml.NewDecoder(bytes.NewReader(src))
		dec.KnownFields(true)
		if err := dec.Decode(&rf); err != nil {
			t.Fatalf("decode %s: %v", path, err)
		}
		if err := yaml.Unmarshal(src, &rf.root); err != nil {
			t.Fatalf("parse %s: %v", path, err)
		}
		files = append(files, rf)
	}
	return files
}

// allRules returns every rule of every file.
func allRules(t *testing.T) []rule {
	t.Helper()
	var rules []rule
	for _, f := range loadRuleFiles(t) {
		for _, g := range f.Groups {
			rules = append(rules, g.Rules...)
		}
	}
	return rules
}

// alerts returns the alerting rules by name, failing on a duplicate name.
func alerts(t *testing.T) map[string]rule {
	t.Helper()
	out := map[string]rule{}
	for _, r := range allRules(t) {
		if r.Alert == "" {
			continue
		}
		if _, dup := out[r.Alert]; dup {
			t.Errorf("alert %s is defined twice", r.Alert)
		}
		out[r.Alert] = r
	}
	return out
}

// recordedNames returns the names of the recording rules.
func recordedNames(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, r := range allRules(t) {
		if r.Record != "" {
			out[r.Record] = true
		}
	}
	return out
}
