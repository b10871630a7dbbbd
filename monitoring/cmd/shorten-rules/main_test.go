package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/health-exporter/health-exporter/monitoring"
)

func TestRunWritesShortenedCopies(t *testing.T) {
	src := filepath.Join("..", "..", "rules", "health-exporter.rules.yml")
	out := filepath.Join(t.TempDir(), "demo", "rules")
	if err := run(out, 20, []string{src}); err != nil {
		t.Fatalf("run: %v", err)
	}
	orig, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	want, err := monitoring.ShortenHoldTimes(orig, 20)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(out, "health-exporter.rules.yml"))
	if err != nil {
		t.Fatalf("read the copy: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Error("the copy differs from ShortenHoldTimes' output")
	}
	if bytes.Equal(got, orig) {
		t.Error("the copy kept the production timings")
	}
}

func TestRunFailsOnMissingFile(t *testing.T) {
	if err := run(t.TempDir(), 20, []string{filepath.Join(t.TempDir(), "missing.rules.yml")}); err == nil {
		t.Error("run succeeded on a missing rule file")
	}
}

func TestRunRejectsBadDivisor(t *testing.T) {
	src := filepath.Join("..", "..", "rules", "health-exporter.rules.yml")
	if err := run(t.TempDir(), 0, []string{src}); err == nil {
		t.Error("run succeeded with divisor 0")
	}
}
