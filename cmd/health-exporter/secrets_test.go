package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/health-exporter/health-exporter/internal/testenv"
)

// TestSecretsNeverShow plants one secret in every place a configuration can
// hold one, makes every check fail so error paths run, and then reads every
// surface the exporter has: metrics, the health summary, the landing page,
// reload answers and debug logs.
func TestSecretsNeverShow(t *testing.T) {
	const secret = "PLANTED-s3cr3t-7f3a9c"
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	redis := testenv.StartRedis(t, "--requirepass", "another-password")
	pg := testenv.StartPostgres(t, testenv.PostgresOptions{Password: "another-password"})
	var (
		mu   sync.Mutex
		seen []string
	)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, r.Header.Get("Authorization"), r.Header.Get("X-Api-Key"))
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer api.Close()
	os.Setenv("PLANTED_TOKEN", secret)
	defer os.Unsetenv("PLANTED_TOKEN")

	good := `global: {min_interval: 0s}
dependencies:
  - name: message_queue
    kind: redis
    redis: {url: "redis://` + redis.Addr + `/0", password_file: "` + secretFile + `"}
  - name: database
    kind: postgres
    postgres: {dsn: "` + pg.DSN("postgres", "", "postgres") + `", password_file: "` + secretFile + `"}
  - name: storage
    kind: http
    http: {url: "` + api.URL + `/minio/health/live", bearer_token_file: "` + secretFile + `", headers_from_files: {X-Api-Key: "` + secretFile + `"}}
  - name: vector_db
    kind: http
    http: {url: "` + api.URL + `/readyz", basic_auth: {username: qdrant, password: "${PLANTED_TOKEN}"}}
`
	path := writeConfig(t, dir, good)
	e := startExporter(t, "--config.file="+path, "--log.level=debug")

	var surfaces []string
	for _, p := range []string{"/metrics", "/health", "/", "/-/ready"} {
		_, body := e.get(t, p)
		surfaces = append(surfaces, p+"\n"+body)
	}
	for _, d := range []string{`"message_queue",kind="redis"`, `"database",kind="postgres"`, `"storage",kind="http"`, `"vector_db",kind="http"`} {
		if metric(surfaces[0], `health_dependency_reason{dependency=`+d+`,reason="auth"}`) != "1" {
			t.Fatalf("every check should have failed on authentication first:\n%s", surfaces[0])
		}
	}

	// A configuration that puts the secret where it does not belong is
	// refused without repeating it.
	writeConfig(t, dir, good+`  - {name: cache, kind: redis, redis: {url: "redis://:`+secret+`@`+redis.Addr+`/0"}}
  - {name: db2, kind: postgres, postgres: {dsn: "postgres://app:`+secret+`@127.0.0.1:5432/app"}}
`)
	code, msg := e.post(t, "/-/reload")
	if code != http.StatusInternalServerError {
		t.Fatalf("a password in a URL must be refused: %d %s", code, msg)
	}
	surfaces = append(surfaces, "reload answer\n"+msg)
	_, body := e.get(t, "/metrics")
	surfaces = append(surfaces, "/metrics after reload\n"+body, "logs\n"+e.Logs())

	for _, s := range surfaces {
		if strings.Contains(s, secret) {
			t.Errorf("the secret leaked into %s", s)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(strings.Join(seen, " "), secret) {
		t.Fatal("the HTTP checks did not send the credentials at all; the test proves nothing")
	}
}
