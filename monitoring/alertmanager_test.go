package monitoring

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/alert"
	"github.com/prometheus/alertmanager/config"
	"github.com/prometheus/alertmanager/dispatch"
	"github.com/prometheus/alertmanager/eventrecorder"
	"github.com/prometheus/alertmanager/inhibit"
	"github.com/prometheus/alertmanager/labelset"
	amlabels "github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/alertmanager/provider"
	"github.com/prometheus/common/model"

	"github.com/health-exporter/health-exporter/internal/testenv"
)

func loadAlertmanagerConfig(t *testing.T) *config.Config {
	t.Helper()
	// The url_file paths need not exist: Alertmanager reads them when it
	// sends, not when it loads the configuration.
	cfg, err := config.LoadFile(alertmanagerFile)
	if err != nil {
		t.Fatalf("load %s: %v", alertmanagerFile, err)
	}
	return cfg
}

// routeCase is an alert and where Alertmanager must send it.
type routeCase struct {
	name     string
	labels   model.LabelSet
	receiver string
	// key is the route's part of OnCall's groupKey. It must not change: a
	// new key orphans every open OnCall alert group (see alertmanager.yml).
	key string
}

var (
	criticalRouteKey = `{}/{severity=~"critical|warning"}`
	routeCases       = []routeCase{
		{
			name: "down pages",
			labels: model.LabelSet{"alertname": "HealthDependencyDown", "severity": "critical",
				"job": "health-exporter", "instance": "exporter-a:9115", "dependency": "message_queue", "kind": "redis"},
			receiver: "oncall", key: criticalRouteKey,
		},
		{
			name: "degraded pages",
			labels: model.LabelSet{"alertname": "HealthDependencyDegraded", "severity": "warning",
				"job": "health-exporter", "instance": "exporter-a:9115", "dependency": "database", "kind": "postgres"},
			receiver: "oncall", key: criticalRouteKey,
		},
		{
			name: "breaker open pages",
			labels: model.LabelSet{"alertname": "HealthCircuitBreakerOpen", "severity": "warning",
				"job": "api", "instance": "api-1:8080", "breaker": "search", "dependency": "search"},
			receiver: "oncall", key: criticalRouteKey,
		},
		{
			name: "cache hit rate pages",
			labels: model.LabelSet{"alertname": "HealthCacheHitRateLow", "severity": "warning",
				"job": "api", "cache": "workflows", "tenant": "acme"},
			receiver: "oncall", key: criticalRouteKey,
		},
		{
			name: "exporter down without instance pages",
			labels: model.LabelSet{"alertname": "HealthExporterDown", "severity": "critical",
				"job": "health-exporter"},
			receiver: "oncall", key: criticalRouteKey,
		},
		{
			name:     "watchdog goes to the heartbeat",
			labels:   model.LabelSet{"alertname": "Watchdog", "severity": "none"},
			receiver: "oncall-heartbeat", key: `{}/{alertname="Watchdog"}`,
		},
		{
			name:     "watchdog goes to the heartbeat whatever its severity",
			labels:   model.LabelSet{"alertname": "Watchdog", "severity": "critical"},
			receiver: "oncall-heartbeat", key: `{}/{alertname="Watchdog"}`,
		},
		{
			name:     "another severity none alert never pages",
			labels:   model.LabelSet{"alertname": "InfoInhibitor", "severity": "none", "job": "health-exporter"},
			receiver: "blackhole", key: `{}/{severity="none"}`,
		},
		{
			name:     "an alert without severity still reaches a human",
			labels:   model.LabelSet{"alertname": "SomeRuleMissingSeverity", "job": "api"},
			receiver: "oncall", key: `{}`,
		},
	}
)

func TestAlertmanagerRouting(t *testing.T) {
	cfg := loadAlertmanagerConfig(t)
	tree := dispatch.NewRoute(cfg.Route, nil)
	wantGroupBy := []model.LabelName{"alertname", "dependency", "severity"}
	for _, tc := range routeCases {
		t.Run(tc.name, func(t *testing.T) {
			routes := tree.Match(tc.labels)
			if len(routes) != 1 {
				t.Fatalf("matched %d routes, want exactly 1", len(routes))
			}
			r := routes[0]
			if r.RouteOpts.Receiver != tc.receiver {
				t.Errorf("receiver = %q, want %q", r.RouteOpts.Receiver, tc.receiver)
			}
			if r.Key() != tc.key {
				t.Errorf("route key = %s, want %s (changing it orphans open OnCall alert groups)", r.Key(), tc.key)
			}
			if r.RouteOpts.GroupByAll {
				t.Error("groups by all labels")
			}
			if got := sortedLabelNames(r.RouteOpts.GroupBy); !slices.Equal(got, wantGroupBy) {
				t.Errorf("group_by = %v, want %v", got, wantGroupBy)
			}
		})
	}
}

func sortedLabelNames(m map[model.LabelName]struct{}) []model.LabelName {
	names := make([]model.LabelName, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return names[i] < names[j] })
	return names
}

// TestAlertmanagerTimings pins the timings OnCall relies on: the heartbeat
// about every minute, the pages within a minute of firing.
func TestAlertmanagerTimings(t *testing.T) {
	tree := dispatch.NewRoute(loadAlertmanagerConfig(t).Route, nil)
	heartbeat := tree.Match(model.LabelSet{"alertname": "Watchdog", "severity": "none"})[0].RouteOpts
	if heartbeat.GroupWait != 0 || heartbeat.GroupInterval != time.Minute || heartbeat.RepeatInterval != 50*time.Second {
		t.Errorf("heartbeat group_wait/group_interval/repeat_interval = %v/%v/%v, want 0s/1m/50s",
			heartbeat.GroupWait, heartbeat.GroupInterval, heartbeat.RepeatInterval)
	}
	if heartbeat.RepeatInterval > heartbeat.GroupInterval {
		t.Error("heartbeat repeat_interval exceeds group_interval: the Watchdog would not be re-sent at every tick")
	}
	page := tree.Match(model.LabelSet{"alertname": "HealthDependencyDown", "severity": "critical"})[0].RouteOpts
	if page.GroupWait > time.Minute {
		t.Errorf("pages wait %v before the first notification, want at most 1m", page.GroupWait)
	}
}

func TestAlertmanagerReceivers(t *testing.T) {
	cfg := loadAlertmanagerConfig(t)
	want := map[string]struct {
		urlFile      string
		sendResolved bool
	}{
		"oncall":           {urlFile: "/etc/alertmanager/secrets/oncall-url", sendResolved: true},
		"oncall-heartbeat": {urlFile: "/etc/alertmanager/secrets/oncall-heartbeat-url", sendResolved: false},
	}
	seen := map[string]bool{}
	for _, rcv := range cfg.Receivers {
		seen[rcv.Name] = true
		if rcv.Name == "blackhole" {
			if n := len(rcv.WebhookConfigs) + len(rcv.EmailConfigs) + len(rcv.PagerdutyConfigs) + len(rcv.SlackConfigs); n != 0 {
				t.Errorf("blackhole has %d integrations, want none", n)
			}
			continue
		}
		w, ok := want[rcv.Name]
		if !ok {
			t.Errorf("unexpected receiver %q", rcv.Name)
			continue
		}
		if len(rcv.WebhookConfigs) != 1 {
			t.Errorf("%s: %d webhook configs, want 1", rcv.Name, len(rcv.WebhookConfigs))
			continue
		}
		wh := rcv.WebhookConfigs[0]
		if wh.URL != "" {
			t.Errorf("%s: url is set in the file; the token belongs in url_file", rcv.Name)
		}
		if wh.URLFile != w.urlFile || !filepath.IsAbs(wh.URLFile) {
			t.Errorf("%s: url_file = %q, want the absolute path %q (it is not resolved relative to the config)", rcv.Name, wh.URLFile, w.urlFile)
		}
		if wh.SendResolved() != w.sendResolved {
			t.Errorf("%s: send_resolved = %v, want %v", rcv.Name, wh.SendResolved(), w.sendResolved)
		}
		if wh.MaxAlerts == 0 || wh.MaxAlerts > 100 {
			t.Errorf("%s: max_alerts = %d, want 1..100 (OnCall's limit)", rcv.Name, wh.MaxAlerts)
		}
	}
	for _, name := range []string{"oncall", "oncall-heartbeat", "blackhole"} {
		if !seen[name] {
			t.Errorf("receiver %q is missing", name)
		}
	}
}

// TestInhibitRulesCoverContract checks the inhibit rules' matchers against
// the alert contract: exactly the alerts marked as consequences are held
// back, and the heartbeat and the sources themselves never are.
func TestInhibitRulesCoverContract(t *testing.T) {
	cfg := loadAlertmanagerConfig(t)
	targetedBy := func(source model.LabelSet, alertname string) bool {
		for _, r := range cfg.InhibitRules {
			if amlabels.Matchers(r.SourceMatchers).Matches(source) &&
				amlabels.Matchers(r.TargetMatchers).Matches(model.LabelSet{"alertname": model.LabelValue(alertname)}) {
				return true
			}
		}
		return false
	}
	for name, spec := range alertContract {
		if got := targetedBy(model.LabelSet{"alertname": "HealthDependencyDown"}, name); got != spec.inhibitedByDependencyDown {
			t.Errorf("%s: inhibited by HealthDependencyDown = %v, want %v", name, got, spec.inhibitedByDependencyDown)
		}
		for _, source := range []model.LabelSet{
			{"alertname": "HealthExporterDown", "instance": "exporter-a:9115"},
			{"alertname": "HealthExporterDown"},
		} {
			if got := targetedBy(source, name); got != spec.inhibitedByExporterDown {
				t.Errorf("%s: inhibited by %v = %v, want %v", name, source, got, spec.inhibitedByExporterDown)
			}
		}
	}
}

// TestAlertmanagerInhibition runs Alertmanager's own inhibitor on the
// configured rules: which alerts are muted while others fire.
func TestAlertmanagerInhibition(t *testing.T) {
	cfg := loadAlertmanagerConfig(t)
	exporter := func(instance string, ls model.LabelSet) model.LabelSet {
		out := model.LabelSet{"job": "health-exporter", "instance": model.LabelValue(instance)}
		return out.Merge(ls)
	}
	var (
		queueDownA = exporter("exporter-a:9115", model.LabelSet{"alertname": "HealthDependencyDown", "severity": "critical",
			"dependency": "message_queue", "kind": "redis"})
		searchDownA = exporter("exporter-a:9115", model.LabelSet{"alertname": "HealthDependencyDown", "severity": "critical",
			"dependency": "search", "kind": "search"})
		exporterBDown = exporter("exporter-b:9115", model.LabelSet{"alertname": "HealthExporterDown", "severity": "critical"})
		exporterGone  = model.LabelSet{"alertname": "HealthExporterDown", "severity": "critical", "job": "health-exporter"}
	)
	cases := []struct {
		name    string
		firing  []model.LabelSet
		target  model.LabelSet
		inhibit bool
	}{
		{
			name:   "down mutes degraded of the same dependency",
			firing: []model.LabelSet{queueDownA},
			target: exporter("exporter-a:9115", model.LabelSet{"alertname": "HealthDependencyDegraded", "severity": "warning",
				"dependency": "message_queue", "kind": "redis"}),
			inhibit: true,
		},
		{
			name:   "down mutes degraded seen by another exporter replica",
			firing: []model.LabelSet{queueDownA},
			target: exporter("exporter-c:9115", model.LabelSet{"alertname": "HealthDependencyDegraded", "severity": "warning",
				"dependency": "message_queue", "kind": "redis"}),
			inhibit: true,
		},
		{
			name:   "down leaves another dependency alone",
			firing: []model.LabelSet{queueDownA},
			target: exporter("exporter-a:9115", model.LabelSet{"alertname": "HealthDependencyDegraded", "severity": "warning",
				"dependency": "database", "kind": "postgres"}),
			inhibit: false,
		},
		{
			name:   "down mutes the dependency's open breaker",
			firing: []model.LabelSet{queueDownA},
			target: exporter("exporter-a:9115", model.LabelSet{"alertname": "HealthCircuitBreakerOpen", "severity": "warning",
				"breaker": "message_queue", "dependency": "message_queue"}),
			inhibit: true,
		},
		{
			name:   "down mutes a stale check of the same dependency",
			firing: []model.LabelSet{queueDownA},
			target: exporter("exporter-a:9115", model.LabelSet{"alertname": "HealthCheckStale", "severity": "warning",
				"dependency": "message_queue", "kind": "redis"}),
			inhibit: true,
		},
		{
			name:   "down mutes the search fallback summed over instances",
			firing: []model.LabelSet{searchDownA},
			target: model.LabelSet{"alertname": "HealthSearchFallbackActive", "severity": "warning",
				"job": "health-exporter", "searcher": "search", "dependency": "search"},
			inhibit: true,
		},
		{
			name:   "down of the exporter's dependency leaves another job's breaker alone",
			firing: []model.LabelSet{searchDownA},
			target: model.LabelSet{"alertname": "HealthCircuitBreakerOpen", "severity": "warning",
				"job": "api", "instance": "api-1:8080", "breaker": "search", "dependency": "search"},
			inhibit: false,
		},
		{
			name: "an open search primary breaker mutes its dependency's degradation",
			firing: []model.LabelSet{exporter("exporter-a:9115", model.LabelSet{"alertname": "HealthCircuitBreakerOpen", "severity": "warning",
				"breaker": "search_primary", "dependency": "search"})},
			target: exporter("exporter-a:9115", model.LabelSet{"alertname": "HealthDependencyDegraded", "severity": "warning",
				"dependency": "search", "kind": "search"}),
			inhibit: true,
		},
		{
			name: "an open search primary breaker mutes the fallback alert",
			firing: []model.LabelSet{exporter("exporter-a:9115", model.LabelSet{"alertname": "HealthCircuitBreakerOpen", "severity": "warning",
				"breaker": "search_primary", "dependency": "search"})},
			target: model.LabelSet{"alertname": "HealthSearchFallbackActive", "severity": "warning",
				"job": "health-exporter", "searcher": "search", "dependency": "search"},
			inhibit: true,
		},
		{
			name: "an open breaker leaves another dependency's degradation alone",
			firing: []model.LabelSet{exporter("exporter-a:9115", model.LabelSet{"alertname": "HealthCircuitBreakerOpen", "severity": "warning",
				"breaker": "search_primary", "dependency": "search"})},
			target: exporter("exporter-a:9115", model.LabelSet{"alertname": "HealthDependencyDegraded", "severity": "warning",
				"dependency": "database", "kind": "postgres"}),
			inhibit: false,
		},
		{
			name:   "down never mutes another down",
			firing: []model.LabelSet{queueDownA},
			target: exporter("exporter-c:9115", model.LabelSet{"alertname": "HealthDependencyDown", "severity": "critical",
				"dependency": "message_queue", "kind": "redis"}),
			inhibit: false,
		},
		{
			name:   "exporter down mutes its own dependency alerts",
			firing: []model.LabelSet{exporterBDown},
			target: exporter("exporter-b:9115", model.LabelSet{"alertname": "HealthDependencyDown", "severity": "critical",
				"dependency": "database", "kind": "postgres"}),
			inhibit: true,
		},
		{
			name:   "exporter down leaves a replica that is still scraped alone",
			firing: []model.LabelSet{exporterBDown},
			target: exporter("exporter-c:9115", model.LabelSet{"alertname": "HealthDependencyDown", "severity": "critical",
				"dependency": "database", "kind": "postgres"}),
			inhibit: false,
		},
		{
			name:    "exporter down leaves its configuration alert alone",
			firing:  []model.LabelSet{exporterBDown},
			target:  exporter("exporter-b:9115", model.LabelSet{"alertname": "HealthExporterConfigReloadFailed", "severity": "warning"}),
			inhibit: false,
		},
		{
			name:   "no exporter target at all mutes every instance of the job",
			firing: []model.LabelSet{exporterGone},
			target: exporter("exporter-c:9115", model.LabelSet{"alertname": "HealthDependencyDegraded", "severity": "warning",
				"dependency": "database", "kind": "postgres"}),
			inhibit: true,
		},
		{
			name:   "no exporter target mutes the job's alerts without instance",
			firing: []model.LabelSet{exporterGone},
			target: model.LabelSet{"alertname": "HealthSearchFallbackActive", "severity": "warning",
				"job": "health-exporter", "searcher": "search", "dependency": "search"},
			inhibit: true,
		},
		{
			name:   "no exporter target leaves other jobs alone",
			firing: []model.LabelSet{exporterGone},
			target: model.LabelSet{"alertname": "HealthCacheHitRateLow", "severity": "warning",
				"job": "api", "cache": "workflows", "tenant": "acme"},
			inhibit: false,
		},
		{
			name:    "nothing mutes the heartbeat",
			firing:  []model.LabelSet{queueDownA, exporterBDown, exporterGone},
			target:  model.LabelSet{"alertname": "Watchdog", "severity": "none"},
			inhibit: false,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ih := startInhibitor(t, cfg, tc.firing...)
			if got := ih.Mutes(t.Context(), labelset.FromModel(tc.target)); got != tc.inhibit {
				t.Errorf("muted = %v, want %v", got, tc.inhibit)
			}
		})
	}
}

// startInhibitor runs an Inhibitor over the given firing alerts and returns
// it once it has read them all; it is stopped at cleanup.
func startInhibitor(t *testing.T, cfg *config.Config, firing ...model.LabelSet) *inhibit.Inhibitor {
	t.Helper()
	now := time.Now()
	var alerts []*alert.Alert
	for _, ls := range firing {
		alerts = append(alerts, alert.New(model.Alert{Labels: ls, StartsAt: now.Add(-time.Minute)}, now, false))
	}
	logger := slog.New(slog.DiscardHandler)
	ih := inhibit.NewInhibitor(firingAlerts(alerts), cfg.InhibitRules, logger, eventrecorder.NopRecorder())
	done := make(chan struct{})
	go func() {
		defer close(done)
		ih.Run()
	}()
	ih.WaitForLoading()
	t.Cleanup(func() {
		ih.Stop()
		<-done
	})
	return ih
}

// firingAlerts is a provider.Alerts holding a fixed set of firing alerts, all
// handed over on subscription.
type firingAlerts []*alert.Alert

var _ provider.Alerts = firingAlerts(nil)

var errReadOnly = errors.New("fixed set of alerts")

// SlurpAndSubscribe hands over every alert at once; nothing arrives later.
func (f firingAlerts) SlurpAndSubscribe(string) ([]*alert.Alert, provider.AlertIterator) {
	return f, provider.NewAlertIterator(make(chan *provider.Alert), make(chan struct{}), nil)
}

// Subscribe is not used by the inhibitor; it yields nothing.
func (f firingAlerts) Subscribe(string) provider.AlertIterator {
	return provider.NewAlertIterator(make(chan *provider.Alert), make(chan struct{}), nil)
}

// GetPending yields nothing.
func (f firingAlerts) GetPending() provider.AlertIterator {
	return provider.NewAlertIterator(make(chan *provider.Alert), make(chan struct{}), nil)
}

// Get finds an alert by fingerprint.
func (f firingAlerts) Get(fp model.Fingerprint) (*alert.Alert, error) {
	for _, a := range f {
		if a.Fingerprint() == fp {
			return a, nil
		}
	}
	return nil, fmt.Errorf("alert %v: %w", fp, provider.ErrNotFound)
}

// Put refuses: the set is fixed.
func (f firingAlerts) Put(context.Context, ...*alert.Alert) error {
	return fmt.Errorf("put alerts: %w", errReadOnly)
}

// TestAmtool runs amtool built from the Alertmanager module this module
// requires (the same version as the Go tests above; Debian's amtool 0.25
// predates url_file): check-config, then the routing table through
// `config routes test`.
func TestAmtool(t *testing.T) {
	amtool := buildAmtool(t)
	out := runTool(t, amtool, "check-config", alertmanagerFile)
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("amtool check-config did not report success:\n%s", out)
	}
	for _, tc := range routeCases {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"config", "routes", "test", "--config.file=" + alertmanagerFile, "--verify.receivers=" + tc.receiver}
			for name, value := range tc.labels {
				args = append(args, fmt.Sprintf("%s=%q", name, value))
			}
			if got := strings.TrimSpace(runTool(t, amtool, args...)); got != tc.receiver {
				t.Errorf("amtool routed to %q, want %q", got, tc.receiver)
			}
		})
	}
}

// buildAmtool builds amtool from the module cache into a temporary directory.
func buildAmtool(t *testing.T) string {
	t.Helper()
	goTool := testenv.Binary(t, "go")
	bin := filepath.Join(t.TempDir(), "amtool")
	cmd := exec.CommandContext(t.Context(), goTool, "build", "-o", bin, "github.com/prometheus/alertmanager/cmd/amtool")
	if out, err := cmd.CombinedOutput(); err != nil {
		testenv.Require(t, "amtool built from the alertmanager module", fmt.Errorf("go build: %w\n%s", err, out))
	}
	return bin
}
