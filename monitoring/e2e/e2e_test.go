package e2e

import (
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/health-exporter/health-exporter/internal/testenv"
	"github.com/health-exporter/health-exporter/monitoring/oncall"
)

const (
	// divisor shortens the shipped timings, rules and Alertmanager alike:
	// for: 2m becomes 4s, group_wait 30s 1s, group_interval 5m 10s, the
	// heartbeat's group_interval 1m 2s.
	divisor = 30
	token   = "e2e-integration-token"
	// pageKey is the group key the shipped routing gives HealthDependencyDown
	// of message_queue; OnCall groups on it.
	pageKey = `{}/{severity=~"critical|warning"}:{alertname="HealthDependencyDown", dependency="message_queue", severity="critical"}`
)

// TestAlertingEndToEnd takes Redis down under the exporter and follows the
// page through real Prometheus and Alertmanager, running the shipped rules
// and routing, to an OnCall-compatible receiver; then brings Redis back and
// waits for the resolution. The heartbeat must keep arriving throughout.
func TestAlertingEndToEnd(t *testing.T) {
	goTool := testenv.Binary(t, "go")
	prometheusBin := testenv.Binary(t, "prometheus")
	dir := t.TempDir()
	s := startStack(t, goTool, prometheusBin, dir)

	s.waitHealthy(t)
	s.waitNotifications(t, 60*time.Second, "the first Watchdog heartbeat", func(n []oncall.Notification) bool {
		return len(heartbeats(n)) >= 1
	})

	s.redis.Stop()
	stopped := time.Now()
	phases := s.watchPhases(t, stopped)
	notes := s.waitNotifications(t, 90*time.Second, "the page for message_queue", func(n []oncall.Notification) bool {
		return s.page(n, oncall.StatusFiring) != nil
	})
	phases()
	page := s.page(notes, oncall.StatusFiring)
	t.Logf("time to page: %v from stopping Redis to the firing HealthDependencyDown notification at the OnCall receiver "+
		"(demo timings: shipped for: and Alertmanager timings divided by %d, scrape and evaluation every 1s)",
		page.Received.Sub(stopped).Round(time.Millisecond), divisor)
	checkPage(t, page.Payload)

	s.redis.Start()
	restarted := time.Now()
	notes = s.waitNotifications(t, 90*time.Second, "the resolution of the page", func(n []oncall.Notification) bool {
		return s.page(n, oncall.StatusResolved) != nil
	})
	resolved := s.page(notes, oncall.StatusResolved)
	t.Logf("resolved %v after Redis came back (breaker probe, keep_firing_for, then Alertmanager's group_interval)",
		resolved.Received.Sub(restarted).Round(time.Millisecond))
	if resolved.Payload.GroupKey != page.Payload.GroupKey {
		t.Errorf("resolved group key %q, the page's %q: OnCall would leave the alert group open", resolved.Payload.GroupKey, page.Payload.GroupKey)
	}
	for _, a := range resolved.Payload.Alerts {
		if a.Status != oncall.StatusResolved || !a.EndsAt.After(a.StartsAt) {
			t.Errorf("resolved notification holds alert %+v", a)
		}
	}

	notes = s.waitNotifications(t, 30*time.Second, "a second Watchdog heartbeat", func(n []oncall.Notification) bool {
		return len(heartbeats(n)) >= 2
	})
	s.checkRouting(t, notes)
	if r := s.receiver.Rejections(); len(r) != 0 {
		t.Errorf("the receiver refused Alertmanager's requests: %+v", r)
	}
}

// page returns the first notification of HealthDependencyDown for
// message_queue with the status, sent to the OnCall integration.
func (s *stack) page(notes []oncall.Notification, status string) *oncall.Notification {
	for i, n := range notes {
		if n.Path == s.oncallPath && n.Payload != nil && n.Payload.Status == status &&
			n.Payload.GroupLabels["alertname"] == "HealthDependencyDown" && n.Payload.GroupLabels["dependency"] == "message_queue" {
			return &notes[i]
		}
	}
	return nil
}

// checkPage holds the page to what OnCall and the person on call need.
func checkPage(t *testing.T, p *oncall.Payload) {
	t.Helper()
	if p.Receiver != "oncall" || p.GroupKey != pageKey {
		t.Errorf("page went to receiver %q with group key %q, want oncall and %q", p.Receiver, p.GroupKey, pageKey)
	}
	if p.CommonLabels["severity"] != "critical" || len(p.Alerts) != 1 || p.TruncatedAlerts != 0 {
		t.Errorf("page: severity %q, %d alerts, %d truncated; want critical, 1, 0", p.CommonLabels["severity"], len(p.Alerts), p.TruncatedAlerts)
	}
	for _, a := range p.Alerts {
		if a.Labels["job"] != "health-exporter" || a.Labels["kind"] != "redis" || a.Status != oncall.StatusFiring {
			t.Errorf("paged alert %+v", a)
		}
	}
	if summary := p.CommonAnnotations["summary"]; !regexp.MustCompile(`^Dependency message_queue is down \((refused|breaker_open)\)$`).MatchString(summary) {
		t.Errorf("summary %q does not give the reason", summary)
	}
	checkRunbook(t, p.CommonAnnotations["runbook_url"])
}

// checkRunbook checks that the runbook URL points to a heading of
// docs/runbooks.md, as GitHub anchors it.
func checkRunbook(t *testing.T, runbook string) {
	t.Helper()
	u, err := url.Parse(runbook)
	if err != nil || !strings.HasSuffix(u.Path, "/docs/runbooks.md") || u.Fragment == "" {
		t.Fatalf("runbook_url %q is not a link into docs/runbooks.md", runbook)
	}
	md, err := os.ReadFile(filepath.Join(moduleRoot, "docs", "runbooks.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(md), "\n") {
		if heading, ok := strings.CutPrefix(strings.TrimLeft(line, "#"), " "); ok && strings.HasPrefix(line, "#") && anchor(heading) == u.Fragment {
			return
		}
	}
	t.Errorf("runbook_url %q: docs/runbooks.md has no heading with anchor #%s", runbook, u.Fragment)
}

// anchor is GitHub's anchor of a Markdown heading: lower case, spaces to
// hyphens, punctuation other than hyphens and underscores dropped.
func anchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}

func heartbeats(notes []oncall.Notification) []oncall.Notification {
	var out []oncall.Notification
	for _, n := range notes {
		if n.Heartbeat {
			out = append(out, n)
		}
	}
	return out
}

// checkRouting: the heartbeat got the Watchdog only, always firing
// (send_resolved: false); OnCall got the one page and its resolution, the
// other alerts of the outage (the open breaker) held back by inhibition.
func (s *stack) checkRouting(t *testing.T, notes []oncall.Notification) {
	t.Helper()
	for _, n := range notes {
		p := n.Payload
		if p == nil {
			t.Errorf("Alertmanager sent a request without a payload to %s", n.Path)
			continue
		}
		switch {
		case n.Heartbeat && p.GroupLabels["alertname"] != "Watchdog":
			t.Errorf("the heartbeat received %s", p.GroupKey)
		case n.Heartbeat && (p.Status != oncall.StatusFiring || p.Receiver != "oncall-heartbeat"):
			t.Errorf("heartbeat with status %q from receiver %q, want firing from oncall-heartbeat", p.Status, p.Receiver)
		case !n.Heartbeat && p.GroupKey != pageKey:
			t.Errorf("OnCall was paged for %s (%s)", p.GroupKey, p.CommonAnnotations["summary"])
		}
	}
}
