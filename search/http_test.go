package search_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/health-exporter/health-exporter/search"
)

// engine is an httptest server with an OpenSearch-like _search endpoint
// whose behaviour a test switches.
type engine struct {
	*httptest.Server
	mode     atomic.Value // "ok", "500", "hang", "garbage"
	requests atomic.Int32
	last     atomic.Value // the last request body, decoded
	header   atomic.Value // the last request's headers
	// hung receives a value when a request starts hanging, if anyone waits.
	hung chan struct{}
}

const okResponse = `{"took":3,"timed_out":false,"hits":{"total":{"value":2},"hits":[
	{"_index":"workflows","_id":"w1","_score":7.5,"_source":{"name":"Customer onboarding","description":"Welcome","updated_at":"2025-03-04T05:06:07Z"}},
	{"_index":"workflows","_id":"w2","_score":2.25,"_source":{"name":"Vendor onboarding","description":null,"updated_at":1735689600000}}]}}`

func newEngine(t *testing.T) *engine {
	t.Helper()
	e := &engine{hung: make(chan struct{})}
	e.mode.Store("ok")
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.requests.Add(1)
		if r.Method != http.MethodPost || r.URL.Path != "/workflows/_search" {
			http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusNotFound)
			return
		}
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, "bad json", http.StatusBadRequest)
			return
		}
		e.last.Store(body)
		e.header.Store(r.Header.Clone())
		switch e.mode.Load().(string) {
		case "500":
			http.Error(w, `{"error":"all shards failed"}`, http.StatusInternalServerError)
		case "hang":
			select {
			case e.hung <- struct{}{}:
			default:
			}
			<-r.Context().Done()
		case "garbage":
			io.WriteString(w, `<html>Service Unavailable`)
		default:
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, okResponse)
		}
	}))
	t.Cleanup(e.Close)
	return e
}

func newHTTP(t *testing.T, e *engine, opts search.HTTPOptions) *search.HTTP {
	t.Helper()
	opts.URL = e.URL
	if opts.Index == "" {
		opts.Index = "workflows"
	}
	h, err := search.NewHTTP(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func TestHTTPSearch(t *testing.T) {
	e := newEngine(t)
	h := newHTTP(t, e, search.HTTPOptions{BearerToken: "s3cret", Headers: map[string]string{"X-Opaque-Id": "canary"}})
	ws, err := h.Search(t.Context(), search.Query{Text: ` "onboarding"  \ `, Tenant: "acme", Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	want := []search.Workflow{
		{ID: "w1", Name: "Customer onboarding", Description: "Welcome", Score: 7.5, UpdatedAt: time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)},
		{ID: "w2", Name: "Vendor onboarding", Score: 2.25, UpdatedAt: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	if len(ws) != len(want) {
		t.Fatalf("got %+v", ws)
	}
	for i := range want {
		if ws[i] != want[i] {
			t.Errorf("hit %d: got %+v, want %+v", i, ws[i], want[i])
		}
	}
	body, _ := json.Marshal(e.last.Load())
	wantBody := `{"_source":["name","description","updated_at"],"query":{"bool":{"filter":[{"term":{"tenant_id":"acme"}}],"must":{"multi_match":{"fields":["name^2","description"],"query":"\"onboarding\" \\"}}}},"size":5}`
	if string(body) != wantBody {
		t.Errorf("request body\n%s\nwant\n%s", body, wantBody)
	}
	hd := e.header.Load().(http.Header)
	if hd.Get("Authorization") != "Bearer s3cret" || hd.Get("X-Opaque-Id") != "canary" || hd.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", hd)
	}
}

func TestHTTPOptions(t *testing.T) {
	e := newEngine(t)
	h := newHTTP(t, e, search.HTTPOptions{
		Fields: []string{"title"}, TenantField: "-", Username: "app", Password: "pw",
		NameField: "title", DescriptionField: "summary", UpdatedField: "changed",
	})
	if _, err := h.Search(t.Context(), search.Query{Text: "x"}); err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(e.last.Load())
	if want := `{"_source":["title","summary","changed"],"query":{"bool":{"must":{"multi_match":{"fields":["title"],"query":"x"}}}},"size":10}`; string(body) != want {
		t.Errorf("request body\n%s\nwant\n%s", body, want)
	}
	if u, p, ok := (&http.Request{Header: e.header.Load().(http.Header)}).BasicAuth(); !ok || u != "app" || p != "pw" {
		t.Errorf("basic auth %q %q %v", u, p, ok)
	}
}

func TestHTTPFailures(t *testing.T) {
	e := newEngine(t)
	h := newHTTP(t, e, search.HTTPOptions{})
	query := search.Query{Text: "onboarding", Tenant: "acme"}

	e.mode.Store("500")
	_, err := h.Search(t.Context(), query)
	var se *search.StatusError
	if !errors.As(err, &se) || se.Code != 500 || !strings.Contains(se.Body, "all shards failed") {
		t.Errorf("500: got %v", err)
	}
	e.mode.Store("garbage")
	if _, err := h.Search(t.Context(), query); !errors.Is(err, search.ErrBadResponse) {
		t.Errorf("garbage: got %v", err)
	}
	if _, err := h.Search(t.Context(), search.Query{Text: "onboarding"}); !errors.Is(err, search.ErrInvalidQuery) {
		t.Errorf("no tenant: got %v", err)
	}
}

func TestHTTPTenantWithoutTenantField(t *testing.T) {
	e := newEngine(t)
	h := newHTTP(t, e, search.HTTPOptions{TenantField: "-"})
	_, err := h.Search(t.Context(), search.Query{Text: "onboarding", Tenant: "acme"})
	if !errors.Is(err, search.ErrInvalidQuery) {
		t.Errorf("tenant on an index without tenants: got %v, want ErrInvalidQuery", err)
	}
	if n := e.requests.Load(); n != 0 {
		t.Errorf("engine asked %d times", n)
	}
	// Without a tenant the whole index is searched, unfiltered.
	ws, err := h.Search(t.Context(), search.Query{Text: "onboarding"})
	if err != nil || len(ws) != 2 {
		t.Fatalf("no tenant: got %v, %v", ws, err)
	}
	if body, _ := json.Marshal(e.last.Load()); strings.Contains(string(body), "filter") {
		t.Errorf("filtered request: %s", body)
	}
}

func TestHTTPErrorStatusReadsOnlyTheStartOfTheBody(t *testing.T) {
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "overloaded "+strings.Repeat("x", 4<<10))
		w.(http.Flusher).Flush()
		// The rest of the page never comes.
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(done) })
	h, err := search.NewHTTP(search.HTTPOptions{URL: srv.URL, Index: "workflows"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	// The deadline only keeps a broken searcher from hanging the test.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	_, err = h.Search(ctx, search.Query{Text: "onboarding", Tenant: "acme"})
	var se *search.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusServiceUnavailable || !strings.HasPrefix(se.Body, "overloaded x") {
		t.Fatalf("got %v, want status 503 with the start of the body", err)
	}
}

func TestHTTPParse(t *testing.T) {
	for name, body := range map[string]string{
		"timed out":      `{"timed_out":true,"hits":{"hits":[]}}`,
		"no hits":        `{"took":1}`,
		"no id":          `{"hits":{"hits":[{"_score":1}]}}`,
		"bad name":       `{"hits":{"hits":[{"_id":"1","_source":{"name":3}}]}}`,
		"bad date":       `{"hits":{"hits":[{"_id":"1","_source":{"updated_at":"yesterday"}}]}}`,
		"not an object":  `[]`,
		"truncated":      `{"hits":{"hits":[`,
		"too large body": `{"hits":{"hits":[]},"pad":"` + strings.Repeat("x", 2000) + `"}`,
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) }))
			defer srv.Close()
			h, err := search.NewHTTP(search.HTTPOptions{URL: srv.URL, Index: "workflows", MaxBodyBytes: 1024})
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			if _, err := h.Search(t.Context(), search.Query{Text: "x", Tenant: "t"}); !errors.Is(err, search.ErrBadResponse) {
				t.Fatalf("got %v, want ErrBadResponse", err)
			}
		})
	}
}

func TestNewHTTPRefuses(t *testing.T) {
	for name, opts := range map[string]search.HTTPOptions{
		"no url":      {Index: "w"},
		"scheme":      {URL: "ftp://127.0.0.1", Index: "w"},
		"no host":     {URL: "http://", Index: "w"},
		"credentials": {URL: "http://u:p@127.0.0.1:9200", Index: "w"},
		"no index":    {URL: "http://127.0.0.1:9200"},
		"slash":       {URL: "http://127.0.0.1:9200", Index: "a/b"},
	} {
		_, err := search.NewHTTP(opts)
		if err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), ":p@") {
			t.Errorf("%s: error shows the password: %v", name, err)
		}
	}
}
