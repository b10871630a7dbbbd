package collectors

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"

	"github.com/health-exporter/health-exporter/config"
)

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
	return Result{Detail: tidyDetail(detail)}
}

// evaluateRedisNodes judges each node and reports the worst, naming the
// node when they are a Cluster's; it does no I/O. rejectedSince is by node
// address.
func evaluateRedisNodes(nodes []redisNode, cfg *config.Redis, rejectedSince map[string]uint64) Result {
	if len(nodes) == 1 && nodes[0].addr == "" {
		return evaluateRedis(nodes[0].info, cfg, rejectedSince[""])
	}
	var worst Result
	var at string
	for i, n := range nodes {
		if res := evaluateRedis(n.info, cfg, rejectedSince[n.addr]); i == 0 || res.Status > worst.Status {
			worst, at = res, n.addr
		}
	}
	if worst.Status != Healthy {
		worst.Detail = tidyDetail("node " + at + ": " + worst.Detail)
		return worst
	}
	masters := "masters"
	if len(nodes) == 1 {
		masters = "master"
	}
	return Result{Detail: tidyDetail(fmt.Sprintf("cluster of %d %s, redis %s", len(nodes), masters, nodes[0].info["redis_version"]))}
}
