package search

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ErrBadResponse is wrapped by the errors of an HTTP search whose reply is
// not a search result: not JSON, no hits, a hit without an id, or a search
// the engine says timed out.
var ErrBadResponse = errors.New("search engine gave an unexpected response")

// StatusError is the error of an HTTP search answered with a status other
// than 2xx.
type StatusError struct {
	Code int
	// Body is the start of the response body, for the error message.
	Body string
}

// Error reads "status 503: <start of the body>".
func (e *StatusError) Error() string {
	if e.Body == "" {
		return fmt.Sprintf("status %d", e.Code)
	}
	return fmt.Sprintf("status %d: %s", e.Code, e.Body)
}

// HTTPOptions configures an HTTP searcher. Zero values mean the defaults.
type HTTPOptions struct {
	// URL is the engine's base URL, e.g. http://127.0.0.1:9200. Required.
	// It must not hold credentials: use Username and Password, or BearerToken.
	URL string
	// Index is the index (or alias, or comma-separated list) to search.
	// Required.
	Index string
	// Fields are the fields the query text is matched against, with
	// optional boosts. Default ["name^2", "description"].
	Fields []string
	// TenantField is the keyword field a term filter restricts to the
	// query's tenant. Default "tenant_id"; "-" for an index without tenants.
	TenantField string
	// NameField, DescriptionField and UpdatedField are the _source fields
	// read into a Workflow. Defaults "name", "description", "updated_at"
	// (an RFC 3339 date or epoch milliseconds). The workflow's ID is the
	// hit's _id.
	NameField, DescriptionField, UpdatedField string

	// Headers are sent with every request.
	Headers map[string]string
	// Username and Password, when Username is set, are sent as HTTP basic
	// authentication.
	Username, Password string
	// BearerToken, when set, is sent as "Authorization: Bearer <token>".
	BearerToken string
	// Client sends the requests. Default: a client with its own transport
	// and no timeout of its own (the context's deadline bounds a search).
	Client *http.Client
	// MaxBodyBytes bounds how much of a response is read. Default 4 MiB.
	MaxBodyBytes int64
}

// HTTP searches an engine with an OpenSearch- or Elasticsearch-compatible
// _search API: a multi_match query over the configured fields, a term
// filter on the tenant, size = limit. It is safe for concurrent use.
type HTTP struct {
	endpoint string
	opts     HTTPOptions
	client   *http.Client
}

var _ Searcher = (*HTTP)(nil)

// NewHTTP returns an HTTP searcher. It fails on a missing or malformed URL,
// a URL holding credentials, or a missing index.
func NewHTTP(opts HTTPOptions) (*HTTP, error) {
	u, err := url.Parse(opts.URL)
	switch {
	case err != nil:
		return nil, fmt.Errorf("search http: url: %w", errors.Unwrap(err))
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("search http: url: scheme %q is not http or https", u.Scheme)
	case u.Host == "":
		return nil, errors.New("search http: url names no host")
	case u.User != nil:
		return nil, errors.New("search http: url holds credentials: use Username and Password, or BearerToken")
	case strings.TrimSpace(opts.Index) == "" || strings.ContainsAny(opts.Index, "/?#"):
		return nil, fmt.Errorf("search http: index %q is empty or holds / ? #", opts.Index)
	}
	if len(opts.Fields) == 0 {
		opts.Fields = []string{"name^2", "description"}
	}
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	def(&opts.TenantField, "tenant_id")
	def(&opts.NameField, "name")
	def(&opts.DescriptionField, "description")
	def(&opts.UpdatedField, "updated_at")
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 4 << 20
	}
	client := opts.Client
	if client == nil {
		client = &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: 4}}
	}
	endpoint := strings.TrimSuffix(u.String(), "/") + "/" + url.PathEscape(opts.Index) + "/_search"
	return &HTTP{endpoint: endpoint, opts: opts, client: client}, nil
}

// Close closes the client's idle connections.
func (h *HTTP) Close() error {
	h.client.CloseIdleConnections()
	return nil
}

// Search asks the engine and returns its hits, best first, with _score as
// the Score.
func (h *HTTP) Search(ctx context.Context, q Query) ([]Workflow, error) {
	q, err := q.Normalize()
	if err != nil {
		return nil, fmt.Errorf("search http: %w", err)
	}
	tenants := h.opts.TenantField != "-"
	if tenants && q.Tenant == "" {
		return nil, fmt.Errorf("search http: %w", errNoTenant)
	}
	if !tenants && q.Tenant != "" {
		return nil, fmt.Errorf("search http: %w", errNoTenants)
	}
	body, err := json.Marshal(h.requestBody(q, tenants))
	if err != nil {
		return nil, fmt.Errorf("search http: encode request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("search http: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "health-exporter")
	for k, v := range h.opts.Headers {
		req.Header.Set(k, v)
	}
	if h.opts.Username != "" {
		req.SetBasicAuth(h.opts.Username, h.opts.Password)
	}
	if h.opts.BearerToken != "" {
		req.Header.Set("Authorization", "Bearer "+h.opts.BearerToken)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("search http: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// Only the start of the body goes into the error. The rest is not
		// read: closing the body drops the connection rather than wait for
		// a large or slow error page.
		data, _ := io.ReadAll(io.LimitReader(resp.Body, errorBodyBytes))
		return nil, fmt.Errorf("search http: %w", &StatusError{Code: resp.StatusCode, Body: snippet(data)})
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, h.opts.MaxBodyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("search http: read response: %w", err)
	}
	if int64(len(data)) > h.opts.MaxBodyBytes {
		return nil, fmt.Errorf("search http: %w: response larger than %d bytes", ErrBadResponse, h.opts.MaxBodyBytes)
	}
	ws, err := h.parse(data)
	if err != nil {
		return nil, fmt.Errorf("search http: %w", err)
	}
	return ws, nil
}

func (h *HTTP) requestBody(q Query, tenants bool) map[string]any {
	boolQuery := map[string]any{
		"must": map[string]any{"multi_match": map[string]any{"query": q.Text, "fields": h.opts.Fields}},
	}
	if tenants {
		boolQuery["filter"] = []any{map[string]any{"term": map[string]any{h.opts.TenantField: q.Tenant}}}
	}
	return map[string]any{
		"size":    q.Limit,
		"query":   map[string]any{"bool": boolQuery},
		"_source": []string{h.opts.NameField, h.opts.DescriptionField, h.opts.UpdatedField},
	}
}

// searchResponse is the part of a _search response that is read.
type searchResponse struct {
	TimedOut bool `json:"timed_out"`
	Hits     *struct {
		Hits []struct {
			ID     string                     `json:"_id"`
			Score  *float64                   `json:"_score"`
			Source map[string]json.RawMessage `json:"_source"`
		} `json:"hits"`
	} `json:"hits"`
}

// parse reads a _search response; it does no I/O.
func (h *HTTP) parse(data []byte) ([]Workflow, error) {
	var r searchResponse
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadResponse, err)
	}
	switch {
	case r.TimedOut:
		return nil, fmt.Errorf("%w: the engine timed out", ErrBadResponse)
	case r.Hits == nil:
		return nil, fmt.Errorf("%w: no hits", ErrBadResponse)
	}
	out := make([]Workflow, 0, len(r.Hits.Hits))
	for i, hit := range r.Hits.Hits {
		if hit.ID == "" {
			return nil, fmt.Errorf("%w: hit %d has no _id", ErrBadResponse, i)
		}
		w := Workflow{ID: hit.ID}
		if hit.Score != nil {
			w.Score = *hit.Score
		}
		var err error
		if w.Name, err = sourceString(hit.Source, h.opts.NameField); err == nil {
			w.Description, err = sourceString(hit.Source, h.opts.DescriptionField)
		}
		if err == nil {
			w.UpdatedAt, err = sourceTime(hit.Source, h.opts.UpdatedField)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: hit %q: %v", ErrBadResponse, hit.ID, err)
		}
		out = append(out, w)
	}
	return out, nil
}

// sourceString reads a string field; a missing or null one is empty.
func sourceString(src map[string]json.RawMessage, field string) (string, error) {
	raw, ok := src[field]
	if !ok || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%s is not a string", field)
	}
	return s, nil
}

// sourceTime reads a date field: an RFC 3339 string or epoch milliseconds.
// A missing or null one is the zero time.
func sourceTime(src map[string]json.RawMessage, field string) (time.Time, error) {
	raw, ok := src[field]
	if !ok || string(raw) == "null" {
		return time.Time{}, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t, nil
		}
		if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
			return time.UnixMilli(ms).UTC(), nil
		}
		return time.Time{}, fmt.Errorf("%s %q is not an RFC 3339 date", field, s)
	}
	var ms int64
	if err := json.Unmarshal(raw, &ms); err != nil {
		return time.Time{}, fmt.Errorf("%s is neither a date nor epoch milliseconds", field)
	}
	return time.UnixMilli(ms).UTC(), nil
}

// errorBodyBytes is how much of an error status's body is read.
const errorBodyBytes = 1 << 10

// snippet is the start of a body, one line, for an error message.
func snippet(data []byte) string {
	return strings.Join(strings.Fields(strings.ToValidUTF8(string(data[:min(len(data), 200)]), "")), " ")
}
