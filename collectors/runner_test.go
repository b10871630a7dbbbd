package collectors

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/health-exporter/health-exporter/breaker"
	"github.com/health-exporter/health-exporter/config"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// fakeCheck answers with whatever fn returns and counts its calls.
type fakeCheck struct {
	calls atomic.Int64
	fn    func(ctx context.Context) Result
}

func (f *fakeCheck) Check(ctx context.Context) Result {
	f.calls.Add(1)
	return f.fn(ctx)
}

func healthyCheck() *fakeCheck {
	return &fakeCheck{fn: func(context.Context) Result { return Result{Detail: "ok"} }}
}

// hangingCheck blocks until its context ends, like a dependency that accepts
// connections and never answers.
func hangingCheck() *fakeCheck {
	return &fakeCheck{fn: func(ctx context.Context) Result {
		<-ctx.Done()
		return errorResult("ping", ctx.Err())
	}}
}

func dep(name string) config.Dependency {
	return config.Dependency{
		Name: name, Kind: "tcp", Timeout: 2 * time.Second, MinInterval: time.Second,
		Breaker: config.Breaker{FailureThreshold: 3, OpenTimeout: 30 * time.Second, HalfOpenMaxCalls: 1, MinimumCalls: 10, Window: time.Minute},
		Retry:   config.Retry{Jitter: "full"},
		TCP:     &config.TCP{Address: "127.0.0.1:1"},
	}
}

// newTestRunner returns a runner whose dependencies use the given checks.
func newTestRunner(t *testing.T, clock *fakeClock, checks map[string]Checker, deps ...config.Dependency) *Runner {
	t.Helper()
	opts := RunnerOptions{Build: func(dc config.Dependency, _ *slog.Logger) (Checker, error) {
		c, ok := checks[dc.Name]
		if !ok {
			return nil, errors.New("no check for " + dc.Name)
		}
		return c, nil
	}}
	if clock != nil {
		opts.Now = clock.Now
	}
	r := NewRunner(opts)
	t.Cleanup(r.Close)
	if err := r.Apply(&config.Config{Dependencies: deps}); err != nil {
		t.Fatal(err)
	}
	return r
}

func snapshot(t *testing.T, snaps []Snapshot, name string) Snapshot {
	t.Helper()
	for _, s := range snaps {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no snapshot for %q in %+v", name, snaps)
	return Snapshot{}
}

func TestRefreshReusesYoungResults(t *testing.T) {
	clock := newFakeClock()
	c := healthyCheck()
	r := newTestRunner(t, clock, map[string]Checker{"db": c}, dep("db"))

	r.Refresh(context.Background(), 0)
	r.Refresh(context.Background(), 0)
	if n := c.calls.Load(); n != 1 {
		t.Fatalf("a result younger than min_interval must be reused: %d calls", n)
	}
	clock.Advance(time.Second)
	s := snapshot(t, r.Refresh(context.Background(), 0), "db")
	if n := c.calls.Load(); n != 2 {
		t.Fatalf("after min_interval the check must run again: %d calls", n)
	}
	if s.Checks != 2 || s.Result.Status != Healthy || s.LastSuccess.IsZero() {
		t.Fatalf("snapshot = %+v", s)
	}
}

func TestConcurrentRefreshesShareOneRun(t *testing.T) {
	release := make(chan struct{})
	c := &fakeCheck{fn: func(ctx context.Context) Result {
		<-release
		return Result{}
	}}
	d := dep("db")
	d.MinInterval = 0 // only the coalescing of runs in flight can spare a call
	r := newTestRunner(t, nil, map[string]Checker{"db": c}, d)
	var joined atomic.Int64
	r.joined = func() { joined.Add(1) }

	const scrapes = 8
	var wg sync.WaitGroup
	for range scrapes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.Refresh(context.Background(), 0)
		}()
	}
	// Release the check only once every scrape waits on the run in flight.
	waitFor(t, func() bool { return joined.Load() == scrapes })
	close(release)
	wg.Wait()
	if n := c.calls.Load(); n != 1 {
		t.Fatalf("%d concurrent scrapes ran the check %d times, want 1", scrapes, n)
	}
}

func TestCheckDeadlineIsTheSmallerOfTimeoutAndBudget(t *testing.T) {
	c := hangingCheck()
	d := dep("queue")
	d.Timeout = 50 * time.Millisecond
	r := newTestRunner(t, nil, map[string]Checker{"queue": c}, d)

	s := snapshot(t, r.Refresh(context.Background(), 0), "queue")
	if s.Result.Status != Down || s.Result.Reason != ReasonTimeout || s.Result.Timeout != 50*time.Millisecond {
		t.Fatalf("no budget: %+v", s.Result)
	}

	d.Timeout = time.Hour
	d.MinInterval = 0
	if err := r.Apply(&config.Config{Dependencies: []config.Dependency{d}}); err != nil {
		t.Fatal(err)
	}
	s = snapshot(t, r.Refresh(context.Background(), 20*time.Millisecond), "queue")
	if s.Result.Reason != ReasonTimeout || s.Result.Timeout != 20*time.Millisecond {
		t.Fatalf("budget 20ms: %+v", s.Result)
	}
}

func TestBreakerOpensAndSkipsTheCheck(t *testing.T) {
	clock := newFakeClock()
	failing := true
	var mu sync.Mutex
	c := &fakeCheck{fn: func(context.Context) Result {
		mu.Lock()
		defer mu.Unlock()
		if failing {
			return Failure(ReasonRefused, "connect: connection refused")
		}
		return Result{}
	}}
	d := dep("queue")
	d.MinInterval = 0
	r := newTestRunner(t, clock, map[string]Checker{"queue": c}, d)

	for range 3 {
		s := snapshot(t, r.Refresh(context.Background(), 0), "queue")
		if s.Result.Reason != ReasonRefused {
			t.Fatalf("before the breaker opens: %+v", s.Result)
		}
	}
	if st := r.byName["queue"].breaker.State(); st != breaker.Open {
		t.Fatalf("breaker after 3 failures: %s", st)
	}
	s := snapshot(t, r.Refresh(context.Background(), 0), "queue")
	if s.Result.Reason != ReasonBreakerOpen || c.calls.Load() != 3 {
		t.Fatalf("open breaker must answer without checking: %+v after %d calls", s.Result, c.calls.Load())
	}
	if s.Failures[ReasonRefused] != 3 || s.Failures[ReasonBreakerOpen] != 1 || s.Checks != 4 {
		t.Fatalf("counters: %+v", s)
	}
}

func TestDegradedLatency(t *testing.T) {
	clock := newFakeClock()
	c := &fakeCheck{fn: func(context.Context) Result {
		clock.Advance(1500 * time.Millisecond)
		return Result{Detail: "ok"}
	}}
	d := dep("db")
	d.DegradedLatency = time.Second
	r := newTestRunner(t, clock, map[string]Checker{"db": c}, d)
	s := snapshot(t, r.Refresh(context.Background(), 0), "db")
	if s.Result.Status != Degraded || s.Result.Reason != ReasonSlow || s.Result.Duration != 1500*time.Millisecond {
		t.Fatalf("slow check: %+v", s.Result)
	}
}

func TestRetriesWithinTheDeadline(t *testing.T) {
	var n atomic.Int64
	c := &fakeCheck{fn: func(context.Context) Result {
		if n.Add(1) < 3 {
			return Failure(ReasonRefused, "connect: connection refused")
		}
		return Result{}
	}}
	d := dep("db")
	d.Retry = config.Retry{MaxRetries: 2, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond, Factor: 2, Jitter: "none"}
	r := newTestRunner(t, nil, map[string]Checker{"db": c}, d)
	s := snapshot(t, r.Refresh(context.Background(), 0), "db")
	if s.Result.Status != Healthy || c.calls.Load() != 3 {
		t.Fatalf("after 2 retries: %+v, %d calls", s.Result, c.calls.Load())
	}
}

func TestBackgroundCheckGoesStale(t *testing.T) {
	clock := newFakeClock()
	ran := make(chan struct{}, 1)
	c := &fakeCheck{fn: func(context.Context) Result {
		select {
		case ran <- struct{}{}:
		default:
		}
		return Result{}
	}}
	d := dep("slow_api")
	d.Interval = time.Hour // only the immediate first run happens during the test
	r := newTestRunner(t, clock, map[string]Checker{"slow_api": c}, d)
	<-ran
	waitFor(t, func() bool { return snapshot(t, r.Snapshots(), "slow_api").Checks == 1 })

	s := snapshot(t, r.Refresh(context.Background(), 0), "slow_api")
	if s.Result.Status != Healthy || !s.Background || c.calls.Load() != 1 {
		t.Fatalf("fresh background result: %+v (%d calls)", s, c.calls.Load())
	}
	clock.Advance(2*time.Hour + time.Second)
	s = snapshot(t, r.Snapshots(), "slow_api")
	if s.Result.Status != Down || s.Result.Reason != ReasonStale {
		t.Fatalf("result older than 2×interval: %+v", s.Result)
	}
}

func TestApplyKeepsStateAndRefusesBadConfig(t *testing.T) {
	clock := newFakeClock()
	c := healthyCheck()
	checks := map[string]Checker{"db": c}
	r := newTestRunner(t, clock, checks, dep("db"))
	r.Refresh(context.Background(), 0)
	before := r.byName["db"].breaker

	if err := r.Apply(&config.Config{Dependencies: []config.Dependency{dep("db"), dep("missing")}}); err == nil {
		t.Fatal("a dependency whose check cannot be built must fail the apply")
	}
	if len(r.Snapshots()) != 1 {
		t.Fatal("a failed apply must keep the previous dependencies")
	}

	if err := r.Apply(&config.Config{Dependencies: []config.Dependency{dep("db")}}); err != nil {
		t.Fatal(err)
	}
	s := snapshot(t, r.Snapshots(), "db")
	if s.Checks != 1 || r.byName["db"].breaker != before {
		t.Fatalf("an unchanged dependency keeps its counters and breaker: %+v", s)
	}

	changed := dep("db")
	changed.Breaker.FailureThreshold = 5
	if err := r.Apply(&config.Config{Dependencies: []config.Dependency{changed}}); err != nil {
		t.Fatal(err)
	}
	if r.byName["db"].breaker == before {
		t.Fatal("changed breaker settings must give a new breaker")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
