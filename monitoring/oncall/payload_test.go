package oncall

import (
	"encoding/json"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/alert"
	"github.com/prometheus/alertmanager/notify/webhook"
	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/common/model"
)

var (
	startsAt = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)
	endsAt   = startsAt.Add(7 * time.Minute)
	groupKey = `{}/{severity=~"critical|warning"}:{alertname="HealthDependencyDown", dependency="message_queue", severity="critical"}`
)

// alertmanagerPayload is the body Alertmanager's own webhook notifier sends
// for a HealthDependencyDown group, built with its types and encoder.
func alertmanagerPayload(t testing.TB, resolved bool) []byte {
	t.Helper()
	tmpl, err := template.FromGlobs(nil)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.ExternalURL, _ = url.Parse("http://127.0.0.1:9093")
	a := &alert.Alert{Alert: model.Alert{
		Labels: model.LabelSet{
			"alertname": "HealthDependencyDown", "severity": "critical", "dependency": "message_queue",
			"kind": "redis", "job": "health-exporter", "instance": "127.0.0.1:9808",
		},
		Annotations: model.LabelSet{
			"summary":     "Dependency message_queue is down (refused)",
			"runbook_url": "https://github.com/health-exporter/health-exporter/blob/main/docs/runbooks.md#healthdependencydown",
		},
		StartsAt:     startsAt,
		GeneratorURL: "http://127.0.0.1:9090/graph?g0.expr=health_dependency_up+%3D%3D+0",
	}}
	if resolved {
		a.EndsAt = endsAt
	}
	groupLabels := model.LabelSet{"alertname": "HealthDependencyDown", "dependency": "message_queue", "severity": "critical"}
	msg := webhook.Message{
		Data:     tmpl.Data("oncall", groupLabels, nil, "", a),
		Version:  "4",
		GroupKey: groupKey,
	}
	b, err := json.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParsePayloadFromAlertmanager(t *testing.T) {
	for _, resolved := range []bool{false, true} {
		p, err := ParsePayload(alertmanagerPayload(t, resolved))
		if err != nil {
			t.Fatalf("resolved=%v: %v", resolved, err)
		}
		wantStatus, wantFiring, wantResolved := StatusFiring, 1, 0
		if resolved {
			wantStatus, wantFiring, wantResolved = StatusResolved, 0, 1
		}
		firing, res := p.Count()
		if p.Status != wantStatus || p.Alerts[0].Status != wantStatus || firing != wantFiring || res != wantResolved {
			t.Errorf("resolved=%v: status %q, alert %q, count %d/%d", resolved, p.Status, p.Alerts[0].Status, firing, res)
		}
		if p.GroupKey != groupKey || p.Receiver != "oncall" || p.Version != "4" || p.ExternalURL != "http://127.0.0.1:9093" {
			t.Errorf("resolved=%v: header fields %+v", resolved, p)
		}
		if p.CommonLabels["severity"] != "critical" || p.GroupLabels["dependency"] != "message_queue" ||
			p.CommonAnnotations["summary"] != "Dependency message_queue is down (refused)" {
			t.Errorf("resolved=%v: labels %v, group labels %v, annotations %v", resolved, p.CommonLabels, p.GroupLabels, p.CommonAnnotations)
		}
		a := p.Alerts[0]
		if !a.StartsAt.Equal(startsAt) || len(a.Fingerprint) != 16 || a.Labels["instance"] != "127.0.0.1:9808" {
			t.Errorf("resolved=%v: alert %+v", resolved, a)
		}
		if resolved && !a.EndsAt.Equal(endsAt) {
			t.Errorf("endsAt %v, want %v", a.EndsAt, endsAt)
		}
	}
}

func TestParsePayloadInvalid(t *testing.T) {
	tests := []struct {
		name   string
		change func(p map[string]any, a map[string]any)
		want   string
	}{
		{"version missing", func(p, _ map[string]any) { delete(p, "version") }, "version: missing"},
		{"version 3", func(p, _ map[string]any) { p["version"] = "3" }, `version: "3", want "4"`},
		{"version a number", func(p, _ map[string]any) { p["version"] = 4 }, "version: not a string"},
		{"groupKey missing", func(p, _ map[string]any) { delete(p, "groupKey") }, "groupKey: missing"},
		{"groupKey empty", func(p, _ map[string]any) { p["groupKey"] = "" }, "groupKey: empty"},
		{"status unknown", func(p, _ map[string]any) { p["status"] = "pending" }, `status: "pending", want firing or resolved`},
		{"status missing", func(p, _ map[string]any) { delete(p, "status") }, "status: missing"},
		{"receiver empty", func(p, _ map[string]any) { p["receiver"] = "" }, "receiver: empty"},
		{"groupLabels null", func(p, _ map[string]any) { p["groupLabels"] = nil }, "groupLabels: null, want an object of strings"},
		{"commonLabels missing", func(p, _ map[string]any) { delete(p, "commonLabels") }, "commonLabels: missing"},
		{"commonAnnotations a list", func(p, _ map[string]any) { p["commonAnnotations"] = []string{"x"} }, "commonAnnotations: not an object of strings"},
		{"label value a number", func(p, _ map[string]any) { p["commonLabels"] = map[string]any{"severity": 2} }, "commonLabels: not an object of strings"},
		{"externalURL missing", func(p, _ map[string]any) { delete(p, "externalURL") }, "externalURL: missing"},
		{"externalURL relative", func(p, _ map[string]any) { p["externalURL"] = "/alertmanager" }, `externalURL: "/alertmanager" is not an absolute URL`},
		{"truncatedAlerts missing", func(p, _ map[string]any) { delete(p, "truncatedAlerts") }, "truncatedAlerts: missing"},
		{"truncatedAlerts negative", func(p, _ map[string]any) { p["truncatedAlerts"] = -1 }, "truncatedAlerts: negative"},
		{"truncatedAlerts fractional", func(p, _ map[string]any) { p["truncatedAlerts"] = 1.5 }, "truncatedAlerts: not an integer"},
		{"alerts missing", func(p, _ map[string]any) { delete(p, "alerts") }, "alerts: missing"},
		{"alerts empty", func(p, _ map[string]any) { p["alerts"] = []any{} }, "alerts: empty"},
		{"alerts an object", func(p, _ map[string]any) { p["alerts"] = map[string]any{} }, "alerts: not an array of objects"},
		{"alert null", func(p, _ map[string]any) { p["alerts"] = []any{nil} }, "alerts[0]: null, want an object"},
		{"alert status missing", func(_, a map[string]any) { delete(a, "status") }, "alerts[0].status: missing"},
		{"alert labels missing", func(_, a map[string]any) { delete(a, "labels") }, "alerts[0].labels: missing"},
		{"alert labels empty", func(_, a map[string]any) { a["labels"] = map[string]any{} }, "alerts[0].labels: empty: an alert is identified by its labels"},
		{"alert annotations missing", func(_, a map[string]any) { delete(a, "annotations") }, "alerts[0].annotations: missing"},
		{"alert startsAt missing", func(_, a map[string]any) { delete(a, "startsAt") }, "alerts[0].startsAt: missing"},
		{"alert startsAt not a time", func(_, a map[string]any) { a["startsAt"] = "yesterday" }, "alerts[0].startsAt: not an RFC 3339 time"},
		{"alert startsAt zero", func(_, a map[string]any) { a["startsAt"] = "0001-01-01T00:00:00Z" }, "alerts[0].startsAt: zero time"},
		{"alert endsAt missing", func(_, a map[string]any) { delete(a, "endsAt") }, "alerts[0].endsAt: missing"},
		{"alert generatorURL missing", func(_, a map[string]any) { delete(a, "generatorURL") }, "alerts[0].generatorURL: missing"},
		{"alert fingerprint missing", func(_, a map[string]any) { delete(a, "fingerprint") }, "alerts[0].fingerprint: missing"},
		{"alert fingerprint empty", func(_, a map[string]any) { a["fingerprint"] = "" }, "alerts[0].fingerprint: empty"},
		{"alert fingerprint not hex", func(_, a map[string]any) { a["fingerprint"] = "not-a-hash" }, `alerts[0].fingerprint: "not-a-hash" is not 16 hex digits`},
		{"firing without a firing alert", func(_, a map[string]any) {
			a["status"] = "resolved"
			a["endsAt"] = endsAt.Format(time.RFC3339)
		}, "status: firing, but no alert is"},
		{"resolved with a firing alert", func(p, _ map[string]any) { p["status"] = "resolved" }, "status: resolved, but 1 alerts are firing"},
		{"resolved alert without endsAt", func(p, a map[string]any) {
			p["status"] = "resolved"
			a["status"] = "resolved"
		}, "alerts[0].endsAt: zero time on a resolved alert"},
		{"resolved alert ending before it started", func(p, a map[string]any) {
			p["status"] = "resolved"
			a["status"] = "resolved"
			a["endsAt"] = startsAt.Add(-time.Second).Format(time.RFC3339)
		}, "alerts[0].endsAt: before startsAt"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var p map[string]any
			if err := json.Unmarshal(alertmanagerPayload(t, false), &p); err != nil {
				t.Fatal(err)
			}
			tc.change(p, p["alerts"].([]any)[0].(map[string]any))
			body, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			_, err = ParsePayload(body)
			if !errors.Is(err, ErrInvalidPayload) {
				t.Fatalf("err = %v, want ErrInvalidPayload", err)
			}
			if want := ErrInvalidPayload.Error() + ": " + tc.want; err.Error() != want {
				t.Errorf("err = %q\nwant  %q", err, want)
			}
		})
	}
}

func TestParsePayloadNotAnObject(t *testing.T) {
	for _, body := range []string{"", "null", "[]", `"firing"`, "{", `{"version": "4"`} {
		_, err := ParsePayload([]byte(body))
		if want := ErrInvalidPayload.Error() + ": not a JSON object"; err == nil || err.Error() != want {
			t.Errorf("%q: err = %v, want %q", body, err, want)
		}
	}
}

func TestParsePayloadIgnoresOtherFields(t *testing.T) {
	var p map[string]any
	if err := json.Unmarshal(alertmanagerPayload(t, false), &p); err != nil {
		t.Fatal(err)
	}
	p["numFiring"] = 1
	p["routeLabels"] = map[string]any{"team": "platform"}
	body, _ := json.Marshal(p)
	if _, err := ParsePayload(body); err != nil {
		t.Fatal(err)
	}
}
