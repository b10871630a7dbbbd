package collectors

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/health-exporter/health-exporter/config"
)

var (
	descRedisHits = prometheus.NewDesc("health_redis_keyspace_hits_total",
		"Successful key lookups on the Redis server (INFO keyspace_hits): the server-wide cache hits.",
		[]string{"dependency"}, nil)
	descRedisMisses = prometheus.NewDesc("health_redis_keyspace_misses_total",
		"Failed key lookups on the Redis server (INFO keyspace_misses): the server-wide cache misses.",
		[]string{"dependency"}, nil)
)

// extraDescs are the descriptions of metrics that checkers report themselves.
var extraDescs = []*prometheus.Desc{descRedisHits, descRedisMisses, descCacheRequests, descCacheHits}

// redisCheck pings Redis, then reads INFO to judge degradation and to export
// the keyspace hit and miss counters, and the fleet cache stats of the
// configured cache prefixes. On a Cluster it asks every master, since INFO
// through a cluster client reaches an arbitrary node.
//
// Each check makes its own client and closes it when done, as the postgres
// check opens its own connection. A long-lived go-redis pool remembers dial
// errors: after PoolSize failed dials every call returns the last error,
// until a goroutine of the pool's own (dialing once a second, without the
// check's deadline) gets through. That would keep a recovered dependency
// down past its recovery and leave a goroutine dialing a dead server. A
// client per check sees a recovery on the very next check, and owns nothing
// once the check returns; it costs a connection per check, which also tests
// authentication and maxclients for real.
type redisCheck struct {
	cfg  *config.Redis
	opts *redis.UniversalOptions

	mu        sync.Mutex // guards the fields below
	stats     redisStats // summed over the nodes of the last INFO
	haveStats bool
	rejected  map[string]uint64 // rejected_connections by node, from the last INFO
	caches    []cacheStats      // from the last successful read
}

// redisStats are the INFO counters the check keeps between runs.
type redisStats struct {
	hits, misses, rejected uint64
}

func newRedisCheck(dc config.Dependency) (*redisCheck, error) {
	opts, err := redisOptions(dc.Redis)
	if err != nil {
		return nil, err
	}
	return &redisCheck{cfg: dc.Redis, opts: opts}, nil
}

// redisOptions builds go-redis options from the configuration: a URL for a
// single node, or addresses for Sentinel (with a master name) and Cluster.
// Pools stay tiny, go-redis retries nothing (the runner's policy does), a
// dial is tried once per attempt (go-redis' default is 5 dials, 100ms apart,
// and DialerRetries <= 0 means that default), and the check's context
// deadline bounds every call.
func redisOptions(cfg *config.Redis) (*redis.UniversalOptions, error) {
	opts := &redis.UniversalOptions{
		Addrs:                 cfg.Addrs,
		MasterName:            cfg.MasterName,
		Username:              cfg.Username,
		Password:              string(cfg.Password),
		DB:                    cfg.DB,
		PoolSize:              2,
		MaxRetries:            -1,
		DialerRetries:         1,
		ContextTimeoutEnabled: true,
		DisableIdentity:       true,
	}
	if cfg.URL != "" {
		u, err := redis.ParseURL(cfg.URL)
		if err != nil {
			return nil, fmt.Errorf("redis url: %w", err)
		}
		opts.Addrs = []string{u.Addr}
		opts.DB = u.DB
		opts.TLSConfig = u.TLSConfig
		if cfg.Username == "" {
			opts.Username = u.Username
		}
	}
	if cfg.TLS.Enabled {
		tc, err := cfg.TLS.Build()
		if err != nil {
			return nil, fmt.Errorf("building the TLS configuration: %w", err)
		}
		opts.TLSConfig = tc
	} else if opts.TLSConfig != nil {
		opts.TLSConfig = &tls.Config{ServerName: opts.TLSConfig.ServerName, MinVersion: tls.VersionTLS12}
	}
	return opts, nil
}

func (c *redisCheck) Check(ctx context.Context) Result {
	client := redis.NewUniversalClient(c.opts)
	defer client.Close()
	nodes, err := readRedisInfo(ctx, client)
	if err != nil {
		return Failure(Classify(err), describe(err))
	}
	var caches []cacheStats
	var cachesErr error
	if len(c.cfg.CachePrefixes) > 0 {
		caches, cachesErr = readCacheStats(ctx, client, c.cfg.CachePrefixes)
	}
	rejectedSince := c.record(nodes, caches, cachesErr)
	return evaluateRedisNodes(nodes, c.cfg, rejectedSince)
}

// redisNode is what one server answered to INFO. addr is empty for the one
// server of a single-node or Sentinel client.
type redisNode struct {
	addr string
	info redisInfo
}

// readRedisInfo pings the server and reads its INFO; on a Cluster, every
// master's, in address order.
func readRedisInfo(ctx context.Context, client redis.UniversalClient) ([]redisNode, error) {
	cluster, ok := client.(*redis.ClusterClient)
	if !ok {
		info, err := pingInfo(ctx, client)
		if err != nil {
			return nil, err
		}
		return []redisNode{{info: info}}, nil
	}
	var (
		mu    sync.Mutex
		nodes []redisNode
	)
	err := cluster.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		addr := node.Options().Addr
		info, err := pingInfo(ctx, node)
		if err != nil {
			return fmt.Errorf("node %s: %w", addr, err)
		}
		mu.Lock()
		nodes = append(nodes, redisNode{addr: addr, info: info})
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	if len(nodes) == 0 {
		return nil, WithReason(ReasonUnexpectedResponse, errors.New("cluster: no master serves a slot"))
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].addr < nodes[j].addr })
	return nodes, nil
}

func pingInfo(ctx context.Context, c redis.Cmdable) (redisInfo, error) {
	if err := c.Ping(ctx).Err(); err != nil {
		return nil, fmt.Errorf("ping: %w", redisError(err))
	}
	text, err := c.Info(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("info: %w", redisError(err))
	}
	return parseRedisInfo(text), nil
}

// record keeps the counters of a check's nodes for report, summed over the
// nodes, and returns how many connections each node rejected since the
// previous check. A node seen for the first time has no count yet.
func (c *redisCheck) record(nodes []redisNode, caches []cacheStats, cachesErr error) map[string]uint64 {
	var sum redisStats
	rejected := make(map[string]uint64, len(nodes))
	since := map[string]uint64{}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range nodes {
		s := n.info.stats()
		sum.hits += s.hits
		sum.misses += s.misses
		sum.rejected += s.rejected
		rejected[n.addr] = s.rejected
		if prev, ok := c.rejected[n.addr]; ok && s.rejected > prev {
			since[n.addr] = s.rejected - prev
		}
	}
	c.stats, c.haveStats, c.rejected = sum, true, rejected
	if cachesErr == nil {
		c.caches = caches
	}
	return since
}

// report exports the server's keyspace counters from the last INFO and the
// fleet cache stats from the last successful read of them.
func (c *redisCheck) report(ch chan<- prometheus.Metric, dependency string) {
	c.mu.Lock()
	s, ok, caches := c.stats, c.haveStats, c.caches
	c.mu.Unlock()
	if !ok {
		return
	}
	ch <- prometheus.MustNewConstMetric(descRedisHits, prometheus.CounterValue, float64(s.hits), dependency)
	ch <- prometheus.MustNewConstMetric(descRedisMisses, prometheus.CounterValue, float64(s.misses), dependency)
	reportCacheStats(ch, dependency, caches)
}

// redisError marks the errors Redis gives for bad credentials and a full
// server, which the network layer cannot tell apart from others.
func redisError(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	switch {
	case strings.HasPrefix(msg, "WRONGPASS"), strings.HasPrefix(msg, "NOAUTH"), strings.HasPrefix(msg, "NOPERM"),
		strings.Contains(msg, "invalid password"), strings.Contains(msg, "invalid username-password"):
		return WithReason(ReasonAuth, err)
	case strings.Contains(msg, "max number of clients reached"):
		return WithReason(ReasonRefused, err)
	}
	return err
}
