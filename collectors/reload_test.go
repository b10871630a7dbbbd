package collectors

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/health-exporter/health-exporter/breaker"
	"github.com/health-exporter/health-exporter/config"
)

// closingCheck is a fakeCheck that knows whether it was closed.
type closingCheck struct {
	fakeCheck
	closed atomic.Bool
}

func (c *closingCheck) Close() error {
	c.closed.Store(true)
	return nil
}

func TestCancelledScrapeNeitherCountsNorCancelsTheRun(t *testing.T) {
	release := make(chan struct{})
	c := &fakeCheck{fn: func(ctx context.Context) Result {
		select {
		case <-release:
			return Result{}
		case <-ctx.Done():
			return errorResult("ping", ctx.Err())
		}
	}}
	d := dep("db")
	d.MinInterval = 0
	r := newTestRunner(t, nil, map[string]Checker{"db": c}, d)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Refresh(ctx, 0)
	}()
	waitFor(t, func() bool { return c.calls.Load() == 1 })
	cancel() // Prometheus gave up on the scrape
	<-done
	close(release)
	waitFor(t, func() bool { return snapshot(t, r.Snapshots(), "db").Checks == 1 })

	s := snapshot(t, r.Snapshots(), "db")
	counts := r.byName["db"].breaker.Counts()
	if s.Result.Status != Healthy || counts.Failures != 0 || counts.Successes != 1 {
		t.Fatalf("the run must finish on its own deadline and count once: %+v, breaker %+v", s.Result, counts)
	}
}

func TestReloadDoesNotCountTheInterruptedBackgroundCheck(t *testing.T) {
	started := make(chan struct{}, 1)
	c := &fakeCheck{fn: func(ctx context.Context) Result {
		select {
		case started <- struct{}{}:
		default:
		}
		<-ctx.Done()
		return errorResult("ping", ctx.Err())
	}}
	d := dep("slow_api")
	d.Interval = time.Hour
	r := newTestRunner(t, nil, map[string]Checker{"slow_api": c}, d)
	<-started
	if err := r.Apply(&config.Config{Dependencies: []config.Dependency{d}}); err != nil {
		t.Fatal(err)
	}
	counts := r.byName["slow_api"].breaker.Counts()
	if s := snapshot(t, r.Snapshots(), "slow_api"); s.Checks != 0 || counts.Failures != 0 || counts.Excluded != 1 {
		t.Fatalf("an interrupted background check must count neither way: %+v, breaker %+v", s, counts)
	}
}

func TestReloadWaitsForRunsBeforeClosingTheOldChecker(t *testing.T) {
	release := make(chan struct{})
	old := &closingCheck{fakeCheck: fakeCheck{fn: func(context.Context) Result {
		<-release
		return Result{}
	}}}
	fresh := &closingCheck{fakeCheck: *healthyCheck()}
	checks := map[string]Checker{"db": old}
	opts := RunnerOptions{Build: func(dc config.Dependency, _ *slog.Logger) (Checker, error) { return checks[dc.Name], nil }}
	r := NewRunner(opts)
	t.Cleanup(r.Close)
	d := dep("db")
	d.MinInterval = 0
	if err := r.Apply(&config.Config{Dependencies: []config.Dependency{d}}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.Refresh(context.Background(), 0)
	}()
	waitFor(t, func() bool { return old.calls.Load() == 1 })

	checks["db"] = fresh
	d.TCP = &config.TCP{Address: "127.0.0.1:2"} // a new target: a new checker
	if err := r.Apply(&config.Config{Dependencies: []config.Dependency{d}}); err != nil {
		t.Fatal(err)
	}
	if old.closed.Load() {
		t.Fatal("the old checker was closed while a run still used it")
	}
	s := snapshot(t, r.Refresh(context.Background(), 0), "db")
	if s.Result.Status != Healthy || fresh.calls.Load() != 1 {
		t.Fatalf("scrapes after the reload must run the new checker: %+v", s.Result)
	}
	close(release)
	wg.Wait()
	waitFor(t, old.closed.Load)
}

func TestReloadKeepsWhatStillApplies(t *testing.T) {
	clock := newFakeClock()
	builds := map[string]int{}
	fail := &fakeCheck{fn: func(context.Context) Result { return Failure(ReasonAuth, "WRONGPASS") }}
	r := NewRunner(RunnerOptions{Now: clock.Now, Build: func(dc config.Dependency, _ *slog.Logger) (Checker, error) {
		builds[dc.Name]++
		return fail, nil
	}})
	t.Cleanup(r.Close)
	d := dep("queue")
	d.MinInterval = 0
	apply := func(d config.Dependency) {
		t.Helper()
		if err := r.Apply(&config.Config{Dependencies: []config.Dependency{d}}); err != nil {
			t.Fatal(err)
		}
	}
	apply(d)
	for range 3 {
		r.Refresh(context.Background(), 0)
	}
	b := r.byName["queue"].breaker
	if b.State() != breaker.Open {
		t.Fatalf("breaker: %s", b.State())
	}

	d.Line = 42 // the same dependency, moved in the file
	apply(d)
	if builds["queue"] != 1 || r.byName["queue"].breaker != b {
		t.Fatalf("an unchanged dependency must keep its checker and breaker: %d builds", builds["queue"])
	}

	d.TCP = &config.TCP{Address: "127.0.0.1:2"} // the operator fixed the target
	apply(d)
	s := snapshot(t, r.Snapshots(), "queue")
	if builds["queue"] != 2 || r.byName["queue"].breaker == b || s.Checks != 3 || s.Result.Reason == ReasonAuth {
		t.Fatalf("a new target gets a new checker, breaker and result, and keeps its counters: %d builds, %+v", builds["queue"], s)
	}
}

func TestBreakerRecoversOnTheRunnersClock(t *testing.T) {
	clock := newFakeClock()
	var healthy atomic.Bool
	c := &fakeCheck{fn: func(context.Context) Result {
		if healthy.Load() {
			return Result{}
		}
		return Failure(ReasonRefused, "connect: connection refused")
	}}
	d := dep("queue")
	d.MinInterval, d.Breaker.OpenJitter = 0, 0
	r := newTestRunner(t, clock, map[string]Checker{"queue": c}, d)
	refresh := func() Result { return snapshot(t, r.Refresh(context.Background(), 0), "queue").Result }
	for range 3 {
		refresh()
	}
	if res := refresh(); res.Reason != ReasonBreakerOpen || res.Detail != "circuit breaker open: check skipped, next probe in 30s" {
		t.Fatalf("open: %+v", res)
	}

	clock.Advance(30 * time.Second) // half-open: one probe, which fails
	if res := refresh(); res.Reason != ReasonRefused || r.byName["queue"].breaker.State() != breaker.Open {
		t.Fatalf("failed probe must reopen: %+v, %s", res, r.byName["queue"].breaker.State())
	}
	clock.Advance(30 * time.Second)
	healthy.Store(true)
	if res := refresh(); res.Status != Healthy || r.byName["queue"].breaker.State() != breaker.Closed {
		t.Fatalf("successful probe must close: %+v, %s", res, r.byName["queue"].breaker.State())
	}
	if c.calls.Load() != 5 {
		t.Fatalf("checks run: %d, want 3 failures and 2 probes", c.calls.Load())
	}
}

func TestScrapeWaitsForTheFirstBackgroundResult(t *testing.T) {
	release := make(chan struct{})
	c := &fakeCheck{fn: func(context.Context) Result {
		<-release
		return Result{}
	}}
	d := dep("slow_api")
	d.Interval = time.Hour
	r := newTestRunner(t, nil, map[string]Checker{"slow_api": c}, d)
	var joined atomic.Int64
	r.joined = func() { joined.Add(1) }
	done := make(chan Snapshot)
	go func() { done <- snapshot(t, r.Refresh(context.Background(), 0), "slow_api") }()
	waitFor(t, func() bool { return joined.Load() == 1 })
	close(release)
	// The scrape waited for a result rather than reporting "no result yet":
	// its own run or the background's first, whichever came first.
	if s := <-done; s.Result.Status != Healthy || s.Checks == 0 {
		t.Fatalf("first scrape of a background dependency: %+v", s)
	}
}
