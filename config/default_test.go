package config

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

var defaultEnv = []string{"REDIS_URL", "REDIS_PASSWORD", "STORAGE_HEALTH_URL", "VECTOR_DB_HEALTH_URL", "SEARCH_URL", "SEARCH_CANARY_QUERY", "DATABASE_URL"}

func clearDefaultEnv(t *testing.T) {
	for _, k := range defaultEnv {
		t.Setenv(k, "")
	}
}

func TestDefaultNoEnv(t *testing.T) {
	clearDefaultEnv(t)
	cfg, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Path != "" {
		t.Errorf("Path = %q, want empty", cfg.Path)
	}
	var got []string
	for _, d := range cfg.Dependencies {
		got = append(got, d.Name+" "+d.Kind+" "+d.Endpoint())
		if d.Timeout != 5*time.Second || d.Breaker.FailureThreshold != 3 || d.Breaker.OpenTimeout != 30*time.Second {
			t.Errorf("%s does not carry the global defaults: %+v", d.Name, d)
		}
	}
	want := []string{
		"message_queue redis 127.0.0.1:6379",
		"storage http 127.0.0.1:9000",
		"vector_db http 127.0.0.1:6333",
		"search search 127.0.0.1:9200",
		"database postgres 127.0.0.1:5432",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("default dependencies:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	mq, _ := cfg.Dependency("message_queue")
	if mq.Redis.URL != "redis://127.0.0.1:6379/0" || mq.Redis.Password != "" {
		t.Errorf("message_queue %+v", mq.Redis)
	}
	storage, _ := cfg.Dependency("storage")
	if storage.HTTP.URL != "http://127.0.0.1:9000/minio/health/live" {
		t.Errorf("storage url %q", storage.HTTP.URL)
	}
	vector, _ := cfg.Dependency("vector_db")
	if vector.HTTP.URL != "http://127.0.0.1:6333/readyz" {
		t.Errorf("vector_db url %q", vector.HTTP.URL)
	}
	search, _ := cfg.Dependency("search")
	s := search.Search
	if s.Query != "onboarding" || s.MinResults != 0 || s.Primary.HTTP.URL != "http://127.0.0.1:9200" ||
		s.Fallback.Postgres.DSN != "postgres://postgres@127.0.0.1:5432/postgres" {
		t.Errorf("search %+v primary %+v fallback %+v", s, s.Primary.HTTP, s.Fallback.Postgres)
	}
	db, _ := cfg.Dependency("database")
	if db.Postgres.DSN != "postgres://postgres@127.0.0.1:5432/postgres" {
		t.Errorf("database dsn %q", db.Postgres.DSN)
	}
}

func TestDefaultFromEnv(t *testing.T) {
	clearDefaultEnv(t)
	t.Setenv("REDIS_URL", "rediss://queue.internal:6380/3")
	t.Setenv("REDIS_PASSWORD", "env-planted-redis")
	t.Setenv("STORAGE_HEALTH_URL", "https://s3.internal/minio/health/cluster")
	t.Setenv("VECTOR_DB_HEALTH_URL", "http://qdrant.internal:6333/readyz")
	t.Setenv("SEARCH_URL", "https://opensearch.internal:9200")
	t.Setenv("SEARCH_CANARY_QUERY", "invoice")
	t.Setenv("DATABASE_URL", "postgres://app@pg.internal:5433/app?sslmode=require")
	cfg, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range cfg.Dependencies {
		got = append(got, d.Name+" "+d.Endpoint())
	}
	want := "message_queue queue.internal:6380,storage s3.internal:443,vector_db qdrant.internal:6333,search opensearch.internal:9200,database pg.internal:5433"
	if strings.Join(got, ",") != want {
		t.Errorf("endpoints %s, want %s", strings.Join(got, ","), want)
	}
	mq, _ := cfg.Dependency("message_queue")
	if mq.Redis.Password.Value() != "env-planted-redis" || !mq.Redis.TLS.Enabled {
		t.Errorf("message_queue %+v", mq.Redis)
	}
	search, _ := cfg.Dependency("search")
	if search.Search.Query != "invoice" || search.Search.Fallback.Postgres.DSN != "postgres://app@pg.internal:5433/app?sslmode=require" {
		t.Errorf("search %+v", search.Search)
	}
}

// TestDefaultRefusesURLPassword: a REDIS_URL carrying a password (common
// in application settings) is refused with a way out, without echoing it.
func TestDefaultRefusesURLPassword(t *testing.T) {
	clearDefaultEnv(t)
	t.Setenv("REDIS_URL", "redis://:env-planted-secret@queue.internal:6379/0")
	_, err := Default()
	want := `default config:9: dependencies[0] "message_queue": redis.url: the URL holds a password: remove it and use password_file (or password: ${ENV_VAR})`
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
}

func TestDefaultYAML(t *testing.T) {
	clearDefaultEnv(t)
	if !bytes.Equal(DefaultYAML(), defaultYAML) {
		t.Fatal("DefaultYAML differs from the embedded file")
	}
	b := DefaultYAML()
	b[0] = 0 // a copy: the embedded default stays intact
	if defaultYAML[0] == 0 {
		t.Error("DefaultYAML returned the embedded slice itself")
	}
	cfg, err := Parse(DefaultYAML(), "health-exporter.yml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Dependencies) != 5 || cfg.Path != "health-exporter.yml" {
		t.Errorf("parsed default: %d dependencies, path %q", len(cfg.Dependencies), cfg.Path)
	}
}
