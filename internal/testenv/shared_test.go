package testenv

import (
	"strings"
	"testing"
)

// mustPanic runs f and fails the test unless it panics with want in the message.
func mustPanic(t *testing.T, want string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		msg, _ := recover().(string)
		if !strings.Contains(msg, want) {
			t.Errorf("panic %q, want one mentioning %q", msg, want)
		}
	}()
	f()
}

func TestSharedRedisRefusesFaults(t *testing.T) {
	t.Parallel()
	r := SharedRedis(t)
	if SharedRedis(t) != r {
		t.Error("a second call returned another server")
	}
	redisDo(t, r.Addr, "SET", t.Name(), "v")
	for name, op := range map[string]func(){"Pause": r.Pause, "Resume": r.Resume, "Stop": r.Stop, "Start": r.Start} {
		mustPanic(t, name+" on a shared Redis", op)
	}
	if got := redisDo(t, r.Addr, "GET", t.Name()); got != "v" {
		t.Errorf("GET = %q after refused faults", got)
	}
}

func TestSharedPostgresRefusesFaults(t *testing.T) {
	t.Parallel()
	p := SharedPostgres(t)
	for name, op := range map[string]func(){"Pause": p.Pause, "Resume": p.Resume, "Stop": p.Stop, "Start": p.Start} {
		mustPanic(t, name+" on a shared PostgreSQL", op)
	}
	if got := pgQuery(t, pgConnect(t, p.SuperuserDSN()), "SELECT 'up'"); got != "up" {
		t.Errorf("query = %q after refused faults", got)
	}
}

// TestExternalServers covers what SharedRedis and SharedPostgres do with
// the addresses scripts/test.sh exports.
func TestExternalServers(t *testing.T) {
	t.Parallel()
	r := StartRedis(t)
	p := StartPostgres(t, PostgresOptions{Password: "ext"})

	er, err := externalRedis(t.Context(), r.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if er.Addr != r.Addr || er.Port != r.Port || er.PID() != 0 {
		t.Errorf("externalRedis = %+v, want %s port %d and no PID", er, r.Addr, r.Port)
	}

	ep, err := externalPostgres(t.Context(), p.SuperuserDSN())
	if err != nil {
		t.Fatal(err)
	}
	if ep.Addr != p.Addr || ep.Port != p.Port || ep.Password != "ext" || ep.SuperuserDSN() != p.SuperuserDSN() || ep.PID() != 0 {
		t.Errorf("externalPostgres = %+v, want %s port %d password ext", ep, p.Addr, p.Port)
	}
	t.Run("CreateDatabase", func(t *testing.T) {
		db := ep.CreateDatabase(t)
		if got := pgQuery(t, pgConnect(t, ep.DSN("postgres", "ext", db)), "SELECT current_database()"); got != db {
			t.Errorf("current_database() = %q, want %q", got, db)
		}
	})

	r.Stop()
	if _, err := externalRedis(t.Context(), r.Addr); err == nil {
		t.Error("externalRedis accepted an address nothing listens on")
	}
	p.Stop()
	if _, err := externalPostgres(t.Context(), p.SuperuserDSN()); err == nil {
		t.Error("externalPostgres accepted a server that is down")
	}
	for _, bad := range []string{"no-port", "127.0.0.1:port"} {
		if _, err := externalRedis(t.Context(), bad); err == nil || !strings.Contains(err.Error(), EnvRedisAddr) {
			t.Errorf("externalRedis(%q) error = %v, want one naming %s", bad, err, EnvRedisAddr)
		}
	}
}
