package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/health-exporter/health-exporter/monitoring"
)

var shipped = filepath.Join("..", "..", "alertmanager.yml")

func TestRunWritesRenderedCopy(t *testing.T) {
	o := monitoring.AlertmanagerOverrides{Divisor: 30, URLFileDir: t.TempDir()}
	out := filepath.Join(t.TempDir(), "demo", "alertmanager.yml")
	if err := run(shipped, out, o); err != nil {
		t.Fatalf("run: %v", err)
	}
	orig, err := os.ReadFile(shipped)
	if err != nil {
		t.Fatal(err)
	}
	want, err := monitoring.RenderAlertmanagerConfig(orig, o)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("read the copy: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Error("the copy differs from RenderAlertmanagerConfig's output")
	}
	if bytes.Equal(got, orig) {
		t.Error("the copy kept the production configuration")
	}
}

func TestRunFailsOnMissingFile(t *testing.T) {
	out := filepath.Join(t.TempDir(), "alertmanager.yml")
	if err := run(filepath.Join(t.TempDir(), "missing.yml"), out, monitoring.AlertmanagerOverrides{Divisor: 2}); err == nil {
		t.Error("run succeeded on a missing configuration")
	}
}

func TestRunRefusesRelativeDirectory(t *testing.T) {
	out := filepath.Join(t.TempDir(), "alertmanager.yml")
	if err := run(shipped, out, monitoring.AlertmanagerOverrides{URLFileDir: "secrets"}); err == nil {
		t.Error("run succeeded with a relative url_file directory")
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a refused run wrote %s", out)
	}
}
