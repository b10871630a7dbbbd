package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/health-exporter/health-exporter/internal/testenv"
)

// The benchmarks here measure the shipped binary over HTTP, the way
// Prometheus sees it: scrape latency with every dependency healthy and with
// one hung, and the memory of an exporter with 100 dependencies.

// benchTargets starts one of each kind of dependency and returns the
// configuration lines for them.
func benchTargets(b *testing.B) (deps string, redis *testenv.Redis) {
	redis = testenv.StartRedis(b)
	pg := testenv.StartPostgres(b, testenv.PostgresOptions{Password: "pw"})
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))
	b.Cleanup(web.Close)
	broker := tcpListener(b)
	deps = fmt.Sprintf(`  - {name: message_queue, kind: redis, redis: {url: "redis://%s/0"}}
  - {name: database, kind: postgres, postgres: {dsn: "%s", password: pw}}
  - {name: storage, kind: http, http: {url: "%s/minio/health/live"}}
  - {name: broker, kind: tcp, tcp: {address: "%s"}}
`, redis.Addr, pg.DSN("postgres", "", "postgres"), web.URL, broker)
	return deps, redis
}

// scrapeLatencies scrapes n times as Prometheus would (10s scrape timeout)
// and reports the median and 99th percentile.
func scrapeLatencies(b *testing.B, e *exporter) {
	b.Helper()
	var took []time.Duration
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		req, _ := http.NewRequest("GET", "http://"+e.addr+"/metrics", nil)
		req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "10")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		took = append(took, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
}

func BenchmarkScrape(b *testing.B) {
	deps, redis := benchTargets(b)
	dir := b.TempDir()

	b.Run("healthy", func(b *testing.B) {
		path := writeConfig(b, dir, "global: {min_interval: 0s}\ndependencies:\n"+deps)
		e := startExporter(b, "--config.file="+path)
		scrapeLatencies(b, e)
	})
	// A hung Redis with its breaker effectively off: every scrape waits for
	// the check's 500ms deadline, and no longer.
	b.Run("one_hung_no_breaker", func(b *testing.B) {
		path := writeConfig(b, dir, "global: {min_interval: 0s, timeout: 500ms, degraded_latency: 400ms, breaker: {failure_threshold: 1000000}}\ndependencies:\n"+deps)
		e := startExporter(b, "--config.file="+path)
		redis.Pause()
		defer redis.Resume()
		scrapeLatencies(b, e)
	})
	// The same with the default breaker: after three timeouts the hung
	// dependency answers breaker_open at once.
	b.Run("one_hung_breaker", func(b *testing.B) {
		path := writeConfig(b, dir, "global: {min_interval: 0s, timeout: 500ms, degraded_latency: 400ms}\ndependencies:\n"+deps)
		e := startExporter(b, "--config.file="+path)
		redis.Pause()
		defer redis.Resume()
		scrapeLatencies(b, e)
	})
}

// BenchmarkRSS100Dependencies reports the resident memory of an exporter
// checking 100 dependencies (25 of each kind) after b.N scrapes (make bench
// runs 20).
func BenchmarkRSS100Dependencies(b *testing.B) {
	deps, _ := benchTargets(b)
	lines := strings.Split(strings.TrimRight(deps, "\n"), "\n")
	var cfg strings.Builder
	cfg.WriteString("global: {min_interval: 0s}\ndependencies:\n")
	for i := range 25 {
		for _, l := range lines {
			l = strings.Replace(l, "{name: ", "{name: d"+strconv.Itoa(i)+"_", 1)
			cfg.WriteString(l + "\n")
		}
	}
	path := writeConfig(b, b.TempDir(), cfg.String())
	e := startExporter(b, "--config.file="+path)
	for b.Loop() {
		if code, body := e.get(b, "/metrics"); code != 200 || strings.Count(body, "health_dependency_up{") != 100 {
			b.Fatalf("scrape: %d, %d dependencies", code, strings.Count(body, "health_dependency_up{"))
		}
	}
	b.ReportMetric(float64(rss(b, e.cmd.Process.Pid))/(1<<20), "rss-MiB")
}

// rss reads a process's resident set size in bytes from /proc.
func rss(b *testing.B, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	b.Fatal("no VmRSS")
	return 0
}
