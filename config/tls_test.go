package config

import (
	"crypto/tls"
	"errors"
	"io/fs"
	"testing"
)

func TestTLSBuild(t *testing.T) {
	cfg, err := Load("testdata/full.yml")
	if err != nil {
		t.Fatal(err)
	}
	vector, _ := cfg.Dependency("vector_db")
	c, err := vector.HTTP.TLS.Build()
	if err != nil {
		t.Fatal(err)
	}
	if c.RootCAs == nil || len(c.Certificates) != 1 || c.MinVersion != tls.VersionTLS12 || c.InsecureSkipVerify {
		t.Errorf("vector_db TLS config: roots %v, %d certificates, min version %x", c.RootCAs, len(c.Certificates), c.MinVersion)
	}

	mq, _ := cfg.Dependency("message_queue")
	c, err = mq.Redis.TLS.Build()
	if err != nil {
		t.Fatal(err)
	}
	if !mq.Redis.TLS.Enabled || c.ServerName != "redis.internal" || c.RootCAs == nil || len(c.Certificates) != 0 {
		t.Errorf("message_queue TLS config: %+v", mq.Redis.TLS)
	}

	// Without settings, Build gives the system defaults.
	c, err = TLS{}.Build()
	if err != nil || c.RootCAs != nil || c.MinVersion != tls.VersionTLS12 {
		t.Errorf("TLS{}.Build() = %+v, %v", c, err)
	}

	// Build reads the files again: a file gone since the load is an error.
	_, err = TLS{Enabled: true, CAFile: "testdata/tls/gone.crt"}.Build()
	if !errors.Is(err, fs.ErrNotExist) || err.Error() != "reading CA file: open testdata/tls/gone.crt: no such file or directory" {
		t.Errorf("Build with a missing CA file: %v", err)
	}
	_, err = TLS{Enabled: true, CertFile: "testdata/tls/client.crt", KeyFile: "testdata/tls/gone.key"}.Build()
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Build with a missing key file: %v", err)
	}
}

func TestTLSEnabled(t *testing.T) {
	cfg, err := Parse([]byte(`
dependencies:
  - {name: plain_tcp, kind: tcp, tcp: {address: "127.0.0.1:1"}}
  - {name: tls_tcp, kind: tcp, tcp: {address: "127.0.0.1:2", tls: {}}}
  - {name: off_tcp, kind: tcp, tcp: {address: "127.0.0.1:3", tls: {enabled: false}}}
  - {name: sentinel_tls, kind: redis, redis: {addrs: ["127.0.0.1:4"], tls: {server_name: r}}}
  - {name: rediss, kind: redis, redis: {url: "rediss://127.0.0.1:5"}}
  - {name: https, kind: http, http: {url: "https://127.0.0.1:6/"}}
  - {name: http_redirects, kind: http, http: {url: "http://127.0.0.1:7/", tls: {insecure_skip_verify: true}}}
`), "tls.yml")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{
		"plain_tcp": false, "tls_tcp": true, "off_tcp": false, "sentinel_tls": true,
		"rediss": true, "https": true, "http_redirects": false,
	}
	for _, d := range cfg.Dependencies {
		var got TLS
		switch {
		case d.TCP != nil:
			got = d.TCP.TLS
		case d.Redis != nil:
			got = d.Redis.TLS
		case d.HTTP != nil:
			got = d.HTTP.TLS
		}
		if got.Enabled != want[d.Name] {
			t.Errorf("%s: TLS.Enabled = %v, want %v", d.Name, got.Enabled, want[d.Name])
		}
	}
	if h, _ := cfg.Dependency("http_redirects"); !h.HTTP.TLS.InsecureSkipVerify {
		t.Errorf("http_redirects lost its TLS settings")
	}
}
