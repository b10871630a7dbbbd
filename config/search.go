package config

import (
	"fmt"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// Search configures a search check (YAML key search): a canary query sent
// through the search package's Resilient searcher, the primary behind the
// dependency's breaker and retry, the fallback when the primary fails. An
// answer from the fallback is degraded (reason fallback); fewer than
// MinResults hits is down.
type Search struct {
	// Query is the canary query (query), required.
	Query string
	// Tenant restricts the query to one tenant (tenant). Default: none.
	Tenant string
	// MinResults is the fewest hits that count as healthy (min_results).
	// Default 1; 0 accepts an empty answer. At most Limit.
	MinResults int
	// Limit caps the hits asked for (limit). Default 10.
	Limit int
	// Primary is the search backend proper (primary), required.
	Primary SearchPrimary
	// Fallback is queried when the primary fails or its breaker is open
	// (fallback). Default: none.
	Fallback SearchFallback
}

// SearchPrimary names the primary backend (YAML key primary); one kind of
// backend exists today.
type SearchPrimary struct {
	// HTTP is an OpenSearch or Elasticsearch _search API (http), required.
	HTTP *SearchHTTP
}

// SearchHTTP is an OpenSearch or Elasticsearch primary, queried with a
// multi_match over Fields, filtered by TenantField when a tenant is set.
type SearchHTTP struct {
	// URL is the cluster's base URL, http:// or https:// (url), required.
	URL string
	// Index is the index, alias or pattern to search (index). Default
	// "workflows".
	Index string
	// Fields are the fields matched, boosts allowed (fields). Default
	// ["name", "description"].
	Fields []string
	// TenantField is the field holding the tenant (tenant_field). Default
	// "tenant_id".
	TenantField string
	// HTTPClient holds the headers, credentials, TLS and redirect
	// settings, as for the http kind.
	HTTPClient
}

// SearchFallback names the fallback backend (YAML key fallback).
type SearchFallback struct {
	// Postgres searches the workflows table directly (postgres).
	Postgres *SearchPostgres
}

// SearchPostgres is a fallback searching a table with full-text search.
// The identifiers are checked against ^[a-z_][a-z0-9_]*$, so they are safe
// to put into SQL.
type SearchPostgres struct {
	// DSN is a libpq connection string, as for the postgres kind (dsn),
	// required and without a password.
	DSN string
	// Password is read from password_file, or given by password; the two
	// keys are exclusive. Default: none.
	Password Secret
	// Schema qualifies Table (schema). Default: none (the search_path).
	Schema string
	// Table is the table searched (table). Default "workflows".
	Table string
	// IDColumn (id_column, default "id"), NameColumn (name_column, "name"),
	// DescriptionColumn (description_column, "description"), TenantColumn
	// (tenant_column, "tenant_id"), UpdatedColumn (updated_column,
	// "updated_at") and VectorColumn (vector_column, "search_vector", a
	// tsvector) are the table's columns.
	IDColumn, NameColumn, DescriptionColumn, TenantColumn, UpdatedColumn, VectorColumn string
	// Language is the text search configuration the query is parsed with
	// (language). Default "english".
	Language string
}

func (d *decoder) search(n *yaml.Node) (*Search, error) {
	s := &Search{MinResults: 1, Limit: 10}
	keys, err := d.mapping(n, fields{
		"query":       d.str(&s.Query, func(v string) string { return nonEmpty(strings.TrimSpace(v)) }),
		"tenant":      d.str(&s.Tenant),
		"min_results": d.integer(&s.MinResults, intAtLeast(0)),
		"limit":       d.integer(&s.Limit, intAtLeast(1)),
		"primary": func(v *yaml.Node) error {
			_, err := d.mapping(v, fields{"http": func(v *yaml.Node) error {
				var err error
				s.Primary.HTTP, err = d.searchHTTP(v)
				return err
			}})
			return err
		},
		"fallback": func(v *yaml.Node) error {
			_, err := d.mapping(v, fields{"postgres": func(v *yaml.Node) error {
				var err error
				s.Fallback.Postgres, err = d.searchPostgres(v)
				return err
			}})
			if err == nil && s.Fallback.Postgres == nil {
				return errAt(resolve(v), "a fallback needs a postgres block")
			}
			return err
		},
	})
	if err != nil {
		return nil, err
	}
	at := resolve(n)
	switch {
	case keys["query"] == nil:
		return nil, errAt(at, "query is required")
	case s.Primary.HTTP == nil:
		return nil, keyErr(keys, "primary", at, "a primary with an http block is required")
	case s.MinResults > s.Limit:
		return nil, crossErr(keys, []string{"min_results", "limit"}, at, "min_results must be at most limit (min_results %d, limit %d)", s.MinResults, s.Limit)
	}
	return s, nil
}

// indexRE is an OpenSearch index, alias or pattern, or a comma-separated
// list of them.
var indexRE = regexp.MustCompile(`^[a-z0-9*][a-z0-9._*,-]*$`)

func (d *decoder) searchHTTP(n *yaml.Node) (*SearchHTTP, error) {
	h := &SearchHTTP{
		Index:       "workflows",
		Fields:      []string{"name", "description"},
		TenantField: "tenant_id",
		HTTPClient:  HTTPClient{FollowRedirects: true},
	}
	fs := fields{
		"url": d.str(&h.URL),
		"index": d.str(&h.Index, func(v string) string {
			if !indexRE.MatchString(v) {
				return fmt.Sprintf("%q is not an index name (lower case; no /, spaces or quotes)", v)
			}
			return ""
		}),
		"fields":       listOf(d, &h.Fields, parseString, searchField),
		"tenant_field": d.str(&h.TenantField, searchField),
	}
	d.clientFields(&h.HTTPClient, fs)
	keys, err := d.mapping(n, fs)
	if err != nil {
		return nil, err
	}
	at := resolve(n)
	if keys["fields"] != nil && len(h.Fields) == 0 {
		return nil, keyErr(keys, "fields", at, "at least one field is required")
	}
	if err := d.checkClient(&h.HTTPClient, keys, at, h.URL); err != nil {
		return nil, err
	}
	return h, nil
}

func searchField(v string) string {
	if v == "" || strings.ContainsAny(v, " \t\r\n\"\\") {
		return fmt.Sprintf("%q is not a field name", v)
	}
	return ""
}

func (d *decoder) searchPostgres(n *yaml.Node) (*SearchPostgres, error) {
	p := &SearchPostgres{
		Table:             "workflows",
		IDColumn:          "id",
		NameColumn:        "name",
		DescriptionColumn: "description",
		TenantColumn:      "tenant_id",
		UpdatedColumn:     "updated_at",
		VectorColumn:      "search_vector",
		Language:          "english",
	}
	keys, err := d.mapping(n, fields{
		"dsn":                d.str(&p.DSN),
		"password":           d.secret(&p.Password),
		"password_file":      d.secretFile(&p.Password),
		"schema":             d.str(&p.Schema, identifier),
		"table":              d.str(&p.Table, identifier),
		"id_column":          d.str(&p.IDColumn, identifier),
		"name_column":        d.str(&p.NameColumn, identifier),
		"description_column": d.str(&p.DescriptionColumn, identifier),
		"tenant_column":      d.str(&p.TenantColumn, identifier),
		"updated_column":     d.str(&p.UpdatedColumn, identifier),
		"vector_column":      d.str(&p.VectorColumn, identifier),
		"language":           d.str(&p.Language, identifier),
	})
	if err != nil {
		return nil, err
	}
	if err := checkDSNBlock(keys, resolve(n), p.DSN); err != nil {
		return nil, err
	}
	return p, nil
}
