package testenv

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// pgConnect opens a connection the test closes at cleanup.
func pgConnect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// pgQuery returns the text of the single value a query yields.
func pgQuery(t *testing.T, conn *pgx.Conn, sql string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var s string
	if err := conn.QueryRow(ctx, sql).Scan(&s); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return s
}

// sqlState returns the SQLSTATE of a server error, or "".
func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

func TestPostgresPasswordAuth(t *testing.T) {
	t.Parallel()
	p := StartPostgres(t, PostgresOptions{Password: "s3cret:/@"})
	if !strings.HasPrefix(p.SuperuserDSN(), "postgres://postgres:") || !strings.HasSuffix(p.SuperuserDSN(), "@"+p.Addr+"/postgres?sslmode=disable") {
		t.Errorf("SuperuserDSN() = %q", p.SuperuserDSN())
	}
	conn := pgConnect(t, p.SuperuserDSN())
	if got := pgQuery(t, conn, "SELECT current_setting('listen_addresses')"); got != "127.0.0.1" {
		t.Errorf("listen_addresses = %q, want 127.0.0.1", got)
	}
	if got := pgQuery(t, conn, "SELECT current_setting('fsync')"); got != "off" {
		t.Errorf("fsync = %q, want off", got)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err := pgx.Connect(ctx, p.DSN("postgres", "wrong", "postgres"))
	if got := sqlState(err); got != "28P01" {
		t.Errorf("connect with a wrong password: %v (SQLSTATE %q), want invalid_password 28P01", err, got)
	}
}

func TestPostgresExtraConfMaxConnections(t *testing.T) {
	t.Parallel()
	p := StartPostgres(t, PostgresOptions{ExtraConf: map[string]string{"max_connections": "5"}})
	admin := pgConnect(t, p.SuperuserDSN())
	if got := pgQuery(t, admin, "SHOW max_connections"); got != "5" {
		t.Fatalf("max_connections = %s, want 5", got)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := admin.Exec(ctx, "CREATE ROLE app LOGIN PASSWORD 'app'"); err != nil {
		t.Fatal(err)
	}
	// 5 slots minus superuser_reserved_connections (3) leave 2 ordinary
	// ones; admin holds one of them.
	pgConnect(t, p.DSN("app", "app", "postgres"))
	_, err := pgx.Connect(ctx, p.DSN("app", "app", "postgres"))
	if got := sqlState(err); got != "53300" {
		t.Errorf("second app connection: %v (SQLSTATE %q), want too_many_connections 53300", err, got)
	}
}

func TestPostgresPauseResume(t *testing.T) {
	t.Parallel()
	p := StartPostgres(t, PostgresOptions{})
	kept := pgConnect(t, p.SuperuserDSN())
	hung := pgConnect(t, p.SuperuserDSN())

	p.Pause()
	pids := append(descendants(p.PID()), p.PID())
	if len(pids) < 4 {
		t.Fatalf("cluster processes %v: want the postmaster, its helpers and two backends", pids)
	}
	for _, pid := range pids {
		if !gone(pid) && !stopped(pid) {
			t.Errorf("process %d of the cluster is not stopped after Pause", pid)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if _, err := hung.Exec(ctx, "SELECT 1"); err == nil {
		t.Error("a query on a paused cluster succeeded")
	}
	ctx, cancel = context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if _, err := pgx.Connect(ctx, p.SuperuserDSN()); !isTimeout(err) {
		t.Errorf("connect to a paused cluster: %v, want a timeout", err)
	}

	p.Resume()
	for _, pid := range pids {
		if stopped(pid) {
			t.Errorf("process %d of the cluster is still stopped after Resume", pid)
		}
	}
	if got := pgQuery(t, kept, "SELECT 'alive'"); got != "alive" {
		t.Errorf("query on a connection held across the pause = %q", got)
	}
	pgConnect(t, p.SuperuserDSN())
}

func TestPostgresStopStartKeepsData(t *testing.T) {
	t.Parallel()
	p := StartPostgres(t, PostgresOptions{})
	addr, pid := p.Addr, p.PID()
	func() {
		conn := pgConnect(t, p.SuperuserDSN())
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		if _, err := conn.Exec(ctx, "CREATE TABLE kept AS SELECT 'row' AS v"); err != nil {
			t.Fatal(err)
		}
	}()
	kids := descendants(pid)

	p.Stop()
	if p.PID() != 0 {
		t.Errorf("PID() after Stop = %d, want 0", p.PID())
	}
	for _, k := range append(kids, pid) {
		if !gone(k) {
			t.Errorf("process %d of the cluster survived Stop", k)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := pgx.Connect(ctx, p.SuperuserDSN()); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("connect to a stopped cluster: %v, want connection refused", err)
	}

	p.Start()
	if p.Addr != addr || p.PID() == 0 || p.PID() == pid {
		t.Fatalf("after Start: %s pid %d; want %s and a new postmaster (old %d)", p.Addr, p.PID(), addr, pid)
	}
	if got := pgQuery(t, pgConnect(t, p.SuperuserDSN()), "SELECT v FROM kept"); got != "row" {
		t.Errorf("row after restart = %q", got)
	}
}

func TestPostgresCreateDatabase(t *testing.T) {
	t.Parallel()
	p := SharedPostgres(t)
	var name string
	t.Run("create", func(t *testing.T) {
		name = p.CreateDatabase(t)
		conn := pgConnect(t, p.DSN("postgres", p.Password, name))
		if got := pgQuery(t, conn, "SELECT current_database()"); got != name {
			t.Errorf("current_database() = %q, want %q", got, name)
		}
	})
	conn := pgConnect(t, p.SuperuserDSN())
	if got := pgQuery(t, conn, "SELECT count(*)::text FROM pg_database WHERE datname = '"+name+"'"); got != "0" {
		t.Errorf("database %s still exists after its test ended", name)
	}
}
