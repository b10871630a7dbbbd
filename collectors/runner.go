package collectors

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/health-exporter/health-exporter/breaker"
	"github.com/health-exporter/health-exporter/config"
	"github.com/health-exporter/health-exporter/retry"
)

// Checker runs one kind of check against one dependency. It reports what it
// found as a Result; the runner fills in the timing fields. A Checker may be
// called concurrently. One that holds connections also implements io.Closer.
type Checker interface {
	Check(ctx context.Context) Result
}

// Runner runs the checks of a configuration: at scrape time, coalesced across
// concurrent scrapes, or in the background for dependencies with an interval.
// It keeps each dependency's counters and breaker across reloads. Its methods
// are safe for concurrent use.
type Runner struct {
	applyMu sync.Mutex // serializes Apply and Close

	mu       sync.Mutex // guards the fields below
	deps     []*dependency
	byName   map[string]*dependency
	bgCancel context.CancelFunc
	bgDone   sync.WaitGroup

	breakers *breaker.Collector
	logger   *slog.Logger
	now      func() time.Time
	clock    func() time.Time // the injected clock, nil for the real one
	build    func(config.Dependency, *slog.Logger) (Checker, error)
	joined   func() // test hook: a scrape has started or joined a run
}

// dependency is one configured dependency and what the runner knows of it.
type dependency struct {
	cfg     config.Dependency
	check   Checker
	breaker *breaker.Breaker
	policy  retry.Policy
	flight  singleflight.Group // coalesces the runs of this dependency
	applied time.Time          // when this configuration took effect

	mu          sync.Mutex // guards the fields below
	last        Result
	hasResult   bool
	checks      uint64
	failures    map[Reason]uint64
	lastSuccess time.Time
	running     int  // runs using check right now
	retired     bool // replaced by a reload; close check once idle
	ownsCheck   bool // false once a newer dependency took the checker over
	closed      bool
}

// RunnerOptions configures a Runner. Zero values mean the defaults.
type RunnerOptions struct {
	Logger *slog.Logger     // default: discard
	Now    func() time.Time // default: time.Now; also drives the breakers
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
		clock:    opts.Now,
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

// Apply switches the runner to a new set of dependencies. Every changed
// checker is built first: if one fails, nothing changes and the error says
// which. A dependency that keeps its name and kind keeps its counters. It
// keeps its checker (and connections) when its configuration is unchanged,
// and its breaker and last result unless its target or breaker settings
// changed. Background checks restart.
func (r *Runner) Apply(cfg *config.Config) error {
	r.applyMu.Lock()
	defer r.applyMu.Unlock()

	r.mu.Lock()
	old := r.byName
	r.mu.Unlock()
	now := r.now()
	next := make([]*dependency, 0, len(cfg.Dependencies))
	var built []Checker
	for _, dc := range cfg.Dependencies {
		d := &dependency{cfg: dc, policy: retryPolicy(dc.Retry), failures: map[Reason]uint64{}, applied: now, ownsCheck: true}
		if prev, ok := old[dc.Name]; ok && sameConfig(prev.cfg, dc) {
			d.check = prev.check
		} else {
			c, err := r.build(dc, r.logger.With("dependency", dc.Name))
			if err != nil {
				for _, c := range built {
					closeChecker(c)
				}
				return fmt.Errorf("dependency %q: %w", dc.Name, err)
			}
			d.check = c
			built = append(built, c)
		}
		next = append(next, d)
	}

	r.stopBackground()
	byName := make(map[string]*dependency, len(next))
	for _, d := range next {
		if prev, ok := old[d.cfg.Name]; ok && prev.cfg.Kind == d.cfg.Kind {
			r.inherit(d, prev)
		}
		if d.breaker == nil {
			d.breaker = breaker.New(r.breakerSettings(d.cfg))
		}
		byName[d.cfg.Name] = d
	}
	// Add before removing, so a scrape never misses a breaker that stays.
	keep := map[string]bool{}
	for _, d := range next {
		for _, b := range d.allBreakers() {
			r.breakers.Add(b)
			keep[b.Name()] = true
		}
	}
	r.mu.Lock()
	retired := r.deps
	r.deps, r.byName = next, byName
	r.mu.Unlock()
	for _, prev := range retired {
		for _, b := range prev.allBreakers() {
			if !keep[b.Name()] {
				r.breakers.Remove(b.Name())
			}
		}
		prev.retire()
	}
	r.startBackground()
	return nil
}

// inherit carries what a reload keeps from prev into d.
func (r *Runner) inherit(d, prev *dependency) {
	prev.mu.Lock()
	defer prev.mu.Unlock()
	d.checks, d.lastSuccess = prev.checks, prev.lastSuccess
	for k, v := range prev.failures {
		d.failures[k] = v
	}
	if d.check == prev.check {
		prev.ownsCheck = false
	}
	if sameTarget(prev.cfg, d.cfg) {
		d.last, d.hasResult = prev.last, prev.hasResult
		if prev.cfg.Breaker == d.cfg.Breaker {
			d.breaker = prev.breaker
		}
	}
}

// sameTarget reports whether two configurations of a dependency check the
// same thing the same way: only then do its last result and breaker state
// still say something about it.
func sameTarget(a, b config.Dependency) bool {
	return a.Kind == b.Kind && reflect.DeepEqual(a.Redis, b.Redis) && reflect.DeepEqual(a.Postgres, b.Postgres) &&
		reflect.DeepEqual(a.HTTP, b.HTTP) && reflect.DeepEqual(a.TCP, b.TCP) && reflect.DeepEqual(a.Search, b.Search)
}

// sameConfig reports whether a dependency's configuration is unchanged but
// for where it stands in the file.
func sameConfig(a, b config.Dependency) bool {
	a.Line, b.Line = 0, 0
	return reflect.DeepEqual(a, b)
}

// Close stops background checks and closes every checker's connections,
// once the runs using them have finished.
func (r *Runner) Close() {
	r.applyMu.Lock()
	defer r.applyMu.Unlock()
	r.stopBackground()
	r.mu.Lock()
	deps := r.deps
	r.deps, r.byName = nil, map[string]*dependency{}
	r.mu.Unlock()
	for _, d := range deps {
		for _, b := range d.allBreakers() {
			r.breakers.Remove(b.Name())
		}
		d.retire()
	}
}

// breakerOwner is implemented by checkers with circuit breakers of their
// own (the search check's breaker around its primary), which the runner
// exports beside the dependencies' breakers.
type breakerOwner interface {
	breakers() []*breaker.Breaker
}

// allBreakers returns d's breaker and those of its checker.
func (d *dependency) allBreakers() []*breaker.Breaker {
	bs := []*breaker.Breaker{d.breaker}
	if o, ok := d.check.(breakerOwner); ok {
		bs = append(bs, o.breakers()...)
	}
	return bs
}

func (r *Runner) dependencies() []*dependency {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.deps
}

// acquire marks a run as using d's checker; it fails once the checker is
// closed.
func (d *dependency) acquire() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return false
	}
	d.running++
	return true
}

// release ends a run, closing a retired dependency's checker after its last run.
func (d *dependency) release() {
	d.mu.Lock()
	d.running--
	closeNow := d.retired && d.running == 0 && d.ownsCheck && !d.closed
	if closeNow {
		d.closed = true
	}
	d.mu.Unlock()
	if closeNow {
		closeChecker(d.check)
	}
}

// retire marks d as replaced: its checker is closed when no run uses it, unless a
// newer dependency took it over.
func (d *dependency) retire() {
	d.mu.Lock()
	d.retired = true
	closeNow := d.running == 0 && d.ownsCheck && !d.closed
	if closeNow || !d.ownsCheck {
		d.closed = true
	}
	d.mu.Unlock()
	if closeNow {
		closeChecker(d.check)
	}
}

func closeChecker(c Checker) {
	if cl, ok := c.(io.Closer); ok {
		cl.Close()
	}
}

// breakerSettings turns a dependency's breaker configuration into settings,
// on the runner's clock, logging state changes.
func (r *Runner) breakerSettings(dc config.Dependency) breaker.Settings {
	s := breakerSettings(dc, r.logger)
	s.Now = r.clock
	return s
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
			level := slog.LevelInfo
			if to == breaker.Open {
				level = slog.LevelWarn
			}
			logger.Log(context.Background(), level, "circuit breaker", "breaker", name, "from", from.String(), "to", to.String())
		},
	}
}

// retryPolicy turns a dependency's retry configuration into a policy. The
// configuration was validated, so the jitter name parses.
func retryPolicy(rc config.Retry) retry.Policy {
	j, _ := retry.ParseJitter(rc.Jitter)
	return retry.Policy{
		MaxRetries: rc.MaxRetries,
		BaseDelay:  rc.BaseDelay,
		MaxDelay:   rc.MaxDelay,
		Factor:     rc.Factor,
		Jitter:     j,
	}
}
