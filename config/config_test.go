package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// TestInvalid loads each testdata/invalid-<rule>.yml and asserts its exact
// error: one line, naming the file, the line and the setting.
func TestInvalid(t *testing.T) {
	// invalid-env-required.yml needs the variable unset (empty counts).
	t.Setenv("HEALTH_EXPORTER_TEST_UNSET", "")

	tests := []struct {
		rule string
		want string
	}{
		{"basic-auth-password-file-missing", `testdata/invalid-basic-auth-password-file-missing.yml:8: dependencies[0] "storage": http.basic_auth.password_file: reading secret: open testdata/secrets/does-not-exist: no such file or directory`},
		{"basic-auth-password-missing", `testdata/invalid-basic-auth-password-missing.yml:7: dependencies[0] "storage": http.basic_auth: password_file (or password) is required`},
		{"bearer-token-file-missing", `testdata/invalid-bearer-token-file-missing.yml:6: dependencies[0] "vector_db": http.bearer_token_file: reading secret: open testdata/secrets/does-not-exist: no such file or directory`},
		{"body-regexp", "testdata/invalid-body-regexp.yml:6: dependencies[0] \"vector_db\": http.body_regexp: invalid regular expression: error parsing regexp: missing closing ]: `[`"},
		{"bool", `testdata/invalid-bool.yml:6: dependencies[0] "storage": http.follow_redirects: invalid boolean "yes" (want true or false)`},
		{"breaker-failure-rate", `testdata/invalid-breaker-failure-rate.yml:5: dependencies[0] "db": breaker.failure_rate: must be greater than 0 and at most 1 (or 0 for off), got 1.5`},
		{"breaker-failure-threshold", `testdata/invalid-breaker-failure-threshold.yml:3: global.breaker.failure_threshold: must be at least 1, got 0`},
		{"breaker-open-jitter", `testdata/invalid-breaker-open-jitter.yml:4: dependencies[0] "db": breaker.open_jitter: must be at least 0 and less than 1, got 1`},
		{"breaker-open-timeout", `testdata/invalid-breaker-open-timeout.yml:2: global.breaker.open_timeout: must be greater than 0, got 0s`},
		{"degraded-latency-global", `testdata/invalid-degraded-latency-global.yml:3: global: degraded_latency must be less than timeout (degraded_latency 2s, timeout 2s)`},
		{"degraded-latency", `testdata/invalid-degraded-latency.yml:4: dependencies[0] "db": degraded_latency must be less than timeout (degraded_latency 1s, timeout 1s)`},
		{"dependencies-empty", `testdata/invalid-dependencies-empty.yml:3: dependencies: at least one dependency is required`},
		{"dependencies-missing", `testdata/invalid-dependencies-missing.yml: dependencies: at least one dependency is required`},
		{"duplicate-key", `testdata/invalid-duplicate-key.yml:6: dependencies[0] "db": key "timeout" repeated (first at line 4)`},
		{"duration", `testdata/invalid-duration.yml:10: dependencies[2] "db": timeout: invalid duration "5x"`},
		{"env-required", `testdata/invalid-env-required.yml:5: dependencies[0] "message_queue": redis.url: environment variable HEALTH_EXPORTER_TEST_UNSET is not set: set it to the queue's URL`},
		{"env-syntax", `testdata/invalid-env-syntax.yml:6: dependencies[0] "message_queue": redis.password: unterminated "${": write "$$" for a literal "$"`},
		{"expect-status", `testdata/invalid-expect-status.yml:6: dependencies[0] "storage": http.expect_status[1]: status must be from 100 to 599, got 600`},
		{"header-file-missing", `testdata/invalid-header-file-missing.yml:7: dependencies[0] "vector_db": http.headers_from_files.Api-Key: reading secret: open testdata/secrets/does-not-exist: no such file or directory`},
		{"http-authorization-header", `testdata/invalid-http-authorization-header.yml:7: dependencies[0] "vector_db": http.headers.authorization: header Authorization carries credentials: use basic_auth, bearer_token_file or headers_from_files`},
		{"http-basic-and-bearer", `testdata/invalid-http-basic-and-bearer.yml:6: dependencies[0] "vector_db": http.bearer_token_file: give basic_auth or a bearer token, not both`},
		{"http-head-body", `testdata/invalid-http-head-body.yml:6: dependencies[0] "vector_db": http.method: a HEAD response has no body for body_regexp or json_status`},
		{"http-header-name", `testdata/invalid-http-header-name.yml:7: dependencies[0] "vector_db": http.headers.Api Key: "Api Key" is not a valid header name`},
		{"http-header-twice", `testdata/invalid-http-header-twice.yml:8: dependencies[0] "vector_db": http.headers_from_files: header x-tenant is also set in headers`},
		{"http-json-status-overlap", `testdata/invalid-http-json-status-overlap.yml:9: dependencies[0] "opensearch": http.json_status.degraded: "yellow" is also listed under healthy`},
		{"http-json-status", `testdata/invalid-http-json-status.yml:7: dependencies[0] "opensearch": http.json_status.healthy: at least one healthy value is required`},
		{"http-method", `testdata/invalid-http-method.yml:6: dependencies[0] "storage": http.method: unknown value "FETCH" (want one of "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")`},
		{"http-tls-disabled", `testdata/invalid-http-tls-disabled.yml:6: dependencies[0] "vector_db": http.tls: enabled: false contradicts the URL scheme https, which always uses TLS`},
		{"http-tls-plaintext", `testdata/invalid-http-tls-plaintext.yml:6: dependencies[0] "vector_db": http.tls: enabled: true needs the URL scheme https`},
		{"http-url-missing", `testdata/invalid-http-url-missing.yml:5: dependencies[0] "storage": http: url is required`},
		{"http-url-password", `testdata/invalid-http-url-password.yml:5: dependencies[0] "storage": http.url: the URL holds a password: remove it and use basic_auth with password_file`},
		{"http-url-scheme", `testdata/invalid-http-url-scheme.yml:5: dependencies[0] "storage": http.url: unsupported scheme "ftp" (want http or https)`},
		{"interval-below-timeout", `testdata/invalid-interval-below-timeout.yml:4: dependencies[0] "db": interval must be at least timeout (interval 2s, timeout 5s)`},
		{"interval", `testdata/invalid-interval.yml:4: dependencies[0] "db": interval: must be at least 1s (or 0 to check at scrape time), got 500ms`},
		{"kind-block-missing", `testdata/invalid-kind-block-missing.yml:3: dependencies[0] "message_queue": kind redis needs a redis block`},
		{"kind-block-other", `testdata/invalid-kind-block-other.yml:5: dependencies[0] "message_queue": kind redis takes a redis block, not http`},
		{"kind-missing", `testdata/invalid-kind-missing.yml:2: dependencies[0] "db": kind is required (one of redis, postgres, http, tcp, search)`},
		{"kind-unknown", `testdata/invalid-kind-unknown.yml:3: dependencies[0] "db": kind: unknown value "mongo" (want one of "redis", "postgres", "http", "tcp", "search")`},
		{"min-interval-negative", `testdata/invalid-min-interval-negative.yml:4: dependencies[0] "db": min_interval: must not be negative, got -1s`},
		{"multiple-documents", `testdata/invalid-multiple-documents.yml:5: a config file holds one YAML document`},
		{"name-duplicate", `testdata/invalid-name-duplicate.yml:5: dependencies[1] "db": name: duplicate name "db" (first at line 2)`},
		{"name-missing", `testdata/invalid-name-missing.yml:2: dependencies[0]: name is required`},
		{"name", `testdata/invalid-name.yml:2: dependencies[0] "Message-Queue": name: "Message-Queue" is not a valid name (want ^[a-z_][a-z0-9_]*$)`},
		{"password-conflict", `testdata/invalid-password-conflict.yml:7: dependencies[0] "message_queue": redis.password_file: give password or password_file, not both`},
		{"password-file-missing", `testdata/invalid-password-file-missing.yml:6: dependencies[0] "message_queue": redis.password_file: reading secret: open testdata/secrets/does-not-exist: no such file or directory`},
		{"postgres-dsn-keyword-password", `testdata/invalid-postgres-dsn-keyword-password.yml:5: dependencies[0] "database": postgres.dsn: the DSN holds a password: remove it and use password_file (or password: ${ENV_VAR})`},
		{"postgres-dsn-missing", `testdata/invalid-postgres-dsn-missing.yml:5: dependencies[0] "database": postgres: dsn is required`},
		{"postgres-dsn-password", `testdata/invalid-postgres-dsn-password.yml:5: dependencies[0] "database": postgres.dsn: the URL holds a password: remove it and use password_file (or password: ${ENV_VAR})`},
		{"postgres-dsn-query-password", `testdata/invalid-postgres-dsn-query-password.yml:5: dependencies[0] "database": postgres.dsn: the URL holds a password: remove it and use password_file (or password: ${ENV_VAR})`},
		{"postgres-dsn-sslmode", `testdata/invalid-postgres-dsn-sslmode.yml:5: dependencies[0] "database": postgres.dsn: sslmode: unknown value "bogus" (want one of "disable", "allow", "prefer", "require", "verify-ca", "verify-full")`},
		{"postgres-dsn-keyword-sslmode", `testdata/invalid-postgres-dsn-keyword-sslmode.yml:5: dependencies[0] "database": postgres.dsn: sslmode: unknown value "on" (want one of "disable", "allow", "prefer", "require", "verify-ca", "verify-full")`},
		{"postgres-dsn-scheme", `testdata/invalid-postgres-dsn-scheme.yml:5: dependencies[0] "database": postgres.dsn: unsupported URL scheme (want postgres or postgresql)`},
		{"postgres-role", `testdata/invalid-postgres-role.yml:6: dependencies[0] "database": postgres.role: unknown value "master" (want one of "", "primary", "standby")`},
		{"redis-addr-port", `testdata/invalid-redis-addr-port.yml:5: dependencies[0] "cache": redis.addrs[1]: "127.0.0.1" is not host:port`},
		{"redis-db-with-url", `testdata/invalid-redis-db-with-url.yml:6: dependencies[0] "cache": redis.db: with url, give the database in its path (redis://host:6379/1)`},
		{"redis-master-name-without-addrs", `testdata/invalid-redis-master-name-without-addrs.yml:6: dependencies[0] "cache": redis.master_name: master_name needs addrs (the Sentinels)`},
		{"redis-max-clients-ratio", `testdata/invalid-redis-max-clients-ratio.yml:6: dependencies[0] "cache": redis.max_clients_ratio: must be greater than 0 and at most 1, got 0`},
		{"redis-max-memory-ratio", `testdata/invalid-redis-max-memory-ratio.yml:6: dependencies[0] "cache": redis.max_memory_ratio: must be greater than 0 and at most 1, got 1.5`},
		{"redis-role", `testdata/invalid-redis-role.yml:6: dependencies[0] "cache": redis.role: unknown value "primary" (want one of "", "master", "replica")`},
		{"redis-tls-plaintext", `testdata/invalid-redis-tls-plaintext.yml:6: dependencies[0] "cache": redis.tls: TLS settings need the URL scheme rediss`},
		{"redis-url-and-addrs", `testdata/invalid-redis-url-and-addrs.yml:6: dependencies[0] "message_queue": redis.addrs: give url or addrs, not both`},
		{"redis-url-db", `testdata/invalid-redis-url-db.yml:5: dependencies[0] "message_queue": redis.url: the URL's path must be a database number, got "zero"`},
		{"redis-url-missing", `testdata/invalid-redis-url-missing.yml:5: dependencies[0] "message_queue": redis: url or addrs is required`},
		{"redis-url-password", `testdata/invalid-redis-url-password.yml:5: dependencies[0] "message_queue": redis.url: the URL holds a password: remove it and use password_file (or password: ${ENV_VAR})`},
		{"redis-url-scheme", `testdata/invalid-redis-url-scheme.yml:5: dependencies[0] "message_queue": redis.url: unsupported scheme "http" (want redis, rediss or unix)`},
		{"retry-factor", `testdata/invalid-retry-factor.yml:2: global.retry.factor: must be at least 1, got 0.5`},
		{"retry-jitter", `testdata/invalid-retry-jitter.yml:3: global.retry.jitter: unknown value "random" (want one of "none", "full", "equal", "decorrelated")`},
		{"retry-max-delay", `testdata/invalid-retry-max-delay.yml:5: dependencies[0] "db": retry: max_delay must be at least base_delay (max_delay 1s, base_delay 2s)`},
		{"retry-max-retries", `testdata/invalid-retry-max-retries.yml:2: global.retry.max_retries: must be at least 0, got -1`},
		{"search-fallback-empty", `testdata/invalid-search-fallback-empty.yml:8: dependencies[0] "search": search.fallback: a fallback needs a postgres block`},
		{"search-identifier", `testdata/invalid-search-identifier.yml:11: dependencies[0] "search": search.fallback.postgres.table: "workflows; DROP TABLE workflows" is not a valid identifier (want ^[a-z_][a-z0-9_]*$)`},
		{"search-index", `testdata/invalid-search-index.yml:7: dependencies[0] "search": search.primary.http.index: "Workflows/_doc" is not an index name (lower case; no /, spaces or quotes)`},
		{"search-min-results-above-limit", `testdata/invalid-search-min-results-above-limit.yml:6: dependencies[0] "search": search: min_results must be at most limit (min_results 20, limit 10)`},
		{"search-min-results", `testdata/invalid-search-min-results.yml:6: dependencies[0] "search": search.min_results: must be at least 0, got -1`},
		{"search-primary-missing", `testdata/invalid-search-primary-missing.yml:5: dependencies[0] "search": search.primary: a primary with an http block is required`},
		{"search-query-missing", `testdata/invalid-search-query-missing.yml:5: dependencies[0] "search": search: query is required`},
		{"secret-file-empty", `testdata/invalid-secret-file-empty.yml:6: dependencies[0] "message_queue": redis.password_file: secret file testdata/secrets/empty is empty`},
		{"status-overlap", `testdata/invalid-status-overlap.yml:6: dependencies[0] "storage": http.degraded_status: status 204 also means healthy (see expect_status)`},
		{"tcp-address-missing", `testdata/invalid-tcp-address-missing.yml:4: dependencies[0] "smtp": tcp: address is required`},
		{"tcp-address-port", `testdata/invalid-tcp-address-port.yml:5: dependencies[0] "smtp": tcp.address: "127.0.0.1" is not host:port`},
		{"timeout-negative", `testdata/invalid-timeout-negative.yml:2: global.timeout: must be greater than 0, got -1s`},
		{"timeout-zero", `testdata/invalid-timeout-zero.yml:4: dependencies[0] "db": timeout: must be greater than 0, got 0s`},
		{"tls-ca-file-not-pem", `testdata/invalid-tls-ca-file-not-pem.yml:7: dependencies[0] "smtp": tcp.tls.ca_file: CA file testdata/secrets/api_key holds no PEM certificate`},
		{"tls-cert-without-key", `testdata/invalid-tls-cert-without-key.yml:7: dependencies[0] "smtp": tcp.tls.cert_file: cert_file needs key_file`},
		{"tls-key-file-missing", `testdata/invalid-tls-key-file-missing.yml:8: dependencies[0] "smtp": tcp.tls.key_file: reading key: open testdata/tls/does-not-exist.key: no such file or directory`},
		{"tls-key-mismatch", `testdata/invalid-tls-key-mismatch.yml:8: dependencies[0] "smtp": tcp.tls.key_file: loading key pair testdata/tls/ca.crt and testdata/tls/client.key: tls: private key does not match public key`},
		{"type-integer", `testdata/invalid-type-integer.yml:6: dependencies[0] "search": search.limit: invalid integer "ten"`},
		{"type-list", `testdata/invalid-type-list.yml:6: dependencies[0] "storage": http.expect_status: expected a list, got a single value`},
		{"type-mapping", `testdata/invalid-type-mapping.yml:4: dependencies[0] "message_queue": redis: expected a mapping, got a single value`},
		{"unknown-key", `testdata/invalid-unknown-key.yml:6: dependencies[0] "storage": http: unknown key "expect_stauts" (did you mean "expect_status"?)`},
		{"url-malformed", `testdata/invalid-url-malformed.yml:5: dependencies[0] "storage": http.url: invalid URL: invalid port ":90x0" after host`},
		{"unknown-key-unlike", `testdata/invalid-unknown-key-unlike.yml:4: dependencies[0] "db": unknown key "labels"`},
		{"unknown-top-key", `testdata/invalid-unknown-top-key.yml:1: unknown key "globl" (did you mean "global"?)`},
		{"yaml-syntax", `testdata/invalid-yaml-syntax.yml:3: mapping values are not allowed in this context`},
	}

	files, err := filepath.Glob("testdata/invalid-*.yml")
	if err != nil {
		t.Fatal(err)
	}
	covered := map[string]bool{}
	for _, tc := range tests {
		covered[filepath.Join("testdata", "invalid-"+tc.rule+".yml")] = true
	}
	for _, f := range files {
		if !covered[f] {
			t.Errorf("%s has no expected error in this table", f)
		}
	}

	for _, tc := range tests {
		t.Run(tc.rule, func(t *testing.T) {
			file := filepath.Join("testdata", "invalid-"+tc.rule+".yml")
			cfg, err := Load(file)
			if err == nil {
				t.Fatalf("Load(%s) = %+v, want error %q", file, cfg, tc.want)
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("Load(%s) error\n got: %s\nwant: %s", file, got, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans several lines: %q", err)
			}
			if strings.Contains(err.Error(), "planted") {
				t.Errorf("error repeats a secret: %q", err)
			}
			var e *Error
			if !errors.As(err, &e) || e.File != file {
				t.Errorf("error %#v is not an *Error for %s", err, file)
			}
		})
	}
}

func TestSecretFileErrorsUnwrap(t *testing.T) {
	_, err := Load("testdata/invalid-password-file-missing.yml")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("errors.Is(%v, fs.ErrNotExist) = false, want true", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/does-not-exist.yml")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load of a missing file: %v, want fs.ErrNotExist", err)
	}
	if want := "reading config file: open testdata/does-not-exist.yml: no such file or directory"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

func TestParseEmpty(t *testing.T) {
	for _, doc := range []string{"", "# nothing\n", "---\n"} {
		_, err := Parse([]byte(doc), "empty.yml")
		if want := "empty.yml: dependencies: at least one dependency is required"; err == nil || err.Error() != want {
			t.Errorf("Parse(%q) error %v, want %q", doc, err, want)
		}
	}
}

func TestParseNotAMapping(t *testing.T) {
	_, err := Parse([]byte("- a\n- b\n"), "list.yml")
	if want := "list.yml:1: expected a mapping, got a list"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
}

func TestFull(t *testing.T) {
	t.Setenv("REDIS_PASSWORD", "")
	cfg, err := Load("testdata/full.yml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Path != "testdata/full.yml" {
		t.Errorf("Path = %q", cfg.Path)
	}
	wantGlobal := Global{
		Timeout:         5 * time.Second,
		MinInterval:     time.Second,
		DegradedLatency: time.Second,
		Breaker: Breaker{
			FailureThreshold: 3, FailureRate: 0.5, MinimumCalls: 10, Window: time.Minute,
			OpenTimeout: 30 * time.Second, OpenJitter: 0.1, HalfOpenMaxCalls: 1,
		},
		Retry: Retry{MaxRetries: 1, BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second, Factor: 2, Jitter: JitterFull},
	}
	if !reflect.DeepEqual(cfg.Global, wantGlobal) {
		t.Errorf("Global = %+v\nwant     %+v", cfg.Global, wantGlobal)
	}

	var names []string
	for _, d := range cfg.Dependencies {
		names = append(names, d.Name)
	}
	wantNames := []string{"message_queue", "cache_sentinel", "database", "storage", "vector_db", "opensearch", "smtp", "search"}
	if !reflect.DeepEqual(names, wantNames) {
		t.Fatalf("dependencies %v, want %v", names, wantNames)
	}
	dep := func(name string) *Dependency {
		d, ok := cfg.Dependency(name)
		if !ok {
			t.Fatalf("no dependency %q", name)
		}
		return d
	}

	mq := dep("message_queue")
	wantBreaker := wantGlobal.Breaker
	wantBreaker.OpenTimeout = 10 * time.Second
	if mq.Kind != KindRedis || mq.Timeout != 2*time.Second || mq.DegradedLatency != 500*time.Millisecond ||
		mq.MinInterval != time.Second || mq.Breaker != wantBreaker || mq.Retry != wantGlobal.Retry || mq.Line != 23 {
		t.Errorf("message_queue = %+v", mq)
	}
	wantRedis := &Redis{
		URL:             "rediss://app@127.0.0.1:6380/0",
		Password:        "redis-planted-s3cret",
		TLS:             TLS{Enabled: true, CAFile: "testdata/tls/ca.crt", ServerName: "redis.internal"},
		Role:            RedisRoleMaster,
		MaxMemoryRatio:  0.85,
		MaxClientsRatio: 0.8,
		CachePrefixes:   []string{"cache"},
	}
	if !reflect.DeepEqual(mq.Redis, wantRedis) {
		t.Errorf("message_queue.Redis = %+v\nwant %+v", mq.Redis, wantRedis)
	}
	if mq.Postgres != nil || mq.HTTP != nil || mq.TCP != nil || mq.Search != nil {
		t.Errorf("message_queue has blocks of other kinds: %+v", mq)
	}

	sentinel := dep("cache_sentinel").Redis
	wantSentinel := &Redis{
		Addrs: []string{"127.0.0.1:26379", "127.0.0.1:26380"}, MasterName: "mymaster", Username: "app",
		DB: 1, Role: RedisRoleReplica, MaxMemoryRatio: 0.9, MaxClientsRatio: 0.9,
	}
	if !reflect.DeepEqual(sentinel, wantSentinel) {
		t.Errorf("cache_sentinel.Redis = %+v\nwant %+v", sentinel, wantSentinel)
	}

	db := dep("database")
	wantPG := &Postgres{
		DSN: "postgres://app@127.0.0.1:5432/app?sslmode=disable", Password: "pg-planted-s3cret",
		Query: "SELECT 1", Role: PostgresRolePrimary, MaxConnectionsRatio: 0.9,
	}
	if db.MinInterval != 5*time.Second || !reflect.DeepEqual(db.Postgres, wantPG) {
		t.Errorf("database = %+v, Postgres %+v", db, db.Postgres)
	}

	storage := dep("storage").HTTP
	wantStorage := &HTTP{
		URL: "http://127.0.0.1:9000/minio/health/cluster", Method: "GET",
		HTTPClient: HTTPClient{
			Headers:     map[string]string{"User-Agent": "health-exporter"},
			HeaderFiles: map[string]Secret{"X-Api-Key": "apikey-planted-s3cret"},
			BasicAuth:   &BasicAuth{Username: "monitor", Password: "basic-planted-s3cret"},
		},
		ExpectStatus:   []int{200},
		DegradedStatus: []int{429},
	}
	if !reflect.DeepEqual(storage, wantStorage) {
		t.Errorf("storage.HTTP = %+v\nwant %+v", storage, wantStorage)
	}

	vector := dep("vector_db").HTTP
	if vector.BearerToken != "token-planted-s3cret" || vector.BodyRegexp == nil || vector.BodyRegexp.String() != "ready" ||
		!vector.FollowRedirects || vector.Method != "GET" {
		t.Errorf("vector_db.HTTP = %+v", vector)
	}
	wantTLS := TLS{Enabled: true, CAFile: "testdata/tls/ca.crt", CertFile: "testdata/tls/client.crt", KeyFile: "testdata/tls/client.key"}
	if vector.TLS != wantTLS {
		t.Errorf("vector_db TLS = %+v, want %+v", vector.TLS, wantTLS)
	}

	osearch := dep("opensearch").HTTP
	wantJSON := &JSONStatus{Field: "status", Healthy: []string{"green"}, Degraded: []string{"yellow"}}
	if !reflect.DeepEqual(osearch.JSONStatus, wantJSON) {
		t.Errorf("opensearch.JSONStatus = %+v, want %+v", osearch.JSONStatus, wantJSON)
	}

	smtp := dep("smtp")
	if smtp.Interval != 30*time.Second || !reflect.DeepEqual(smtp.TCP, &TCP{Address: "127.0.0.1:25"}) {
		t.Errorf("smtp = %+v, TCP %+v", smtp, smtp.TCP)
	}

	search := dep("search")
	wantRetry := wantGlobal.Retry
	wantRetry.MaxRetries = 2
	if search.Retry != wantRetry {
		t.Errorf("search.Retry = %+v, want %+v", search.Retry, wantRetry)
	}
	wantSearch := &Search{
		Query: "onboarding", Tenant: "acme", MinResults: 1, Limit: 10,
		Primary: SearchPrimary{HTTP: &SearchHTTP{
			URL: "http://127.0.0.1:9200", Index: "workflows", Fields: []string{"name", "description"},
			TenantField: "tenant_id", HTTPClient: HTTPClient{FollowRedirects: true},
		}},
		Fallback: SearchFallback{Postgres: &SearchPostgres{
			DSN:      "host=127.0.0.1 port=5432 user=app dbname=app sslmode=disable",
			Password: "search-planted-s3cret", Schema: "public", Table: "workflows",
			IDColumn: "id", NameColumn: "name", DescriptionColumn: "description", TenantColumn: "tenant_id",
			UpdatedColumn: "updated_at", VectorColumn: "search_vector", Language: "english",
		}},
	}
	if !reflect.DeepEqual(search.Search, wantSearch) {
		t.Errorf("search.Search = %+v\nwant %+v", search.Search, wantSearch)
	}
}

// TestKindDefaults checks each kind's defaults on a minimal block.
func TestKindDefaults(t *testing.T) {
	cfg, err := Parse([]byte(`
dependencies:
  - {name: r, kind: redis, redis: {url: "redis://127.0.0.1"}}
  - {name: p, kind: postgres, postgres: {dsn: "postgres://127.0.0.1/app"}}
  - {name: h, kind: http, http: {url: "http://127.0.0.1/health"}}
  - {name: s, kind: search, search: {query: q, primary: {http: {url: "https://127.0.0.1:9200"}}}}
`), "defaults.yml")
	if err != nil {
		t.Fatal(err)
	}
	r, p, h, s := cfg.Dependencies[0], cfg.Dependencies[1], cfg.Dependencies[2], cfg.Dependencies[3]
	if want := (Redis{URL: "redis://127.0.0.1", MaxMemoryRatio: 0.9, MaxClientsRatio: 0.9}); !reflect.DeepEqual(*r.Redis, want) {
		t.Errorf("redis defaults %+v, want %+v", *r.Redis, want)
	}
	if want := (Postgres{DSN: "postgres://127.0.0.1/app", Query: "SELECT 1", MaxConnectionsRatio: 0.9}); *p.Postgres != want {
		t.Errorf("postgres defaults %+v, want %+v", *p.Postgres, want)
	}
	if want := (HTTP{URL: "http://127.0.0.1/health", Method: "GET", HTTPClient: HTTPClient{FollowRedirects: true}}); !reflect.DeepEqual(*h.HTTP, want) {
		t.Errorf("http defaults %+v, want %+v", *h.HTTP, want)
	}
	if s.Search.MinResults != 1 || s.Search.Limit != 10 || s.Search.Fallback.Postgres != nil ||
		!s.Search.Primary.HTTP.TLS.Enabled || s.Search.Primary.HTTP.Index != "workflows" {
		t.Errorf("search defaults %+v, primary %+v", s.Search, s.Search.Primary.HTTP)
	}
	for _, d := range cfg.Dependencies {
		g := DefaultGlobal()
		if d.Timeout != g.Timeout || d.MinInterval != g.MinInterval || d.DegradedLatency != g.DegradedLatency ||
			d.Interval != 0 || d.Breaker != g.Breaker || d.Retry != g.Retry {
			t.Errorf("%s does not carry the global defaults: %+v", d.Name, d)
		}
	}
}

// TestOverrides checks that global keys reach every dependency and that a
// dependency's partial breaker and retry blocks merge field by field.
func TestOverrides(t *testing.T) {
	cfg, err := Parse([]byte(`
dependencies:        # before global: global still applies
  - name: inherits
    kind: tcp
    tcp: {address: "127.0.0.1:1"}
  - name: overrides
    kind: tcp
    timeout: 3s
    min_interval: 0s
    degraded_latency: 0s
    interval: 10s
    breaker: {failure_threshold: 5, open_jitter: 0}
    retry: {max_retries: 3, jitter: none}
    tcp: {address: "127.0.0.1:2"}
global:
  timeout: 4s
  min_interval: 2s
  degraded_latency: 3s
  breaker: {open_timeout: 1m, failure_rate: 0.25}
  retry: {base_delay: 50ms}
`), "overrides.yml")
	if err != nil {
		t.Fatal(err)
	}
	def := DefaultGlobal()
	g := cfg.Global
	wantBreaker := def.Breaker
	wantBreaker.OpenTimeout, wantBreaker.FailureRate = time.Minute, 0.25
	wantRetry := def.Retry
	wantRetry.BaseDelay = 50 * time.Millisecond
	if g.Timeout != 4*time.Second || g.MinInterval != 2*time.Second || g.DegradedLatency != 3*time.Second ||
		g.Breaker != wantBreaker || g.Retry != wantRetry {
		t.Errorf("global = %+v", g)
	}

	in := cfg.Dependencies[0]
	if in.Timeout != g.Timeout || in.MinInterval != g.MinInterval || in.DegradedLatency != g.DegradedLatency ||
		in.Breaker != g.Breaker || in.Retry != g.Retry {
		t.Errorf("inherits = %+v, want the global settings %+v", in, g)
	}

	over := cfg.Dependencies[1]
	mergedBreaker := wantBreaker
	mergedBreaker.FailureThreshold, mergedBreaker.OpenJitter = 5, 0
	mergedRetry := wantRetry
	mergedRetry.MaxRetries, mergedRetry.Jitter = 3, JitterNone
	if over.Timeout != 3*time.Second || over.MinInterval != 0 || over.DegradedLatency != 0 ||
		over.Interval != 10*time.Second || over.Breaker != mergedBreaker || over.Retry != mergedRetry {
		t.Errorf("overrides = %+v\nwant breaker %+v retry %+v", over, mergedBreaker, mergedRetry)
	}
}

// TestAnchors checks YAML anchors, aliases and merge keys, which let many
// dependencies share settings.
func TestAnchors(t *testing.T) {
	cfg, err := Parse([]byte(`
x-slow: &slow
  timeout: 10s
  degraded_latency: 5s
x-breaker: &breaker {failure_threshold: 7}
dependencies:
  - <<: *slow
    name: a
    kind: tcp
    breaker: *breaker
    tcp: {address: "127.0.0.1:1"}
  - <<: [*slow]
    name: b
    kind: tcp
    timeout: 6s
    tcp: {address: "127.0.0.1:2"}
`), "anchors.yml")
	if err == nil || err.Error() != `anchors.yml:2: unknown key "x-slow"` {
		t.Fatalf("top-level extension keys must be refused as unknown, got %v", err)
	}

	cfg, err = Parse([]byte(`
dependencies:
  - &a
    name: a
    kind: tcp
    timeout: 10s
    degraded_latency: 5s
    breaker: &breaker {failure_threshold: 7}
    tcp: {address: "127.0.0.1:1"}
  - <<: *a
    name: b
    timeout: 6s
  - <<: [*a]
    name: c
    breaker: *breaker
`), "anchors.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		timeout time.Duration
	}{{"a", 10 * time.Second}, {"b", 6 * time.Second}, {"c", 10 * time.Second}} {
		d, ok := cfg.Dependency(tc.name)
		if !ok {
			t.Fatalf("no dependency %s", tc.name)
		}
		if d.Timeout != tc.timeout || d.DegradedLatency != 5*time.Second || d.Breaker.FailureThreshold != 7 || d.TCP.Address != "127.0.0.1:1" {
			t.Errorf("%s = %+v", tc.name, d)
		}
	}
}

func TestUnmarshalYAML(t *testing.T) {
	var doc struct {
		Exporter Config `yaml:"exporter"`
	}
	err := yaml.Unmarshal([]byte("exporter:\n  dependencies:\n    - {name: db, kind: tcp, tcp: {address: \"127.0.0.1:5432\"}}\n"), &doc)
	if err != nil {
		t.Fatal(err)
	}
	if d := doc.Exporter.Dependencies; len(d) != 1 || d[0].Timeout != 5*time.Second || d[0].TCP.Address != "127.0.0.1:5432" {
		t.Errorf("decoded %+v", doc.Exporter)
	}

	err = yaml.Unmarshal([]byte("exporter:\n  dependencies:\n    - {name: db, kind: tcp, tcp: {adress: x}}\n"), &doc)
	if want := `line 3: dependencies[0] "db": tcp: unknown key "adress" (did you mean "address"?)`; err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
}

// TestRelativeFiles checks that file names resolve against the config
// file's directory, whatever the working directory.
func TestRelativeFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pw"), []byte("s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	data := []byte("dependencies:\n  - {name: r, kind: redis, redis: {url: \"redis://127.0.0.1\", password_file: pw}}\n")
	path := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Dependencies[0].Redis.Password.Value(); got != "s" {
		t.Errorf("password %q, want %q", got, "s")
	}
	if _, err := Parse(data, filepath.Join(dir, "other.yml")); err != nil {
		t.Errorf("Parse with a name in %s: %v", dir, err)
	}
}
