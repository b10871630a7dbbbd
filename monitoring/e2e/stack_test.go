package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/health-exporter/health-exporter/internal/testenv"
	"github.com/health-exporter/health-exporter/monitoring"
	"github.com/health-exporter/health-exporter/monitoring/oncall"
)

// stack is the running system under test.
type stack struct {
	redis      *testenv.Redis
	receiver   *oncall.Receiver
	oncallPath string
	prometheus string // base URL
	exporter   string // base URL
}

func startStack(t *testing.T, goTool, prometheusBin, dir string) *stack {
	var exporterBin, alertmanagerBin string
	var exporterErr, alertmanagerErr error
	var builds sync.WaitGroup
	began := time.Now()
	builds.Go(func() { exporterBin, exporterErr = goBuild(t.Context(), goTool, dir, "./cmd/health-exporter") })
	builds.Go(func() { alertmanagerBin, alertmanagerErr = buildAlertmanager(t.Context(), goTool, dir) })
	builds.Wait()
	t.Logf("built the exporter and Alertmanager in %v", time.Since(began).Round(time.Millisecond))
	if exporterErr != nil {
		t.Fatal(exporterErr)
	}
	testenv.Require(t, "alertmanager built from its module (it needs the module proxy the first time)", alertmanagerErr)
	began = time.Now()

	s := &stack{redis: testenv.StartRedis(t), oncallPath: oncall.IntegrationPath + token + "/"}
	s.startReceiver(t, dir)

	rules := filepath.Join(dir, "health-exporter.rules.yml")
	derive(t, filepath.Join("..", "rules", "health-exporter.rules.yml"), rules, func(src []byte) ([]byte, error) {
		return monitoring.ShortenHoldTimes(src, divisor)
	})
	amConfig := filepath.Join(dir, "alertmanager.yml")
	derive(t, filepath.Join("..", "alertmanager.yml"), amConfig, func(src []byte) ([]byte, error) {
		return monitoring.RenderAlertmanagerConfig(src, monitoring.AlertmanagerOverrides{Divisor: divisor, URLFileDir: filepath.Join(dir, "secrets")})
	})

	exporterAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	s.exporter = "http://" + exporterAddr
	exporterConfig := write(t, dir, "health-exporter.yml", fmt.Sprintf(`global:
  breaker: {open_timeout: 2s}   # the recovery within seconds, not 30s
dependencies:
  - name: message_queue
    kind: redis
    redis: {url: "redis://%s/0"}
`, s.redis.Addr))
	start(t, dir, "health-exporter", exporterBin, "--config.file="+exporterConfig,
		"--web.listen-address="+exporterAddr, "--web.timeout-offset=0.2s").waitReady(t, s.exporter+"/-/ready", 30*time.Second)

	amAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	start(t, dir, "alertmanager", alertmanagerBin, "--config.file="+amConfig,
		"--storage.path="+filepath.Join(dir, "alertmanager-data"), "--web.listen-address="+amAddr,
		"--web.external-url=http://"+amAddr+"/", "--cluster.listen-address=").waitReady(t, "http://"+amAddr+"/-/ready", 30*time.Second)

	promAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	s.prometheus = "http://" + promAddr
	promConfig := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
alerting:
  alertmanagers:
    - static_configs: [{targets: [%q]}]
scrape_configs:
  - job_name: health-exporter   # the job name the rules expect
    static_configs: [{targets: [%q]}]
`, amAddr, exporterAddr)
	promFile := write(t, dir, "prometheus.yml", promConfig)
	prometheus := start(t, dir, "prometheus", prometheusBin, "--config.file="+promFile,
		"--storage.tsdb.path="+filepath.Join(dir, "prometheus-data"), "--web.listen-address="+promAddr,
		"--web.external-url="+s.prometheus+"/",
		// An alert that fires before Prometheus has found Alertmanager goes
		// out again after this delay, 1m by default.
		"--rules.alert.resend-delay=5s")
	prometheus.waitReady(t, s.prometheus+"/-/ready", 60*time.Second)

	// Prometheus applies scrape targets up to 5s after it starts. Rules
	// evaluated before the first scrape see no up{job="health-exporter"},
	// and HealthExporterDown's absent() would fire once its for:, 4s here,
	// has passed (production's 2m covers the gap). So the rules are loaded
	// once the exporter has been scraped.
	poll(t, 60*time.Second, "Prometheus' first scrape of the exporter", func() (bool, error) {
		up, err := query(t.Context(), s.prometheus, `up{job="health-exporter"} == 1`)
		return err == nil && len(up) == 1, nil
	})
	write(t, dir, "prometheus.yml", promConfig+fmt.Sprintf("rule_files: [%q]\n", rules))
	if err := prometheus.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	poll(t, 30*time.Second, "Prometheus to load the rules", func() (bool, error) {
		_, body, err := get(t.Context(), s.prometheus+"/api/v1/rules?type=alert")
		return err == nil && strings.Contains(string(body), `"name":"HealthDependencyDown"`), nil
	})
	t.Logf("Redis, the exporter, Alertmanager and Prometheus ready %v after the builds", time.Since(began).Round(time.Millisecond))
	return s
}

// watchPhases logs when Prometheus first showed each step of the outage,
// until the returned function is called: measurements, not assertions.
func (s *stack) watchPhases(t *testing.T, since time.Time) (stop func()) {
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	phase := func(what, promql string) {
		wg.Go(func() {
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				if r, err := query(ctx, s.prometheus, promql); err == nil && len(r) > 0 {
					t.Logf("%v after stopping Redis: %s", time.Since(since).Round(time.Millisecond), what)
					return
				}
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
		})
	}
	phase("Prometheus has scraped message_queue down", `health_dependency_up{dependency="message_queue"} == 0`)
	phase("HealthDependencyDown pending", `ALERTS{alertname="HealthDependencyDown",alertstate="pending"}`)
	phase("HealthDependencyDown firing", `ALERTS{alertname="HealthDependencyDown",alertstate="firing"}`)
	return func() {
		cancel()
		wg.Wait()
	}
}

// startReceiver serves the OnCall-compatible receiver and writes the URL
// files the rendered Alertmanager configuration reads.
func (s *stack) startReceiver(t *testing.T, dir string) {
	var logs syncBuffer
	t.Cleanup(func() { t.Logf("OnCall receiver's log:\n%s", logs.String()) }) // runs last
	r, err := oncall.New(oncall.Options{
		Integrations: map[string]string{token: "health-exporter"},
		Logger:       slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	s.receiver = r
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	secrets := filepath.Join(dir, "secrets")
	if err := os.Mkdir(secrets, 0o700); err != nil {
		t.Fatal(err)
	}
	write(t, secrets, "oncall-url", srv.URL+s.oncallPath)
	write(t, secrets, "oncall-heartbeat-url", srv.URL+s.oncallPath+"heartbeat/")
}

// waitHealthy waits until the exporter reports every dependency healthy
// and Prometheus has scraped message_queue as up.
func (s *stack) waitHealthy(t *testing.T) {
	poll(t, 60*time.Second, "the exporter's /health to pass", func() (bool, error) {
		_, body, err := get(t.Context(), s.exporter+"/health")
		var health struct{ Status string }
		return err == nil && json.Unmarshal(body, &health) == nil && health.Status == "pass", nil
	})
	poll(t, 60*time.Second, "Prometheus to scrape message_queue as up", func() (bool, error) {
		up, err := query(t.Context(), s.prometheus, `health_dependency_up{job="health-exporter",dependency="message_queue"} == 1`)
		return err == nil && len(up) == 1, nil
	})
}

func (s *stack) waitNotifications(t *testing.T, timeout time.Duration, what string, done func([]oncall.Notification) bool) []oncall.Notification {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	notes, err := s.receiver.Wait(ctx, done)
	if err != nil {
		t.Fatalf("%s did not arrive within %v: %v", what, timeout, err)
	}
	return notes
}

// derive writes the output of change applied to the file src.
func derive(t *testing.T, src, dst string, change func([]byte) ([]byte, error)) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	out, err := change(b)
	if err != nil {
		t.Fatalf("derive %s from %s: %v", filepath.Base(dst), src, err)
	}
	if err := os.WriteFile(dst, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
