package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/health-exporter/health-exporter/search"
)

// BenchmarkSearchFallback measures the fallback path of search.Resilient:
// the primary's breaker is open, so every search goes straight to the
// Postgres searcher, over 100,000 workflows in 7 tenants, with typical
// two-word queries cycling through five (about 1% of rows match each).
//
//	BenchmarkSearchFallback/indexed   the plan PostgreSQL picks: GIN bitmap scan
//	BenchmarkSearchFallback/seqscan   the same with index and bitmap scans disabled
//
// Each reports p50-µs and p99-µs, the per-search latency percentiles;
// seqscan also reports p50-x-indexed, its p50 over indexed's.
//
// PostgreSQL comes from HE_BENCH_POSTGRES_DSN (a superuser DSN; a throwaway
// database is created and dropped) or else is a private cluster this
// benchmark creates with initdb and starts on a free loopback port, as the
// postgres OS user when run as root, and stops by PID at the end.
func BenchmarkSearchFallback(b *testing.B) {
	dsn := benchPostgres(b)
	ctx := context.Background()
	seedWorkflows(b, dsn, 100_000)

	var indexedP50 float64
	for _, mode := range []string{"indexed", "seqscan"} {
		b.Run(mode, func(b *testing.B) {
			pc, err := pgxpool.ParseConfig(dsn)
			if err != nil {
				b.Fatal(err)
			}
			pc.MaxConns = 2
			if mode == "seqscan" {
				for _, k := range []string{"enable_bitmapscan", "enable_indexscan", "enable_indexonlyscan"} {
					pc.ConnConfig.RuntimeParams[k] = "off"
				}
			}
			pool, err := pgxpool.NewWithConfig(ctx, pc)
			if err != nil {
				b.Fatal(err)
			}
			defer pool.Close()
			pg, err := search.NewPostgres(pool, search.PostgresOptions{})
			if err != nil {
				b.Fatal(err)
			}
			r, err := search.NewResilient(search.Options{Name: "bench", Primary: offlineEngine{}, Fallback: pg})
			if err != nil {
				b.Fatal(err)
			}
			r.Breaker().ForceOpen()
			checkSearchPlan(b, pg, mode)

			queries := []search.Query{
				{Text: "vendor renewal", Tenant: "tenant_3"},
				{Text: "payroll migration", Tenant: "tenant_1"},
				{Text: "contract review", Tenant: "tenant_5"},
				{Text: "incident escalation", Tenant: "tenant_0"},
				{Text: "audit sync", Tenant: "tenant_6"},
			}
			var took []time.Duration
			i := 0
			for b.Loop() {
				start := time.Now()
				a, err := r.Ask(ctx, queries[i%len(queries)])
				took = append(took, time.Since(start))
				if err != nil || a.Backend != search.Fallback || len(a.Workflows) != search.DefaultLimit {
					b.Fatalf("search: %d hits from %v, %v", len(a.Workflows), a.Backend, err)
				}
				i++
			}
			p50, p99 := percentileMicros(took, 0.50), percentileMicros(took, 0.99)
			b.ReportMetric(p50, "p50-µs")
			b.ReportMetric(p99, "p99-µs")
			if mode == "indexed" {
				indexedP50 = p50
			} else if indexedP50 > 0 {
				b.ReportMetric(p50/indexedP50, "p50-x-indexed")
			}
		})
	}
}

// offlineEngine is a primary that is never asked: its breaker is open.
type offlineEngine struct{}

func (offlineEngine) Search(context.Context, search.Query) ([]search.Workflow, error) {
	return nil, errors.New("search engine offline")
}

// percentileMicros returns the p-th percentile of d in microseconds.
func percentileMicros(d []time.Duration, p float64) float64 {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return float64(s[int(p*float64(len(s)-1))].Nanoseconds()) / 1e3
}

// checkSearchPlan makes sure each sub-benchmark measures the plan it is named
// after.
func checkSearchPlan(b *testing.B, pg *search.Postgres, mode string) {
	b.Helper()
	plan, err := pg.Explain(context.Background(), search.Query{Text: "vendor renewal", Tenant: "tenant_3"})
	if err != nil {
		b.Fatal(err)
	}
	var doc []struct {
		Plan json.RawMessage `json:"Plan"`
	}
	if err := json.Unmarshal(plan, &doc); err != nil {
		b.Fatalf("plan: %v", err)
	}
	indexed := strings.Contains(string(plan), `"Index Name": "workflows_search_vector_idx"`)
	if indexed != (mode == "indexed") {
		b.Fatalf("%s: the plan does not match:\n%s", mode, plan)
	}
}

// seedWorkflows creates the search schema and n generated workflows in one
// statement, then vacuums and analyzes the table.
func seedWorkflows(b *testing.B, dsn string, n int) {
	b.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, sql := range []string{search.Schema, `
		INSERT INTO workflows (tenant_id, name, description, updated_at)
		SELECT 'tenant_' || (g % 7),
		       (ARRAY['Customer','Employee','Vendor','Invoice','Expense','Contract','Incident','Release','Payroll','Audit'])[1 + g % 10]
		       || ' ' ||
		       (ARRAY['onboarding','approval','review','escalation','renewal','offboarding','reconciliation','deployment','migration','sync'])[1 + (g / 10) % 10]
		       || ' #' || g,
		       'Workflow ' || g || ' owned by team ' || (g % 97) || ', runs ' ||
		       (ARRAY['hourly','daily','weekly','monthly','on demand'])[1 + g % 5],
		       timestamptz '2025-01-01' - g * interval '1 minute'
		FROM generate_series(1, ` + strconv.Itoa(n) + `) AS g`,
		"VACUUM ANALYZE workflows",
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			b.Fatalf("seed: %v", err)
		}
	}
}

// benchPostgres returns the DSN of an empty database for this benchmark.
func benchPostgres(b *testing.B) string {
	b.Helper()
	if dsn := os.Getenv("HE_BENCH_POSTGRES_DSN"); dsn != "" {
		return throwawayDatabase(b, dsn)
	}
	return startBenchPostgres(b)
}

// throwawayDatabase creates a database on the server of dsn, drops it at
// the end, and returns a DSN for it.
func throwawayDatabase(b *testing.B, dsn string) string {
	b.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatalf("HE_BENCH_POSTGRES_DSN: %v", err)
	}
	defer conn.Close(ctx)
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	name := "he_bench_search_" + hex.EncodeToString(rnd[:])
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), dsn)
		if err != nil {
			b.Errorf("drop database: %v", err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			b.Errorf("drop database: %v", err)
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		b.Fatalf("HE_BENCH_POSTGRES_DSN must be a URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// startBenchPostgres creates a cluster in a fresh directory with initdb, starts
// postgres on a free loopback port and returns a superuser DSN. Cleanup
// stops it by PID (SIGINT, a fast shutdown), waits, and removes the
// directory.
func startBenchPostgres(b *testing.B) string {
	b.Helper()
	bin, err := postgresBin()
	if err != nil {
		if os.Getenv("CI") == "true" {
			b.Fatalf("PostgreSQL is required: %v", err)
		}
		b.Skipf("PostgreSQL is unavailable (or set HE_BENCH_POSTGRES_DSN): %v", err)
	}
	cred, err := postgresUser()
	if err != nil {
		b.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "he-bench-pg-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = os.RemoveAll(dir) })
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			b.Fatal(err)
		}
	}
	run := func(name string, args ...string) *exec.Cmd {
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.Dir = dir
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C"}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGKILL}
		return cmd
	}
	data := filepath.Join(dir, "data")
	if out, err := run("initdb", "-D", data, "-U", "postgres", "--auth", "trust",
		"--encoding", "UTF8", "--locale", "C", "--no-sync").CombinedOutput(); err != nil {
		b.Fatalf("initdb: %v\n%s", err, out)
	}
	port, err := pgFreePort()
	if err != nil {
		b.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		b.Fatal(err)
	}
	defer logFile.Close()
	cmd := run("postgres", "-D", data, "-c", "listen_addresses=127.0.0.1", "-c", "port="+strconv.Itoa(port),
		"-c", "unix_socket_directories="+dir, "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "shared_buffers=128MB")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		b.Fatalf("start postgres: %v", err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		_ = cmd.Wait()
	})
	dsn := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, dsn)
		cancel()
		if err == nil {
			_ = conn.Close(context.Background())
			return dsn
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "postgres.log"))
			b.Fatalf("postgres did not accept connections: %v\n%s", err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// postgresBin finds the directory of initdb and postgres: Debian's newest
// /usr/lib/postgresql/<version>/bin, or PATH.
func postgresBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	p, err := exec.LookPath("initdb")
	if err != nil {
		return "", err
	}
	return filepath.Dir(p), nil
}

// postgresUser is who runs initdb and postgres: the postgres OS user when
// running as root (both refuse root), else the current user (nil).
func postgresUser() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, PostgreSQL needs the postgres OS user: %w", err)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func pgFreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
