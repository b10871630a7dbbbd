package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Redis configures a redis check (YAML key redis). Give either URL (one
// server) or Addrs (Sentinel or Cluster), as go-redis' UniversalClient
// reads them: MasterName set means Sentinel, several Addrs without it a
// Cluster, one address a single server.
type Redis struct {
	// URL is redis://host:port/db, rediss:// for TLS, or
	// unix:///path/to/socket?db=N (url). It must not hold a password.
	URL string
	// Addrs are host:port addresses of Sentinels or Cluster nodes (addrs).
	Addrs []string
	// MasterName is the Sentinel master set (master_name); needs Addrs.
	MasterName string
	// Username is the ACL user (username). Default: none, or the URL's.
	Username string
	// Password is read from password_file, or given by password (usually
	// "${REDIS_PASSWORD}"); the two keys are exclusive. Default: none.
	Password Secret
	// DB is the database number with Addrs (db). Default 0. With URL, the
	// database is the URL's path.
	DB int
	// TLS tunes TLS (tls). With URL, rediss:// turns TLS on; with Addrs,
	// giving the block does.
	TLS TLS
	// Role is the role the server must have (role): "" for any, master or
	// replica. A replica whose master link is down is degraded.
	Role string
	// MaxMemoryRatio marks the server degraded when used_memory/maxmemory
	// exceeds it (max_memory_ratio). Default 0.9, in (0, 1]; ignored when
	// maxmemory is 0.
	MaxMemoryRatio float64
	// MaxClientsRatio marks the server degraded when connected_clients /
	// maxclients exceeds it (max_clients_ratio). Default 0.9, in (0, 1].
	MaxClientsRatio float64
	// CachePrefixes are the key prefixes of the cache package's shared
	// statistics hashes to export per tenant (cache_prefixes), e.g.
	// "cache". Default: none.
	CachePrefixes []string
}

// The Redis roles (Redis.Role).
const (
	RedisRoleMaster  = "master"
	RedisRoleReplica = "replica"
)

func (d *decoder) redis(n *yaml.Node) (*Redis, error) {
	r := &Redis{MaxMemoryRatio: 0.9, MaxClientsRatio: 0.9}
	keys, err := d.mapping(n, fields{
		"url":               d.str(&r.URL),
		"addrs":             listOf(d, &r.Addrs, parseString, hostPort),
		"master_name":       d.str(&r.MasterName, nonEmpty),
		"username":          d.str(&r.Username),
		"password":          d.secret(&r.Password),
		"password_file":     d.secretFile(&r.Password),
		"db":                d.integer(&r.DB, intAtLeast(0)),
		"tls":               d.tls(&r.TLS),
		"role":              d.str(&r.Role, oneOf("", RedisRoleMaster, RedisRoleReplica)),
		"max_memory_ratio":  d.float(&r.MaxMemoryRatio, ratio),
		"max_clients_ratio": d.float(&r.MaxClientsRatio, ratio),
		"cache_prefixes":    listOf(d, &r.CachePrefixes, parseString, cachePrefix),
	})
	if err != nil {
		return nil, err
	}
	at := resolve(n)
	if err := exclusive(keys, at, "password", "password_file"); err != nil {
		return nil, err
	}
	switch {
	case keys["url"] != nil && keys["addrs"] != nil:
		return nil, keyErr(keys, "addrs", at, "give url or addrs, not both")
	case keys["url"] == nil && keys["addrs"] == nil:
		return nil, errAt(at, "url or addrs is required")
	case keys["master_name"] != nil && keys["addrs"] == nil:
		return nil, keyErr(keys, "master_name", at, "master_name needs addrs (the Sentinels)")
	case keys["url"] != nil && keys["db"] != nil:
		return nil, keyErr(keys, "db", at, "with url, give the database in its path (redis://host:6379/1)")
	}
	if keys["addrs"] != nil {
		if len(r.Addrs) == 0 {
			return nil, keyErr(keys, "addrs", at, "at least one address is required")
		}
		return r, nil
	}
	u, err := checkRedisURL(r.URL)
	if err != nil {
		return nil, keyErr(keys, "url", at, "%w", err)
	}
	if err := schemeTLS(&r.TLS, valueOf(at, "tls"), u.Scheme == "rediss", "rediss", true); err != nil {
		return nil, keyErr(keys, "tls", at, "%w", err)
	}
	return r, nil
}

// errPasswordInURL says a URL or DSN carries a password. Messages built
// on it never repeat the URL.
var errPasswordInURL = errors.New("holds a password: remove it and use password_file (or password: ${ENV_VAR})")

// parseURL parses raw without ever echoing it: url.Parse's own error
// repeats the whole URL, password included.
func parseURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("must not be empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return nil, fmt.Errorf("invalid URL: %w", ue.Err)
		}
		return nil, errors.New("invalid URL")
	}
	if _, set := u.User.Password(); set && passwordOf(u) != "" {
		return nil, fmt.Errorf("the URL %w", errPasswordInURL)
	}
	if u.Query().Get("password") != "" {
		return nil, fmt.Errorf("the URL %w", errPasswordInURL)
	}
	return u, nil
}

func passwordOf(u *url.URL) string {
	p, _ := u.User.Password()
	return p
}

func checkRedisURL(raw string) (*url.URL, error) {
	u, err := parseURL(raw)
	if err != nil {
		return nil, err
	}
	switch u.Scheme {
	case "redis", "rediss":
		if u.Hostname() == "" {
			return nil, errors.New("the URL names no host")
		}
		if db := strings.TrimPrefix(u.Path, "/"); db != "" {
			if n, err := strconv.Atoi(db); err != nil || n < 0 {
				return nil, fmt.Errorf("the URL's path must be a database number, got %q", db)
			}
		}
	case "unix":
		if u.Path == "" {
			return nil, errors.New("the unix URL names no socket path")
		}
	default:
		return nil, fmt.Errorf("unsupported scheme %q (want redis, rediss or unix)", u.Scheme)
	}
	return u, nil
}

func (r *Redis) endpoint() string {
	if len(r.Addrs) > 0 {
		return r.Addrs[0]
	}
	u, err := url.Parse(r.URL)
	if err != nil {
		return ""
	}
	if u.Scheme == "unix" {
		return u.Path
	}
	return withPort(u, "6379")
}

// withPort returns u's host:port, with def when the URL gives no port.
func withPort(u *url.URL, def string) string {
	port := u.Port()
	if port == "" {
		port = def
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// hostPort checks a host:port address: both parts present, the port a
// number from 1 to 65535.
func hostPort(v string) string {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return fmt.Sprintf("%q is not host:port", v)
	}
	if host == "" {
		return fmt.Sprintf("%q names no host", v)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Sprintf("%q: port must be a number from 1 to 65535", v)
	}
	return ""
}

func cachePrefix(v string) string {
	if v == "" || strings.ContainsAny(v, " \t\r\n") {
		return fmt.Sprintf("%q is not a key prefix (non-empty, no white space)", v)
	}
	return ""
}

// exclusive reports an error when both a and b were given.
func exclusive(keys map[string]*yaml.Node, at *yaml.Node, a, b string) error {
	if keys[a] != nil && keys[b] != nil {
		return keyErr(keys, b, at, "give %s or %s, not both", a, b)
	}
	return nil
}
