// Command shorten-rules writes copies of Prometheus rule files with every
// for: and keep_firing_for: divided by a factor, for demos and end-to-end
// runs that cannot wait for production timings:
//
//	go run ./monitoring/cmd/shorten-rules -divisor 20 -out /tmp/demo-rules monitoring/rules/*.rules.yml
//
// Each file keeps its name in the output directory and differs from its
// source in those durations only (see monitoring.ShortenHoldTimes).
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/health-exporter/health-exporter/monitoring"
)

func main() {
	divisor := flag.Int("divisor", 20, "divide every for: and keep_firing_for: by this (results under 1s become 1s)")
	out := flag.String("out", "", "directory to write the shortened rule files to (created if missing)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: %s -out DIR [-divisor N] RULE_FILE...\n", os.Args[0])
		flag.PrintDefaults()
	}
	flag.Parse()
	if *out == "" || flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*out, *divisor, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "shorten-rules:", err)
		os.Exit(1)
	}
}

func run(outDir string, divisor int, files []string) error {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return fmt.Errorf("create output directory: %w", err)
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("read rules: %w", err)
		}
		short, err := monitoring.ShortenHoldTimes(src, divisor)
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		dst := filepath.Join(outDir, filepath.Base(f))
		if err := os.WriteFile(dst, short, 0o644); err != nil {
			return fmt.Errorf("write shortened rules: %w", err)
		}
	}
	return nil
}
