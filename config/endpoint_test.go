package config

import (
	"fmt"
	"strings"
	"testing"
)

func TestEndpoint(t *testing.T) {
	tests := []struct {
		block string // the kind block, as YAML flow
		kind  string
		want  string
	}{
		{kind: "redis", block: `{url: "redis://127.0.0.1:6379/0"}`, want: "127.0.0.1:6379"},
		{kind: "redis", block: `{url: "rediss://app@cache.internal/2"}`, want: "cache.internal:6379"},
		{kind: "redis", block: `{url: "redis://app:@[::1]:7000"}`, want: "[::1]:7000"},
		{kind: "redis", block: `{url: "unix:///run/redis/redis.sock?db=1"}`, want: "/run/redis/redis.sock"},
		{kind: "redis", block: `{addrs: ["10.0.0.1:26379", "10.0.0.2:26379"], master_name: mymaster}`, want: "10.0.0.1:26379"},
		{kind: "redis", block: `{addrs: ["10.0.0.1:7000", "10.0.0.2:7000", "10.0.0.3:7000"]}`, want: "10.0.0.1:7000"},
		{kind: "postgres", block: `{dsn: "postgres://app@db.internal:5433/app?sslmode=require"}`, want: "db.internal:5433"},
		{kind: "postgres", block: `{dsn: "postgresql://app@db.internal/app"}`, want: "db.internal:5432"},
		{kind: "postgres", block: `{dsn: "postgres://app@h1:5432,h2:5433/app"}`, want: "h1:5432"},
		{kind: "postgres", block: `{dsn: "postgres:///app?host=/var/run/postgresql"}`, want: "/var/run/postgresql"},
		{kind: "postgres", block: `{dsn: "host=db.internal port=6432 user=app dbname=app"}`, want: "db.internal:6432"},
		{kind: "postgres", block: `{dsn: "host=/tmp user='app user' dbname=app"}`, want: "/tmp"},
		{kind: "postgres", block: `{dsn: "user=app dbname=app"}`, want: "localhost:5432"},
		{kind: "http", block: `{url: "https://monitor@minio.internal/minio/health/live"}`, want: "minio.internal:443"},
		{kind: "http", block: `{url: "http://127.0.0.1:6333/readyz?token=x"}`, want: "127.0.0.1:6333"},
		{kind: "http", block: `{url: "http://opensearch/_cluster/health"}`, want: "opensearch:80"},
		{kind: "tcp", block: `{address: "smtp.internal:25"}`, want: "smtp.internal:25"},
		{kind: "search", block: `{query: q, primary: {http: {url: "https://os.internal:9200"}}, fallback: {postgres: {dsn: "postgres://app@db/app"}}}`, want: "os.internal:9200"},
	}
	for _, tc := range tests {
		doc := fmt.Sprintf("dependencies:\n  - {name: d, kind: %s, %s: %s}\n", tc.kind, tc.kind, tc.block)
		cfg, err := Parse([]byte(doc), "endpoint.yml")
		if err != nil {
			t.Errorf("%s: %v", tc.block, err)
			continue
		}
		got := cfg.Dependencies[0].Endpoint()
		if got != tc.want {
			t.Errorf("%s: Endpoint() = %q, want %q", tc.block, got, tc.want)
		}
		for _, credential := range []string{"app", "monitor", "@", "token"} {
			if strings.Contains(got, credential) {
				t.Errorf("%s: Endpoint() = %q holds %q", tc.block, got, credential)
			}
		}
	}
}
