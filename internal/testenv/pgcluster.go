package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
)

// templatePassword is the superuser's password in the template cluster.
const templatePassword = "postgres"

// pgTemplate is a cluster initdb made once per test binary; every private
// cluster starts as a copy of it, which takes a fraction of initdb's time.
var pgTemplate struct {
	mu  sync.Mutex
	dir string // holds data/; empty until made
	dog *watchdog
}

// postgresTemplate returns the template's data directory, making it first
// if needed.
func postgresTemplate(ctx context.Context, binDir string, cred *syscall.Credential) (string, error) {
	pgTemplate.mu.Lock()
	defer pgTemplate.mu.Unlock()
	if pgTemplate.dir != "" {
		return filepath.Join(pgTemplate.dir, "data"), nil
	}
	dir, dog, err := newServerDir("pgtemplate", cred)
	if err != nil {
		return "", err
	}
	if err := initdb(ctx, binDir, cred, dir); err != nil {
		_ = dog.release()
		return "", err
	}
	pgTemplate.dir, pgTemplate.dog = dir, dog
	return filepath.Join(dir, "data"), nil
}

// releaseTemplate removes the template cluster; the next private cluster
// makes a new one.
func releaseTemplate() {
	pgTemplate.mu.Lock()
	defer pgTemplate.mu.Unlock()
	if pgTemplate.dog != nil {
		_ = pgTemplate.dog.release()
	}
	pgTemplate.dir, pgTemplate.dog = "", nil
}

// initdb creates a cluster in dir/data whose superuser "postgres" has
// templatePassword: host connections use scram-sha-256, the socket trusts.
func initdb(ctx context.Context, binDir string, cred *syscall.Credential, dir string) error {
	pwfile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(templatePassword+"\n"), 0o600); err != nil {
		return fmt.Errorf("write password file: %w", err)
	}
	defer os.Remove(pwfile)
	if cred != nil {
		if err := os.Chown(pwfile, int(cred.Uid), int(cred.Gid)); err != nil {
			return fmt.Errorf("hand password file to postgres: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 2*readyTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "initdb"),
		"--pgdata", filepath.Join(dir, "data"),
		"--username", "postgres",
		"--pwfile", pwfile,
		"--auth-local", "trust",
		"--auth-host", "scram-sha-256",
		"--encoding", "UTF8",
		"--locale", "C",
		"--no-sync",
		"--no-instructions",
	)
	cmd.Dir = dir
	cmd.Env = serverEnv()
	cmd.SysProcAttr = serverAttr(cred)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, out)
	}
	return nil
}

// copyCluster copies a stopped cluster's data directory, keeping owners
// and modes.
func copyCluster(ctx context.Context, from, to string) error {
	if out, err := exec.CommandContext(ctx, "cp", "-a", from, to).CombinedOutput(); err != nil {
		return fmt.Errorf("copy template cluster: %w\n%s", err, out)
	}
	return nil
}

// serverEnv is the environment of initdb and postgres: nothing from the
// tests' environment (PGDATA, PGPORT, ...) leaks in.
func serverEnv() []string {
	return []string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C"}
}

// postgresTools returns the directory of postgres and initdb and who runs
// them; what is missing goes through Require.
func postgresTools(t testing.TB) (binDir string, cred *syscall.Credential) {
	t.Helper()
	bin := Binary(t, "postgres")
	// initdb sits beside the real binary, not necessarily beside a symlink to it.
	if real, err := filepath.EvalSymlinks(bin); err == nil {
		bin = real
	}
	binDir = filepath.Dir(bin)
	_, err := os.Stat(filepath.Join(binDir, "initdb"))
	Require(t, "initdb beside "+filepath.Join(binDir, "postgres"), err)
	cred, err = postgresCredential()
	Require(t, "the postgres OS user", err)
	return binDir, cred
}

// postgresCredential returns who runs initdb and postgres: the postgres OS
// user when the tests run as root (both refuse root), else the tests' user.
func postgresCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, PostgreSQL must run as the postgres OS user: %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("uid of postgres: %w", err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("gid of postgres: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// setPassword gives the superuser p.Password, over the trusted socket.
func (p *Postgres) setPassword(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.socketDSN())
	if err != nil {
		return fmt.Errorf("connect over the socket in %s: %w", p.Dir, err)
	}
	defer conn.Close(context.Background())
	quoted := "'" + strings.ReplaceAll(p.Password, "'", "''") + "'"
	if _, err := conn.Exec(ctx, "ALTER ROLE postgres PASSWORD "+quoted); err != nil {
		return fmt.Errorf("set the superuser's password: %w", err)
	}
	return nil
}

// socketDSN reaches the superuser over the Unix socket, which trusts it.
func (p *Postgres) socketDSN() string {
	quote := func(s string) string {
		return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
	}
	return fmt.Sprintf("host=%s port=%d user=postgres dbname=postgres sslmode=disable", quote(p.Dir), p.Port)
}
