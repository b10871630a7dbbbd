package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/health-exporter/health-exporter/monitoring/oncall"
)

// syncBuffer is a log buffer the server goroutine writes while the test reads.
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

const watchdog = `{"version":"4","groupKey":"{}/{alertname=\"Watchdog\"}:{alertname=\"Watchdog\"}","truncatedAlerts":0,
"status":"firing","receiver":"oncall-heartbeat","groupLabels":{"alertname":"Watchdog"},
"commonLabels":{"alertname":"Watchdog","severity":"none"},"commonAnnotations":{},"externalURL":"http://127.0.0.1:9093",
"alerts":[{"status":"firing","labels":{"alertname":"Watchdog","severity":"none"},"annotations":{},
"startsAt":"2026-03-14T09:26:53Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"","fingerprint":"61ef6efc8fac5f25"}]}`

// TestServeWritesURLFilesAndReceives starts the command on a free port,
// sends to the URLs it wrote as Alertmanager would, and stops it.
func TestServeWritesURLFilesAndReceives(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "secrets")
	var logs syncBuffer
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"--web.listen-address=127.0.0.1:0", "--integration=demo=T0KEN", "--url-files.dir=" + dir}, &logs)
	}()

	heartbeatURL := readWhenWritten(t, filepath.Join(dir, "oncall-heartbeat-url"), code, &logs)
	url := readWhenWritten(t, filepath.Join(dir, "oncall-url"), code, &logs)
	if !strings.HasSuffix(url, oncall.IntegrationPath+"T0KEN/") || heartbeatURL != url+"heartbeat/" {
		t.Fatalf("URL files hold %q and %q", url, heartbeatURL)
	}
	if fi, err := os.Stat(filepath.Join(dir, "oncall-url")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("oncall-url: %v, mode %v, want 0600", err, fi.Mode())
	}

	for _, tc := range []struct {
		url, body string
		status    int
	}{
		{heartbeatURL, watchdog, 200},
		{url, `{"version":"4"}`, 400},
	} {
		resp, err := http.Post(tc.url, "application/json", strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("POST %s: %d, want %d", tc.url, resp.StatusCode, tc.status)
		}
	}

	resp, err := http.Get(strings.TrimSuffix(url, oncall.IntegrationPath+"T0KEN/") + oncall.NotificationsPath)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var list struct {
		Notifications []oncall.Notification
		Rejections    []oncall.Rejection
	}
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if len(list.Notifications) != 1 || !list.Notifications[0].Heartbeat || list.Notifications[0].Integration != "demo" ||
		len(list.Rejections) != 1 || list.Rejections[0].Status != 400 {
		t.Errorf("listed %s", body)
	}

	cancel()
	select {
	case c := <-code:
		if c != 0 {
			t.Errorf("exit code %d; logs:\n%s", c, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("did not stop within 30s of its context ending")
	}
	for _, want := range []string{"msg=heartbeat integration=demo status=firing", `msg="refused request"`, "msg=stopped notifications=1 rejections=1"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %q:\n%s", want, logs.String())
		}
	}
}

// readWhenWritten polls for a URL file until the deadline, failing early
// when the command exits.
func readWhenWritten(t *testing.T, path string, code <-chan int, logs *syncBuffer) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if b, err := os.ReadFile(path); err == nil && strings.HasSuffix(string(b), "\n") {
			return strings.TrimSpace(string(b))
		}
		select {
		case c := <-code:
			t.Fatalf("exited with %d before writing %s:\n%s", c, path, logs.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not written within 30s:\n%s", path, logs.String())
		}
	}
}

func TestRunRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--integration=no-token"},
		{"--integration=a=1", "--integration=b=2", "--url-files.dir=" + t.TempDir()},
		{"--web.listen-address=127.0.0.1:notaport"},
		{"--no-such-flag"},
	} {
		var logs syncBuffer
		if code := run(t.Context(), args, &logs); code == 0 {
			t.Errorf("%v: exit code 0", args)
		}
	}
}
