package collectors

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/health-exporter/health-exporter/config"
)

// redisInfoText is INFO as a healthy standalone master answers it, with
// fields replaced or added by overrides ("key:value").
func redisInfoText(overrides ...string) string {
	fields := []string{
		"# Server", "redis_version:7.0.15", "executable:/usr/bin/redis-server", "config_file:",
		"# Clients", "connected_clients:3", "maxclients:10000",
		"# Memory", "used_memory:1048576", "maxmemory:0",
		"# Persistence", "loading:0",
		"# Stats", "keyspace_hits:120", "keyspace_misses:30", "rejected_connections:2",
		"# Replication", "role:master", "connected_slaves:0",
		"# Keyspace", "db0:keys=12,expires=0,avg_ttl=0",
	}
	for _, o := range overrides {
		key, _, _ := strings.Cut(o, ":")
		replaced := false
		for i, f := range fields {
			if strings.HasPrefix(f, key+":") {
				fields[i], replaced = o, true
			}
		}
		if !replaced {
			fields = append(fields, o)
		}
	}
	return strings.Join(fields, "\r\n") + "\r\n"
}

func TestParseRedisInfo(t *testing.T) {
	info := parseRedisInfo(redisInfoText())
	want := map[string]string{
		"redis_version": "7.0.15",
		"executable":    "/usr/bin/redis-server", // values keep their own colons
		"config_file":   "",
		"role":          "master",
		"db0":           "keys=12,expires=0,avg_ttl=0",
	}
	for k, v := range want {
		if got, ok := info[k]; !ok || got != v {
			t.Errorf("info[%q] = %q (present %v), want %q", k, got, ok, v)
		}
	}
	if _, ok := info["# Server"]; ok {
		t.Error("a section header was read as a field")
	}
	if s := info.stats(); s != (redisStats{hits: 120, misses: 30, rejected: 2}) {
		t.Errorf("stats = %+v", s)
	}
	if s := parseRedisInfo("keyspace_hits:lots\n").stats(); s != (redisStats{}) {
		t.Errorf("unreadable counters = %+v, want zeros", s)
	}
}

func TestEvaluateRedis(t *testing.T) {
	defaults := config.Redis{MaxMemoryRatio: 0.9, MaxClientsRatio: 0.9}
	withRole := func(role string) config.Redis { c := defaults; c.Role = role; return c }
	tests := []struct {
		name     string
		info     string
		cfg      config.Redis
		rejected uint64
		status   Status
		detail   string
	}{
		{"healthy", redisInfoText(), defaults, 0, Healthy, "redis 7.0.15, role master"},
		{"loading", redisInfoText("loading:1"), defaults, 0, Degraded, "loading its dataset into memory"},
		{"replica where a master is expected", redisInfoText("role:slave", "master_link_status:up"), withRole("master"), 0, Degraded, "role is replica, expected master"},
		{"master where a replica is expected", redisInfoText(), withRole("replica"), 0, Degraded, "role is master, expected replica"},
		{"replica as expected", redisInfoText("role:slave", "master_link_status:up"), withRole("replica"), 0, Healthy, "redis 7.0.15, role replica"},
		{"replica with its master link down", redisInfoText("role:slave", "master_link_status:down"), defaults, 0, Degraded, "replication link to the master is down"},
		{"memory over the ratio", redisInfoText("used_memory:950", "maxmemory:1000"), defaults, 0, Degraded, "memory at 95% of maxmemory"},
		{"memory at the ratio", redisInfoText("used_memory:900", "maxmemory:1000"), defaults, 0, Healthy, "redis 7.0.15, role master"},
		{"no maxmemory", redisInfoText("used_memory:999999999", "maxmemory:0"), defaults, 0, Healthy, "redis 7.0.15, role master"},
		{"clients over the ratio", redisInfoText("connected_clients:95", "maxclients:100"), defaults, 0, Degraded, "95 of 100 client connections in use"},
		{"clients at the ratio", redisInfoText("connected_clients:90", "maxclients:100"), defaults, 0, Healthy, "redis 7.0.15, role master"},
		{"rejected since the last check", redisInfoText(), defaults, 3, Degraded, "rejected 3 connections since the last check (maxclients reached)"},
		{"no version", "role:master\n", defaults, 0, Healthy, "PONG"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			res := evaluateRedis(parseRedisInfo(tt.info), &cfg, tt.rejected)
			wantReason := ReasonNone
			if tt.status != Healthy {
				wantReason = ReasonUnexpectedResponse
			}
			if res.Status != tt.status || res.Reason != wantReason || res.Detail != tt.detail {
				t.Errorf("got %s/%s %q, want %s/%s %q", res.Status, res.Reason, res.Detail, tt.status, wantReason, tt.detail)
			}
		})
	}
}

func TestEvaluateRedisNodes(t *testing.T) {
	cfg := &config.Redis{MaxMemoryRatio: 0.9, MaxClientsRatio: 0.9}
	healthy := parseRedisInfo(redisInfoText())
	full := parseRedisInfo(redisInfoText("used_memory:990", "maxmemory:1000"))
	loading := parseRedisInfo(redisInfoText("loading:1"))
	tests := []struct {
		name     string
		nodes    []redisNode
		rejected map[string]uint64
		status   Status
		detail   string
	}{
		{"one server", []redisNode{{info: healthy}}, nil, Healthy, "redis 7.0.15, role master"},
		{"one server rejecting", []redisNode{{info: healthy}}, map[string]uint64{"": 4}, Degraded, "rejected 4 connections since the last check (maxclients reached)"},
		{"healthy cluster", []redisNode{{"10.0.0.1:6379", healthy}, {"10.0.0.2:6379", healthy}}, nil, Healthy, "cluster of 2 masters, redis 7.0.15"},
		{"one master full", []redisNode{{"10.0.0.1:6379", healthy}, {"10.0.0.2:6379", full}}, nil, Degraded, "node 10.0.0.2:6379: memory at 99% of maxmemory"},
		{"first degraded node wins a tie", []redisNode{{"10.0.0.1:6379", loading}, {"10.0.0.2:6379", full}}, nil, Degraded, "node 10.0.0.1:6379: loading its dataset into memory"},
		{"rejections on one master", []redisNode{{"10.0.0.1:6379", healthy}, {"10.0.0.2:6379", healthy}}, map[string]uint64{"10.0.0.2:6379": 1}, Degraded, "node 10.0.0.2:6379: rejected 1 connections since the last check (maxclients reached)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := evaluateRedisNodes(tt.nodes, cfg, tt.rejected)
			if res.Status != tt.status || res.Detail != tt.detail {
				t.Errorf("got %s %q, want %s %q", res.Status, res.Detail, tt.status, tt.detail)
			}
		})
	}
}

// TestRedisRecordPerNode: counters are summed over the masters, and
// rejections are counted per node, whatever order the nodes answer in.
func TestRedisRecordPerNode(t *testing.T) {
	c := &redisCheck{cfg: &config.Redis{}}
	a := redisNode{"10.0.0.1:6379", parseRedisInfo("keyspace_hits:100\nkeyspace_misses:10\nrejected_connections:50\n")}
	b := redisNode{"10.0.0.2:6379", parseRedisInfo("keyspace_hits:7\nkeyspace_misses:3\nrejected_connections:2\n")}
	if since := c.record([]redisNode{a, b}, nil, nil); len(since) != 0 {
		t.Fatalf("first check: %v, want no count without a previous one", since)
	}
	if c.stats.hits != 107 || c.stats.misses != 13 {
		t.Fatalf("summed stats %+v", c.stats)
	}
	if since := c.record([]redisNode{b, a}, nil, nil); len(since) != 0 {
		t.Fatalf("same counters in another order: %v", since)
	}
	b.info = parseRedisInfo("keyspace_hits:8\nkeyspace_misses:3\nrejected_connections:5\n")
	newNode := redisNode{"10.0.0.3:6379", parseRedisInfo("rejected_connections:9\n")}
	since := c.record([]redisNode{newNode, b, a}, nil, nil)
	if len(since) != 1 || since[b.addr] != 3 {
		t.Fatalf("rejections since: %v, want 3 on %s only", since, b.addr)
	}
}

func TestRedisError(t *testing.T) {
	tests := []struct {
		msg  string
		want Reason
	}{
		{"WRONGPASS invalid username-password pair or user is disabled.", ReasonAuth},
		{"NOAUTH Authentication required.", ReasonAuth},
		{"NOPERM User monitor has no permissions to run the 'info' command", ReasonAuth},
		{"ERR invalid password", ReasonAuth},
		{"ERR max number of clients reached", ReasonRefused},
		{"LOADING Redis is loading the dataset in memory", ReasonError},
		{"ERR unknown command 'INFO'", ReasonError},
	}
	for _, tt := range tests {
		err := redisError(errors.New(tt.msg))
		if got := Classify(err); got != tt.want {
			t.Errorf("%q: %s, want %s", tt.msg, got, tt.want)
		}
		if got := Classify(fmt.Errorf("ping: %w", err)); got != tt.want {
			t.Errorf("%q wrapped: %s, want %s", tt.msg, got, tt.want)
		}
		if err.Error() != tt.msg {
			t.Errorf("redisError changed the message: %q", err.Error())
		}
	}
	if redisError(nil) != nil {
		t.Error("redisError(nil) must stay nil")
	}
}
