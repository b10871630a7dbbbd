package search_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/health-exporter/health-exporter/search"
)

// seedLarge fills the table with n generated workflows over 7 tenants in
// one statement: names pair one of ten subjects with one of ten actions,
// so a two-word query matches about 1% of the rows.
func seedLarge(t *testing.T, pool *pgxpool.Pool, n int) {
	t.Helper()
	_, err := pool.Exec(t.Context(), `
		INSERT INTO workflows (tenant_id, name, description, updated_at)
		SELECT 'tenant_' || (g % 7),
		       (ARRAY['Customer','Employee','Vendor','Invoice','Expense','Contract','Incident','Release','Payroll','Audit'])[1 + g % 10]
		       || ' ' ||
		       (ARRAY['onboarding','approval','review','escalation','renewal','offboarding','reconciliation','deployment','migration','sync'])[1 + (g / 10) % 10]
		       || ' #' || g,
		       'Workflow ' || g || ' owned by team ' || (g % 97) || ', runs ' ||
		       (ARRAY['hourly','daily','weekly','monthly','on demand'])[1 + g % 5],
		       timestamptz '2025-01-01' - g * interval '1 minute'
		FROM generate_series(1, $1::int) AS g`, n)
	if err != nil {
		t.Fatalf("seed %d workflows: %v", n, err)
	}
	if _, err := pool.Exec(t.Context(), "ANALYZE workflows"); err != nil {
		t.Fatalf("analyze: %v", err)
	}
}

// planNode is the part of an EXPLAIN (FORMAT JSON) node that is read.
type planNode struct {
	NodeType  string     `json:"Node Type"`
	IndexName string     `json:"Index Name"`
	Plans     []planNode `json:"Plans"`
}

// indexScans lists "node type on index" for every index scan in a plan.
func indexScans(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	var doc []struct {
		Plan planNode `json:"Plan"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil || len(doc) != 1 {
		t.Fatalf("plan %s: %v", raw, err)
	}
	var out []string
	var walk func(n planNode)
	walk = func(n planNode) {
		if n.IndexName != "" {
			out = append(out, n.NodeType+" on "+n.IndexName)
		}
		for _, c := range n.Plans {
			walk(c)
		}
	}
	walk(doc[0].Plan)
	return out
}

func TestPostgresPlanUsesIndexes(t *testing.T) {
	pool := newDB(t)
	seedLarge(t, pool, 100_000)
	p := newPostgres(t, pool)

	cases := []struct {
		text, index string
		want        int // hits expected in tenant_3 with the default limit
	}{
		{"vendor renewal", "workflows_search_vector_idx", 10},
		{"payroll migration", "workflows_search_vector_idx", 10},
		{"team 42", "workflows_search_vector_idx", 10},
		{"\"audit sync\"", "workflows_search_vector_idx", 10},
		{"ve", "workflows_tenant_name_prefix_idx", 10},
		{"xq", "workflows_tenant_name_prefix_idx", 0},
	}
	for _, c := range cases {
		t.Run(c.text, func(t *testing.T) {
			q := search.Query{Text: c.text, Tenant: "tenant_3"}
			plan, err := p.Explain(t.Context(), q)
			if err != nil {
				t.Fatal(err)
			}
			scans := indexScans(t, plan)
			if !slices.ContainsFunc(scans, func(s string) bool {
				return strings.HasSuffix(s, " on "+c.index) && strings.Contains(s, "Index")
			}) {
				t.Fatalf("no index scan on %s; index scans: %q\nplan: %s", c.index, scans, plan)
			}
			ws, err := p.Search(t.Context(), q)
			if err != nil {
				t.Fatal(err)
			}
			if len(ws) != c.want {
				t.Fatalf("got %d hits, want %d", len(ws), c.want)
			}
			for _, w := range ws {
				doc := strings.ToLower(w.Name + " " + w.Description)
				for _, word := range strings.Fields(strings.ToLower(strings.Trim(c.text, `"`))) {
					if !strings.Contains(doc, word) {
						t.Errorf("hit %q (%s) does not match %q", w.Name, w.Description, c.text)
					}
				}
			}
		})
	}
}
