package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
)

// PostgresOptions configures StartPostgres. The zero value is a cluster
// whose superuser "postgres" has the password "postgres".
type PostgresOptions struct {
	// Password is the superuser's password; empty means "postgres".
	Password string
	// ExtraConf holds postgresql.conf settings, e.g. {"max_connections": "5"}.
	// They go on the server's command line after testenv's defaults
	// (fsync=off, shared_buffers=32MB, ...), so they win.
	ExtraConf map[string]string
}

// Postgres is a PostgreSQL cluster listening on 127.0.0.1. Host connections
// authenticate with scram-sha-256, so a wrong password fails with SQLSTATE
// 28P01; the Unix socket in Dir trusts every local user. A private cluster
// (StartPostgres) belongs to one test; a shared one (SharedPostgres) cannot
// be paused, stopped or started.
type Postgres struct {
	mu sync.Mutex // guards the fields below Dir

	// Addr is the server's host:port, 127.0.0.1 and a free port.
	Addr string
	// Port is the port part of Addr.
	Port int
	// Password is the password of the superuser "postgres".
	Password string
	// Dir holds the cluster (data/), its Unix socket and postgres.log; it is
	// owned by the postgres OS user when tests run as root. Empty for an
	// external server.
	Dir string

	tb        testing.TB // fails the owning test when Start cannot restart the cluster
	shared    bool
	superDSN  string
	binDir    string
	cred      *syscall.Credential // nil: run as the test's own user
	extraConf map[string]string
	cmd       *exec.Cmd // the postmaster; nil while stopped
	dog       *watchdog
}

// StartPostgres starts a private cluster, a copy of a template cluster
// initdb makes once per test binary, run as the postgres OS user when the
// tests run as root, on a free 127.0.0.1 port with fsync off. It returns
// once the cluster accepts connections. t.Cleanup stops it (resuming it
// first if paused) and removes its directory. Missing PostgreSQL binaries
// or a missing postgres OS user go through Require. Tests that need no
// faults of their own use SharedPostgres.
func StartPostgres(t testing.TB, opts PostgresOptions) *Postgres {
	t.Helper()
	binDir, cred := postgresTools(t)
	p, err := startPostgres(t.Context(), binDir, cred, opts)
	if err != nil {
		t.Fatalf("start PostgreSQL: %v", err)
	}
	p.tb = t
	t.Cleanup(p.close)
	return p
}

// startPostgres makes and starts a private cluster.
func startPostgres(ctx context.Context, binDir string, cred *syscall.Credential, opts PostgresOptions) (*Postgres, error) {
	if opts.Password == "" {
		opts.Password = templatePassword
	}
	template, err := postgresTemplate(ctx, binDir, cred)
	if err != nil {
		return nil, err
	}
	dir, dog, err := newServerDir("pg", cred)
	if err != nil {
		return nil, err
	}
	p := &Postgres{Password: opts.Password, Dir: dir, binDir: binDir, cred: cred, extraConf: opts.ExtraConf, dog: dog}
	err = copyCluster(ctx, template, filepath.Join(dir, "data"))
	for attempt := 0; err == nil; attempt++ {
		if p.Port, err = freePort(); err != nil {
			break
		}
		p.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Port))
		p.superDSN = p.DSN("postgres", p.Password, "postgres")
		if err = p.launch(ctx); err == nil || !errors.Is(err, errAddrInUse) || attempt == 2 {
			break
		}
	}
	if err == nil && p.Password != templatePassword {
		err = p.setPassword(ctx)
	}
	if err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

// serverArgs returns the postgres command line: loopback only, a socket in
// p.Dir, durability off for speed, then the caller's settings.
func (p *Postgres) serverArgs() []string {
	args := []string{"-D", filepath.Join(p.Dir, "data")}
	set := func(k, v string) { args = append(args, "-c", k+"="+v) }
	set("listen_addresses", "127.0.0.1")
	set("port", strconv.Itoa(p.Port))
	set("unix_socket_directories", p.Dir)
	set("fsync", "off")
	set("synchronous_commit", "off")
	set("full_page_writes", "off")
	set("shared_buffers", "32MB")
	set("huge_pages", "off")
	// Segments in the data directory go with it, even after a SIGKILL;
	// the default posix ones would be left in /dev/shm.
	set("dynamic_shared_memory_type", "mmap")
	set("logging_collector", "off")
	keys := make([]string, 0, len(p.extraConf))
	for k := range p.extraConf {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		set(k, p.extraConf[k])
	}
	return args
}

// launch starts the postmaster and waits until it accepts connections.
func (p *Postgres) launch(ctx context.Context) error {
	logPath := filepath.Join(p.Dir, "postgres.log")
	cmd, err := startProcess(filepath.Join(p.binDir, "postgres"), p.serverArgs(), p.Dir, logPath, p.cred, serverEnv())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	var early error
	err = pollUntil(ctx, func() bool {
		if gone(cmd.Process.Pid) {
			early = exitedEarly(cmd, "postgres", logPath)
			return true
		}
		return postgresPing(ctx, p.socketDSN()) == nil
	})
	switch {
	case early != nil:
		return early
	case err != nil:
		_ = stopProcess(cmd, syscall.SIGKILL, descendants(cmd.Process.Pid))
		return fmt.Errorf("postgres on %s did not accept connections in %v: %w\n%s", p.Addr, readyTimeout, err, logTail(logPath))
	}
	p.cmd = cmd
	return nil
}

// postgresPing connects to dsn and closes the connection again.
func postgresPing(ctx context.Context, dsn string) error {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

// DSN returns a URL for user with password on database db of this server,
// e.g. postgres://app:secret@127.0.0.1:40123/app?sslmode=disable.
func (p *Postgres) DSN(user, password, db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(user, password),
		Host:     p.Addr,
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// SuperuserDSN returns the DSN of the superuser "postgres" on database "postgres".
func (p *Postgres) SuperuserDSN() string {
	return p.superDSN
}

// CreateDatabase creates an empty database with a unique name, drops it at
// the end of the test and returns its name. Tests sharing a server
// (SharedPostgres) keep apart this way.
func (p *Postgres) CreateDatabase(t testing.TB) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "t_" + hex.EncodeToString(b[:])
	if err := p.exec(t.Context(), "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		if err := p.exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database: %v", err)
		}
	})
	return name
}

// exec runs one statement as the superuser.
func (p *Postgres) exec(ctx context.Context, sql string) error {
	ctx, cancel := context.WithTimeout(ctx, stopTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.SuperuserDSN())
	if err != nil {
		return fmt.Errorf("connect to %s: %w", p.Addr, err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("%s: %w", sql, err)
	}
	return nil
}
