package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"strings"
	"testing"
)

func TestRedisLoggerRedactsAndLogsAtDebug(t *testing.T) {
	var buf bytes.Buffer
	l := redisLogger{slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	l.Printf(context.Background(), "redis: dial %s failed: %s", "rediss://app:s3cret@10.0.0.1:6379/0", `password="hunter 2" Password: hunter3`)
	var entry map[string]any
	if err := json.Unmarshal(buf.Bytes(), &entry); err != nil {
		t.Fatalf("not one JSON entry: %q", buf.String())
	}
	msg, _ := entry["msg"].(string)
	if entry["level"] != "DEBUG" || !strings.Contains(msg, "rediss://REDACTED@10.0.0.1:6379/0") {
		t.Fatalf("entry %v", entry)
	}
	for _, secret := range []string{"app:", "s3cret", "hunter"} {
		if strings.Contains(buf.String(), secret) {
			t.Errorf("%q shows in %s", secret, buf.String())
		}
	}

	buf.Reset()
	l = redisLogger{slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	l.Printf(context.Background(), "redis: connection pool: failed to dial after %d attempts", 1)
	if buf.Len() != 0 {
		t.Fatalf("logged above debug level: %s", buf.String())
	}
}

// TestRedisMessagesFollowLogFormat: go-redis' own messages go through the
// exporter's logger, never straight to stderr.
func TestRedisMessagesFollowLogFormat(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	path := writeConfig(t, t.TempDir(), "global: {min_interval: 0s}\ndependencies:\n  - {name: message_queue, kind: redis, redis: {url: \"redis://"+closed+"/0\"}}\n")
	e := startExporter(t, "--config.file="+path, "--log.format=json", "--log.level=debug")
	e.get(t, "/metrics")
	waitUntil(t, "go-redis' failed dial logged", func() bool { return strings.Contains(e.Logs(), "failed to dial") })
	for _, line := range strings.Split(strings.TrimSpace(e.Logs()), "\n") {
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Errorf("not a JSON log line: %s", line)
			continue
		}
		if msg, _ := entry["msg"].(string); strings.Contains(msg, "failed to dial") && (entry["level"] != "DEBUG" || entry["component"] != "go-redis") {
			t.Errorf("go-redis message not at debug level: %s", line)
		}
	}
}
