package collectors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/health-exporter/health-exporter/retry"
)

// errDown is what the breaker and retry see for a check that said down.
var errDown = errors.New("dependency down")

// Refresh brings every scrape-time dependency up to date and returns the
// snapshots of all dependencies. Checks run concurrently; each one's deadline
// is the smaller of its timeout and budget (no budget when budget <= 0). A
// result younger than the dependency's min_interval is reused, and a check
// already running for another scrape is joined rather than started again.
// A background dependency is only waited for until its first result.
// Refresh returns when every check has answered or ctx has ended.
func (r *Runner) Refresh(ctx context.Context, budget time.Duration) []Snapshot {
	deps := r.dependencies()
	var wg sync.WaitGroup
	for _, d := range deps {
		if !r.due(d) {
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

// due reports whether a scrape must run d's check.
func (r *Runner) due(d *dependency) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cfg.Interval > 0 {
		return !d.hasResult
	}
	return !d.hasResult || r.now().Sub(d.last.Time) >= d.cfg.MinInterval
}

// join runs d's check, or waits for the run already in flight. The run is
// detached from ctx: its deadline bounds it, and a scrape that gives up must
// neither cancel the run others wait for nor count against the breaker.
func (r *Runner) join(ctx context.Context, d *dependency, budget time.Duration) {
	timeout := d.cfg.Timeout
	if budget > 0 && budget < timeout {
		timeout = budget
	}
	ch := d.flight.DoChan("", func() (any, error) {
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
// records the result. A run cut short because ctx ended (a reload or
// shutdown stopping background checks) records nothing.
func (r *Runner) runOnce(ctx context.Context, d *dependency, timeout time.Duration) {
	if !d.acquire() {
		return // replaced by a reload and closed
	}
	defer d.release()
	start := r.now()
	res, ok := r.evaluate(ctx, d, timeout)
	if !ok {
		return
	}
	res.Timeout = timeout
	res.Time = r.now()
	if res.Duration == 0 {
		res.Duration = res.Time.Sub(start)
	}
	if res.Status == Healthy && d.cfg.DegradedLatency > 0 && res.Duration > d.cfg.DegradedLatency {
		res.Status, res.Reason = Degraded, ReasonSlow
		res.Detail = fmt.Sprintf("answered in %s, slower than %s", res.Duration.Round(time.Millisecond), d.cfg.DegradedLatency)
	}
	r.record(d, res)
}

// evaluate runs the check itself. It reports false when ctx ended before the
// check could say anything about the dependency.
func (r *Runner) evaluate(ctx context.Context, d *dependency, timeout time.Duration) (Result, bool) {
	permit, err := d.breaker.Allow()
	if err != nil {
		detail := "circuit breaker open: check skipped"
		if until := d.breaker.Counts().OpenUntil; !until.IsZero() {
			detail += fmt.Sprintf(", next probe in %s", until.Sub(r.now()).Round(time.Second))
		}
		return Result{Status: Down, Reason: ReasonBreakerOpen, Detail: detail}, true
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
	switch {
	case ctx.Err() != nil:
		permit.Done(context.Canceled) // neither success nor failure
		return Result{}, false
	case res.Status == Down:
		if res.Reason == ReasonTimeout && res.Detail == "" {
			res.Detail = fmt.Sprintf("no answer within %s", timeout)
		}
		if attempts > 1 {
			res.Detail = fmt.Sprintf("%s (after %d attempts)", res.Detail, attempts)
		}
		permit.Done(errDown)
	default:
		permit.Done(nil)
	}
	return res, true
}

// record stores a result and logs a change of state.
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
	if had && prev.Status == res.Status && prev.Reason == res.Reason {
		log.Debug("check", "state", res.Status.String(), "reason", string(res.Reason), "duration", res.Duration)
		return
	}
	level := slog.LevelInfo
	if res.Status == Down {
		level = slog.LevelWarn
	}
	log.Log(context.Background(), level, "dependency state",
		"state", res.Status.String(), "reason", string(res.Reason), "detail", res.Detail, "duration", res.Duration)
}
