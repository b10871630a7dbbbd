package collectors

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/health-exporter/health-exporter/config"
	"github.com/health-exporter/health-exporter/internal/testenv"
)

// These tests run the redis check itself, without a runner or breaker, so
// that every call really reaches the server.

func newTestRedisCheck(t *testing.T, d config.Dependency) *redisCheck {
	t.Helper()
	c, err := newRedisCheck(d)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func checkRedis(t *testing.T, c *redisCheck) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.Check(ctx)
}

// eventually polls cond until it holds, failing the test after 10s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// noGoroutinesLeft waits until no more goroutines run than before.
func noGoroutinesLeft(t *testing.T, before int) {
	t.Helper()
	eventually(t, fmt.Sprintf("goroutines back to %d (now %d)", before, runtime.NumGoroutine()), func() bool {
		return runtime.NumGoroutine() <= before
	})
}

func TestRedisCheckDialsOncePerAttempt(t *testing.T) {
	c := newTestRedisCheck(t, redisDep("127.0.0.1:6379"))
	var dials atomic.Int32
	c.opts.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return nil, &net.OpError{Op: "dial", Net: network, Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}
	}
	before := runtime.NumGoroutine()
	for i := range 4 {
		if res := checkRedis(t, c); res.Status != Down || res.Reason != ReasonRefused {
			t.Fatalf("check %d: %+v", i+1, res)
		}
		if got := dials.Load(); got != int32(i+1) {
			t.Fatalf("after %d checks: %d dials, want one per check", i+1, got)
		}
	}
	noGoroutinesLeft(t, before) // no redialing behind the check's back
	if got := dials.Load(); got != 4 {
		t.Fatalf("dials after the checks returned: %d, want 4", got)
	}
}

// TestRedisCheckSeesRecoveryAtOnce: after failed dials, a server that is
// back answers the very next check.
func TestRedisCheckSeesRecoveryAtOnce(t *testing.T) {
	srv := testenv.StartRedis(t)
	c := newTestRedisCheck(t, redisDep(srv.Addr))
	if res := checkRedis(t, c); res.Status != Healthy {
		t.Fatalf("up: %+v", res)
	}
	before := runtime.NumGoroutine()
	srv.Stop()
	for i := range 3 {
		if res := checkRedis(t, c); res.Status != Down || res.Reason != ReasonRefused {
			t.Fatalf("stopped, check %d: %+v", i+1, res)
		}
	}
	noGoroutinesLeft(t, before)
	srv.Start()
	if res := checkRedis(t, c); res.Status != Healthy {
		t.Fatalf("first check after the restart: %+v", res)
	}
}

// startRedisCluster starts a one-node Redis Cluster: cluster mode on and
// every slot assigned to the one node.
func startRedisCluster(t *testing.T) *testenv.Redis {
	t.Helper()
	srv := testenv.StartRedis(t, "--cluster-enabled", "yes")
	node := redis.NewClient(&redis.Options{Addr: srv.Addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = node.Close() })
	ctx := context.Background()
	if err := node.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", "0", "16383").Err(); err != nil {
		t.Fatalf("CLUSTER ADDSLOTSRANGE: %v", err)
	}
	waitClusterOK(t, node)
	return srv
}

func waitClusterOK(t *testing.T, node *redis.Client) {
	t.Helper()
	eventually(t, "cluster_state:ok", func() bool {
		info, err := node.ClusterInfo(context.Background()).Result()
		return err == nil && strings.Contains(info, "cluster_state:ok")
	})
}

func clusterDep(addrs ...string) config.Dependency {
	d := redisDep("")
	d.Redis.URL, d.Redis.Addrs = "", addrs
	return d
}

func TestRedisCheckCluster(t *testing.T) {
	srv := startRedisCluster(t)
	ctx := context.Background()
	node := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = node.Close() })
	// Two seed addresses make go-redis' UniversalClient a cluster client.
	c := newTestRedisCheck(t, clusterDep(srv.Addr, srv.Addr))
	if probe := redis.NewUniversalClient(c.opts); true {
		_, isCluster := probe.(*redis.ClusterClient)
		probe.Close()
		if !isCluster {
			t.Fatal("the options do not make a cluster client")
		}
	}
	before := runtime.NumGoroutine()

	res := checkRedis(t, c)
	if res.Status != Healthy || !strings.HasPrefix(res.Detail, "cluster of 1 master, redis ") {
		t.Fatalf("healthy cluster: %+v", res)
	}

	t.Run("keyspace counters are the masters'", func(t *testing.T) {
		cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{srv.Addr}})
		defer cc.Close()
		if err := cc.Set(ctx, "k", "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
		for range 5 {
			cc.Get(ctx, "k")
		}
		for range 3 {
			cc.Get(ctx, "missing")
		}
		if res := checkRedis(t, c); res.Status != Healthy {
			t.Fatalf("%+v", res)
		}
		info := parseRedisInfo(node.Info(ctx, "stats").Val())
		c.mu.Lock()
		got := c.stats
		c.mu.Unlock()
		if got.hits != info.uint("keyspace_hits") || got.misses != info.uint("keyspace_misses") || got.hits < 5 || got.misses < 3 {
			t.Fatalf("kept %+v, the node says hits %s misses %s", got, info["keyspace_hits"], info["keyspace_misses"])
		}
	})

	t.Run("a degraded node is named", func(t *testing.T) {
		if err := node.ConfigSet(ctx, "maxmemory", "100000").Err(); err != nil {
			t.Fatal(err)
		}
		defer node.ConfigSet(ctx, "maxmemory", "0")
		res := checkRedis(t, c)
		// A lone cluster node may not know its own IP: CLUSTER SLOTS names it ":port".
		port := fmt.Sprint(srv.Port)
		if res.Status != Degraded || !strings.HasPrefix(res.Detail, "node ") || !strings.Contains(res.Detail, ":"+port+": memory at ") {
			t.Fatalf("node over maxmemory: %+v", res)
		}
	})

	t.Run("stopped, then back", func(t *testing.T) {
		srv.Stop()
		if res := checkRedis(t, c); res.Status != Down || res.Reason != ReasonRefused {
			t.Fatalf("stopped node: %+v", res)
		}
		srv.Start()
		waitClusterOK(t, node)
		if res := checkRedis(t, c); res.Status != Healthy {
			t.Fatalf("node back: %+v", res)
		}
	})
	noGoroutinesLeft(t, before)
}

// startSentinel runs a Redis Sentinel on 127.0.0.1 that watches master
// (as "mymaster", never failing it over within a test) and stops it when
// the test ends.
func startSentinel(t *testing.T, master *testenv.Redis) string {
	t.Helper()
	bin := testenv.Binary(t, "redis-server")
	dir := t.TempDir()
	addr := net.JoinHostPort("127.0.0.1", fmt.Sprint(testenv.FreePort(t)))
	_, port, _ := net.SplitHostPort(addr)
	conf := filepath.Join(dir, "sentinel.conf")
	text := fmt.Sprintf("port %s\nbind 127.0.0.1\ndir %s\nsentinel monitor mymaster 127.0.0.1 %d 1\nsentinel down-after-milliseconds mymaster 600000\n", port, dir, master.Port)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(dir, "sentinel.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, conf, "--sentinel")
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sentinel: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logFile.Close()
	})
	sentinel := redis.NewSentinelClient(&redis.Options{Addr: addr})
	defer sentinel.Close()
	eventually(t, "sentinel knows mymaster", func() bool {
		a, err := sentinel.GetMasterAddrByName(context.Background(), "mymaster").Result()
		return err == nil && len(a) == 2 && a[1] == fmt.Sprint(master.Port)
	})
	return addr
}

func TestRedisCheckSentinel(t *testing.T) {
	master := testenv.StartRedis(t)
	sentinel := startSentinel(t, master)
	d := clusterDep(sentinel)
	d.Redis.MasterName = "mymaster"
	c := newTestRedisCheck(t, d)
	before := runtime.NumGoroutine()
	for i := range 5 {
		if res := checkRedis(t, c); res.Status != Healthy || !strings.Contains(res.Detail, "role master") {
			t.Fatalf("check %d through the Sentinel: %+v", i+1, res)
		}
	}
	noGoroutinesLeft(t, before)

	master.Stop()
	if res := checkRedis(t, c); res.Status != Down || res.Reason != ReasonRefused {
		t.Fatalf("master stopped: %+v", res)
	}
	master.Start()
	if res := checkRedis(t, c); res.Status != Healthy {
		t.Fatalf("master back: %+v", res)
	}
	noGoroutinesLeft(t, before)
}
