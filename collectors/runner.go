package collectors

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/health-exporter/health-exporter/breaker"
	"github.com/health-exporter/health-exporter/config"
	"github.com/health-exporter/health-exporter/retry"
)

// Checker runs one kind of check against one dependency. It reports what it
// found as a Result; the runner fills in the timing fields. A Checker that
// holds connections also implements io.Closer.
type Checker interface {
	Check(ctx context.Context) Result
}

// Snapshot is a dependency's state as the exporter reports it: the latest
// result and the counters kept between scrapes.
type Snapshot struct {
	Name, Kind, Endpoint string
	Result               Result
	Checks               uint64
	Failures             map[Reason]uint64
	LastSuccess          time.Time
	Background           bool
}

// errDown is what the breaker and retry see for a check that said down.
var errDown = errors.New("dependency down")

// Runner runs the checks of a configuration: at scrape time, coalesced across
// concurrent scrapes, or in the background for dependencies with an interval.
// It keeps each dependency's counters and breaker across reloads.
type Runner struct {
	mu       sync.Mutex
	deps     []*dependency // in configuration order
	byName   map[string]*dependency
	bgCancel context.CancelFunc
	bgDone   sync.WaitGroup

	flights  singleflight.Group
	breakers *breaker.Collector
	logger   *slog.Logger
	now      func() time.Time
	build    func(config.Dependency, *slog.Logger) (Checker, error)
	joined   func() // test hook: a scrape has started or joined a run
}

// dependency is one configured dependency and what the runner knows of it.
type dependency struct {
	cfg     config.Dependency
	check   Checker
	breaker *breaker.Breaker
	policy  retry.Policy

	mu          sync.Mutex
	last        Result
	hasResult   bool
	checks      uint64
	failures    map[Reason]uint64
	lastSuccess time.Time
}

// RunnerOptions configures a Runner. Zero values mean the defaults.
type RunnerOptions struct {
	Logger *slog.Logger     // default: discard
	Now    func() time.Time // default: time.Now
	// Build makes the Checker of a dependency; default NewChecker.
	Build func(config.Dependency, *slog.Logger) (Checker, error)
}

// NewRunner returns a Runner with no dependencies; Apply gives it some.
func NewRunner(opts RunnerOptions) *Runner {
	r := &Runner{
		byName:   map[string]*dependency{},
		breakers: breaker.NewCollector(""),
		logger:   opts.Logger,
		now:      opts.Now,
		build:    opts.Build,
	}
	if r.logger == nil {
		r.logger = slog.New(slog.DiscardHandler)
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.build == nil {
		r.build = NewChecker
	}
	return r
}

// Breakers returns the collector of the dependencies' circuit breakers.
func (r *Runner) Breakers() *breaker.Collector { return r.breakers }

// Apply switches the runner to a new set of dependencies. Every checker is
// built first: if one fails, nothing changes and the error says which. A
// dependency that keeps its name and kind keeps its counters and last result,
// and its breaker too unless the breaker settings changed. Background checks
// are restarted.
func (r *Runner) Apply(cfg *config.Config) error {
	built := make([]*dependency, 0, len(cfg.Dependencies))
	for _, dc := range cfg.Dependencies {
		c, err := r.build(dc, r.logger.With("dependency", dc.Name))
		if err != nil {
			closeAll(built)
			return fmt.Errorf("dependency %q: %w", dc.Name, err)
		}
		built = append(built, &dependency{cfg: dc, check: c, policy: retryPolicy(dc.Retry), failures: map[Reason]uint64{}})
	}

	r.stopBackground()
	r.mu.Lock()
	old := r.byName
	r.byName = make(map[string]*dependency, len(built))
	for _, d := range built {
		if prev, ok := old[d.cfg.Name]; ok && prev.cfg.Kind == d.cfg.Kind {
			prev.mu.Lock()
			d.last, d.hasResult, d.checks, d.lastSuccess = prev.last, prev.hasResult, prev.checks, prev.lastSuccess
			for k, v := range prev.failures {
				d.failures[k] = v
			}
			prev.mu.Unlock()
			if prev.cfg.Breaker == d.cfg.Breaker {
				d.breaker = prev.breaker
			}
		}
		if d.breaker == nil {
			d.breaker = breaker.New(breakerSettings(d.cfg, r.logger))
		}
		r.byName[d.cfg.Name] = d
	}
	var retired []*dependency
	for _, prev := range r.deps {
		r.breakers.Remove(prev.cfg.Name)
		retired = append(retired, prev)
	}
	r.deps = built
	for _, d := range built {
		r.breakers.Add(d.breaker)
	}
	r.mu.Unlock()
	closeAll(retired)
	r.startBackground()
	return nil
}

// Close stops background checks and closes every checker's connections.
func (r *Runner) Close() {
	r.stopBackground()
	r.mu.Lock()
	deps := r.deps
	r.deps, r.byName = nil, map[string]*dependency{}
	r.mu.Unlock()
	closeAll(deps)
}

func closeAll(deps []*dependency) {
	for _, d := range deps {
		if c, ok := d.check.(io.Closer); ok {
			c.Close()
		}
	}
}

func (r *Runner) dependencies() []*dependency {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.deps
}

// Refresh brings every scrape-time dependency up to date and returns the
// snapshots of all dependencies. Checks run concurrently; each one's deadline
// is the smaller of its timeout and budget (no budget when budget <= 0). A
// result younger than the dependency's min_interval is reused, and a check
// already running for another scrape is joined rather than started again.
// Refresh returns when every check has answered or ctx has ended.
func (r *Runner) Refresh(ctx context.Context, budget time.Duration) []Snapshot {
	deps := r.dependencies()
	var wg sync.WaitGroup
	for _, d := range deps {
		if d.cfg.Interval > 0 || r.fresh(d) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.join(ctx, d, budget)
		}()
	}
	wg.Wait()
	return r.snapshots(deps)
}

// Snapshots returns the state of every dependency without running checks.
func (r *Runner) Snapshots() []Snapshot { return r.snapshots(r.dependencies()) }

func (r *Runner) fresh(d *dependency) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.hasResult && r.now().Sub(d.last.Time) < d.cfg.MinInterval
}

// join runs d's check, or waits for the run another scrape started. The run
// itself is detached from ctx: its deadline bounds it, and a scrape that gives
// up must neither cancel the run others wait for nor count as a failure.
func (r *Runner) join(ctx context.Context, d *dependency, budget time.Duration) {
	timeout := d.cfg.Timeout
	if budget > 0 && budget < timeout {
		timeout = budget
	}
	ch := r.flights.DoChan(d.cfg.Name, func() (any, error) {
		r.runOnce(context.WithoutCancel(ctx), d, timeout)
		return nil, nil
	})
	if r.joined != nil {
		r.joined()
	}
	select {
	case <-ch:
	case <-ctx.Done():
	}
}

// runOnce runs d's check under its breaker, retry policy and deadline, and
// records the result.
func (r *Runner) runOnce(ctx context.Context, d *dependency, timeout time.Duration) Result {
	start := r.now()
	res := r.evaluate(ctx, d, timeout)
	res.Timeout = timeout
	res.Time = r.now()
	if res.Duration == 0 {
		res.Duration = res.Time.Sub(start)
	}
	if res.Status == Healthy && d.cfg.DegradedLatency > 0 && res.Duration > d.cfg.DegradedLatency {
		res = Result{Status: Degraded, Reason: ReasonSlow, Detail: fmt.Sprintf("answered in %s, slower than %s", res.Duration.Round(time.Millisecond), d.cfg.DegradedLatency),
			Duration: res.Duration, Timeout: res.Timeout, Time: res.Time}
	}
	r.record(d, res)
	return res
}

func (r *Runner) evaluate(ctx context.Context, d *dependency, timeout time.Duration) Result {
	permit, err := d.breaker.Allow()
	if err != nil {
		c := d.breaker.Counts()
		detail := "circuit breaker open: check skipped"
		if !c.OpenUntil.IsZero() {
			detail += fmt.Sprintf(", next probe in %s", c.OpenUntil.Sub(r.now()).Round(time.Second))
		}
		return Result{Status: Down, Reason: ReasonBreakerOpen, Detail: detail}
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var res Result
	attempts := 0
	_ = retry.Do(cctx, d.policy, func(ctx context.Context) error {
		attempts++
		res = d.check.Check(ctx)
		if res.Status == Down {
			if res.Reason == ReasonNone {
				res.Reason = ReasonError
			}
			return errDown
		}
		return nil
	})
	if attempts == 0 {
		// The deadline passed before the first attempt could start.
		res = Failure(ReasonTimeout, "no time left for the check")
	}
	if res.Status == Down {
		if res.Reason == ReasonTimeout && res.Detail == "" {
			res.Detail = fmt.Sprintf("no answer within %s", timeout)
		}
		if attempts > 1 {
			res.Detail = fmt.Sprintf("%s (after %d attempts)", res.Detail, attempts)
		}
		permit.Done(errDown)
	} else {
		permit.Done(nil)
	}
	return res
}

func (r *Runner) record(d *dependency, res Result) {
	d.mu.Lock()
	prev, had := d.last, d.hasResult
	d.last, d.hasResult = res, true
	d.checks++
	if res.Status != Healthy {
		d.failures[res.Reason]++
	} else {
		d.lastSuccess = res.Time
	}
	d.mu.Unlock()

	log := r.logger.With("dependency", d.cfg.Name, "kind", d.cfg.Kind)
	switch {
	case !had || prev.Status != res.Status || prev.Reason != res.Reason:
		level := slog.LevelInfo
		if res.Status == Down {
			level = slog.LevelWarn
		}
		log.Log(context.Background(), level, "dependency state", "state", res.Status.String(), "reason", string(res.Reason), "detail", res.Detail, "duration", res.Duration)
	default:
		log.Debug("check", "state", res.Status.String(), "reason", string(res.Reason), "duration", res.Duration)
	}
}

func (r *Runner) snapshots(deps []*dependency) []Snapshot {
	now := r.now()
	out := make([]Snapshot, 0, len(deps))
	for _, d := range deps {
		d.mu.Lock()
		s := Snapshot{
			Name: d.cfg.Name, Kind: d.cfg.Kind, Endpoint: d.cfg.Endpoint(),
			Result: d.last, Checks: d.checks, LastSuccess: d.lastSuccess,
			Failures:   make(map[Reason]uint64, len(d.failures)),
			Background: d.cfg.Interval > 0,
		}
		for k, v := range d.failures {
			s.Failures[k] = v
		}
		has := d.hasResult
		d.mu.Unlock()
		if s.Background {
			if !has {
				s.Result = Result{Status: Down, Reason: ReasonStale, Detail: "no background check has finished yet", Time: now}
			} else if age := now.Sub(s.Result.Time); age > 2*d.cfg.Interval {
				s.Result = Result{Status: Down, Reason: ReasonStale, Detail: fmt.Sprintf("last result is %s old; checked every %s", age.Round(time.Second), d.cfg.Interval),
					Duration: s.Result.Duration, Timeout: s.Result.Timeout, Time: s.Result.Time}
			}
		} else if !has {
			s.Result = Result{Status: Down, Reason: ReasonError, Detail: "not checked yet", Time: now}
		}
		out = append(out, s)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (r *Runner) startBackground() {
	ctx, cancel := context.WithCancel(context.Background())
	r.mu.Lock()
	r.bgCancel = cancel
	deps := r.deps
	r.mu.Unlock()
	for _, d := range deps {
		if d.cfg.Interval <= 0 {
			continue
		}
		r.bgDone.Add(1)
		go func() {
			defer r.bgDone.Done()
			r.background(ctx, d)
		}()
	}
}

func (r *Runner) stopBackground() {
	r.mu.Lock()
	cancel := r.bgCancel
	r.bgCancel = nil
	r.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	r.bgDone.Wait()
}

// background checks d every interval until ctx ends.
func (r *Runner) background(ctx context.Context, d *dependency) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.runOnce(ctx, d, d.cfg.Timeout)
		t.Reset(d.cfg.Interval)
	}
}

func breakerSettings(dc config.Dependency, logger *slog.Logger) breaker.Settings {
	b := dc.Breaker
	return breaker.Settings{
		Name:                 dc.Name,
		FailureThreshold:     b.FailureThreshold,
		FailureRateThreshold: b.FailureRate,
		MinimumCalls:         b.MinimumCalls,
		Window:               b.Window,
		OpenTimeout:          b.OpenTimeout,
		OpenJitter:           b.OpenJitter,
		HalfOpenMaxCalls:     b.HalfOpenMaxCalls,
		OnStateChange: func(name string, from, to breaker.State) {
			logger.Info("circuit breaker", "dependency", name, "from", from.String(), "to", to.String())
		},
	}
}

func retryPolicy(rc config.Retry) retry.Policy {
	j, err := retry.ParseJitter(rc.Jitter)
	if err != nil {
		j = retry.FullJitter
	}
	return retry.Policy{
		MaxRetries: rc.MaxRetries,
		BaseDelay:  rc.BaseDelay,
		MaxDelay:   rc.MaxDelay,
		Factor:     rc.Factor,
		Jitter:     j,
	}
}
