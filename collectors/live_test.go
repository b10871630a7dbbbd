package collectors

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/health-exporter/health-exporter/breaker"
	"github.com/health-exporter/health-exporter/config"
	"github.com/health-exporter/health-exporter/internal/testenv"
)

// These tests run the real checks against real servers on loopback.

func redisDep(addr string) config.Dependency {
	d := dep("message_queue")
	d.Kind, d.TCP = "redis", nil
	d.Redis = &config.Redis{URL: "redis://" + addr + "/0", MaxMemoryRatio: 0.9, MaxClientsRatio: 0.9}
	return d
}

func postgresDep(dsn string) config.Dependency {
	d := dep("database")
	d.Kind, d.TCP = "postgres", nil
	d.Postgres = &config.Postgres{DSN: dsn, Query: "SELECT 1", MaxConnectionsRatio: 0.9}
	return d
}

// liveRunner runs real checks; the breaker probes again soon after opening so
// recovery can be watched without waiting 30 seconds.
func liveRunner(t *testing.T, deps ...config.Dependency) *Runner {
	t.Helper()
	for i := range deps {
		deps[i].MinInterval = 0
		deps[i].Breaker.OpenTimeout = 300 * time.Millisecond
		deps[i].Breaker.OpenJitter = 0
	}
	r := NewRunner(RunnerOptions{})
	t.Cleanup(r.Close)
	if err := r.Apply(&config.Config{Dependencies: deps}); err != nil {
		t.Fatal(err)
	}
	return r
}

func refreshOne(t *testing.T, r *Runner, name string, budget time.Duration) Result {
	t.Helper()
	return snapshot(t, r.Refresh(context.Background(), budget), name).Result
}

// outage drives a dependency through the story an on-call engineer lives: it
// hangs (every check times out at its deadline), the breaker opens after three
// failures, scrapes then answer at once with breaker_open, and when it comes
// back the half-open probe closes the breaker.
func outage(t *testing.T, r *Runner, name string, pause, resume func()) {
	t.Helper()
	if res := refreshOne(t, r, name, 0); res.Status != Healthy {
		t.Fatalf("before the outage: %+v", res)
	}
	pause()
	const budget = 200 * time.Millisecond
	for i := range 3 {
		res := refreshOne(t, r, name, budget)
		if res.Status != Down || res.Reason != ReasonTimeout || res.Timeout != budget {
			t.Fatalf("hung check %d: %+v", i+1, res)
		}
	}
	b := r.byName[name].breaker
	if b.State() != breaker.Open {
		t.Fatalf("breaker after 3 timeouts: %s", b.State())
	}
	res := refreshOne(t, r, name, budget)
	if res.Reason != ReasonBreakerOpen {
		t.Fatalf("open breaker: %+v", res)
	}
	if res.Duration > budget/2 {
		t.Logf("note: breaker_open answer took %s", res.Duration) // informative only: timing is not asserted
	}
	resume()
	waitFor(t, func() bool { return refreshOne(t, r, name, 2*time.Second).Status == Healthy })
	if b.State() != breaker.Closed {
		t.Fatalf("breaker after recovery: %s", b.State())
	}
}

func TestRedisCheckLive(t *testing.T) {
	srv := testenv.StartRedis(t)
	r := liveRunner(t, redisDep(srv.Addr))

	t.Run("healthy and keyspace stats", func(t *testing.T) {
		res := refreshOne(t, r, "message_queue", 0)
		if res.Status != Healthy {
			t.Fatalf("%+v", res)
		}
		c := r.byName["message_queue"].check.(*redisCheck)
		if !c.haveStats {
			t.Fatal("INFO stats not kept")
		}
	})
	t.Run("hung then back", func(t *testing.T) {
		outage(t, r, "message_queue", srv.Pause, srv.Resume)
	})
	t.Run("stopped", func(t *testing.T) {
		srv.Stop()
		res := refreshOne(t, r, "message_queue", 0)
		srv.Start()
		if res.Status != Down || res.Reason != ReasonRefused {
			t.Fatalf("stopped server: %+v", res)
		}
	})
}

func TestRedisCheckAuth(t *testing.T) {
	srv := testenv.StartRedis(t, "--requirepass", "correct-horse")
	d := redisDep(srv.Addr)
	d.Redis.Password = "wrong-horse"
	r := liveRunner(t, d)
	if res := refreshOne(t, r, "message_queue", 0); res.Status != Down || res.Reason != ReasonAuth {
		t.Fatalf("wrong password: %+v", res)
	}
	d.Redis.Password = ""
	r = liveRunner(t, d)
	if res := refreshOne(t, r, "message_queue", 0); res.Status != Down || res.Reason != ReasonAuth {
		t.Fatalf("no password: %+v", res)
	}
	d.Redis.Password = "correct-horse"
	r = liveRunner(t, d)
	if res := refreshOne(t, r, "message_queue", 0); res.Status != Healthy {
		t.Fatalf("right password: %+v", res)
	}
}

func TestRedisCheckDegradedWhenClientsRunOut(t *testing.T) {
	const maxClients = 10
	srv := testenv.StartRedis(t, "--maxclients", strconv.Itoa(maxClients))
	r := liveRunner(t, redisDep(srv.Addr))
	if res := refreshOne(t, r, "message_queue", 0); res.Status != Healthy {
		t.Fatalf("idle server: %+v", res)
	}
	// Hold connections open until more than 90% of maxclients are in use.
	for range maxClients - 1 {
		c, err := net.Dial("tcp", srv.Addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		fmt.Fprint(c, "PING\r\n")
		buf := make([]byte, 7)
		if _, err := c.Read(buf); err != nil {
			t.Fatal(err)
		}
	}
	res := refreshOne(t, r, "message_queue", 0)
	if res.Status != Degraded || res.Reason != ReasonUnexpectedResponse {
		t.Fatalf("server near maxclients: %+v", res)
	}
}

func TestPostgresCheckLive(t *testing.T) {
	pg := testenv.StartPostgres(t, testenv.PostgresOptions{Password: "pw"})
	r := liveRunner(t, postgresDep(pg.DSN("postgres", "pw", "postgres")))

	if res := refreshOne(t, r, "database", 0); res.Status != Healthy {
		t.Fatalf("healthy server: %+v", res)
	}
	t.Run("hung then back", func(t *testing.T) {
		outage(t, r, "database", pg.Pause, pg.Resume)
	})
	t.Run("stopped", func(t *testing.T) {
		pg.Stop()
		res := refreshOne(t, r, "database", 0)
		pg.Start()
		if res.Status != Down || res.Reason != ReasonRefused {
			t.Fatalf("stopped server: %+v", res)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		r := liveRunner(t, postgresDep(pg.DSN("postgres", "not-pw", "postgres")))
		if res := refreshOne(t, r, "database", 0); res.Status != Down || res.Reason != ReasonAuth {
			t.Fatalf("wrong password: %+v", res)
		}
	})
	t.Run("password from password_file", func(t *testing.T) {
		d := postgresDep(pg.DSN("postgres", "", "postgres"))
		d.Postgres.Password = "pw"
		r := liveRunner(t, d)
		if res := refreshOne(t, r, "database", 0); res.Status != Healthy {
			t.Fatalf("password given apart from the DSN: %+v", res)
		}
	})
	t.Run("query fails", func(t *testing.T) {
		d := postgresDep(pg.DSN("postgres", "pw", "postgres"))
		d.Postgres.Query = "SELECT * FROM no_such_table"
		r := liveRunner(t, d)
		if res := refreshOne(t, r, "database", 0); res.Status != Down || res.Reason != ReasonQueryFailed {
			t.Fatalf("bad query: %+v", res)
		}
	})
	t.Run("expected standby", func(t *testing.T) {
		d := postgresDep(pg.DSN("postgres", "pw", "postgres"))
		d.Postgres.Role = "standby"
		r := liveRunner(t, d)
		if res := refreshOne(t, r, "database", 0); res.Status != Degraded {
			t.Fatalf("primary where a standby is expected: %+v", res)
		}
	})
}

func TestPostgresCheckDegradedNearMaxConnections(t *testing.T) {
	pg := testenv.StartPostgres(t, testenv.PostgresOptions{Password: "pw", ExtraConf: map[string]string{
		"max_connections": "10", "superuser_reserved_connections": "0",
	}})
	dsn := pg.DSN("postgres", "pw", "postgres")
	r := liveRunner(t, postgresDep(dsn))
	if res := refreshOne(t, r, "database", 0); res.Status != Healthy {
		t.Fatalf("idle server: %+v", res)
	}
	// Nine held connections and the check's own: 10 of 10, above 90%.
	for range 9 {
		conn, err := pgxConnect(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(context.Background()) })
	}
	res := refreshOne(t, r, "database", 0)
	if res.Status != Degraded || res.Reason != ReasonUnexpectedResponse {
		t.Fatalf("server at its connection limit: %+v", res)
	}
}
