package search_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/health-exporter/health-exporter/search"
)

// seedCatalog is a small catalog of two tenants.
func seedCatalog(t *testing.T) *search.Postgres {
	t.Helper()
	pool := newDB(t)
	seed(t, pool,
		row{"acme", "Customer onboarding", "Welcome new customers and set up their accounts", 3 * time.Hour},
		row{"acme", "Employee onboarding checklist", "Laptops, badges and payroll for new hires", time.Hour},
		row{"acme", "Vendor invoice approval", "Part of onboarding a vendor: approve the first invoice", 2 * time.Hour},
		row{"acme", "Expense report", "Monthly expenses", time.Minute},
		row{"acme", "QA", "Quality assurance", 5 * time.Hour},
		row{"acme", "QA review", "Review before release", 4 * time.Hour},
		row{"acme", "50% off campaign", "Marketing", 6 * time.Hour},
		row{"acme", "5% discount", "Marketing", 7 * time.Hour},
		row{"acme", "_internal sync", "Nightly", 8 * time.Hour},
		row{"acme", `\\fileserver backup`, "Nightly backup", 9 * time.Hour},
		row{"globex", "Onboarding", "Globex onboarding for everyone", time.Minute},
		row{"globex", "Customer onboarding", "Globex customers", time.Minute},
	)
	return newPostgres(t, pool)
}

func TestPostgresRanking(t *testing.T) {
	p := seedCatalog(t)
	cases := []struct {
		text string
		want []string
	}{
		// Name matches (weight A) rank above a description match (B);
		// equal ranks go most recent first.
		{"onboarding", []string{"Employee onboarding checklist", "Customer onboarding", "Vendor invoice approval"}},
		// Stemming: "onboard" matches "onboarding".
		{"onboard", []string{"Employee onboarding checklist", "Customer onboarding", "Vendor invoice approval"}},
		// Matches in both name and description rank above one in the name.
		{"expenses OR onboarding", []string{"Expense report", "Employee onboarding checklist", "Customer onboarding", "Vendor invoice approval"}},
		// websearch syntax: a quoted phrase.
		{`"customer onboarding"`, []string{"Customer onboarding"}},
		{"kubernetes", nil},
	}
	for _, c := range cases {
		t.Run(c.text, func(t *testing.T) {
			ws, err := p.Search(t.Context(), search.Query{Text: c.text, Tenant: "acme"})
			if err != nil {
				t.Fatal(err)
			}
			if got := names(ws); !slices.Equal(got, c.want) {
				t.Fatalf("got %q, want %q", got, c.want)
			}
			for i := 1; i < len(ws); i++ {
				if ws[i].Score > ws[i-1].Score {
					t.Errorf("score %v of %q above %v of %q before it", ws[i].Score, ws[i].Name, ws[i-1].Score, ws[i-1].Name)
				}
			}
			for _, w := range ws {
				if w.ID == "" || w.Score <= 0 || w.UpdatedAt.IsZero() {
					t.Errorf("incomplete workflow %+v", w)
				}
			}
		})
	}
}

func TestPostgresExcludedWord(t *testing.T) {
	p := seedCatalog(t)
	ws, err := p.Search(t.Context(), search.Query{Text: "onboarding -employee", Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	got := names(ws)
	slices.Sort(got)
	if want := []string{"Customer onboarding", "Vendor invoice approval"}; !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q in any order", got, want)
	}
}

func TestPostgresLimit(t *testing.T) {
	p := seedCatalog(t)
	ws, err := p.Search(t.Context(), search.Query{Text: "onboarding", Tenant: "acme", Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(ws), []string{"Employee onboarding checklist", "Customer onboarding"}; !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestPostgresTenantIsolation(t *testing.T) {
	p := seedCatalog(t)
	for _, c := range []struct {
		tenant string
		want   []string
	}{
		{"acme", []string{"Employee onboarding checklist", "Customer onboarding", "Vendor invoice approval"}},
		{"globex", []string{"Onboarding", "Customer onboarding"}},
		{"initech", nil},
		{"acme' OR '1'='1", nil},
		{"ACME", nil},
	} {
		ws, err := p.Search(t.Context(), search.Query{Text: "onboarding", Tenant: c.tenant})
		if err != nil {
			t.Fatalf("tenant %q: %v", c.tenant, err)
		}
		if got := names(ws); !slices.Equal(got, c.want) {
			t.Errorf("tenant %q: got %q, want %q", c.tenant, got, c.want)
		}
	}
	_, err := p.Search(t.Context(), search.Query{Text: "onboarding"})
	if !errors.Is(err, search.ErrInvalidQuery) {
		t.Errorf("no tenant: got %v, want ErrInvalidQuery", err)
	}
}

func TestPostgresShortQueries(t *testing.T) {
	p := seedCatalog(t)
	cases := []struct {
		text string
		want []string
	}{
		{"cu", []string{"Customer onboarding"}},
		{"CU", []string{"Customer onboarding"}},
		// An exact name first, then the prefixes.
		{"qa", []string{"QA", "QA review"}},
		// The wildcards and the escape character match only themselves.
		{"5%", []string{"5% discount"}},
		{"%", nil},
		{"_", []string{"_internal sync"}},
		{`\`, []string{`\\fileserver backup`}},
		{`\\`, []string{`\\fileserver backup`}},
		{"zz", nil},
		// Short words full text would drop as stop words.
		{"a", nil},
	}
	for _, c := range cases {
		ws, err := p.Search(t.Context(), search.Query{Text: c.text, Tenant: "acme"})
		if err != nil {
			t.Fatalf("%q: %v", c.text, err)
		}
		if got := names(ws); !slices.Equal(got, c.want) {
			t.Errorf("%q: got %q, want %q", c.text, got, c.want)
		}
	}
}

func TestPostgresHostileInput(t *testing.T) {
	p := seedCatalog(t)
	cases := []struct {
		name, text string
		tenant     string
		invalid    bool // ErrInvalidQuery expected
		found      bool // the onboarding workflows expected among the hits
	}{
		{name: "sql", text: "'; DROP TABLE workflows; --"},
		{name: "quotes", text: `"onboarding' "" '`, found: true},
		{name: "tsquery syntax", text: "onboarding:* & !(a | <-> b"},
		{name: "percent", text: "%%%onboarding%"},
		{name: "backslashes", text: `\\\onboarding\`},
		{name: "invalid utf-8", text: "\xff\xfeonboarding\xc3", found: true},
		{name: "nul", text: "onboarding\x00\x00", found: true},
		{name: "control", text: "\a\x1bonboarding\r\n\x7f", found: true},
		{name: "unicode", text: "онбординг 入职 🚀"},
		{name: "only punctuation", text: "!@#$^&*()"},
		{name: "long", text: strings.Repeat("onboarding ", 1000), invalid: true},
		{name: "empty", text: " \t\n", invalid: true},
		{name: "nul tenant", text: "onboarding", tenant: "acme\x00", invalid: true},
		{name: "invalid tenant", text: "onboarding", tenant: "acme\xff", invalid: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tenant := c.tenant
			if tenant == "" {
				tenant = "acme"
			}
			ws, err := p.Search(t.Context(), search.Query{Text: c.text, Tenant: tenant})
			var pgErr *pgconn.PgError
			switch {
			case errors.As(err, &pgErr):
				t.Fatalf("SQL error leaked: %v", err)
			case c.invalid && !errors.Is(err, search.ErrInvalidQuery):
				t.Fatalf("got %v, want ErrInvalidQuery", err)
			case !c.invalid && err != nil:
				t.Fatalf("got %v", err)
			}
			if c.found && !slices.Contains(names(ws), "Customer onboarding") {
				t.Errorf("got %q, want the onboarding workflows", names(ws))
			}
		})
	}
	// The table survived.
	ws, err := p.Search(t.Context(), search.Query{Text: "expense", Tenant: "acme"})
	if err != nil || len(ws) != 1 {
		t.Fatalf("after hostile input: %q, %v", names(ws), err)
	}
}

func TestNewPostgresRefusesIdentifiers(t *testing.T) {
	pool := newDB(t)
	for _, opts := range []search.PostgresOptions{
		{Table: `workflows"; DROP TABLE x; --`},
		{Table: "a.b.c"},
		{Table: "1workflows"},
		{Columns: search.Columns{Name: "name desc"}},
		{Columns: search.Columns{Tenant: "tenant-id"}},
		{TextSearchConfig: "english'"},
	} {
		if _, err := search.NewPostgres(pool, opts); err == nil {
			t.Errorf("NewPostgres(%+v) accepted it", opts)
		}
	}
}

func TestPostgresCustomNames(t *testing.T) {
	pool := newDB(t)
	_, err := pool.Exec(t.Context(), `
		CREATE SCHEMA app;
		CREATE TABLE app.flows (
			flow_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
			title text, summary text, changed timestamp,
			doc tsvector GENERATED ALWAYS AS (to_tsvector('simple', coalesce(title, '') || ' ' || coalesce(summary, ''))) STORED);
		INSERT INTO app.flows (title, summary, changed) VALUES
			('Onboarding', NULL, '2024-01-02 03:04:05'), ('Offboarding', 'the end', NULL);`)
	if err != nil {
		t.Fatal(err)
	}
	p, err := search.NewPostgres(pool, search.PostgresOptions{
		Table:            "app.flows",
		TextSearchConfig: "simple",
		Columns: search.Columns{ID: "flow_id", Tenant: "-", Name: "title", Description: "summary",
			UpdatedAt: "changed", SearchVector: "doc"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for text, want := range map[string]string{"onboarding": "Onboarding", "end": "Offboarding", "of": "Offboarding"} {
		ws, err := p.Search(t.Context(), search.Query{Text: text})
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		if len(ws) != 1 || ws[0].Name != want || len(ws[0].ID) != 36 {
			t.Errorf("%q: got %+v, want %s", text, ws, want)
		}
	}
	// A table without tenants cannot honour a tenant: it refuses the query
	// rather than search every tenant's workflows.
	if _, err := p.Search(t.Context(), search.Query{Text: "onboarding", Tenant: "acme"}); !errors.Is(err, search.ErrInvalidQuery) {
		t.Errorf("tenant on a table without tenants: got %v, want ErrInvalidQuery", err)
	}
}
