package testenv

import (
	"context"
	"errors"
	"syscall"
)

// Pause stops the postmaster and every process of the cluster with SIGSTOP:
// open connections hang mid-request and new ones are never answered. It
// returns once all of them are stopped.
func (p *Postgres) Pause() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mustOwn("Pause")
	pid := p.cmd.Process.Pid
	// The postmaster first, so that it forks no backend after the census.
	signalAll([]int{pid}, syscall.SIGSTOP)
	err := waitStates([]int{pid}, true)
	if err == nil {
		kids := descendants(pid)
		signalAll(kids, syscall.SIGSTOP)
		err = waitStates(kids, true)
	}
	if err != nil {
		p.tb.Fatalf("pause PostgreSQL: %v", err)
	}
}

// Resume continues every process of a paused cluster with SIGCONT.
func (p *Postgres) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mustOwn("Resume")
	pid := p.cmd.Process.Pid
	all := append(descendants(pid), pid)
	signalAll(all, syscall.SIGCONT)
	if err := waitStates(all, false); err != nil {
		p.tb.Fatalf("resume PostgreSQL: %v", err)
	}
}

// Stop shuts the cluster down (fast shutdown: SIGINT, after resuming it if
// paused) and waits until the postmaster and its children exited.
func (p *Postgres) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mustOwn("Stop")
	if err := p.stop(); err != nil {
		p.tb.Errorf("stop PostgreSQL: %v", err)
	}
}

// Start starts a stopped cluster again on the same port and data and waits
// until it accepts connections. Call it from the test's goroutine.
func (p *Postgres) Start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shared {
		panic("testenv: Start on a shared PostgreSQL; use StartPostgres for a private one")
	}
	p.tb.Helper()
	if p.cmd != nil {
		p.tb.Fatalf("start PostgreSQL on %s: already running", p.Addr)
	}
	if err := p.launch(context.Background()); err != nil {
		p.tb.Fatalf("restart PostgreSQL on %s: %v", p.Addr, err)
	}
}

// PID returns the postmaster's process ID, 0 while the cluster is stopped
// or when it is not a process of this test binary.
func (p *Postgres) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// mustOwn panics on a shared cluster and fails the test on a stopped one.
func (p *Postgres) mustOwn(op string) {
	if p.shared {
		panic("testenv: " + op + " on a shared PostgreSQL; use StartPostgres for a private one")
	}
	if p.cmd == nil {
		p.tb.Fatalf("%s PostgreSQL on %s: it is stopped", op, p.Addr)
	}
}

func (p *Postgres) stop() error {
	if p.cmd == nil {
		return nil
	}
	err := stopProcess(p.cmd, syscall.SIGINT, descendants(p.cmd.Process.Pid))
	p.cmd = nil
	return err
}

// close stops the cluster and removes its directory.
func (p *Postgres) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	err := p.stop()
	if p.dog != nil {
		err = errors.Join(err, p.dog.release())
		p.dog = nil
	}
	if err != nil && p.tb != nil {
		p.tb.Errorf("stop PostgreSQL: %v", err)
	}
}
