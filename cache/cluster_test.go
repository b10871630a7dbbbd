package cache

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/health-exporter/health-exporter/internal/testenv"
)

// clusterClient starts a one-node Redis Cluster (cluster mode on, every
// slot assigned to the one node) and returns a cluster client of it.
func clusterClient(t *testing.T) *redis.ClusterClient {
	t.Helper()
	srv := testenv.StartRedis(t, "--cluster-enabled", "yes")
	node := client(t, srv.Addr)
	if err := node.Do(bg, "CLUSTER", "ADDSLOTSRANGE", "0", "16383").Err(); err != nil {
		t.Fatalf("CLUSTER ADDSLOTSRANGE: %v", err)
	}
	poll(t, "cluster_state:ok", func() bool {
		info, err := node.ClusterInfo(bg).Result()
		return err == nil && strings.Contains(info, "cluster_state:ok")
	})
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{srv.Addr}, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

func TestClusterMode(t *testing.T) {
	rdb := clusterClient(t)
	var uc redis.UniversalClient = rdb
	c, err := New(Options{Client: uc, Name: "clustered"})
	if err != nil {
		t.Fatal(err)
	}
	v := c.Tenant("acme")

	var keys []string
	slots := map[int64]bool{}
	for i := range 50 {
		k := fmt.Sprint("wf:", i)
		keys = append(keys, k)
		slots[rdb.ClusterKeySlot(bg, v.Key(k)).Val()] = true
	}
	if len(slots) < 10 {
		t.Fatalf("the batch spans only %d slots", len(slots))
	}
	// The batch could not be one multi-key command here.
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = v.Key(k)
	}
	if err := rdb.Do(bg, append([]any{"MGET"}, toAny(full)...)...).Err(); err == nil || !strings.Contains(err.Error(), "CROSSSLOT") {
		t.Fatalf("MGET across slots = %v, want CROSSSLOT", err)
	}

	testBatch(t, c, rdb)

	if err := v.Set(bg, "single", "x"); err != nil {
		t.Fatal(err)
	}
	var s string
	if found, err := v.Get(bg, "single", &s); !found || err != nil || s != "x" {
		t.Fatalf("Get = %v, %v, %q", found, err, s)
	}
	got, err := GetOrLoad(bg, v, "loaded", func(context.Context) (int, error) { return 9, nil })
	if err != nil || got != 9 {
		t.Fatalf("GetOrLoad = %d, %v", got, err)
	}
	if err := v.Delete(bg, "single"); err != nil {
		t.Fatal(err)
	}
	if err := c.FlushStats(bg); err != nil {
		t.Fatalf("FlushStats across slots: %v", err)
	}
	if n := rdb.HGet(bg, StatsKey(DefaultPrefix, "clustered"), "acme:requests").Val(); n != "53" {
		t.Fatalf("stats hash acme:requests = %q, want 53", n)
	}
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
