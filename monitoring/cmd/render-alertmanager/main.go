// Command render-alertmanager writes a copy of an Alertmanager
// configuration for a demo or an end-to-end run: every route's group_wait,
// group_interval and repeat_interval divided by a factor, and every
// receiver's url_file moved into a directory of the run's own:
//
//	go run ./monitoring/cmd/render-alertmanager -divisor 30 -url-file-dir /tmp/demo/secrets -out /tmp/demo/alertmanager.yml monitoring/alertmanager.yml
//
// The copy differs from its source in those values only (see
// monitoring.RenderAlertmanagerConfig).
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/health-exporter/health-exporter/monitoring"
)

func main() {
	divisor := flag.Int("divisor", 1, "divide every group_wait, group_interval and repeat_interval by this")
	dir := flag.String("url-file-dir", "", "absolute directory to read every url_file from instead (same file names); empty: keep the paths")
	out := flag.String("out", "", "file to write the copy to")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: %s -out FILE [-divisor N] [-url-file-dir DIR] ALERTMANAGER_YML\n", os.Args[0])
		flag.PrintDefaults()
	}
	flag.Parse()
	if *out == "" || flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	o := monitoring.AlertmanagerOverrides{Divisor: *divisor, URLFileDir: *dir}
	if err := run(flag.Arg(0), *out, o); err != nil {
		fmt.Fprintln(os.Stderr, "render-alertmanager:", err)
		os.Exit(1)
	}
}

func run(src, dst string, o monitoring.AlertmanagerOverrides) error {
	in, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("read configuration: %w", err)
	}
	rendered, err := monitoring.RenderAlertmanagerConfig(in, o)
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("create output directory: %w", err)
	}
	if err := os.WriteFile(dst, rendered, 0o644); err != nil {
		return fmt.Errorf("write rendered configuration: %w", err)
	}
	return nil
}
