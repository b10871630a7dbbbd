package config

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// HTTP configures an http check (YAML key http): a request whose status,
// and optionally body, say whether the dependency is healthy.
type HTTP struct {
	// URL is the http:// or https:// address to request (url). It must not
	// hold a password: use basic_auth.
	URL string
	// Method is the request method (method). Default GET.
	Method string
	// HTTPClient holds the headers, credentials, TLS and redirect settings.
	HTTPClient
	// ExpectStatus lists the statuses that mean healthy (expect_status).
	// Default (empty): any 2xx. See ExpectsStatus.
	ExpectStatus []int
	// DegradedStatus lists statuses that mean degraded (degraded_status),
	// e.g. 429. Default: none. Any other status means down.
	DegradedStatus []int
	// BodyRegexp, when set, must match the body for the check to pass
	// (body_regexp, RE2 syntax).
	BodyRegexp *regexp.Regexp
	// JSONStatus, when set, reads the status from a field of a JSON body
	// (json_status).
	JSONStatus *JSONStatus
}

// HTTPClient holds the request settings the http kind and the search
// kind's HTTP primary share.
type HTTPClient struct {
	// Headers are sent with every request (headers). Their values are not
	// treated as secrets: Authorization, Proxy-Authorization and Cookie are
	// refused here; put credentials in headers_from_files.
	Headers map[string]string
	// HeaderFiles are headers whose values are read from files
	// (headers_from_files: {Header: /path}), e.g. an API key.
	HeaderFiles map[string]Secret
	// BasicAuth sends HTTP basic authentication (basic_auth). Default: none.
	BasicAuth *BasicAuth
	// BearerToken is sent as "Authorization: Bearer <token>", read from
	// bearer_token_file or given by bearer_token (usually
	// "${API_TOKEN}"); exclusive with each other and with basic_auth.
	BearerToken Secret
	// TLS tunes TLS for https (tls); the URL's scheme decides whether TLS
	// is used.
	TLS TLS
	// FollowRedirects follows 3xx responses (follow_redirects). Default
	// true; when false a redirect's status is judged like any other.
	FollowRedirects bool
}

// BasicAuth is HTTP basic authentication (YAML key basic_auth).
type BasicAuth struct {
	// Username is the user (username), required.
	Username string
	// Password is read from password_file, or given by password (usually
	// "${ENV_VAR}"); exactly one of the two.
	Password Secret
}

// JSONStatus reads a dependency's own verdict out of a JSON body (YAML key
// json_status), e.g. Elasticsearch's _cluster/health "status".
type JSONStatus struct {
	// Field is the dotted path of the field (field), e.g. "status" or
	// "health.state". Numbers and booleans are compared as their JSON text.
	Field string
	// Healthy lists the values that mean healthy (healthy), required.
	Healthy []string
	// Degraded lists the values that mean degraded (degraded). Any other
	// value, or a missing field, means down.
	Degraded []string
}

// ExpectsStatus reports whether code means healthy: one of ExpectStatus,
// or any 2xx when ExpectStatus is empty.
func (h *HTTP) ExpectsStatus(code int) bool {
	if len(h.ExpectStatus) == 0 {
		return code >= 200 && code <= 299
	}
	for _, c := range h.ExpectStatus {
		if c == code {
			return true
		}
	}
	return false
}

var methods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions}

func (d *decoder) http(n *yaml.Node) (*HTTP, error) {
	h := &HTTP{Method: http.MethodGet, HTTPClient: HTTPClient{FollowRedirects: true}}
	var bodyRegexp string
	fs := fields{
		"url":             d.str(&h.URL),
		"method":          d.str(&h.Method, func(v string) string { return oneOf(methods...)(strings.ToUpper(v)) }),
		"expect_status":   listOf(d, &h.ExpectStatus, parseInt, statusCode),
		"degraded_status": listOf(d, &h.DegradedStatus, parseInt, statusCode),
		"body_regexp": d.str(&bodyRegexp, func(v string) string {
			if _, err := regexp.Compile(v); err != nil {
				return fmt.Sprintf("invalid regular expression: %v", err)
			}
			return ""
		}),
		"json_status": func(v *yaml.Node) error {
			var err error
			h.JSONStatus, err = d.jsonStatus(v)
			return err
		},
	}
	d.clientFields(&h.HTTPClient, fs)
	keys, err := d.mapping(n, fs)
	if err != nil {
		return nil, err
	}
	at := resolve(n)
	h.Method = strings.ToUpper(h.Method)
	if err := d.checkClient(&h.HTTPClient, keys, at, h.URL); err != nil {
		return nil, err
	}
	if keys["body_regexp"] != nil {
		h.BodyRegexp = regexp.MustCompile(bodyRegexp)
	}
	if h.Method == http.MethodHead && (h.BodyRegexp != nil || h.JSONStatus != nil) {
		return nil, keyErr(keys, "method", at, "a HEAD response has no body for body_regexp or json_status")
	}
	for _, c := range h.DegradedStatus {
		if h.ExpectsStatus(c) {
			return nil, keyErr(keys, "degraded_status", at, "status %d also means healthy (see expect_status)", c)
		}
	}
	return h, nil
}

func statusCode(v int) string {
	if v < 100 || v > 599 {
		return fmt.Sprintf("status must be from 100 to 599, got %d", v)
	}
	return ""
}

func (d *decoder) jsonStatus(n *yaml.Node) (*JSONStatus, error) {
	j := &JSONStatus{}
	keys, err := d.mapping(n, fields{
		"field": d.str(&j.Field, func(v string) string {
			for _, part := range strings.Split(v, ".") {
				if part == "" {
					return fmt.Sprintf("%q is not a dotted field path (e.g. status or health.state)", v)
				}
			}
			return ""
		}),
		"healthy":  listOf(d, &j.Healthy, parseString),
		"degraded": listOf(d, &j.Degraded, parseString),
	})
	if err != nil {
		return nil, err
	}
	at := resolve(n)
	switch {
	case keys["field"] == nil:
		return nil, errAt(at, "field is required")
	case len(j.Healthy) == 0:
		return nil, keyErr(keys, "healthy", at, "at least one healthy value is required")
	}
	for _, v := range j.Degraded {
		for _, h := range j.Healthy {
			if v == h {
				return nil, keyErr(keys, "degraded", at, "%q is also listed under healthy", v)
			}
		}
	}
	return j, nil
}

// clientFields adds the HTTPClient keys to fs.
func (d *decoder) clientFields(c *HTTPClient, fs fields) {
	fs["headers"] = stringMap(d, &c.Headers, plainHeader, parseString)
	fs["headers_from_files"] = stringMap(d, &c.HeaderFiles, headerName, d.readSecret)
	fs["basic_auth"] = func(v *yaml.Node) error {
		var err error
		c.BasicAuth, err = d.basicAuth(v)
		return err
	}
	fs["bearer_token"] = d.secret(&c.BearerToken)
	fs["bearer_token_file"] = d.secretFile(&c.BearerToken)
	fs["tls"] = d.tls(&c.TLS)
	fs["follow_redirects"] = d.boolean(&c.FollowRedirects)
}

// checkClient runs the HTTPClient's cross-field checks and the URL's.
func (d *decoder) checkClient(c *HTTPClient, keys map[string]*yaml.Node, at *yaml.Node, rawURL string) error {
	if keys["url"] == nil {
		return errAt(at, "url is required")
	}
	u, err := parseURL(rawURL)
	if err == nil && u.Scheme != "http" && u.Scheme != "https" {
		err = fmt.Errorf("unsupported scheme %q (want http or https)", u.Scheme)
	}
	if err == nil && u.Host == "" {
		err = fmt.Errorf("the URL names no host")
	}
	if errors.Is(err, errPasswordInURL) {
		return keyErr(keys, "url", at, "the URL holds a password: remove it and use basic_auth with password_file")
	}
	if err != nil {
		return keyErr(keys, "url", at, "%w", err)
	}
	if err := exclusive(keys, at, "bearer_token", "bearer_token_file"); err != nil {
		return err
	}
	if c.BasicAuth != nil && c.BearerToken != "" {
		key := "bearer_token"
		if keys[key] == nil {
			key = "bearer_token_file"
		}
		return keyErr(keys, key, at, "give basic_auth or a bearer token, not both")
	}
	if err := sameHeaderTwice(c.Headers); err != "" {
		return keyErr(keys, "headers", at, "%s", err)
	}
	if err := sameHeaderTwice(c.HeaderFiles); err != "" {
		return keyErr(keys, "headers_from_files", at, "%s", err)
	}
	for name := range c.HeaderFiles {
		for plain := range c.Headers {
			if strings.EqualFold(name, plain) {
				return keyErr(keys, "headers_from_files", at, "header %s is also set in headers", name)
			}
		}
		if (c.BasicAuth != nil || c.BearerToken != "") && strings.EqualFold(name, "Authorization") {
			return keyErr(keys, "headers_from_files", at, "header Authorization conflicts with basic_auth or the bearer token")
		}
	}
	if err := schemeTLS(&c.TLS, valueOf(at, "tls"), u.Scheme == "https", "https", false); err != nil {
		return keyErr(keys, "tls", at, "%w", err)
	}
	return nil
}

// sameHeaderTwice reports two names in m that are one header (header
// names are case-insensitive).
func sameHeaderTwice[T any](m map[string]T) string {
	seen := map[string]string{}
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		canonical := http.CanonicalHeaderKey(name)
		if prev, ok := seen[canonical]; ok {
			return fmt.Sprintf("%s and %s are the same header", prev, name)
		}
		seen[canonical] = name
	}
	return ""
}

// headerRE is an HTTP header field name (RFC 9110 token).
var headerRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

func headerName(v string) string {
	if !headerRE.MatchString(v) {
		return fmt.Sprintf("%q is not a valid header name", v)
	}
	return ""
}

// plainHeader refuses, in headers, the headers that carry credentials.
func plainHeader(v string) string {
	if msg := headerName(v); msg != "" {
		return msg
	}
	switch http.CanonicalHeaderKey(v) {
	case "Authorization", "Proxy-Authorization", "Cookie":
		return fmt.Sprintf("header %s carries credentials: use basic_auth, bearer_token_file or headers_from_files", http.CanonicalHeaderKey(v))
	}
	return ""
}

func (d *decoder) basicAuth(n *yaml.Node) (*BasicAuth, error) {
	b := &BasicAuth{}
	keys, err := d.mapping(n, fields{
		"username":      d.str(&b.Username, nonEmpty),
		"password":      d.secret(&b.Password),
		"password_file": d.secretFile(&b.Password),
	})
	if err != nil {
		return nil, err
	}
	at := resolve(n)
	if err := exclusive(keys, at, "password", "password_file"); err != nil {
		return nil, err
	}
	switch {
	case keys["username"] == nil:
		return nil, errAt(at, "username is required")
	case keys["password"] == nil && keys["password_file"] == nil:
		return nil, errAt(at, "password_file (or password) is required")
	}
	return b, nil
}

// urlEndpoint returns a URL's host:port, with the scheme's default port.
func urlEndpoint(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	if u.Scheme == "https" {
		return withPort(u, "443")
	}
	return withPort(u, "80")
}
