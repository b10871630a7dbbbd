package search

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// Querier runs a query: *pgxpool.Pool, *pgx.Conn and pgx.Tx all do.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// PostgresOptions configures a Postgres searcher. Zero values mean the
// defaults, which match Schema.
type PostgresOptions struct {
	// Table is the workflows table, optionally schema-qualified
	// ("app.workflows"). Default "workflows".
	Table string
	// Columns names the table's columns.
	Columns Columns
	// TextSearchConfig is the text search configuration of the queries; it
	// must be the one the search vector column was built with. Default
	// "english".
	TextSearchConfig string
	// ShortQueryLength: queries with fewer characters than this take the
	// prefix path (a left-anchored LIKE on the lower-cased name) instead of
	// full text, which ignores most one- and two-letter words. Default 3.
	ShortQueryLength int
}

// Columns names the columns of the workflows table. Each must be a plain
// identifier (letters, digits, underscores); empty means the default.
type Columns struct {
	ID          string // default "id"; any type, read as text
	Tenant      string // default "tenant_id"; "-" for a table without tenants
	Name        string // default "name"
	Description string // default "description"
	UpdatedAt   string // default "updated_at"; timestamptz or timestamp
	// SearchVector is the tsvector column of the full-text path. Default
	// "search_vector".
	SearchVector string
}

// Postgres searches a workflows table directly: full text with ranking
// (websearch_to_tsquery and ts_rank over a stored tsvector), or a name
// prefix for very short queries, always within one tenant. It is safe for
// concurrent use.
//
// Queries are parameterized and run as unnamed statements
// (pgx.QueryExecModeCacheDescribe), so PostgreSQL plans each one with its
// values: a generic plan could neither turn a LIKE prefix into an index
// range nor see how large a tenant is.
type Postgres struct {
	db        Querier
	fullText  string
	prefix    string
	tenants   bool
	shortText int
}

var _ Searcher = (*Postgres)(nil)

// identRE is the identifier NewPostgres accepts: no quoting needed, no
// surprises.
var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// NewPostgres returns a Postgres searcher reading through db. It fails on a
// table, column or configuration name that is not a plain identifier.
func NewPostgres(db Querier, opts PostgresOptions) (*Postgres, error) {
	if db == nil {
		return nil, fmt.Errorf("search postgres: no database")
	}
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	c := &opts.Columns
	def(&opts.Table, "workflows")
	def(&opts.TextSearchConfig, "english")
	def(&c.ID, "id")
	def(&c.Tenant, "tenant_id")
	def(&c.Name, "name")
	def(&c.Description, "description")
	def(&c.UpdatedAt, "updated_at")
	def(&c.SearchVector, "search_vector")
	if opts.ShortQueryLength <= 0 {
		opts.ShortQueryLength = 3
	}

	table, err := qualified(opts.Table)
	if err != nil {
		return nil, fmt.Errorf("search postgres: table: %w", err)
	}
	tsConfig, err := qualified(opts.TextSearchConfig)
	if err != nil {
		return nil, fmt.Errorf("search postgres: text search config: %w", err)
	}
	names := map[string]string{"id": c.ID, "name": c.Name, "description": c.Description,
		"updated_at": c.UpdatedAt, "search_vector": c.SearchVector}
	tenants := c.Tenant != "-"
	if tenants {
		names["tenant"] = c.Tenant
	}
	col := map[string]string{}
	for k, v := range names {
		if !identRE.MatchString(v) {
			return nil, fmt.Errorf("search postgres: %s column %q is not a plain identifier", k, v)
		}
		col[k] = "w." + pgx.Identifier{v}.Sanitize()
	}

	// Full text: $1 text, $2 limit, $3 tenant. Prefix: $1 pattern, $2
	// limit, $3 text, $4 tenant.
	fullText := fmt.Sprintf(`SELECT %[1]s::text, coalesce(%[2]s, ''), coalesce(%[3]s, ''),
       ts_rank(%[5]s, q.tsq)::float8, %[4]s
FROM %[6]s AS w, websearch_to_tsquery('%[7]s'::regconfig, $1) AS q(tsq)
WHERE %[5]s @@ q.tsq%[8]s
ORDER BY 4 DESC, %[4]s DESC NULLS LAST, %[1]s
LIMIT $2`,
		col["id"], col["name"], col["description"], col["updated_at"], col["search_vector"],
		table, tsConfig, tenantFilter(col["tenant"], 3))
	// lower() on both sides, as the index has it; lower() leaves the
	// escapes of the pattern alone.
	prefix := fmt.Sprintf(`SELECT %[1]s::text, coalesce(%[2]s, ''), coalesce(%[3]s, ''),
       CASE WHEN lower(%[2]s) = lower($3) THEN 1.0 ELSE 0.5 END::float8, %[4]s
FROM %[5]s AS w
WHERE lower(%[2]s) LIKE lower($1) ESCAPE '\'%[6]s
ORDER BY 4 DESC, %[4]s DESC NULLS LAST, %[1]s
LIMIT $2`,
		col["id"], col["name"], col["description"], col["updated_at"],
		table, tenantFilter(col["tenant"], 4))
	return &Postgres{db: db, fullText: fullText, prefix: prefix, tenants: tenants, shortText: opts.ShortQueryLength}, nil
}

// tenantFilter is the tenant condition on parameter n, or nothing for a
// table without tenants.
func tenantFilter(column string, n int) string {
	if column == "" {
		return ""
	}
	return fmt.Sprintf(" AND %s = $%d", column, n)
}

// qualified quotes a name that may carry a schema ("app.workflows").
func qualified(name string) (string, error) {
	parts := strings.Split(name, ".")
	if len(parts) > 2 {
		return "", fmt.Errorf("%q has more than one dot", name)
	}
	for _, p := range parts {
		if !identRE.MatchString(p) {
			return "", fmt.Errorf("%q is not a plain identifier", name)
		}
	}
	// The text search configuration goes inside a string literal; plain
	// identifiers hold no quote.
	return pgx.Identifier(parts).Sanitize(), nil
}

// Search returns the tenant's workflows matching q, best first: by ts_rank
// on the full-text path; exact name before prefix on the short path; then
// by most recent update.
func (p *Postgres) Search(ctx context.Context, q Query) ([]Workflow, error) {
	sql, args, err := p.statement(q)
	if err != nil {
		return nil, err
	}
	rows, err := p.db.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("search postgres: %w", err)
	}
	defer rows.Close()
	var out []Workflow
	for rows.Next() {
		var w Workflow
		var updated *time.Time
		if err := rows.Scan(&w.ID, &w.Name, &w.Description, &w.Score, &updated); err != nil {
			return nil, fmt.Errorf("search postgres: read row: %w", err)
		}
		if updated != nil {
			w.UpdatedAt = *updated
		}
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("search postgres: %w", err)
	}
	return out, nil
}

// Explain returns PostgreSQL's plan for q, EXPLAIN (FORMAT JSON), planned
// as Search plans it: with q's values.
func (p *Postgres) Explain(ctx context.Context, q Query) (json.RawMessage, error) {
	sql, args, err := p.statement(q)
	if err != nil {
		return nil, err
	}
	rows, err := p.db.Query(ctx, "EXPLAIN (FORMAT JSON) "+sql, args...)
	if err != nil {
		return nil, fmt.Errorf("search postgres: explain: %w", err)
	}
	defer rows.Close()
	var plan string
	for rows.Next() {
		if err := rows.Scan(&plan); err != nil {
			return nil, fmt.Errorf("search postgres: explain: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("search postgres: explain: %w", err)
	}
	return json.RawMessage(plan), nil
}

// statement picks the query path for q and its arguments.
func (p *Postgres) statement(q Query) (string, []any, error) {
	q, err := q.Normalize()
	if err != nil {
		return "", nil, fmt.Errorf("search postgres: %w", err)
	}
	if p.tenants && q.Tenant == "" {
		return "", nil, fmt.Errorf("search postgres: %w", errNoTenant)
	}
	if !p.tenants && q.Tenant != "" {
		return "", nil, fmt.Errorf("search postgres: %w", errNoTenants)
	}
	sql, args := p.fullText, []any{pgx.QueryExecModeCacheDescribe, q.Text, q.Limit}
	if utf8.RuneCountInString(q.Text) < p.shortText {
		sql, args = p.prefix, []any{pgx.QueryExecModeCacheDescribe, escapeLike(q.Text) + "%", q.Limit, q.Text}
	}
	if p.tenants {
		args = append(args, q.Tenant)
	}
	return sql, args, nil
}

// escapeLike escapes LIKE's wildcards and its escape character, so the
// text matches only itself.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
