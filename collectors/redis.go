package collectors

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"strconv"
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
// configured cache prefixes.
type redisCheck struct {
	cfg    *config.Redis
	client redis.UniversalClient

	mu        sync.Mutex
	stats     redisStats
	haveStats bool
	caches    []cacheStats // from the last successful read
}

// redisStats are the INFO fields the check keeps between runs.
type redisStats struct {
	hits, misses, rejected uint64
}

func newRedisCheck(dc config.Dependency) (*redisCheck, error) {
	opts, err := redisOptions(dc.Redis)
	if err != nil {
		return nil, err
	}
	return &redisCheck{cfg: dc.Redis, client: redis.NewUniversalClient(opts)}, nil
}

// redisOptions builds go-redis options from the configuration: a URL for a
// single node, or addresses for Sentinel (with a master name) and Cluster.
// Pools stay tiny, go-redis retries nothing (the runner's policy does), and
// the check's context deadline bounds every call.
func redisOptions(cfg *config.Redis) (*redis.UniversalOptions, error) {
	opts := &redis.UniversalOptions{
		Addrs:                 cfg.Addrs,
		MasterName:            cfg.MasterName,
		Username:              cfg.Username,
		Password:              string(cfg.Password),
		DB:                    cfg.DB,
		PoolSize:              2,
		MaxRetries:            -1,
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
			return nil, err
		}
		opts.TLSConfig = tc
	} else if opts.TLSConfig != nil {
		opts.TLSConfig = &tls.Config{ServerName: opts.TLSConfig.ServerName, MinVersion: tls.VersionTLS12}
	}
	return opts, nil
}

// Close closes the client's connections.
func (c *redisCheck) Close() error { return c.client.Close() }

func (c *redisCheck) Check(ctx context.Context) Result {
	if err := c.client.Ping(ctx).Err(); err != nil {
		return errorResult("ping", redisError(err))
	}
	text, err := c.client.Info(ctx).Result()
	if err != nil {
		return errorResult("info", redisError(err))
	}
	info := parseRedisInfo(text)
	var caches []cacheStats
	var cachesErr error
	if len(c.cfg.CachePrefixes) > 0 {
		caches, cachesErr = readCacheStats(ctx, c.client, c.cfg.CachePrefixes)
	}
	c.mu.Lock()
	prev, had := c.stats, c.haveStats
	c.stats, c.haveStats = info.stats(), true
	if cachesErr == nil {
		c.caches = caches
	}
	c.mu.Unlock()
	var rejectedSince uint64
	if had && info.stats().rejected > prev.rejected {
		rejectedSince = info.stats().rejected - prev.rejected
	}
	return evaluateRedis(info, c.cfg, rejectedSince)
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

// redisInfo is the parsed text of INFO: "field:value" lines under "# Section"
// headers.
type redisInfo map[string]string

func parseRedisInfo(text string) redisInfo {
	info := redisInfo{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			info[k] = v
		}
	}
	return info
}

func (i redisInfo) uint(key string) uint64 {
	n, _ := strconv.ParseUint(i[key], 10, 64)
	return n
}

func (i redisInfo) stats() redisStats {
	return redisStats{hits: i.uint("keyspace_hits"), misses: i.uint("keyspace_misses"), rejected: i.uint("rejected_connections")}
}

// evaluateRedis judges a server that answered PING from its INFO; it does no
// I/O. rejectedSince is how many connections the server rejected since the
// previous check.
func evaluateRedis(info redisInfo, cfg *config.Redis, rejectedSince uint64) Result {
	role := info["role"]
	if role == "slave" {
		role = "replica"
	}
	switch {
	case info["loading"] == "1":
		return Degradation(ReasonUnexpectedResponse, "loading its dataset into memory")
	case cfg.Role != "" && role != "" && cfg.Role != role:
		return Degradation(ReasonUnexpectedResponse, fmt.Sprintf("role is %s, expected %s", role, cfg.Role))
	case role == "replica" && info["master_link_status"] != "" && info["master_link_status"] != "up":
		return Degradation(ReasonUnexpectedResponse, "replication link to the master is "+info["master_link_status"])
	}
	if max := info.uint("maxmemory"); max > 0 && cfg.MaxMemoryRatio > 0 {
		if used := info.uint("used_memory"); float64(used) > cfg.MaxMemoryRatio*float64(max) {
			return Degradation(ReasonUnexpectedResponse, fmt.Sprintf("memory at %.0f%% of maxmemory", 100*float64(used)/float64(max)))
		}
	}
	if max := info.uint("maxclients"); max > 0 && cfg.MaxClientsRatio > 0 {
		if n := info.uint("connected_clients"); float64(n) > cfg.MaxClientsRatio*float64(max) {
			return Degradation(ReasonUnexpectedResponse, fmt.Sprintf("%d of %d client connections in use", n, max))
		}
	}
	if rejectedSince > 0 {
		return Degradation(ReasonUnexpectedResponse, fmt.Sprintf("rejected %d connections since the last check (maxclients reached)", rejectedSince))
	}
	detail := "PONG"
	if v := info["redis_version"]; v != "" {
		detail = fmt.Sprintf("redis %s, role %s", v, role)
	}
	return Result{Detail: detail}
}
