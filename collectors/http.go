package collectors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/health-exporter/health-exporter/config"
)

// maxBody bounds how much of a response an HTTP check reads.
const maxBody = 1 << 20

// httpCheck requests a health URL and judges the status code, and optionally
// the body (a regular expression, or a status field in a JSON document such as
// OpenSearch's cluster health).
type httpCheck struct {
	cfg    *config.HTTP
	client *http.Client
}

func newHTTPCheck(dc config.Dependency) (*httpCheck, error) {
	cfg := dc.HTTP
	tr := &http.Transport{
		Proxy:             http.ProxyFromEnvironment,
		DisableKeepAlives: true, // every check opens a connection, as a new client would
	}
	if cfg.TLS.Enabled || strings.HasPrefix(cfg.URL, "https:") {
		tc, err := cfg.TLS.Build()
		if err != nil {
			return nil, fmt.Errorf("building the TLS configuration: %w", err)
		}
		tr.TLSClientConfig = tc
	}
	client := &http.Client{Transport: tr}
	switch {
	case !cfg.FollowRedirects:
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	case hasCredentials(cfg.HTTPClient):
		client.CheckRedirect = keepCredentialsHome
	}
	return &httpCheck{cfg: cfg, client: client}, nil
}

// hasCredentials reports whether the check's requests carry secrets.
func hasCredentials(c config.HTTPClient) bool {
	return c.BasicAuth != nil || c.BearerToken != "" || len(c.HeaderFiles) > 0
}

// maxRedirects is net/http's own limit.
const maxRedirects = 10

// keepCredentialsHome follows a redirect only if it stays on the first
// request's host and port and does not go from https to http: net/http
// sends custom headers (headers_from_files) on every redirect, and
// Authorization to any port of the same host.
func keepCredentialsHome(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	first := via[0].URL
	switch {
	case first.Scheme == "https" && req.URL.Scheme != "https":
		return WithReason(ReasonUnexpectedResponse, errors.New("redirect from https to http refused: it would send the credentials in clear text"))
	case origin(req.URL) != origin(first):
		return WithReason(ReasonUnexpectedResponse, fmt.Errorf("redirect to %s refused: it would send the credentials to another host", origin(req.URL)))
	}
	return nil
}

// origin is a URL's host:port, with the scheme's default port.
func origin(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// Close releases the transport's resources.
func (c *httpCheck) Close() error {
	c.client.CloseIdleConnections()
	return nil
}

func (c *httpCheck) Check(ctx context.Context) Result {
	req, err := c.request(ctx)
	if err != nil {
		return Failure(ReasonError, "build request: "+describe(err))
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return errorResult("request", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return errorResult("read body", err)
	}
	return c.evaluate(resp.StatusCode, body)
}

func (c *httpCheck) request(ctx context.Context) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, c.cfg.Method, c.cfg.URL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "health-exporter")
	for k, v := range c.cfg.Headers {
		req.Header.Set(k, v)
	}
	for k, v := range c.cfg.HeaderFiles {
		req.Header.Set(k, string(v))
	}
	if ba := c.cfg.BasicAuth; ba != nil {
		req.SetBasicAuth(ba.Username, string(ba.Password))
	}
	if c.cfg.BearerToken != "" {
		req.Header.Set("Authorization", "Bearer "+string(c.cfg.BearerToken))
	}
	return req, nil
}

// evaluate judges a response; it does no I/O.
func (c *httpCheck) evaluate(code int, body []byte) Result {
	switch {
	case slices.Contains(c.cfg.DegradedStatus, code):
		return Degradation(ReasonUnexpectedResponse, fmt.Sprintf("status %d", code))
	case !c.expected(code):
		if code == http.StatusUnauthorized || code == http.StatusForbidden {
			return Failure(ReasonAuth, fmt.Sprintf("status %d", code))
		}
		return Failure(ReasonUnexpectedResponse, fmt.Sprintf("status %d", code))
	}
	if re := c.cfg.BodyRegexp; re != nil && !re.Match(body) {
		return Failure(ReasonUnexpectedResponse, fmt.Sprintf("status %d, body does not match %q", code, re.String()))
	}
	if js := c.cfg.JSONStatus; js != nil {
		return evaluateJSONStatus(js, body)
	}
	return Result{Detail: fmt.Sprintf("status %d", code)}
}

func (c *httpCheck) expected(code int) bool {
	if len(c.cfg.ExpectStatus) == 0 {
		return code >= 200 && code < 300
	}
	return slices.Contains(c.cfg.ExpectStatus, code)
}

// evaluateJSONStatus reads a status word from a JSON body (for example
// OpenSearch's green, yellow, red) and maps it to a status.
func evaluateJSONStatus(js *config.JSONStatus, body []byte) Result {
	word, err := jsonField(body, js.Field)
	if err != nil {
		return Failure(ReasonUnexpectedResponse, fmt.Sprintf("%s: %s", js.Field, describe(err)))
	}
	detail := fmt.Sprintf("%s is %q", js.Field, word)
	switch {
	case slices.Contains(js.Healthy, word):
		return Result{Detail: tidyDetail(detail)}
	case slices.Contains(js.Degraded, word):
		return Degradation(ReasonUnexpectedResponse, detail)
	}
	return Failure(ReasonUnexpectedResponse, detail)
}

// jsonField returns the value at a dotted path in a JSON document, as text.
func jsonField(body []byte, path string) (string, error) {
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", errors.New("body is not JSON")
	}
	for _, part := range strings.Split(path, ".") {
		obj, ok := doc.(map[string]any)
		if !ok {
			return "", fmt.Errorf("no field %q", part)
		}
		if doc, ok = obj[part]; !ok {
			return "", fmt.Errorf("no field %q", part)
		}
	}
	switch v := doc.(type) {
	case string:
		return v, nil
	case bool, float64:
		return fmt.Sprint(v), nil
	}
	return "", errors.New("not a string, number or boolean")
}
