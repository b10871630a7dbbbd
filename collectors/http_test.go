package collectors

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/health-exporter/health-exporter/config"
)

func httpDep(url string, h *config.HTTP) config.Dependency {
	d := dep("storage")
	d.Kind, d.TCP = "http", nil
	if h == nil {
		h = &config.HTTP{}
	}
	h.URL = url
	if h.Method == "" {
		h.Method = http.MethodGet
	}
	d.HTTP = h
	return d
}

func runHTTPCheck(t *testing.T, d config.Dependency, timeout time.Duration) Result {
	t.Helper()
	c, err := newHTTPCheck(d)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return c.Check(ctx)
}

func TestHTTPCheckStatus(t *testing.T) {
	code := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) }))
	defer srv.Close()

	tests := []struct {
		name   string
		code   int
		cfg    config.HTTP
		status Status
		reason Reason
	}{
		{"2xx by default", 204, config.HTTP{}, Healthy, ReasonNone},
		{"5xx is down", 503, config.HTTP{}, Down, ReasonUnexpectedResponse},
		{"listed degraded status", 429, config.HTTP{DegradedStatus: []int{429}}, Degraded, ReasonUnexpectedResponse},
		{"explicit expected status", 418, config.HTTP{ExpectStatus: []int{418}}, Healthy, ReasonNone},
		{"200 not in expected list", 200, config.HTTP{ExpectStatus: []int{204}}, Down, ReasonUnexpectedResponse},
		{"401 is auth", 401, config.HTTP{}, Down, ReasonAuth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code = tt.code
			cfg := tt.cfg
			res := runHTTPCheck(t, httpDep(srv.URL, &cfg), 2*time.Second)
			if res.Status != tt.status || res.Reason != tt.reason {
				t.Fatalf("status %d: got %s/%s (%s)", tt.code, res.Status, res.Reason, res.Detail)
			}
		})
	}
}

func TestHTTPCheckBody(t *testing.T) {
	body := `{"cluster_name":"search","status":"green"}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(body)) }))
	defer srv.Close()
	openSearch := &config.JSONStatus{Field: "status", Healthy: []string{"green"}, Degraded: []string{"yellow"}}

	tests := []struct {
		body   string
		cfg    config.HTTP
		status Status
	}{
		{`{"status":"green"}`, config.HTTP{JSONStatus: openSearch}, Healthy},
		{`{"status":"yellow"}`, config.HTTP{JSONStatus: openSearch}, Degraded},
		{`{"status":"red"}`, config.HTTP{JSONStatus: openSearch}, Down},
		{`not json`, config.HTTP{JSONStatus: openSearch}, Down},
		{`{"health":{"ok":true}}`, config.HTTP{JSONStatus: &config.JSONStatus{Field: "health.ok", Healthy: []string{"true"}}}, Healthy},
		{`{"title":"qdrant - vector search engine"}`, config.HTTP{BodyRegexp: regexp.MustCompile(`qdrant`)}, Healthy},
		{`all good`, config.HTTP{BodyRegexp: regexp.MustCompile(`^OK$`)}, Down},
	}
	for _, tt := range tests {
		body = tt.body
		cfg := tt.cfg
		res := runHTTPCheck(t, httpDep(srv.URL, &cfg), 2*time.Second)
		if res.Status != tt.status {
			t.Errorf("body %s: got %s/%s (%s), want %s", tt.body, res.Status, res.Reason, res.Detail, tt.status)
		}
	}
}

func TestHTTPCheckSendsCredentials(t *testing.T) {
	var gotAuth, gotKey string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth, gotKey = r.Header.Get("Authorization"), r.Header.Get("X-Api-Key")
	}))
	defer srv.Close()

	res := runHTTPCheck(t, httpDep(srv.URL, &config.HTTP{HTTPClient: config.HTTPClient{
		BearerToken: "t0ken",
		HeaderFiles: map[string]config.Secret{"X-Api-Key": "k3y"},
	}}), 2*time.Second)
	if res.Status != Healthy || gotAuth != "Bearer t0ken" || gotKey != "k3y" {
		t.Fatalf("bearer: %+v auth=%q key=%q", res, gotAuth, gotKey)
	}
	res = runHTTPCheck(t, httpDep(srv.URL, &config.HTTP{HTTPClient: config.HTTPClient{BasicAuth: &config.BasicAuth{Username: "minio", Password: "s3cret"}}}), 2*time.Second)
	if res.Status != Healthy || gotAuth != "Basic bWluaW86czNjcmV0" {
		t.Fatalf("basic: %+v auth=%q", res, gotAuth)
	}
}

func TestHTTPCheckHangingServerTimesOut(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer srv.Close()
	res := runHTTPCheck(t, httpDep(srv.URL+"/minio/health/live", nil), 50*time.Millisecond)
	if res.Status != Down || res.Reason != ReasonTimeout {
		t.Fatalf("hanging server: %+v", res)
	}
}

func TestHTTPCheckRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	res := runHTTPCheck(t, httpDep(url, nil), 2*time.Second)
	if res.Status != Down || res.Reason != ReasonRefused {
		t.Fatalf("closed port: %+v", res)
	}
}

func TestHTTPCheckTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()

	res := runHTTPCheck(t, httpDep(srv.URL, nil), 2*time.Second)
	if res.Status != Down || res.Reason != ReasonTLS {
		t.Fatalf("unknown CA: %+v", res)
	}
	ca := writeCA(t, srv)
	res = runHTTPCheck(t, httpDep(srv.URL, &config.HTTP{HTTPClient: config.HTTPClient{TLS: config.TLS{Enabled: true, CAFile: ca}}}), 2*time.Second)
	if res.Status != Healthy {
		t.Fatalf("trusted CA: %+v", res)
	}
}

// writeCA writes the test server's certificate as a CA file.
func writeCA(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	block := &pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestHTTPCheckClientCertificateRequired: the server refuses the handshake
// with a TLS alert because no client certificate was sent.
func TestHTTPCheckClientCertificateRequired(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	srv.StartTLS()
	defer srv.Close()

	res := runHTTPCheck(t, httpDep(srv.URL, &config.HTTP{HTTPClient: config.HTTPClient{TLS: config.TLS{Enabled: true, CAFile: writeCA(t, srv)}}}), 2*time.Second)
	if res.Status != Down || res.Reason != ReasonTLS || !strings.Contains(res.Detail, "certificate") {
		t.Fatalf("server requiring a client certificate: %+v", res)
	}
}

// TestHTTPCheckRedirectsWithCredentials: a check that carries credentials
// follows redirects only on its own host and never from https to http.
func TestHTTPCheckRedirectsWithCredentials(t *testing.T) {
	var mu sync.Mutex
	var elsewhere []string // what the other host received
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		elsewhere = append(elsewhere, r.Header.Get("X-Api-Key")+r.Header.Get("Authorization"))
	}))
	defer other.Close()
	var gotKey string
	home := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, other.URL+"/health", http.StatusFound)
		case "/moved":
			http.Redirect(w, r, "/health", http.StatusMovedPermanently)
		case "/health":
			mu.Lock()
			gotKey = r.Header.Get("X-Api-Key")
			mu.Unlock()
		}
	}))
	defer home.Close()
	secure := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://"+r.Host+"/health", http.StatusFound)
	}))
	defer secure.Close()

	withKey := func() config.HTTPClient {
		return config.HTTPClient{FollowRedirects: true, HeaderFiles: map[string]config.Secret{"X-Api-Key": "k3y"}}
	}
	withBearer := config.HTTPClient{FollowRedirects: true, BearerToken: "t0ken"}
	withBasic := config.HTTPClient{FollowRedirects: true, BasicAuth: &config.BasicAuth{Username: "u", Password: "p"}}
	tlsBearer := withBearer
	tlsBearer.TLS = config.TLS{Enabled: true, CAFile: writeCA(t, secure)}
	noFollow := withKey()
	noFollow.FollowRedirects = false

	tests := []struct {
		name   string
		url    string
		client config.HTTPClient
		status Status
		reason Reason
		detail string
	}{
		{"header file, another host", home.URL + "/away", withKey(), Down, ReasonUnexpectedResponse, "refused: it would send the credentials to another host"},
		{"bearer token, another host", home.URL + "/away", withBearer, Down, ReasonUnexpectedResponse, "another host"},
		{"basic auth, another host", home.URL + "/away", withBasic, Down, ReasonUnexpectedResponse, "another host"},
		{"https to http", secure.URL + "/", tlsBearer, Down, ReasonUnexpectedResponse, "redirect from https to http refused"},
		{"same host", home.URL + "/moved", withKey(), Healthy, ReasonNone, "status 200"},
		{"no credentials, another host", home.URL + "/away", config.HTTPClient{FollowRedirects: true}, Healthy, ReasonNone, "status 200"},
		{"not following", home.URL + "/away", noFollow, Down, ReasonUnexpectedResponse, "status 302"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			elsewhere, gotKey = nil, ""
			mu.Unlock()
			res := runHTTPCheck(t, httpDep(tt.url, &config.HTTP{HTTPClient: tt.client}), 2*time.Second)
			if res.Status != tt.status || res.Reason != tt.reason || !strings.Contains(res.Detail, tt.detail) {
				t.Fatalf("got %+v, want %s/%s with %q", res, tt.status, tt.reason, tt.detail)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, h := range elsewhere {
				if h != "" {
					t.Errorf("credentials reached the other host: %q", h)
				}
			}
		})
	}
	runHTTPCheck(t, httpDep(home.URL+"/moved", &config.HTTP{HTTPClient: withKey()}), 2*time.Second)
	mu.Lock()
	defer mu.Unlock()
	if gotKey != "k3y" {
		t.Errorf("a redirect on the same host lost the header: %q", gotKey)
	}
}
