package monitoring

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/config"
	"github.com/prometheus/alertmanager/dispatch"
	"github.com/prometheus/common/model"
)

// TestRenderShippedAlertmanagerConfig renders the shipped configuration as
// the demo and the end-to-end test do and checks that Alertmanager loads it,
// that only timings and url_file lines changed, and that every alert still
// takes the same route with the same group key.
func TestRenderShippedAlertmanagerConfig(t *testing.T) {
	src, err := os.ReadFile(alertmanagerFile)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "secrets dir") // a space: the path must be quoted
	out, err := RenderAlertmanagerConfig(src, AlertmanagerOverrides{Divisor: 30, URLFileDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(string(out))
	if err != nil {
		t.Fatalf("Alertmanager refuses the rendered configuration: %v\n%s", err, out)
	}

	srcLines, outLines := strings.Split(string(src), "\n"), strings.Split(string(out), "\n")
	if len(srcLines) != len(outLines) {
		t.Fatalf("rendered %d lines from %d", len(outLines), len(srcLines))
	}
	changed := 0
	for i := range srcLines {
		if srcLines[i] == outLines[i] {
			continue
		}
		changed++
		key, _, _ := strings.Cut(strings.TrimSpace(outLines[i]), ":")
		switch strings.TrimPrefix(key, "- ") {
		case "group_wait", "group_interval", "repeat_interval", "url_file":
		default:
			t.Errorf("line %d changed: %q -> %q", i+1, srcLines[i], outLines[i])
		}
	}
	// Three timings on the top-level route, two on the heartbeat's (its
	// group_wait is 0s), two url_files.
	if changed != 7 {
		t.Errorf("%d lines changed, want 7", changed)
	}

	shipped := dispatch.NewRoute(loadAlertmanagerConfig(t).Route, nil)
	rendered := dispatch.NewRoute(cfg.Route, nil)
	for _, tc := range routeCases {
		want, got := shipped.Match(tc.labels)[0], rendered.Match(tc.labels)[0]
		if got.Key() != want.Key() || got.RouteOpts.Receiver != want.RouteOpts.Receiver {
			t.Errorf("%s: rendered route %s -> %s, shipped %s -> %s", tc.name, got.Key(), got.RouteOpts.Receiver, want.Key(), want.RouteOpts.Receiver)
		}
	}

	timings := func(r *dispatch.Route) [3]time.Duration {
		return [3]time.Duration{r.RouteOpts.GroupWait, r.RouteOpts.GroupInterval, r.RouteOpts.RepeatInterval}
	}
	page := rendered.Match(model.LabelSet{"alertname": "HealthDependencyDown", "severity": "critical"})[0]
	if got, want := timings(page), [3]time.Duration{time.Second, 10 * time.Second, 8 * time.Minute}; got != want {
		t.Errorf("page route timings %v, want %v", got, want)
	}
	heartbeat := rendered.Match(model.LabelSet{"alertname": "Watchdog", "severity": "none"})[0]
	if got, want := timings(heartbeat), [3]time.Duration{0, 2 * time.Second, 1666 * time.Millisecond}; got != want {
		t.Errorf("heartbeat route timings %v, want %v", got, want)
	}

	files := map[string]string{}
	for _, r := range cfg.Receivers {
		for _, w := range r.WebhookConfigs {
			files[r.Name] = w.URLFile
		}
	}
	if files["oncall"] != filepath.Join(dir, "oncall-url") || files["oncall-heartbeat"] != filepath.Join(dir, "oncall-heartbeat-url") {
		t.Errorf("url_file paths %v, want them in %s", files, dir)
	}
}

func TestRenderAlertmanagerConfig(t *testing.T) {
	cases := []struct {
		name string
		src  string
		o    AlertmanagerOverrides
		want string
	}{
		{
			name: "nested routes, flow style, comments kept",
			src: `route:
  receiver: a
  group_wait: 30s # why 30s
  group_interval: 5m
  repeat_interval: 4h
  routes:
    - receiver: b
      routes:
        - {receiver: c, group_interval: 1m, repeat_interval: 1h30m}
`,
			o: AlertmanagerOverrides{Divisor: 60},
			want: `route:
  receiver: a
  group_wait: 500ms # why 30s
  group_interval: 5s
  repeat_interval: 4m
  routes:
    - receiver: b
      routes:
        - {receiver: c, group_interval: 1s, repeat_interval: 1m30s}
`,
		},
		{
			name: "0s stays 0s, nothing below 1ms",
			src:  "route: {receiver: a, group_wait: 0s, group_interval: 10ms, repeat_interval: 1h}\n",
			o:    AlertmanagerOverrides{Divisor: 1000},
			want: "route: {receiver: a, group_wait: 0s, group_interval: 1ms, repeat_interval: 3s600ms}\n",
		},
		{
			name: "divisor 1 and no directory change nothing",
			src:  "route: {receiver: a, group_wait: 30s}\nreceivers:\n  - name: a\n    webhook_configs: [{url_file: /etc/x}]\n",
			o:    AlertmanagerOverrides{Divisor: 1},
			want: "route: {receiver: a, group_wait: 30s}\nreceivers:\n  - name: a\n    webhook_configs: [{url_file: /etc/x}]\n",
		},
		{
			name: "url_file of every integration kind moves, url stays",
			src: `receivers:
  - name: a
    webhook_configs:
      - url_file: /etc/alertmanager/secrets/oncall-url
      - url: http://example.org/
  - name: b
    msteamsv2_configs:
      - webhook_url_file: /etc/teams
    webhook_configs:
      - url_file: relative/heartbeat
`,
			o: AlertmanagerOverrides{URLFileDir: "/run/demo"},
			want: `receivers:
  - name: a
    webhook_configs:
      - url_file: "/run/demo/oncall-url"
      - url: http://example.org/
  - name: b
    msteamsv2_configs:
      - webhook_url_file: /etc/teams
    webhook_configs:
      - url_file: "/run/demo/heartbeat"
`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := RenderAlertmanagerConfig([]byte(tc.src), tc.o)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", out, tc.want)
			}
		})
	}
}

func TestRenderAlertmanagerConfigErrors(t *testing.T) {
	full := "route: {receiver: a, group_wait: 30s, group_interval: 5m, repeat_interval: 4h"
	cases := []struct {
		name string
		src  string
		o    AlertmanagerOverrides
		want string
	}{
		{"negative divisor", full + "}\n", AlertmanagerOverrides{Divisor: -2}, "divisor -2 is negative"},
		{"relative directory", full + "}\n", AlertmanagerOverrides{URLFileDir: "secrets"}, `url_file directory "secrets" is not absolute`},
		{"not YAML", "route: [", AlertmanagerOverrides{Divisor: 2}, "parse: yaml: line 1: did not find expected node content"},
		{"empty", "", AlertmanagerOverrides{Divisor: 2}, "empty document"},
		{"no route", "receivers: []\n", AlertmanagerOverrides{Divisor: 2}, "no route"},
		{"default timing left undivided", "route: {receiver: a, group_wait: 30s, group_interval: 5m}\n", AlertmanagerOverrides{Divisor: 2},
			"route: repeat_interval is not set; set it so that it can be divided"},
		{"quoted timing", full + ", routes: [{group_wait: '10s'}]}\n", AlertmanagerOverrides{Divisor: 2},
			"route.routes[0].group_wait at line 1: write it as a plain scalar such as 30s"},
		{"bad timing", full + ", routes: [{group_interval: soon}]}\n", AlertmanagerOverrides{Divisor: 2},
			`route.routes[0].group_interval at line 1: not a valid duration string: "soon"`},
		{"quoted url_file", "receivers: [{name: a, webhook_configs: [{url_file: \"/etc/x\"}]}]\n", AlertmanagerOverrides{URLFileDir: "/run"},
			"receivers[0].webhook_configs[0].url_file at line 1: write it as a plain scalar"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := RenderAlertmanagerConfig([]byte(tc.src), tc.o)
			if !errors.Is(err, ErrAlertmanagerConfig) {
				t.Fatalf("err = %v, want ErrAlertmanagerConfig", err)
			}
			if want := ErrAlertmanagerConfig.Error() + ": " + tc.want; err.Error() != want {
				t.Errorf("err = %q\nwant  %q", err, want)
			}
		})
	}
}
