package cache

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/health-exporter/health-exporter/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// client returns a go-redis client of the server at addr, closed at cleanup.
func client(t *testing.T, addr string) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// testPrefix keeps each test's keys apart on the shared server.
func testPrefix(t *testing.T) string {
	return "test:" + strings.NewReplacer("/", ".", " ", "_").Replace(t.Name())
}

// sharedCache returns a cache on the shared Redis with a prefix of the
// test's own, whose keys an earlier run (go test -count) left are deleted,
// and the cache's client.
func sharedCache(t *testing.T, opts Options) (*Cache, *redis.Client) {
	t.Helper()
	rdb := client(t, testenv.SharedRedis(t).Addr)
	opts.Client = rdb
	if opts.Prefix == "" {
		opts.Prefix = testPrefix(t)
	}
	iter := rdb.Scan(context.Background(), 0, opts.Prefix+"*", 1000).Iterator()
	for iter.Next(context.Background()) {
		if err := rdb.Del(context.Background(), iter.Val()).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	c, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c, rdb
}

// poll calls cond until it holds, failing the test after 10s.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// counts reads a tenant view's counters.
func counts(t *Tenant) (requests, hitsLocal, hitsRedis uint64) {
	return t.stats.counts()
}

// fakeClock is a clock for breakers that tests move by hand.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	f := &fakeClock{}
	f.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return f
}

func (f *fakeClock) Now() time.Time          { return time.Unix(0, f.ns.Load()) }
func (f *fakeClock) Advance(d time.Duration) { f.ns.Add(int64(d)) }

var bg = context.Background()
