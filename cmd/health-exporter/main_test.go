package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/health-exporter/health-exporter/internal/testenv"
)

// The tests here build the real binary and drive it over HTTP and signals,
// as an operator would.

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "health-exporter-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "health-exporter")
	// Benchmarks measure the binary as it ships; tests run it under the race
	// detector.
	flag.Parse()
	args := []string{"build", "-race", "-o", binary, "."}
	if f := flag.Lookup("test.bench"); f != nil && f.Value.String() != "" {
		args = []string{"build", "-o", binary, "."}
	}
	build := exec.Command("go", args...)
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// exporter is a running health-exporter process.
type exporter struct {
	cmd  *exec.Cmd
	addr string
	mu   sync.Mutex
	logs bytes.Buffer
	done chan struct{}
}

// startExporter runs the binary with args on a free port and waits until it
// answers /-/ready.
func startExporter(t testing.TB, args ...string) *exporter {
	t.Helper()
	e := launchExporter(t, args...)
	e.waitReady(t)
	return e
}

// launchExporter runs the binary with args on a free port; the test's
// cleanup stops it.
func launchExporter(t testing.TB, args ...string) *exporter {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	e := &exporter{addr: addr, done: make(chan struct{})}
	e.cmd = exec.Command(binary, append([]string{"--web.listen-address=" + addr}, args...)...)
	stderr, err := e.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	e.cmd.Stdout = io.Discard
	if err := e.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(e.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			e.mu.Lock()
			e.logs.WriteString(sc.Text() + "\n")
			e.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		e.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-e.done:
		case <-time.After(15 * time.Second):
			e.cmd.Process.Kill()
			<-e.done
		}
		e.cmd.Wait()
		if t.Failed() {
			t.Logf("exporter logs:\n%s", e.Logs())
		}
	})
	return e
}

// waitReady waits until the exporter answers /-/ready.
func (e *exporter) waitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + e.addr + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-e.done:
			t.Fatalf("exporter exited early:\n%s", e.Logs())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("exporter not ready within 20s:\n%s", e.Logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *exporter) Logs() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.logs.String()
}

// get fetches path and returns status and body.
func (e *exporter) get(t testing.TB, path string, header ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+e.addr+path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (e *exporter) post(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Post("http://"+e.addr+path, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metric returns the value line of a series in an exposition, or "".
func metric(exposition, series string) string {
	for _, line := range strings.Split(exposition, "\n") {
		if strings.HasPrefix(line, series+" ") {
			return strings.TrimPrefix(line, series+" ")
		}
	}
	return ""
}

// writeConfig writes a configuration file for the test.
func writeConfig(t testing.TB, dir, text string) string {
	t.Helper()
	path := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// tcpListener accepts and closes connections until the test ends: a
// dependency that is always up.
func tcpListener(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln.Addr().String()
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not within 10s", what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
