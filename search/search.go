// Package search finds workflows through a search backend behind a circuit
// breaker, and falls back to direct PostgreSQL reads when that backend fails
// or its breaker is open.
//
// A Searcher answers one query. Resilient puts a primary Searcher (an HTTP
// search engine, see HTTP) behind a breaker, an optional retry policy and a
// timeout, and lets a fallback Searcher (usually Postgres) serve whenever the
// primary cannot; its Answer says which backend served and why. Postgres
// searches a workflows table with PostgreSQL's full-text search; Schema is
// the table and the indexes it needs. Collector exports what Resilient did as
// Prometheus metrics.
package search

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits on a Query.
const (
	// DefaultLimit is the number of workflows a Query with no Limit asks for.
	DefaultLimit = 10
	// MaxLimit caps Query.Limit.
	MaxLimit = 100
	// MaxQueryLength is the longest query text accepted, in characters
	// after whitespace is collapsed.
	MaxQueryLength = 256
	// MaxTenantLength is the longest tenant accepted, in bytes.
	MaxTenantLength = 256
)

// ErrInvalidQuery is wrapped by the errors of queries that no backend could
// answer: empty text, text longer than MaxQueryLength, a tenant that is not
// valid UTF-8 or holds a NUL byte, a missing tenant where the searcher
// filters by tenant, or a tenant where it does not (searching every
// tenant's workflows for a query that names one would leak the others'
// data). It is the caller's mistake, not a backend failure:
// Resilient neither falls back nor counts it against the breaker.
var ErrInvalidQuery = errors.New("invalid search query")

// Query is one search.
type Query struct {
	// Text is what the user typed. Searchers normalize it: invalid UTF-8
	// and control characters (NUL included) become spaces, and runs of
	// whitespace collapse to one space.
	Text string
	// Tenant restricts the search to one tenant's workflows. Searchers that
	// filter by tenant refuse an empty one; searchers without tenants
	// refuse a non-empty one.
	Tenant string
	// Limit is the most workflows to return: DefaultLimit when 0 or less,
	// at most MaxLimit.
	Limit int
}

// Workflow is one search hit.
type Workflow struct {
	ID          string
	Name        string
	Description string
	// Score is the backend's relevance, higher is better. Scores of
	// different backends are not comparable.
	Score float64
	// UpdatedAt is when the workflow last changed; zero if the backend did
	// not say.
	UpdatedAt time.Time
}

// Searcher finds the workflows that match a query, best first. It returns
// when ctx ends.
type Searcher interface {
	Search(ctx context.Context, q Query) ([]Workflow, error)
}

// Normalize returns q as searchers see it: Text cleaned of invalid UTF-8
// and control characters with whitespace collapsed, Limit within
// [1, MaxLimit]. It fails with ErrInvalidQuery when Text is empty or too
// long, or Tenant is not valid text. Tenant is never altered: a changed
// tenant could name another tenant's data.
func (q Query) Normalize() (Query, error) {
	text := strings.ToValidUTF8(q.Text, " ")
	text = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, text)
	text = strings.Join(strings.Fields(text), " ")
	switch n := utf8.RuneCountInString(text); {
	case n == 0:
		return q, fmt.Errorf("%w: empty text", ErrInvalidQuery)
	case n > MaxQueryLength:
		return q, fmt.Errorf("%w: text of %d characters, longer than %d", ErrInvalidQuery, n, MaxQueryLength)
	}
	switch {
	case len(q.Tenant) > MaxTenantLength:
		return q, fmt.Errorf("%w: tenant longer than %d bytes", ErrInvalidQuery, MaxTenantLength)
	case !utf8.ValidString(q.Tenant) || strings.IndexByte(q.Tenant, 0) >= 0:
		return q, fmt.Errorf("%w: tenant is not valid text", ErrInvalidQuery)
	}
	q.Text = text
	if q.Limit <= 0 {
		q.Limit = DefaultLimit
	}
	q.Limit = min(q.Limit, MaxLimit)
	return q, nil
}

// errNoTenant is returned by searchers that filter by tenant for a query
// without one: searching every tenant's workflows is never the default.
var errNoTenant = fmt.Errorf("%w: tenant is required", ErrInvalidQuery)

// errNoTenants is returned by searchers without tenants for a query that
// names one: they could only search every tenant's workflows.
var errNoTenants = fmt.Errorf("%w: tenant given to a searcher without tenants", ErrInvalidQuery)
