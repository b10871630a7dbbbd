package config

import (
	"testing"
	"time"
)

func TestExpand(t *testing.T) {
	env := map[string]string{"A": "a", "B": "b", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }

	tests := []struct {
		in, want, err string
	}{
		{in: "plain", want: "plain"},
		{in: "${A}", want: "a"},
		{in: "x${A}y${B}z", want: "xaybz"},
		{in: "${UNSET}", want: ""},
		{in: "${UNSET:-redis://127.0.0.1:6379/0}", want: "redis://127.0.0.1:6379/0"},
		{in: "${EMPTY:-fallback}", want: "fallback"},
		{in: "${A:-fallback}", want: "a"},
		{in: "${UNSET:-}", want: ""},
		{in: "${A:?needed}", want: "a"},
		{in: "$$", want: "$"},
		{in: "$${A}", want: "${A}"},
		{in: "pa$$word", want: "pa$word"},
		{in: "pa$word", want: "pa$word"},
		{in: "trailing$", want: "trailing$"},
		{in: "$A", want: "$A"},
		{in: "${UNSET:?set it to the queue's URL}", err: "environment variable UNSET is not set: set it to the queue's URL"},
		{in: "${EMPTY:?}", err: "environment variable EMPTY is not set: required"},
		{in: "s3cr${et", err: `unterminated "${": write "$$" for a literal "$"`},
		{in: "${}", err: `invalid environment reference: want ${NAME}, ${NAME:-default} or ${NAME:?message}; write "$$" for a literal "$"`},
		{in: "${1A}", err: `invalid environment reference: want ${NAME}, ${NAME:-default} or ${NAME:?message}; write "$$" for a literal "$"`},
		{in: "${A-x}", err: `invalid environment reference: want ${NAME}, ${NAME:-default} or ${NAME:?message}; write "$$" for a literal "$"`},
		{in: "${A:+x}", err: "invalid environment reference to A: want ${A}, ${A:-default} or ${A:?message}"},
	}
	for _, tc := range tests {
		got, err := expand(tc.in, lookup)
		switch {
		case tc.err != "" && (err == nil || err.Error() != tc.err):
			t.Errorf("expand(%q) error %v, want %q", tc.in, err, tc.err)
		case tc.err == "" && err != nil:
			t.Errorf("expand(%q) error %v", tc.in, err)
		case tc.err == "" && got != tc.want:
			t.Errorf("expand(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestEnvInConfig checks expansion per scalar: typed values, secrets,
// no effect on comments or keys.
func TestEnvInConfig(t *testing.T) {
	t.Setenv("HE_TIMEOUT", "3s")
	t.Setenv("HE_LIMIT", "25")
	t.Setenv("HE_URL", "http://127.0.0.1:8080/health")
	t.Setenv("HE_TOKEN", "env-planted-token")
	t.Setenv("HE_UNSET", "")
	cfg, err := Parse([]byte(`
# A comment may say $HOME, ${NOT_A_REFERENCE or cost $5: comments are not expanded.
dependencies:
  - name: api
    kind: http
    timeout: ${HE_TIMEOUT}
    http:
      url: ${HE_URL}
      bearer_token: "${HE_TOKEN}"
      body_regexp: "^ok$$"
      headers:
        X-Price: "$$5 ${HE_UNSET:-each}"
  - name: search
    kind: search
    search:
      query: "${HE_UNSET:-onboarding}"
      limit: ${HE_LIMIT}
      primary: {http: {url: "http://127.0.0.1:9200"}}
`), "env.yml")
	if err != nil {
		t.Fatal(err)
	}
	api := cfg.Dependencies[0]
	if api.Timeout != 3*time.Second {
		t.Errorf("timeout %s, want 3s", api.Timeout)
	}
	if api.HTTP.URL != "http://127.0.0.1:8080/health" {
		t.Errorf("url %q", api.HTTP.URL)
	}
	if api.HTTP.BearerToken.Value() != "env-planted-token" {
		t.Errorf("bearer token not taken from the environment")
	}
	if api.HTTP.BodyRegexp.String() != "^ok$" {
		t.Errorf("body_regexp %q, want ^ok$", api.HTTP.BodyRegexp)
	}
	if got := api.HTTP.Headers["X-Price"]; got != "$5 each" {
		t.Errorf("header %q, want %q", got, "$5 each")
	}
	s := cfg.Dependencies[1].Search
	if s.Query != "onboarding" || s.Limit != 25 {
		t.Errorf("search %+v", s)
	}

	// Keys are never expanded.
	_, err = Parse([]byte("dependencies:\n  - name: db\n    kind: tcp\n    ${HE_TIMEOUT}: 1s\n    tcp: {address: \"127.0.0.1:1\"}\n"), "key.yml")
	if want := `key.yml:4: dependencies[0] "db": unknown key "${HE_TIMEOUT}"`; err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
}
