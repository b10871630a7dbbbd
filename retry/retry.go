package retry

import (
	"context"
	"time"
)

// Do calls fn until it succeeds or p says to stop, waiting between attempts
// as p says. It returns nil or an *Error holding the last attempt's error.
// A wait ends at once when ctx ends. A first attempt that succeeds costs no
// allocation and no timer.
func Do(ctx context.Context, p Policy, fn func(context.Context) error) error {
	start := p.begin()
	err := fn(ctx)
	if err == nil {
		return nil
	}
	return p.retry(ctx, start, err, fn)
}

// DoValue is Do for functions that return a value. On failure it returns
// the zero value with the *Error.
func DoValue[T any](ctx context.Context, p Policy, fn func(context.Context) (T, error)) (T, error) {
	start := p.begin()
	v, err := fn(ctx)
	if err == nil {
		return v, nil
	}
	return retryValue(ctx, &p, start, err, fn)
}

// retryValue keeps the closure and its captured value off DoValue's fast path.
func retryValue[T any](ctx context.Context, p *Policy, start time.Time, err error, fn func(context.Context) (T, error)) (T, error) {
	var v T
	err = p.retry(ctx, start, err, func(ctx context.Context) error {
		var err error
		v, err = fn(ctx)
		return err
	})
	if err != nil {
		var zero T
		return zero, err
	}
	return v, nil
}

// begin counts the call against the budget and notes when it started, if
// MaxElapsed needs to know.
func (p *Policy) begin() time.Time {
	if p.Budget != nil {
		p.Budget.RecordCall()
	}
	if p.MaxElapsed > 0 {
		return p.now()
	}
	return time.Time{}
}

// retry runs after a failed first attempt.
func (p *Policy) retry(ctx context.Context, start time.Time, err error, fn func(context.Context) error) error {
	b := newBackoff(p)
	var timer *time.Timer // one for all the waits of this call
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for attempts := 1; ; attempts++ {
		if refusesRetry(err) {
			return p.giveUp(attempts, err, nil)
		}
		if ctx.Err() != nil {
			return p.giveUp(attempts, err, contextReason(ctx))
		}
		if attempts > p.MaxRetries || (p.Retryable != nil && !p.Retryable(err)) {
			return p.giveUp(attempts, err, nil)
		}
		wait := b.wait()
		if reason := p.overrun(ctx, start, wait); reason != nil {
			return p.giveUp(attempts, err, reason)
		}
		if !p.Budget.AllowRetry() {
			return p.giveUp(attempts, err, ErrBudgetExhausted)
		}
		if p.OnRetry != nil {
			p.OnRetry(attempts, err, wait)
		}
		if reason := p.sleep(ctx, wait, &timer); reason != nil {
			return p.giveUp(attempts, err, reason)
		}
		if err = fn(ctx); err == nil {
			return nil
		}
	}
}

// overrun says why a wait must not start: it would end past MaxElapsed, or
// at or past the context's deadline, leaving no time for the next attempt.
func (p *Policy) overrun(ctx context.Context, start time.Time, wait time.Duration) error {
	deadline, hasDeadline := ctx.Deadline()
	if p.MaxElapsed <= 0 && !hasDeadline {
		return nil
	}
	now := p.now()
	// Compared by subtraction, which saturates, so huge waits cannot wrap.
	if elapsed := now.Sub(start); p.MaxElapsed > 0 && (elapsed > p.MaxElapsed || wait > p.MaxElapsed-elapsed) {
		return ErrMaxElapsed
	}
	if hasDeadline && wait >= deadline.Sub(now) {
		return context.DeadlineExceeded
	}
	return nil
}

// sleep waits d or until ctx ends, and then returns the context's reason.
// Without an injected After it arms *timer, creating it on first use.
func (p *Policy) sleep(ctx context.Context, d time.Duration, timer **time.Timer) error {
	if d <= 0 {
		return nil
	}
	var fired <-chan time.Time
	switch {
	case p.After != nil:
		fired = p.After(d)
	case *timer == nil:
		*timer = time.NewTimer(d)
		fired = (*timer).C
	default:
		// Since Go 1.23 Reset leaves no stale tick in the channel.
		(*timer).Reset(d)
		fired = (*timer).C
	}
	select {
	case <-fired:
		return nil
	case <-ctx.Done():
		return contextReason(ctx)
	}
}

func (p *Policy) giveUp(attempts int, err, reason error) error {
	e := &Error{Attempts: attempts, Err: stripPermanent(err), Reason: reason}
	if p.OnGiveUp != nil {
		p.OnGiveUp(attempts, e)
	}
	return e
}
