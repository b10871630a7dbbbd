package main

import (
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/health-exporter/health-exporter/internal/testenv"
)

func TestReloadOverHTTPAndSIGHUP(t *testing.T) {
	dir := t.TempDir()
	up := tcpListener(t)
	one := "dependencies:\n  - {name: broker, kind: tcp, tcp: {address: \"" + up + "\"}}\n"
	two := one + "  - {name: cache, kind: tcp, tcp: {address: \"" + up + "\"}}\n"
	bad := two + "  - {name: broken, kind: tcp, tcp: {address: \"" + up + "\"}, colour: blue}\n"
	path := writeConfig(t, dir, one)
	e := startExporter(t, "--config.file="+path)

	_, body := e.get(t, "/metrics")
	if metric(body, `health_dependency_up{dependency="broker",kind="tcp"}`) != "1" || metric(body, "health_exporter_config_last_reload_successful") != "1" {
		t.Fatalf("first config:\n%s", body)
	}

	writeConfig(t, dir, two)
	if code, msg := e.post(t, "/-/reload"); code != http.StatusOK {
		t.Fatalf("reload of a good config: %d %s", code, msg)
	}
	_, body = e.get(t, "/metrics")
	if metric(body, `health_dependency_up{dependency="cache",kind="tcp"}`) != "1" {
		t.Fatalf("after reload:\n%s", body)
	}

	writeConfig(t, dir, bad)
	code, msg := e.post(t, "/-/reload")
	if code != http.StatusInternalServerError || !strings.Contains(msg, "config.yml:4") || !strings.Contains(msg, "colour") {
		t.Fatalf("reload of a bad config: %d %s", code, msg)
	}
	_, body = e.get(t, "/metrics")
	if metric(body, "health_exporter_config_last_reload_successful") != "0" || metric(body, `health_dependency_up{dependency="cache",kind="tcp"}`) != "1" ||
		strings.Contains(body, `dependency="broken"`) {
		t.Fatalf("a refused config must leave the previous one serving:\n%s", body)
	}
	if code, _ := e.get(t, "/-/reload"); code != http.StatusMethodNotAllowed {
		t.Fatalf("GET /-/reload: %d", code)
	}

	writeConfig(t, dir, one)
	e.cmd.Process.Signal(syscall.SIGHUP)
	waitUntil(t, "SIGHUP reload", func() bool {
		_, body := e.get(t, "/metrics")
		return metric(body, "health_exporter_config_last_reload_successful") == "1" && !strings.Contains(body, `dependency="cache"`)
	})
	writeConfig(t, dir, bad)
	e.cmd.Process.Signal(syscall.SIGHUP)
	waitUntil(t, "failed SIGHUP reload", func() bool {
		_, body := e.get(t, "/metrics")
		return metric(body, "health_exporter_config_last_reload_successful") == "0" && strings.Contains(body, `dependency="broker"`)
	})
}

func TestConfigCheckFlag(t *testing.T) {
	dir := t.TempDir()
	good := writeConfig(t, dir, "dependencies:\n  - {name: broker, kind: tcp, tcp: {address: \"127.0.0.1:1\"}}\n")
	out, err := exec.Command(binary, "--config.file="+good, "--config.check").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "1 dependencies, valid") {
		t.Fatalf("valid config: %v %s", err, out)
	}
	bad := writeConfig(t, dir, "dependencies:\n  - {name: broker, kind: tcp, tcp: {address: \"127.0.0.1:1\"}, timeout: 5x}\n")
	out, err = exec.Command(binary, "--config.file="+bad, "--config.check").CombinedOutput()
	if code := exitCode(err); code != 1 || !strings.Contains(string(out), "config.yml:2") {
		t.Fatalf("invalid config: exit %d, %s", code, out)
	}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

func TestRunsWithNoArguments(t *testing.T) {
	closed := "127.0.0.1:1"
	for _, kv := range [][2]string{
		{"REDIS_URL", "redis://" + closed + "/0"},
		{"DATABASE_URL", "postgres://app@" + closed + "/app"},
		{"STORAGE_HEALTH_URL", "http://" + closed + "/minio/health/live"},
		{"VECTOR_DB_HEALTH_URL", "http://" + closed + "/readyz"},
		{"SEARCH_URL", "http://" + closed},
	} {
		t.Setenv(kv[0], kv[1])
	}
	e := startExporter(t)
	code, body := e.get(t, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	for _, name := range []string{"message_queue", "storage", "vector_db", "search"} {
		if !strings.Contains(body, `health_dependency_up{dependency="`+name+`"`) {
			t.Errorf("embedded default lacks %s:\n%s", name, body)
		}
	}
	if code, body := e.get(t, "/health"); code != http.StatusServiceUnavailable || !strings.Contains(body, `"status": "fail"`) {
		t.Errorf("/health with every dependency down: %d %s", code, body)
	}
	if code, body := e.get(t, "/"); code != http.StatusOK || !strings.Contains(body, "message_queue") {
		t.Errorf("landing page: %d %s", code, body)
	}
}

func TestScrapeTimeoutHeaderBoundsChecks(t *testing.T) {
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer hang.Close()
	up := tcpListener(t)
	path := writeConfig(t, t.TempDir(), `global: {timeout: 30s}
dependencies:
  - {name: vector_db, kind: http, http: {url: "`+hang.URL+`/readyz"}}
  - {name: broker, kind: tcp, tcp: {address: "`+up+`"}}
`)
	e := startExporter(t, "--config.file="+path)
	code, body := e.get(t, "/metrics", "X-Prometheus-Scrape-Timeout-Seconds", "1.5")
	if code != http.StatusOK {
		t.Fatalf("a failing dependency must not fail the scrape: %d", code)
	}
	checks := []struct{ series, want string }{
		{`health_check_timeout_seconds{dependency="vector_db"}`, "1"},
		{`health_dependency_up{dependency="vector_db",kind="http"}`, "0"},
		{`health_dependency_reason{dependency="vector_db",kind="http",reason="timeout"}`, "1"},
		{`health_dependency_up{dependency="broker",kind="tcp"}`, "1"},
	}
	for _, c := range checks {
		if got := metric(body, c.series); got != c.want {
			t.Errorf("%s = %q, want %q", c.series, got, c.want)
		}
	}
}

func TestPromtoolAcceptsTheExposition(t *testing.T) {
	promtool := testenv.Binary(t, "promtool")
	srv := testenv.StartRedis(t)
	up := tcpListener(t)
	path := writeConfig(t, t.TempDir(), `dependencies:
  - {name: message_queue, kind: redis, redis: {url: "redis://`+srv.Addr+`/0"}}
  - {name: broker, kind: tcp, tcp: {address: "`+up+`"}}
  - {name: storage, kind: http, http: {url: "http://127.0.0.1:1/minio/health/live"}}
`)
	e := startExporter(t, "--config.file="+path)
	_, body := e.get(t, "/metrics")
	if !strings.Contains(body, "health_redis_keyspace_hits_total") || !strings.Contains(body, "circuit_breaker_state") {
		t.Fatalf("exposition lacks redis or breaker metrics:\n%s", body)
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) != 0 {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

func TestSIGTERMStopsGracefully(t *testing.T) {
	path := writeConfig(t, t.TempDir(), "dependencies:\n  - {name: broker, kind: tcp, tcp: {address: \""+tcpListener(t)+"\"}}\n")
	e := startExporter(t, "--config.file="+path)
	e.get(t, "/metrics")
	e.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.done:
	case <-time.After(15 * time.Second):
		t.Fatal("no exit within 15s of SIGTERM")
	}
	err := e.cmd.Wait()
	if code := exitCode(err); code != 0 {
		t.Fatalf("exit code after SIGTERM: %d (%v)\n%s", code, err, e.Logs())
	}
	if !strings.Contains(e.Logs(), "shutting down") {
		t.Fatalf("logs:\n%s", e.Logs())
	}
}
