package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// yamlBlockRE finds the ```yaml blocks of a Markdown file, with the HTML
// comment naming their source file when one precedes them.
var yamlBlockRE = regexp.MustCompile("(?s)(?:<!-- (\\S+) -->\\n)?```yaml\\n(.*?)```")

// TestDocs parses every YAML example of docs/configuration.md, and checks
// that the default configuration and the full example shown there are the
// real files.
func TestDocs(t *testing.T) {
	md, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	clientCert, err := os.ReadFile("testdata/tls/client.crt")
	if err != nil {
		t.Fatal(err)
	}
	clientKey, err := os.ReadFile("testdata/tls/client.key")
	if err != nil {
		t.Fatal(err)
	}
	// The examples name files of a real deployment (/run/secrets/...):
	// stand in for them, keeping the files under testdata real.
	readFile := func(name string) ([]byte, error) {
		if strings.HasPrefix(name, "testdata/") {
			return os.ReadFile(name)
		}
		switch filepath.Ext(name) {
		case ".pem", ".crt":
			return clientCert, nil
		case ".key":
			return clientKey, nil
		}
		return []byte("docs-secret\n"), nil
	}
	env := map[string]string{"DATABASE_URL": "postgres://app@127.0.0.1:5432/app"}
	lookupEnv := func(k string) (string, bool) { v, ok := env[k]; return v, ok }

	blocks := yamlBlockRE.FindAllSubmatchIndex(md, -1)
	if len(blocks) < 12 {
		t.Fatalf("found %d yaml blocks in docs/configuration.md, want an example per kind and the ready-made ones", len(blocks))
	}
	sources := map[string]bool{}
	for _, b := range blocks {
		var source string
		if b[2] >= 0 {
			source = string(md[b[2]:b[3]])
		}
		text := md[b[4]:b[5]]
		name := fmt.Sprintf("docs/configuration.md (block at line %d)", bytes.Count(md[:b[4]], []byte("\n"))+1)
		if source != "" {
			sources[source] = true
			want, err := os.ReadFile(filepath.Join("..", source))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(want, text) {
				t.Errorf("%s differs from %s: update the docs", name, source)
			}
		}
		d := &decoder{dir: "testdata", lookupEnv: lookupEnv, readFile: readFile}
		if _, err := parse(text, name, d); err != nil {
			t.Errorf("%v\n%s", err, text)
		}
	}
	for _, s := range []string{"config/default.yml", "config/testdata/full.yml"} {
		if !sources[s] {
			t.Errorf("docs/configuration.md does not show %s", s)
		}
	}
}

// TestDocsCoverEveryKey checks that the reference names every key and
// that the full example uses it.
func TestDocsCoverEveryKey(t *testing.T) {
	md, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	full, err := os.ReadFile("testdata/full.yml")
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{
		"global", "dependencies",
		"timeout", "min_interval", "degraded_latency", "breaker", "retry", "interval", "name", "kind",
		"failure_threshold", "failure_rate", "minimum_calls", "window", "open_timeout", "open_jitter", "half_open_max_calls",
		"max_retries", "base_delay", "max_delay", "factor", "jitter",
		"redis", "url", "addrs", "master_name", "username", "password", "password_file", "db", "tls", "role",
		"max_memory_ratio", "max_clients_ratio", "cache_prefixes",
		"postgres", "dsn", "query", "max_connections_ratio",
		"http", "method", "headers", "headers_from_files", "basic_auth", "bearer_token", "bearer_token_file",
		"expect_status", "degraded_status", "body_regexp", "json_status", "field", "healthy", "degraded", "follow_redirects",
		"tcp", "address",
		"search", "tenant", "min_results", "limit", "primary", "fallback", "index", "fields", "tenant_field",
		"schema", "table", "id_column", "name_column", "description_column", "tenant_column", "updated_column",
		"vector_column", "language",
		"enabled", "ca_file", "cert_file", "key_file", "server_name", "insecure_skip_verify",
	}
	for _, k := range keys {
		if !strings.Contains(string(md), "`"+k+"`") {
			t.Errorf("docs/configuration.md does not document `%s`", k)
		}
	}
	// Shown by other examples: full.yml takes the file form of the token,
	// and TLS switched on by the block or the scheme.
	elsewhere := map[string]bool{"bearer_token": true, "enabled": true}
	for _, k := range keys {
		if elsewhere[k] {
			continue
		}
		if !regexp.MustCompile(`(?m)^\s*(- )?` + k + `:`).Match(full) {
			t.Errorf("testdata/full.yml does not use %s", k)
		}
	}
}
