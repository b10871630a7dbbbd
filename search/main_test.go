package search_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/health-exporter/health-exporter/internal/testenv"
	"github.com/health-exporter/health-exporter/search"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// newDB returns a pool on a fresh database of the shared PostgreSQL server
// with Schema applied.
func newDB(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pg := testenv.SharedPostgres(t)
	name := pg.CreateDatabase(t)
	pool, err := pgxpool.New(t.Context(), pg.DSN("postgres", pg.Password, name))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(pool.Close)
	if _, err := pool.Exec(t.Context(), search.Schema); err != nil {
		t.Fatalf("apply schema: %v", err)
	}
	return pool
}

// row is a workflow to seed; age is how long ago it was updated.
type row struct {
	tenant, name, description string
	age                       time.Duration
}

// seed inserts rows and returns their ids in order.
func seed(t *testing.T, pool *pgxpool.Pool, rows ...row) []string {
	t.Helper()
	ids := make([]string, len(rows))
	for i, r := range rows {
		err := pool.QueryRow(t.Context(),
			`INSERT INTO workflows (tenant_id, name, description, updated_at)
			 VALUES ($1, $2, $3, now() - $4::interval) RETURNING id::text`,
			r.tenant, r.name, r.description, r.age.String()).Scan(&ids[i])
		if err != nil {
			t.Fatalf("seed %q: %v", r.name, err)
		}
	}
	return ids
}

func newPostgres(t *testing.T, pool *pgxpool.Pool) *search.Postgres {
	t.Helper()
	p, err := search.NewPostgres(pool, search.PostgresOptions{})
	if err != nil {
		t.Fatalf("NewPostgres: %v", err)
	}
	return p
}

func names(ws []search.Workflow) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.Name
	}
	return out
}
