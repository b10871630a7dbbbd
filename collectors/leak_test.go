package collectors

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/health-exporter/health-exporter/internal/testenv"
)

// TestHungDependencyDoesNotPileUp scrapes a hung Redis and a hung PostgreSQL
// many times with breakers that never open, so every scrape really tries:
// the goroutines in use must not grow with the number of scrapes, and all of
// them must be gone once the runner is closed.
func TestHungDependencyDoesNotPileUp(t *testing.T) {
	srv := testenv.StartRedis(t)
	pg := testenv.StartPostgres(t, testenv.PostgresOptions{Password: "pw"})
	rd, pd := redisDep(srv.Addr), postgresDep(pg.DSN("postgres", "pw", "postgres"))
	rd.Breaker.FailureThreshold, pd.Breaker.FailureThreshold = 1<<20, 1<<20
	base := runtime.NumGoroutine()
	r := liveRunner(t, rd, pd)
	r.Refresh(context.Background(), 0)

	srv.Pause()
	pg.Pause()
	scrape := func(n int) {
		for range n {
			for _, s := range r.Refresh(context.Background(), 30*time.Millisecond) {
				if s.Result.Status != Down || s.Result.Reason != ReasonTimeout {
					t.Fatalf("hung %s: %+v", s.Name, s.Result)
				}
			}
		}
	}
	scrape(10)
	after10 := settledGoroutines()
	scrape(40)
	after50 := settledGoroutines()
	if after50 > after10+4 {
		t.Errorf("goroutines grow with scrapes of a hung dependency: %d after 10 scrapes, %d after 50", after10, after50)
	}
	srv.Resume()
	pg.Resume()
	r.Close()
	waitFor(t, func() bool { return runtime.NumGoroutine() <= base+2 })
}

// settledGoroutines counts goroutines once the count stops moving.
func settledGoroutines() int {
	n := runtime.NumGoroutine()
	for range 50 {
		time.Sleep(10 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m == n {
			return m
		}
		n = m
	}
	return n
}
