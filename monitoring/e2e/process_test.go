package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The stack's processes: started in their own process group with a
// parent-death signal, logging to a file in the test's directory, stopped
// by PID (SIGTERM, then SIGKILL after stopTimeout) in t.Cleanup.

const (
	stopTimeout  = 20 * time.Second
	pollInterval = 50 * time.Millisecond
)

// moduleRoot is the repository root, two levels above this package.
var moduleRoot = filepath.Join("..", "..")

type process struct {
	name string
	log  string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited and been reaped
}

// start runs bin with args; its output goes to dir/<name>.log.
func start(t *testing.T, dir, name, bin string, args ...string) *process {
	t.Helper()
	p := &process{name: name, log: filepath.Join(dir, name+".log"), done: make(chan struct{})}
	logFile, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close() // the child has its own copy
	p.cmd = exec.Command(bin, args...)
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		_ = p.cmd.Wait() // the exit status of a stopped server says nothing
		close(p.done)
	}()
	t.Cleanup(func() {
		pid := p.cmd.Process.Pid
		_ = syscall.Kill(pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(stopTimeout):
			t.Errorf("%s (pid %d) ignored SIGTERM for %v; killing it", name, pid, stopTimeout)
			_ = syscall.Kill(pid, syscall.SIGKILL)
			<-p.done
		}
		if t.Failed() {
			t.Logf("end of %s's log:\n%s", name, tail(p.log))
		}
	})
	return p
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitReady polls url until it answers 200, failing when the process exits
// or the timeout passes.
func (p *process) waitReady(t *testing.T, url string, timeout time.Duration) {
	t.Helper()
	poll(t, timeout, p.name+" ready at "+url, func() (bool, error) {
		if p.exited() {
			return false, fmt.Errorf("%s exited:\n%s", p.name, tail(p.log))
		}
		status, _, err := get(t.Context(), url)
		return err == nil && status == http.StatusOK, nil
	})
}

// poll calls cond every pollInterval until it reports done, returns an
// error, or timeout passes; the last two fail the test.
func poll(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		done, err := cond()
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if done {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s did not happen within %v", what, timeout)
		case <-tick.C:
		}
	}
}

func get(ctx context.Context, url string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// query runs an instant PromQL query and returns each series' labels and value.
func query(ctx context.Context, prometheus, q string) ([]sample, error) {
	status, body, err := get(ctx, prometheus+"/api/v1/query?query="+url.QueryEscape(q))
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", q, err)
	}
	var resp struct {
		Status string
		Error  string
		Data   struct {
			Result []struct {
				Metric map[string]string
				Value  [2]any
			}
		}
	}
	if err := json.Unmarshal(body, &resp); err != nil || resp.Status != "success" {
		return nil, fmt.Errorf("query %s: HTTP %d, %s %v", q, status, resp.Error, err)
	}
	out := make([]sample, len(resp.Data.Result))
	for i, r := range resp.Data.Result {
		out[i] = sample{labels: r.Metric, value: fmt.Sprint(r.Value[1])}
	}
	return out, nil
}

type sample struct {
	labels map[string]string
	value  string
}

// goBuild builds a package of this module into dir.
func goBuild(ctx context.Context, goTool, dir, pkg string) (string, error) {
	bin := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.CommandContext(ctx, goTool, "build", "-o", bin, pkg)
	cmd.Dir = moduleRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
	}
	return bin, nil
}

// buildAlertmanager builds Alertmanager from the version of its module this
// module requires. Alertmanager 0.26 or newer is needed for url_file, and
// Debian ships 0.25. Two things keep `go build` of its command inside this
// module from working: this module's requirements lift a dependency of it
// (automemlimit) to a major version whose API it does not compile against,
// and the module leaves out its generated web UI, which the binary embeds.
// So the module's own source is built as the main module, with its own
// go.mod and go.sum, and a one-page placeholder stands in for the UI; the
// API, which Prometheus and this test use, is complete. scripts/demo.sh
// builds it the same way.
func buildAlertmanager(ctx context.Context, goTool, dir string) (string, error) {
	cmd := exec.CommandContext(ctx, goTool, "mod", "download", "-json", "github.com/prometheus/alertmanager")
	cmd.Dir = moduleRoot
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("locate the alertmanager module: %w", err)
	}
	var mod struct{ Dir, Version string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		return "", fmt.Errorf("locate the alertmanager module: %q: %v", out, err)
	}
	src := filepath.Join(dir, "alertmanager-src")
	if err := os.CopyFS(src, os.DirFS(mod.Dir)); err != nil {
		return "", fmt.Errorf("copy the alertmanager module: %w", err)
	}
	page := []byte("<!doctype html><title>Alertmanager</title><p>The web UI is not part of the Go module; the API is at /api/v2/.\n")
	for _, ui := range []string{"elm", "mantine"} {
		d := filepath.Join(src, "ui", "app", "dist", ui)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(d, "index.html.gz"), gzipped(page), 0o644); err != nil {
			return "", err
		}
	}
	bin := filepath.Join(dir, "alertmanager")
	version := strings.TrimPrefix(mod.Version, "v")
	cmd = exec.CommandContext(ctx, goTool, "build", "-trimpath",
		"-ldflags", "-X github.com/prometheus/common/version.Version="+version,
		"-o", bin, "./cmd/alertmanager")
	cmd.Dir = src
	// Its own module: no workspace, and none of this module's flags.
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build alertmanager %s: %w\n%s", mod.Version, err, out)
	}
	return bin, nil
}

// tail returns the last lines of a log file.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-25):], "\n")
}

// syncBuffer collects the receiver's log lines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, _ = w.Write(b) // writes to memory do not fail
	_ = w.Close()
	return buf.Bytes()
}
