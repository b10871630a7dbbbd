// Package config loads health-exporter's YAML configuration: the
// dependencies to check and how (timeouts, breakers, retries, per-kind
// settings), with secrets read from files or the environment.
//
// Decoding is strict — an unknown key is an error — and every error is one
// line naming the file, the line and the setting. Defaults apply first
// globally, then per dependency: any global key can be overridden by a
// dependency, and a partial breaker or retry block merges field by field
// with the global one. ${VAR} and ${VAR:-default} in values are expanded
// from the environment, scalar by scalar. Secret files are read on every
// load, so a reload picks up rotated credentials.
//
// See docs/configuration.md for the full reference.
package config

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"
)

// The dependency kinds.
const (
	KindRedis    = "redis"
	KindPostgres = "postgres"
	KindHTTP     = "http"
	KindTCP      = "tcp"
	KindSearch   = "search"
)

// The retry jitter policies (Retry.Jitter).
const (
	JitterNone         = "none"
	JitterFull         = "full"
	JitterEqual        = "equal"
	JitterDecorrelated = "decorrelated"
)

// Config is a loaded configuration.
type Config struct {
	// Global holds the defaults every dependency inherits (global).
	Global Global
	// Dependencies are the dependencies to check, in file order, with
	// Global applied (dependencies). At least one.
	Dependencies []Dependency
	// Path is the file the configuration came from; "" for Default.
	Path string
}

// Global holds the settings every dependency inherits unless it sets its
// own (YAML key global).
type Global struct {
	// Timeout bounds each check (timeout); the scrape's own budget can
	// shorten it. Default 5s.
	Timeout time.Duration
	// MinInterval is how young a result may be to be reused instead of
	// checking again (min_interval). Default 1s; 0 only coalesces
	// concurrent scrapes.
	MinInterval time.Duration
	// DegradedLatency marks a successful check slower than this degraded,
	// reason slow (degraded_latency). Default 1s; 0 turns it off. Must be
	// less than Timeout.
	DegradedLatency time.Duration
	// Breaker is the circuit breaker in front of each check (breaker).
	Breaker Breaker
	// Retry is how a failed check is retried within its timeout (retry).
	Retry Retry
}

// Breaker configures a dependency's circuit breaker (YAML key breaker).
type Breaker struct {
	// FailureThreshold opens the breaker after this many consecutive
	// failures (failure_threshold). Default 3, at least 1.
	FailureThreshold uint32
	// FailureRate opens the breaker when the share of failures over Window
	// exceeds it, once MinimumCalls were seen (failure_rate). Default 0:
	// off; otherwise in (0, 1].
	FailureRate float64
	// MinimumCalls is the number of calls in Window before FailureRate
	// applies (minimum_calls). Default 10, at least 1.
	MinimumCalls uint32
	// Window is the rolling window of FailureRate (window). Default 60s.
	Window time.Duration
	// OpenTimeout is how long the breaker stays open before letting a
	// probe through (open_timeout). Default 30s.
	OpenTimeout time.Duration
	// OpenJitter randomises OpenTimeout by up to this fraction
	// (open_jitter), so that many exporters do not probe at once.
	// Default 0.1, in [0, 1).
	OpenJitter float64
	// HalfOpenMaxCalls is how many probes the half-open breaker lets
	// through, and how many successes close it (half_open_max_calls).
	// Default 1.
	HalfOpenMaxCalls uint32
}

// Retry configures how a failed check is retried (YAML key retry). Retries
// run within the check's timeout.
type Retry struct {
	// MaxRetries is the number of retries after the first attempt
	// (max_retries). Default 0: no retry.
	MaxRetries int
	// BaseDelay is the wait before the first retry (base_delay).
	// Default 100ms.
	BaseDelay time.Duration
	// MaxDelay caps each wait (max_delay). Default 1s, at least BaseDelay.
	MaxDelay time.Duration
	// Factor multiplies the wait after each retry (factor). Default 2, at
	// least 1.
	Factor float64
	// Jitter randomises the waits (jitter): none, full, equal or
	// decorrelated. Default full.
	Jitter string
}

// Dependency is one dependency to check, with the global defaults applied.
// Exactly one of Redis, Postgres, HTTP, TCP and Search is set: the one
// named by Kind.
type Dependency struct {
	// Name identifies the dependency in metrics (the dependency label) and
	// in /health (name). It matches ^[a-z_][a-z0-9_]*$ and is unique.
	Name string
	// Kind is redis, postgres, http, tcp or search (kind).
	Kind string
	// Timeout, MinInterval and DegradedLatency are the global ones unless
	// the dependency sets its own.
	Timeout, MinInterval, DegradedLatency time.Duration
	// Interval, when not 0, checks the dependency in the background at this
	// interval instead of at scrape time (interval). Default 0. At least 1s
	// and at least Timeout.
	Interval time.Duration
	// Breaker and Retry are the global ones with the dependency's own
	// fields merged over them.
	Breaker Breaker
	Retry   Retry

	// Redis, Postgres, HTTP, TCP and Search hold the kind's settings (the
	// redis, postgres, http, tcp or search block); only Kind's is set.
	Redis    *Redis
	Postgres *Postgres
	HTTP     *HTTP
	TCP      *TCP
	Search   *Search

	// Line is where the dependency starts in the file, for messages.
	Line int
}

// Endpoint returns what the dependency targets, for the endpoint label:
// host:port (with the kind's default port filled in), or a socket path —
// never credentials. For a Redis cluster or Sentinel, the first address;
// for search, the primary's.
func (d *Dependency) Endpoint() string {
	switch {
	case d.Redis != nil:
		return d.Redis.endpoint()
	case d.Postgres != nil:
		return postgresEndpoint(d.Postgres.DSN)
	case d.HTTP != nil:
		return urlEndpoint(d.HTTP.URL)
	case d.TCP != nil:
		return d.TCP.Address
	case d.Search != nil && d.Search.Primary.HTTP != nil:
		return urlEndpoint(d.Search.Primary.HTTP.URL)
	}
	return ""
}

// Dependency returns the dependency called name.
func (c *Config) Dependency(name string) (*Dependency, bool) {
	for i := range c.Dependencies {
		if c.Dependencies[i].Name == name {
			return &c.Dependencies[i], true
		}
	}
	return nil, false
}

// DefaultGlobal returns the global settings used where the file sets none.
func DefaultGlobal() Global {
	return Global{
		Timeout:         5 * time.Second,
		MinInterval:     time.Second,
		DegradedLatency: time.Second,
		Breaker: Breaker{
			FailureThreshold: 3,
			MinimumCalls:     10,
			Window:           60 * time.Second,
			OpenTimeout:      30 * time.Second,
			OpenJitter:       0.1,
			HalfOpenMaxCalls: 1,
		},
		Retry: Retry{
			BaseDelay: 100 * time.Millisecond,
			MaxDelay:  time.Second,
			Factor:    2,
			Jitter:    JitterFull,
		},
	}
}

//go:embed default.yml
var defaultYAML []byte

// defaultName names the embedded default in error messages.
const defaultName = "default config"

// Load reads and validates the configuration file at path, resolving
// relative file names in it against the file's directory. Secret files are
// read now, on every call.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config file: %w", err)
	}
	return Parse(data, path)
}

// Parse decodes and validates a configuration. name labels error messages
// and becomes Config.Path; relative file names in the configuration are
// resolved against its directory.
func Parse(data []byte, name string) (*Config, error) {
	dir := ""
	if name != "" {
		dir = filepath.Dir(name)
	}
	cfg, err := parse(data, name, &decoder{dir: dir, lookupEnv: os.LookupEnv, readFile: os.ReadFile})
	if err != nil {
		return nil, err
	}
	cfg.Path = name
	return cfg, nil
}

// Default returns the embedded default configuration: the message_queue
// (Redis), storage and vector_db (HTTP), search and database (PostgreSQL)
// dependencies, their addresses taken from REDIS_URL, STORAGE_HEALTH_URL,
// VECTOR_DB_HEALTH_URL, SEARCH_URL and DATABASE_URL, or local defaults.
// DefaultYAML returns its text.
func Default() (*Config, error) {
	return parse(defaultYAML, defaultName, &decoder{lookupEnv: os.LookupEnv, readFile: os.ReadFile})
}

// DefaultYAML returns the text of the embedded default configuration.
func DefaultYAML() []byte { return bytes.Clone(defaultYAML) }

// UnmarshalYAML decodes c strictly with defaults applied, as Parse does,
// so that a Config can be embedded in another YAML document. Relative file
// names resolve against the working directory.
func (c *Config) UnmarshalYAML(n *yaml.Node) error {
	d := &decoder{lookupEnv: os.LookupEnv, readFile: os.ReadFile}
	cfg, err := d.config(n)
	if err != nil {
		return err
	}
	*c = *cfg
	return nil
}

// yamlLineRE picks the line out of a yaml.v3 syntax error.
var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func parse(data []byte, name string, d *decoder) (*Config, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		e := &Error{File: name, Msg: err.Error()}
		if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
			e.Line, _ = strconv.Atoi(m[1])
			e.Msg = m[2]
		}
		return nil, e
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		e := &Error{File: name, Msg: "a config file holds one YAML document"}
		if err == nil {
			e.Line = extra.Line
		}
		return nil, e
	}
	cfg, err := d.config(&doc)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.File = name
		}
		return nil, err
	}
	return cfg, nil
}
