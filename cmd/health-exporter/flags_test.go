package main

import (
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestBadFlagsExitWithUsageError(t *testing.T) {
	tests := []struct {
		flag, want string
	}{
		{"--web.telemetry-path=metrics", "must start with /"},
		{"--web.telemetry-path=/", "taken by another endpoint"},
		{"--web.telemetry-path=/health", "taken by another endpoint"},
		{"--web.telemetry-path=/-/reload", "taken by another endpoint"},
		{"--web.timeout-offset=-1s", "must not be negative"},
	}
	for _, tt := range tests {
		out, err := exec.Command(binary, tt.flag, "--web.listen-address=127.0.0.1:0").CombinedOutput()
		if code := exitCode(err); code != 2 || !strings.Contains(string(out), tt.want) {
			t.Errorf("%s: exit %d, %s", tt.flag, code, out)
		}
	}
	path := writeConfig(t, t.TempDir(), "dependencies:\n  - {name: broker, kind: tcp, tcp: {address: \""+tcpListener(t)+"\"}}\n")
	e := startExporter(t, "--config.file="+path, "--web.telemetry-path=/internal/metrics", "--web.timeout-offset=0s")
	if code, body := e.get(t, "/internal/metrics"); code != http.StatusOK || metric(body, `health_dependency_up{dependency="broker",kind="tcp"}`) != "1" {
		t.Fatalf("custom telemetry path: %d\n%s", code, body)
	}
}

func TestConfigCheckBuildsEveryChecker(t *testing.T) {
	dir := t.TempDir()
	notCA := filepath.Join(dir, "not-a-ca.pem")
	if err := os.WriteFile(notCA, []byte("this is no certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Valid to the configuration's own rules, but pgx cannot use it.
	path := writeConfig(t, dir, `dependencies:
  - {name: broker, kind: tcp, tcp: {address: "127.0.0.1:1"}}
  - name: database
    kind: postgres
    postgres: {dsn: "postgres://app@127.0.0.1:5432/app?sslmode=verify-full&sslrootcert=`+notCA+`"}
`)
	out, err := exec.Command(binary, "--config.file="+path, "--config.check").CombinedOutput()
	if code := exitCode(err); code != 1 || !strings.Contains(string(out), `config.yml: dependency "database": postgres dsn:`) || strings.Contains(string(out), "valid") {
		t.Fatalf("a DSN pgx refuses: exit %d, %s", code, out)
	}
}

// TestSIGHUPDuringStartup sends SIGHUP while the first configuration is
// being read (the file is a FIFO, so the read waits for the test): the
// exporter must start, then reload.
func TestSIGHUPDuringStartup(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yml")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := "dependencies:\n  - {name: broker, kind: tcp, tcp: {address: \"" + tcpListener(t) + "\"}}\n"
	e := launchExporter(t, "--config.file="+path)

	feedFIFO(t, e, path, cfg, func() {
		if err := e.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	})
	e.waitReady(t)
	feedFIFO(t, e, path, cfg, nil) // the reload the SIGHUP asked for
	waitUntil(t, "the reload on SIGHUP", func() bool {
		return strings.Count(e.Logs(), "configuration loaded") == 2
	})
	if _, body := e.get(t, "/metrics"); metric(body, "health_exporter_config_last_reload_successful") != "1" {
		t.Fatalf("after the reload:\n%s", body)
	}
}

// feedFIFO waits until the exporter opens the FIFO at path for reading,
// calls opened, then writes text into it.
func feedFIFO(t *testing.T, e *exporter, path, text string, opened func()) {
	t.Helper()
	var f *os.File
	waitUntil(t, "the exporter opens its configuration", func() bool {
		select {
		case <-e.done:
			t.Fatalf("exporter exited:\n%s", e.Logs())
		default:
		}
		var err error
		f, err = os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		if err != nil && !errors.Is(err, syscall.ENXIO) { // ENXIO: no reader yet
			t.Fatal(err)
		}
		return err == nil
	})
	if opened != nil {
		opened()
	}
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestReloadFailuresAreLogged(t *testing.T) {
	dir := t.TempDir()
	good := "dependencies:\n  - {name: broker, kind: tcp, tcp: {address: \"" + tcpListener(t) + "\"}}\n"
	path := writeConfig(t, dir, good)
	e := startExporter(t, "--config.file="+path)
	if logs := e.Logs(); !strings.Contains(logs, `msg="configuration loaded" file=`+path) || strings.Contains(logs, "logged_source") {
		t.Fatalf("the load is not logged with its file:\n%s", logs)
	}

	writeConfig(t, dir, good+"  - {name: broken, kind: tcp}\n")
	if code, _ := e.post(t, "/-/reload"); code != http.StatusInternalServerError {
		t.Fatalf("POST /-/reload of a bad configuration: %d", code)
	}
	waitUntil(t, "the failed /-/reload logged", func() bool {
		return strings.Count(e.Logs(), "reload failed; the previous configuration stays in use") == 1
	})
	e.cmd.Process.Signal(syscall.SIGHUP)
	waitUntil(t, "the failed SIGHUP reload logged once", func() bool {
		return strings.Count(e.Logs(), "reload failed; the previous configuration stays in use") == 2
	})
	if logs := e.Logs(); !strings.Contains(logs, "file="+path) || !strings.Contains(logs, "broken") {
		t.Fatalf("the failure does not say which file and why:\n%s", logs)
	}
	if n := strings.Count(e.Logs(), "level=ERROR"); n != 2 {
		t.Fatalf("%d error lines for two failed reloads:\n%s", n, e.Logs())
	}
}
