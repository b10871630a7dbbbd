// Command oncall-receiver plays Grafana OnCall's Alertmanager integration
// on a local port, for demos and manual tests of the alerting bundle: it
// accepts Alertmanager's webhook notifications and heartbeats on OnCall's
// paths, answers 400 to a payload that breaks the contract, logs one line
// per notification and lists everything it received as JSON:
//
//	oncall-receiver --web.listen-address=127.0.0.1:8080 --url-files.dir=/tmp/demo/secrets
//	curl -s 127.0.0.1:8080/notifications
//
// With --url-files.dir it writes the integration's URL and its heartbeat's
// into oncall-url and oncall-heartbeat-url in that directory once it
// listens, the files the bundle's alertmanager.yml reads through url_file.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"

	"github.com/health-exporter/health-exporter/monitoring/oncall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

// run serves until ctx ends and returns the exit code.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	app := kingpin.New("oncall-receiver", "Receives Alertmanager webhook notifications on Grafana OnCall's integration paths.")
	var (
		listen       = app.Flag("web.listen-address", "Address to listen on; port 0 picks a free one.").Default("127.0.0.1:8080").String()
		integrations = app.Flag("integration", "An integration as NAME=TOKEN; its URL is "+oncall.IntegrationPath+"TOKEN/. Repeatable.").Default("health-exporter=demo-token").Strings()
		urlFilesDir  = app.Flag("url-files.dir", "Write the integration's URL to oncall-url and its heartbeat's to oncall-heartbeat-url in this directory (one integration only).").String()
		logConfig    = &promslog.Config{Writer: stderr}
	)
	promslogflag.AddFlags(app, logConfig)
	app.HelpFlag.Short('h')
	app.UsageWriter(stderr)
	app.ErrorWriter(stderr)
	app.Terminate(nil)
	if _, err := app.Parse(args); err != nil {
		fmt.Fprintln(stderr, "oncall-receiver:", err)
		return 2
	}
	logger := promslog.New(logConfig)
	if err := serve(ctx, logger, *listen, *integrations, *urlFilesDir); err != nil {
		logger.Error("oncall-receiver failed", "err", err)
		return 1
	}
	return 0
}

func serve(ctx context.Context, logger *slog.Logger, listen string, specs []string, urlFilesDir string) error {
	tokens := map[string]string{}
	for _, spec := range specs {
		name, token, ok := strings.Cut(spec, "=")
		if !ok {
			return fmt.Errorf("--integration %q: want NAME=TOKEN", spec)
		}
		tokens[token] = name
	}
	if urlFilesDir != "" && len(tokens) != 1 {
		return fmt.Errorf("--url-files.dir needs exactly one integration, have %d", len(tokens))
	}
	receiver, err := oncall.New(oncall.Options{Integrations: tokens, Logger: logger})
	if err != nil {
		return err
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	base := "http://" + ln.Addr().String()
	for token, name := range tokens {
		url := base + oncall.IntegrationPath + token + "/"
		logger.Info("integration", "name", name, "url", url, "heartbeat_url", url+"heartbeat/")
		if urlFilesDir != "" {
			if err := writeURLFiles(urlFilesDir, url); err != nil {
				ln.Close()
				return err
			}
		}
	}
	logger.Info("listening", "address", ln.Addr().String(), "notifications", base+oncall.NotificationsPath)

	srv := &http.Server{Handler: receiver, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdown)
	if serveErr := <-served; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	if err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	logger.Info("stopped", "notifications", len(receiver.Notifications()), "rejections", len(receiver.Rejections()))
	return nil
}

// writeURLFiles writes the files Alertmanager's url_file reads, readable by
// their owner only, as the integration token is a secret.
func writeURLFiles(dir, url string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create URL file directory: %w", err)
	}
	for name, content := range map[string]string{"oncall-url": url, "oncall-heartbeat-url": url + "heartbeat/"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content+"\n"), 0o600); err != nil {
			return fmt.Errorf("write URL file: %w", err)
		}
	}
	return nil
}
