// Command health-exporter is a Prometheus exporter that health-checks an
// application's dependencies (Redis, PostgreSQL, HTTP services, search
// backends, any TCP service) and exposes their status, circuit-breaker state
// and cache hit rates as metrics, with a JSON health summary and a landing
// page.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"
	"github.com/redis/go-redis/v9"

	health "github.com/health-exporter/health-exporter/collectors"
	"github.com/health-exporter/health-exporter/config"
)

// Set at build time with -ldflags "-X main.version=... -X main.revision=...".
var (
	version  = "dev"
	revision = "unknown"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	app := kingpin.New("health-exporter", "Health checks of an application's dependencies, as Prometheus metrics.")
	var (
		configFile    = app.Flag("config.file", "Configuration file. Without it, the embedded default checks the services named by REDIS_URL, DATABASE_URL, STORAGE_HEALTH_URL, VECTOR_DB_HEALTH_URL and SEARCH_URL.").String()
		configCheck   = app.Flag("config.check", "Validate the configuration, print a summary and exit.").Bool()
		metricsPath   = app.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").String()
		timeoutOffset = app.Flag("web.timeout-offset", "Subtracted from Prometheus' scrape timeout to give the checks' deadline.").Default("0.5s").Duration()
		webFlags      = kingpinflag.AddFlags(app, ":9808")
		logConfig     = &promslog.Config{}
	)
	promslogflag.AddFlags(app, logConfig)
	app.Version(fmt.Sprintf("health-exporter %s (revision %s, %s)", version, revision, runtime.Version()))
	app.HelpFlag.Short('h')
	if _, err := app.Parse(args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if err := checkFlags(*metricsPath, *timeoutOffset); err != nil {
		fmt.Fprintln(os.Stderr, "health-exporter:", err)
		return 2
	}
	// Before the first load: a SIGHUP during start-up must not kill us.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	logger := promslog.New(logConfig)
	redis.SetLogger(redisLogger{logger.With("component", "go-redis")})

	if *configCheck {
		cfg, err := loadConfig(*configFile)
		if err == nil {
			err = buildCheckers(cfg, *configFile, logger)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Printf("%s: %d dependencies, valid\n", describeSource(*configFile), len(cfg.Dependencies))
		return 0
	}

	reg := prometheus.NewRegistry()
	runner := health.NewRunner(health.RunnerOptions{Logger: logger})
	defer runner.Close()
	rl := newReloader(*configFile, runner, logger)
	reg.MustRegister(
		health.NewExporter(runner),
		runner.Breakers(),
		rl.lastOK, rl.lastSuccess,
		buildInfo(),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	if err := rl.reload(); err != nil {
		return 1 // reload logged why
	}

	mux := http.NewServeMux()
	mux.Handle(*metricsPath, health.MetricsHandler(runner, reg, *timeoutOffset, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelError), Registry: reg,
	}))
	mux.Handle("/health", health.HealthHandler(runner, *timeoutOffset))
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "Healthy") })
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "Ready") })
	mux.HandleFunc("/-/reload", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost && r.Method != http.MethodPut {
			w.Header().Set("Allow", "POST, PUT")
			http.Error(w, "use POST to reload the configuration", http.StatusMethodNotAllowed)
			return
		}
		if err := rl.reload(); err != nil {
			http.Error(w, "reload failed, the previous configuration stays in use: "+err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "configuration reloaded")
	})
	mux.Handle("/", health.LandingHandler(runner, health.LandingInfo{
		Version: version, MetricsPath: *metricsPath, ConfigSource: describeSource(*configFile),
	}))

	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				_ = rl.reload() // reload logs a failure
			}
		}
	}()

	serveErr := make(chan error, 1)
	go func() { serveErr <- web.ListenAndServe(srv, webFlags, logger) }()
	logger.Info("health-exporter started", "version", version, "revision", revision, "config", describeSource(*configFile))

	code := 0
	select {
	case err := <-serveErr:
		if !errors.Is(err, http.ErrServerClosed) {
			logger.Error("http server failed", "err", err)
			code = 1
		}
	case <-ctx.Done():
		logger.Info("shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := srv.Shutdown(sctx); err != nil {
			logger.Error("graceful shutdown", "err", err)
		}
		cancel()
	}
	stop()
	wg.Wait()
	return code
}

// checkFlags refuses flag values the server could not honour.
func checkFlags(metricsPath string, timeoutOffset time.Duration) error {
	switch {
	case !strings.HasPrefix(metricsPath, "/"):
		return fmt.Errorf("--web.telemetry-path %q must start with /", metricsPath)
	case metricsPath == "/", metricsPath == "/health", strings.HasPrefix(metricsPath, "/-/"):
		return fmt.Errorf("--web.telemetry-path %q is taken by another endpoint (/, /health, /-/...)", metricsPath)
	case timeoutOffset < 0:
		return fmt.Errorf("--web.timeout-offset %s must not be negative", timeoutOffset)
	}
	return nil
}

// buildCheckers builds the checker of every dependency and closes it, so
// that errors only construction finds (a DSN pgx cannot use, an unreadable
// certificate) show before the configuration is deployed.
func buildCheckers(cfg *config.Config, path string, logger *slog.Logger) error {
	for _, dc := range cfg.Dependencies {
		c, err := health.NewChecker(dc, logger)
		if err != nil {
			return fmt.Errorf("%s: dependency %q: %w", describeSource(path), dc.Name, err)
		}
		if cl, ok := c.(io.Closer); ok {
			_ = cl.Close()
		}
	}
	return nil
}

func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return config.Default()
	}
	return config.Load(path)
}

func describeSource(path string) string {
	if path == "" {
		return "embedded default configuration"
	}
	return path
}

func buildInfo() prometheus.Collector {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "health_exporter_build_info",
		Help: "Always 1: the version, revision and Go version health-exporter was built from.",
	}, []string{"version", "revision", "goversion"})
	g.WithLabelValues(version, revision, runtime.Version()).Set(1)
	return g
}

// reloader loads the configuration and applies it to the runner; a bad
// configuration is refused and the previous one keeps serving.
type reloader struct {
	mu          sync.Mutex
	path        string
	runner      *health.Runner
	logger      *slog.Logger
	loaded      bool // a configuration has been applied
	lastOK      prometheus.Gauge
	lastSuccess prometheus.Gauge
}

func newReloader(path string, runner *health.Runner, logger *slog.Logger) *reloader {
	return &reloader{
		path: path, runner: runner, logger: logger,
		lastOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "health_exporter_config_last_reload_successful",
			Help: "1 if the last configuration load succeeded, 0 if it failed and the previous configuration is still in use.",
		}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "health_exporter_config_last_reload_success_timestamp_seconds",
			Help: "Unix time of the last successful configuration load.",
		}),
	}
}

// reload loads the configuration and applies it to the runner. A failure
// is logged and returned, and leaves the previous configuration in use.
func (r *reloader) reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	cfg, err := loadConfig(r.path)
	if err == nil {
		err = r.runner.Apply(cfg)
	}
	src := describeSource(r.path)
	if err != nil {
		r.lastOK.Set(0)
		if r.loaded {
			r.logger.Error("reload failed; the previous configuration stays in use", "file", src, "err", err)
		} else {
			r.logger.Error("cannot load the configuration", "file", src, "err", err)
		}
		return err
	}
	r.loaded = true
	r.lastOK.Set(1)
	r.lastSuccess.SetToCurrentTime()
	r.logger.Info("configuration loaded", "file", src, "dependencies", len(cfg.Dependencies))
	return nil
}

// redisLogger routes go-redis' own messages (a failed dial, a Sentinel
// switch) to the exporter's logger at debug level, so they follow
// --log.level and --log.format instead of going to stderr on their own.
type redisLogger struct{ logger *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	if !l.logger.Enabled(ctx, slog.LevelDebug) {
		return
	}
	l.logger.DebugContext(ctx, redactCredentials(fmt.Sprintf(format, v...)))
}

var (
	urlUserinfo = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@`)
	passwordKV  = regexp.MustCompile(`(?i)(password\s*[=:]\s*)("[^"]*"|'[^']*'|\S+)`)
)

// redactCredentials removes a URL's user and password, and password=
// values, from a library's message. The configuration refuses passwords in
// addresses, so this only guards against a library quoting one it built.
func redactCredentials(msg string) string {
	msg = urlUserinfo.ReplaceAllString(msg, "${1}REDACTED@")
	return passwordKV.ReplaceAllString(msg, "${1}REDACTED")
}
