package cache

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/health-exporter/health-exporter/internal/testenv"
)

// startSentinel runs a Redis Sentinel watching the server at masterPort as
// "mymaster" and returns its address; it is stopped by PID at cleanup.
func startSentinel(t *testing.T, masterPort int) string {
	t.Helper()
	bin := testenv.Binary(t, "redis-server")
	dir := t.TempDir()
	port := testenv.FreePort(t)
	conf := filepath.Join(dir, "sentinel.conf")
	text := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor mymaster 127.0.0.1 %d 1\n", port, dir, masterPort)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, conf, "--sentinel")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis sentinel: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	addr := "127.0.0.1:" + strconv.Itoa(port)
	sentinel := redis.NewSentinelClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = sentinel.Close() })
	poll(t, "the sentinel to know its master", func() bool {
		return sentinel.GetMasterAddrByName(bg, "mymaster").Err() == nil
	})
	return addr
}

func TestSentinelMode(t *testing.T) {
	master := testenv.StartRedis(t)
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:                 []string{startSentinel(t, master.Port)},
		MasterName:            "mymaster",
		ContextTimeoutEnabled: true,
	})
	t.Cleanup(func() { _ = rdb.Close() })
	c, err := New(Options{Client: rdb, Name: "sentinel"})
	if err != nil {
		t.Fatal(err)
	}
	testBatch(t, c, rdb)
	// The entries are on the master the sentinel named.
	if n := client(t, master.Addr).Exists(bg, c.Tenant("acme").Key("wf:1")).Val(); n != 1 {
		t.Fatal("the entry is not on the master")
	}
}
