package config

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"gopkg.in/yaml.v3"
)

// Postgres configures a postgres check (YAML key postgres).
type Postgres struct {
	// DSN is a libpq connection string, URL (postgres://user@host:5432/db)
	// or key=value form (dsn). TLS is its sslmode. It must not hold a
	// password.
	DSN string
	// Password is read from password_file, or given by password (usually
	// "${PGPASSWORD}"); the two keys are exclusive. Default: none.
	Password Secret
	// Query is run to check the server (query). Default "SELECT 1".
	Query string
	// Role is the role the server must have (role): "" for any, primary or
	// standby.
	Role string
	// MaxConnectionsRatio marks the server degraded when its connections
	// exceed this share of max_connections (max_connections_ratio).
	// Default 0.9, in (0, 1].
	MaxConnectionsRatio float64
}

// The PostgreSQL roles (Postgres.Role).
const (
	PostgresRolePrimary = "primary"
	PostgresRoleStandby = "standby"
)

func (d *decoder) postgres(n *yaml.Node) (*Postgres, error) {
	p := &Postgres{Query: "SELECT 1", MaxConnectionsRatio: 0.9}
	keys, err := d.mapping(n, fields{
		"dsn":                   d.str(&p.DSN),
		"password":              d.secret(&p.Password),
		"password_file":         d.secretFile(&p.Password),
		"query":                 d.str(&p.Query, nonEmpty),
		"role":                  d.str(&p.Role, oneOf("", PostgresRolePrimary, PostgresRoleStandby)),
		"max_connections_ratio": d.float(&p.MaxConnectionsRatio, ratio),
	})
	if err != nil {
		return nil, err
	}
	if err := checkDSNBlock(keys, resolve(n), p.DSN); err != nil {
		return nil, err
	}
	return p, nil
}

// checkDSNBlock checks what every block holding a PostgreSQL DSN must
// satisfy: a dsn without a password in it, and at most one of password and
// password_file.
func checkDSNBlock(keys map[string]*yaml.Node, at *yaml.Node, dsn string) error {
	if err := exclusive(keys, at, "password", "password_file"); err != nil {
		return err
	}
	if keys["dsn"] == nil {
		return errAt(at, "dsn is required")
	}
	if err := checkDSN(dsn); err != nil {
		return keyErr(keys, "dsn", at, "%w", err)
	}
	return nil
}

// isURLDSN tells a URL DSN from a key=value one.
func isURLDSN(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// checkDSN validates a DSN's syntax and refuses a password in it, without
// ever repeating the DSN.
func checkDSN(dsn string) error {
	if dsn == "" {
		return errors.New("must not be empty")
	}
	if isURLDSN(dsn) {
		u, err := parseURL(dsn)
		if err != nil {
			return err
		}
		return checkSSLMode(u.Query().Get("sslmode"))
	}
	if strings.Contains(dsn, "://") {
		return errors.New("unsupported URL scheme (want postgres or postgresql)")
	}
	kv, err := parseKeywordDSN(dsn)
	if err != nil {
		return err
	}
	if kv["password"] != "" {
		return fmt.Errorf("the DSN %w", errPasswordInURL)
	}
	return checkSSLMode(kv["sslmode"])
}

// validSSLMode accepts the sslmode values of libpq, which the PostgreSQL
// client accepts too.
var validSSLMode = oneOf("disable", "allow", "prefer", "require", "verify-ca", "verify-full")

// checkSSLMode refuses at load an sslmode that the client would only refuse
// when the check is built.
func checkSSLMode(mode string) error {
	if mode == "" {
		return nil
	}
	if msg := validSSLMode(mode); msg != "" {
		return fmt.Errorf("sslmode: %s", msg)
	}
	return nil
}

// parseKeywordDSN parses libpq's key=value form: values may be
// single-quoted, and a backslash escapes the next character. Errors never
// repeat the input.
func parseKeywordDSN(s string) (map[string]string, error) {
	kv := map[string]string{}
	i := 0
	skipSpace := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
			i++
		}
	}
	for {
		skipSpace()
		if i == len(s) {
			return kv, nil
		}
		start := i
		for i < len(s) && s[i] != '=' && s[i] != ' ' && s[i] != '\t' {
			i++
		}
		key := s[start:i]
		skipSpace()
		if key == "" || i == len(s) || s[i] != '=' {
			return nil, errors.New("invalid key=value DSN: want key=value pairs separated by spaces")
		}
		i++ // '='
		skipSpace()
		var v strings.Builder
		if i < len(s) && s[i] == '\'' {
			i++
			for {
				if i == len(s) {
					return nil, errors.New("invalid key=value DSN: unterminated quoted value")
				}
				c := s[i]
				i++
				if c == '\\' && i < len(s) {
					v.WriteByte(s[i])
					i++
					continue
				}
				if c == '\'' {
					break
				}
				v.WriteByte(c)
			}
		} else {
			for i < len(s) && s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r' {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				v.WriteByte(s[i])
				i++
			}
		}
		kv[key] = v.String()
	}
}

// postgresEndpoint returns the first host of a DSN as host:port (default
// port 5432), or its socket directory; never credentials.
func postgresEndpoint(dsn string) string {
	var host, port string
	if isURLDSN(dsn) {
		u, err := parseURL(dsn)
		if err != nil {
			return ""
		}
		// A multi-host URL: postgres://h1:5432,h2:5433/db.
		first, _, _ := strings.Cut(u.Host, ",")
		if h, p, err := net.SplitHostPort(first); err == nil {
			host, port = h, p
		} else {
			host = strings.Trim(first, "[]")
		}
		q := u.Query()
		if host == "" {
			host, _, _ = strings.Cut(q.Get("host"), ",")
		}
		if port == "" {
			port, _, _ = strings.Cut(q.Get("port"), ",")
		}
	} else {
		kv, err := parseKeywordDSN(dsn)
		if err != nil {
			return ""
		}
		host, _, _ = strings.Cut(kv["host"], ",")
		port, _, _ = strings.Cut(kv["port"], ",")
		if host == "" {
			host, _, _ = strings.Cut(kv["hostaddr"], ",")
		}
	}
	if strings.HasPrefix(host, "/") {
		return host
	}
	if host == "" {
		host = "localhost"
	}
	if port == "" {
		port = "5432"
	}
	return net.JoinHostPort(host, port)
}
