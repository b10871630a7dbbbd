package testenv

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// childRole, when set, makes a lifetime test play the test binary whose
// servers must not survive it; the parent test re-executes this binary.
const childRole = "HE_TESTENV_CHILD_ROLE"

// census names the processes and directories of running servers.
type census struct {
	Procs []proc   `json:"procs"`
	Dirs  []string `json:"dirs"`
	// Template is the directory of the template cluster, which only Main
	// (or, when the binary dies, its watchdog) removes.
	Template string `json:"template"`
}

// proc identifies a process across PID reuse by its start time.
type proc struct {
	PID   int    `json:"pid"`
	Start uint64 `json:"start"`
}

// startTime returns field 22 of /proc/<pid>/stat, the process start time.
func startTime(pid int) (uint64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(fields) < 20 {
		return 0, false
	}
	v, err := strconv.ParseUint(fields[19], 10, 64)
	return v, err == nil
}

// takeCensus lists redis-server and every process of the cluster.
func takeCensus(r *Redis, p *Postgres) census {
	var c census
	pids := append([]int{r.PID(), p.PID()}, descendants(p.PID())...)
	for _, pid := range pids {
		if st, ok := startTime(pid); ok {
			c.Procs = append(c.Procs, proc{PID: pid, Start: st})
		}
	}
	c.Dirs = []string{r.Dir, p.Dir}
	pgTemplate.mu.Lock()
	c.Template = pgTemplate.dir
	pgTemplate.mu.Unlock()
	return c
}

// survivors returns what of c still runs or exists, the template included.
func (c census) survivors() []string {
	out := c.servers()
	if _, err := os.Stat(c.Template); c.Template != "" && err == nil {
		out = append(out, "template "+c.Template)
	}
	return out
}

// servers returns what of c's servers still runs or exists.
func (c census) servers() []string {
	var out []string
	for _, p := range c.Procs {
		if st, ok := startTime(p.PID); ok && st == p.Start && !gone(p.PID) {
			out = append(out, fmt.Sprintf("process %d", p.PID))
		}
	}
	for _, d := range c.Dirs {
		if _, err := os.Stat(d); err == nil {
			out = append(out, "directory "+d)
		}
	}
	return out
}

// reportCensus prints c for the parent test to read.
func reportCensus(c census) {
	b, _ := json.Marshal(c)
	fmt.Printf("census: %s\n", b)
}

// runChild re-executes this test binary running only test name in role,
// and returns the census the child printed.
func runChild(t *testing.T, name, role string) (census, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+name+"$", "-test.count=1", "-test.v")
	for _, kv := range os.Environ() {
		// The child must start its own servers, not borrow the script's.
		if !strings.HasPrefix(kv, EnvRedisAddr+"=") && !strings.HasPrefix(kv, EnvPostgresDSN+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, childRole+"="+role)
	out, runErr := cmd.CombinedOutput()
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "census: "); ok {
			var c census
			if err := json.Unmarshal([]byte(rest), &c); err != nil {
				t.Fatalf("child census %q: %v", rest, err)
			}
			if len(c.Procs) < 4 || len(c.Dirs) != 2 || c.Template == "" {
				t.Fatalf("child census %+v: want redis-server, a postmaster with helpers, two dirs and a template", c)
			}
			return c, runErr
		}
	}
	t.Fatalf("child %s (%s) printed no census (%v):\n%s", name, role, runErr, out)
	return census{}, nil
}

// startPausedServers starts a private Redis and PostgreSQL, opens a
// connection (so a backend exists) and pauses both.
func startPausedServers(t *testing.T) census {
	r := StartRedis(t)
	p := StartPostgres(t, PostgresOptions{})
	pgConnect(t, p.SuperuserDSN())
	r.Pause()
	p.Pause()
	return takeCensus(r, p)
}

func TestCleanupStopsPausedServers(t *testing.T) {
	var c census
	t.Run("servers", func(t *testing.T) {
		c = startPausedServers(t)
	})
	if len(c.Procs) < 4 {
		t.Fatalf("census %+v: want redis-server, a postmaster with helpers and a backend", c)
	}
	// Cleanup waited for every exit: nothing may remain, not even briefly.
	if s := c.servers(); len(s) > 0 {
		t.Errorf("left after cleanup: %v", s)
	}
}

func TestCleanupAfterPanic(t *testing.T) {
	if os.Getenv(childRole) == "panic" {
		reportCensus(startPausedServers(t))
		panic("a test panics while its servers are paused")
	}
	Binary(t, "redis-server")
	postgresTools(t)
	c, err := runChild(t, t.Name(), "panic")
	if err == nil {
		t.Fatal("the panicking child exited 0")
	}
	// Cleanup ran before the binary exited.
	if s := c.servers(); len(s) > 0 {
		t.Errorf("left after the panicking test binary exited: %v", s)
	}
	// Main did not run; the template's watchdog removes it a moment later.
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if err := pollUntil(ctx, func() bool { return len(c.survivors()) == 0 }); err != nil {
		t.Errorf("left after the panicking test binary exited: %v", c.survivors())
	}
}

func TestNothingOutlivesKilledBinary(t *testing.T) {
	if os.Getenv(childRole) == "kill" {
		reportCensus(startPausedServers(t))
		os.Stdout.Sync()
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // SIGKILL arrives before the test could return
	}
	Binary(t, "redis-server")
	postgresTools(t)
	c, _ := runChild(t, t.Name(), "kill")
	// No cleanup ran: the kernel's parent-death signal and the watchdog
	// take a moment.
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if err := pollUntil(ctx, func() bool { return len(c.survivors()) == 0 }); err != nil {
		t.Errorf("left after the test binary was killed: %v", c.survivors())
	}
}

func TestMainStopsSharedServers(t *testing.T) {
	if os.Getenv(childRole) == "shared" {
		r, p := SharedRedis(t), SharedPostgres(t)
		if SharedRedis(t) != r || SharedPostgres(t) != p {
			t.Error("a second call returned another shared server")
		}
		reportCensus(takeCensus(r, p))
		return
	}
	Binary(t, "redis-server")
	postgresTools(t)
	c, err := runChild(t, t.Name(), "shared")
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	// Main stopped both and waited before the child exited.
	if s := c.survivors(); len(s) > 0 {
		t.Errorf("left after Main returned: %v", s)
	}
}
