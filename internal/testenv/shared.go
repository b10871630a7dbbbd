package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Environment variables through which scripts/test.sh hands the servers it
// started to every test binary, so that they share one Redis and one
// PostgreSQL instead of each starting its own.
const (
	// EnvRedisAddr holds the host:port of a Redis server, e.g. 127.0.0.1:6390.
	EnvRedisAddr = "HE_TEST_REDIS_ADDR"
	// EnvPostgresDSN holds a superuser DSN of a PostgreSQL server.
	EnvPostgresDSN = "HE_TEST_POSTGRES_DSN"
)

// shared holds the servers of this test binary; see SharedRedis.
var shared struct {
	mu       sync.Mutex
	redis    *Redis
	redisErr error
	pg       *Postgres
	pgErr    error
}

// SharedRedis returns the Redis server every test of this test binary
// shares: the one EnvRedisAddr names when set, else one redis-server the
// first call starts. Other packages' test binaries may use the same server
// at the same time: tests keep apart by key (prefix keys with t.Name()),
// never FLUSHDB or FLUSHALL, and cannot Pause, Stop or Start it (that
// panics); fault injection and whole-server commands need StartRedis.
//
// A started server is stopped by StopShared, which Main calls after the
// tests. Without Main it dies with the test binary (parent-death signal)
// and its watchdog removes its directory.
func SharedRedis(t testing.TB) *Redis {
	t.Helper()
	addr := os.Getenv(EnvRedisAddr)
	var bin string
	if addr == "" {
		bin = Binary(t, "redis-server")
	}
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.redis == nil && shared.redisErr == nil {
		if addr != "" {
			shared.redis, shared.redisErr = externalRedis(t.Context(), addr)
		} else {
			shared.redis, shared.redisErr = startRedis(context.Background(), bin, nil)
		}
		if shared.redisErr == nil {
			shared.redis.shared = true
		}
	}
	if shared.redisErr != nil {
		t.Fatalf("shared Redis: %v", shared.redisErr)
	}
	return shared.redis
}

// externalRedis describes a running server at addr after checking it answers.
func externalRedis(ctx context.Context, addr string) (*Redis, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("%s=%q: %w", EnvRedisAddr, addr, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, fmt.Errorf("%s=%q: port: %w", EnvRedisAddr, addr, err)
	}
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	if err := redisPing(ctx, addr); err != nil {
		return nil, fmt.Errorf("%s=%s does not answer: %w", EnvRedisAddr, addr, err)
	}
	return &Redis{Addr: net.JoinHostPort(host, portText), Port: port}, nil
}

// SharedPostgres returns the PostgreSQL server every test of this test
// binary shares: the one EnvPostgresDSN names when set, else a cluster the
// first call starts with default PostgresOptions. Tests keep apart with
// CreateDatabase (roles are cluster-wide: give them unique names), and
// cannot Pause, Stop or Start it (that panics); fault injection needs
// StartPostgres. Cleanup works as for SharedRedis.
func SharedPostgres(t testing.TB) *Postgres {
	t.Helper()
	dsn := os.Getenv(EnvPostgresDSN)
	var binDir string
	var cred *syscall.Credential
	if dsn == "" {
		binDir, cred = postgresTools(t)
	}
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.pg == nil && shared.pgErr == nil {
		if dsn != "" {
			shared.pg, shared.pgErr = externalPostgres(t.Context(), dsn)
		} else {
			shared.pg, shared.pgErr = startPostgres(context.Background(), binDir, cred, PostgresOptions{})
		}
		if shared.pgErr == nil {
			shared.pg.shared = true
		}
	}
	if shared.pgErr != nil {
		t.Fatalf("shared PostgreSQL: %v", shared.pgErr)
	}
	return shared.pg
}

// externalPostgres describes a running server from its superuser DSN after
// checking it accepts connections.
func externalPostgres(ctx context.Context, dsn string) (*Postgres, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", EnvPostgresDSN, err)
	}
	if err := postgresPing(ctx, dsn); err != nil {
		return nil, fmt.Errorf("%s does not accept connections: %w", EnvPostgresDSN, err)
	}
	port := int(cfg.Port)
	return &Postgres{
		Addr:     net.JoinHostPort(cfg.Host, strconv.Itoa(port)),
		Port:     port,
		Password: cfg.Password,
		superDSN: dsn,
	}, nil
}

// StopShared stops the shared servers this test binary started (not the
// ones named by EnvRedisAddr or EnvPostgresDSN) and removes their
// directories and the template all private PostgreSQL clusters are copied
// from. Main calls it; a TestMain of its own calls it after m.Run:
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		testenv.StopShared()
//		os.Exit(code)
//	}
func StopShared() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if r := shared.redis; r != nil && r.dog != nil {
		r.close()
	}
	if p := shared.pg; p != nil && p.dog != nil {
		p.close()
	}
	shared.redis, shared.redisErr = nil, nil
	shared.pg, shared.pgErr = nil, nil
	releaseTemplate()
}

// Main runs the tests of a package, stops the shared servers they started
// and exits with the tests' status. Use it as the package's TestMain:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	StopShared()
	os.Exit(code)
}
