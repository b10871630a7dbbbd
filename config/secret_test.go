package config

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestSecretPrints(t *testing.T) {
	s := Secret("hunter2")
	for _, got := range []string{
		s.String(), s.GoString(),
		fmt.Sprint(s), fmt.Sprintf("%v|%s|%q|%x|%X|%d|%+v|%#v|%10s|%-3v", s, s, s, s, s, s, s, s, s, s),
		fmt.Sprintf("%v %#v", []Secret{s}, map[string]Secret{"k": s}),
		fmt.Sprintf("%+v %#v", struct{ P Secret }{s}, struct{ P Secret }{s}),
	} {
		if strings.Contains(got, "hunter2") || !strings.Contains(got, "<secret>") {
			t.Errorf("printed %q", got)
		}
	}
	if got := fmt.Sprintf("%v|%q|%#v", s, s, s); got != `<secret>|"<secret>"|"<secret>"` {
		t.Errorf("formats %s", got)
	}
	if s.Value() != "hunter2" {
		t.Errorf("Value() = %q", s.Value())
	}
	j, err := json.Marshal(struct{ P Secret }{s})
	var back struct{ P string }
	if err != nil || json.Unmarshal(j, &back) != nil || back.P != "<secret>" {
		t.Errorf("json %s, %v", j, err)
	}
	y, err := yaml.Marshal(struct{ P Secret }{s})
	if err != nil || string(y) != "p: <secret>\n" {
		t.Errorf("yaml %q, %v", y, err)
	}
	// An empty secret says so, so a dump still shows none was configured.
	if got := fmt.Sprintf("%v|%q", Secret(""), Secret("")); got != `|""` {
		t.Errorf("empty secret prints %q", got)
	}
}

// TestConfigNeverPrintsSecrets plants secrets from files and from the
// environment and prints the configuration every way there is.
func TestConfigNeverPrintsSecrets(t *testing.T) {
	t.Setenv("REDIS_PASSWORD", "env-planted-s3cret")
	cfg, err := Load("testdata/full.yml")
	if err != nil {
		t.Fatal(err)
	}
	sentinel, _ := cfg.Dependency("cache_sentinel")
	if sentinel.Redis.Password.Value() != "env-planted-s3cret" {
		t.Fatalf("password from the environment not loaded")
	}

	var printed []string
	add := func(v any) {
		printed = append(printed, fmt.Sprintf("%v %+v %#v", v, v, v))
	}
	add(cfg)
	add(*cfg)
	for _, d := range cfg.Dependencies {
		add(d)
		for _, block := range []any{d.Redis, d.Postgres, d.HTTP, d.TCP, d.Search} {
			if block != nil {
				add(block)
			}
		}
		if d.Redis != nil {
			add(*d.Redis)
		}
		if d.Postgres != nil {
			add(*d.Postgres)
		}
		if d.HTTP != nil {
			add(*d.HTTP)
			if d.HTTP.BasicAuth != nil {
				add(*d.HTTP.BasicAuth)
			}
		}
		if d.Search != nil {
			add(*d.Search)
			add(*d.Search.Primary.HTTP)
			add(*d.Search.Fallback.Postgres)
		}
	}
	j, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	printed = append(printed, string(j))
	y, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	printed = append(printed, string(y))

	for _, p := range printed {
		if strings.Contains(p, "planted") {
			t.Fatalf("a secret was printed: %s", p)
		}
	}
	if !strings.Contains(strings.Join(printed, ""), "<secret>") {
		t.Errorf("no redacted secret in the output: the test printed nothing of interest")
	}
}

// TestReloadRereadsSecretFiles rotates the secret files between two loads
// of one file.
func TestReloadRereadsSecretFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("config.yml", `
dependencies:
  - name: api
    kind: http
    http:
      url: "http://127.0.0.1:8080/health"
      bearer_token_file: token
      headers_from_files: {X-Api-Key: key}
  - name: queue
    kind: redis
    redis: {url: "redis://127.0.0.1:6379", password_file: redis}
`)
	path := filepath.Join(dir, "config.yml")
	load := func() (string, string, string) {
		t.Helper()
		cfg, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		api, queue := cfg.Dependencies[0].HTTP, cfg.Dependencies[1].Redis
		return api.BearerToken.Value(), api.HeaderFiles["X-Api-Key"].Value(), queue.Password.Value()
	}

	write("token", "token-1\n")
	write("key", "key-1")
	write("redis", "redis-1\n")
	if tok, key, pw := load(); tok != "token-1" || key != "key-1" || pw != "redis-1" {
		t.Fatalf("first load: %q %q %q", tok, key, pw)
	}

	write("token", "token-2\n")
	write("key", "key-2")
	write("redis", "redis-2\n")
	if tok, key, pw := load(); tok != "token-2" || key != "key-2" || pw != "redis-2" {
		t.Errorf("reload kept old secrets: %q %q %q", tok, key, pw)
	}

	if err := os.Remove(filepath.Join(dir, "redis")); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	want := fmt.Sprintf(`%s:11: dependencies[1] "queue": redis.password_file: reading secret: open %s: no such file or directory`, path, filepath.Join(dir, "redis"))
	if err == nil || err.Error() != want {
		t.Errorf("reload with the secret gone: %v, want %q", err, want)
	}
}

func TestInlineSecret(t *testing.T) {
	t.Setenv("PG_PASSWORD", "env-planted-pg")
	cfg, err := Parse([]byte(`
dependencies:
  - name: db
    kind: postgres
    postgres: {dsn: "postgres://app@127.0.0.1/app", password: "${PG_PASSWORD}"}
  - name: api
    kind: http
    http:
      url: "http://127.0.0.1/health"
      basic_auth: {username: monitor, password: "${PG_PASSWORD}"}
`), "inline.yml")
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Dependencies[0].Postgres.Password.Value(); got != "env-planted-pg" {
		t.Errorf("postgres password %q", got)
	}
	if got := cfg.Dependencies[1].HTTP.BasicAuth.Password.Value(); got != "env-planted-pg" {
		t.Errorf("basic auth password %q", got)
	}
}
