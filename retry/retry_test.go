package retry

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"
)

var errBoom = errors.New("boom")

// rejectError is a local stand-in for errors such as a circuit breaker's
// ErrOpen that say they must not be retried.
type rejectError struct{ retryable bool }

func (e rejectError) Error() string   { return fmt.Sprintf("reject (retryable=%v)", e.retryable) }
func (e rejectError) Retryable() bool { return e.retryable }

// failing returns an fn that fails with the given errors in turn, then
// succeeds, and a pointer to its call count.
func failing(errs ...error) (func(context.Context) error, *int) {
	calls := 0
	return func(context.Context) error {
		calls++
		if calls <= len(errs) {
			return errs[calls-1]
		}
		return nil
	}, &calls
}

func always(err error) (func(context.Context) error, *int) {
	calls := 0
	return func(context.Context) error {
		calls++
		return err
	}, &calls
}

type retryCall struct {
	attempt int
	err     error
	wait    time.Duration
}

type giveUpCall struct {
	attempts int
	err      error
}

// recorder wires a fake clock and both hooks into p.
type recorder struct {
	clock   *fakeClock
	retries []retryCall
	giveUps []giveUpCall
}

func record(p *Policy) *recorder {
	r := &recorder{clock: newFakeClock()}
	p.Now, p.After = r.clock.Now, r.clock.After
	p.OnRetry = func(attempt int, err error, wait time.Duration) {
		r.retries = append(r.retries, retryCall{attempt, err, wait})
	}
	p.OnGiveUp = func(attempts int, err error) {
		r.giveUps = append(r.giveUps, giveUpCall{attempts, err})
	}
	return r
}

func asError(t *testing.T, err error) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *retry.Error", err, err)
	}
	return e
}

func TestDoFirstAttemptSucceeds(t *testing.T) {
	p := Policy{MaxRetries: 3}
	r := record(&p)
	fn, calls := failing()
	if err := Do(t.Context(), p, fn); err != nil {
		t.Fatalf("Do = %v", err)
	}
	if *calls != 1 || len(r.clock.Waits()) != 0 || len(r.retries) != 0 || len(r.giveUps) != 0 {
		t.Errorf("calls=%d waits=%v retries=%v giveUps=%v; want one call and nothing else",
			*calls, r.clock.Waits(), r.retries, r.giveUps)
	}
}

func TestDoSucceedsAfterFailures(t *testing.T) {
	p := Policy{MaxRetries: 3, BaseDelay: time.Second}
	r := record(&p)
	fn, calls := failing(errBoom, errBoom)
	if err := Do(t.Context(), p, fn); err != nil {
		t.Fatalf("Do = %v", err)
	}
	if *calls != 3 {
		t.Errorf("calls = %d, want 3", *calls)
	}
	if want := []time.Duration{time.Second, 2 * time.Second}; !slices.Equal(r.clock.Waits(), want) {
		t.Errorf("waits = %v, want %v", r.clock.Waits(), want)
	}
	want := []retryCall{{1, errBoom, time.Second}, {2, errBoom, 2 * time.Second}}
	if !slices.Equal(r.retries, want) {
		t.Errorf("OnRetry calls = %v, want %v", r.retries, want)
	}
	if len(r.giveUps) != 0 {
		t.Errorf("OnGiveUp called on success: %v", r.giveUps)
	}
}

func TestDoAttemptCap(t *testing.T) {
	for _, maxRetries := range []int{-1, 0, 1, 3, 5} {
		t.Run(fmt.Sprint(maxRetries), func(t *testing.T) {
			p := Policy{MaxRetries: maxRetries, BaseDelay: time.Millisecond, Jitter: FullJitter, Rand: constRand(0.25)}
			r := record(&p)
			fn, calls := always(errBoom)
			err := Do(t.Context(), p, fn)
			wantAttempts := max(maxRetries, 0) + 1
			if *calls != wantAttempts {
				t.Errorf("calls = %d, want %d", *calls, wantAttempts)
			}
			e := asError(t, err)
			if e.Attempts != wantAttempts || e.Err != errBoom || e.Reason != nil {
				t.Errorf("Error = %+v, want %d attempts of boom and no reason", e, wantAttempts)
			}
			if !errors.Is(err, errBoom) {
				t.Errorf("errors.Is(%v, errBoom) = false", err)
			}
			if len(r.retries) != wantAttempts-1 {
				t.Errorf("OnRetry called %d times, want %d", len(r.retries), wantAttempts-1)
			}
			for i, c := range r.retries {
				if c.attempt != i+1 || c.err != errBoom || c.wait != r.clock.Waits()[i] {
					t.Errorf("OnRetry call %d = %+v, wait slept %v", i, c, r.clock.Waits()[i])
				}
			}
			if len(r.giveUps) != 1 || r.giveUps[0].attempts != wantAttempts || r.giveUps[0].err != err {
				t.Errorf("OnGiveUp calls = %v, want one with %d attempts and the returned error", r.giveUps, wantAttempts)
			}
		})
	}
}

func TestDoMaxElapsed(t *testing.T) {
	tests := []struct {
		name     string
		attempt  time.Duration // how long each attempt takes
		elapsed  time.Duration
		attempts int
		waits    []time.Duration
	}{
		// Waits 1s, 2s end at 3s; the 4s wait would end at 7s.
		{"instant attempts", 0, 5 * time.Second, 3, []time.Duration{time.Second, 2 * time.Second}},
		// Attempt 1 ends at 1s, wait to 2s, attempt 2 to 3s, wait to exactly 5s: allowed.
		{"slow attempts, wait ending on the cap", time.Second, 5 * time.Second, 3, []time.Duration{time.Second, 2 * time.Second}},
		// Attempt 1 ends at 2s; the 1s wait would end at 3s.
		{"first attempt uses the time", 2 * time.Second, 2500 * time.Millisecond, 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Policy{MaxRetries: 10, BaseDelay: time.Second, MaxElapsed: tt.elapsed}
			r := record(&p)
			calls := 0
			err := Do(t.Context(), p, func(context.Context) error {
				calls++
				r.clock.Advance(tt.attempt)
				return errBoom
			})
			e := asError(t, err)
			if e.Attempts != tt.attempts || calls != tt.attempts || !errors.Is(err, ErrMaxElapsed) || !errors.Is(err, errBoom) {
				t.Errorf("Do = %v after %d calls; want %d attempts, ErrMaxElapsed and boom", err, calls, tt.attempts)
			}
			if !slices.Equal(r.clock.Waits(), tt.waits) {
				t.Errorf("waits = %v, want %v", r.clock.Waits(), tt.waits)
			}
		})
	}
}

func TestDoHugeWaitsDoNotWrap(t *testing.T) {
	p := Policy{MaxRetries: 3, BaseDelay: math.MaxInt64, MaxElapsed: time.Hour}
	r := record(&p)
	ctx, cancel := context.WithDeadline(t.Context(), r.clock.Now().Add(time.Hour))
	defer cancel()
	calls := 0
	fn := func(context.Context) error {
		calls++
		r.clock.Advance(time.Minute) // elapsed + wait would wrap negative
		return errBoom
	}
	if err := Do(ctx, p, fn); calls != 1 || !errors.Is(err, ErrMaxElapsed) {
		t.Errorf("Do = %v after %d calls; want ErrMaxElapsed after 1", err, calls)
	}
	p.MaxElapsed = 0
	if err := Do(ctx, p, fn); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Do = %v; want DeadlineExceeded before an endless wait", err)
	}
}

func TestDoGivesUpBeforeContextDeadline(t *testing.T) {
	p := Policy{MaxRetries: 10, BaseDelay: time.Minute, MaxDelay: time.Hour}
	r := record(&p)
	// The deadline lies 150s ahead on both clocks; the test ends long before.
	ctx, cancel := context.WithDeadline(t.Context(), r.clock.Now().Add(150*time.Second))
	defer cancel()
	fn, calls := always(errBoom)
	err := Do(ctx, p, fn)
	// Waits of 1m (to 60s) and 2m (to 180s, past the deadline).
	e := asError(t, err)
	if *calls != 2 || e.Attempts != 2 || !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, errBoom) {
		t.Errorf("Do = %v after %d calls; want 2 attempts, DeadlineExceeded and boom", err, *calls)
	}
	if want := []time.Duration{time.Minute}; !slices.Equal(r.clock.Waits(), want) {
		t.Errorf("waits = %v, want %v", r.clock.Waits(), want)
	}
	if ctx.Err() != nil {
		t.Errorf("Do returned by reaching the deadline, not ahead of it: %v", ctx.Err())
	}
}

func TestDoWaitEndingOnDeadlineGivesUp(t *testing.T) {
	p := Policy{MaxRetries: 10, BaseDelay: time.Minute}
	r := record(&p)
	ctx, cancel := context.WithDeadline(t.Context(), r.clock.Now().Add(time.Minute))
	defer cancel()
	fn, calls := always(errBoom)
	if err := Do(ctx, p, fn); *calls != 1 || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Do = %v after %d calls; want DeadlineExceeded after 1", err, *calls)
	}
}

func TestDoCancelDuringWait(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	waiting := make(chan time.Duration)
	var giveUps []giveUpCall
	p := Policy{
		MaxRetries: 3,
		BaseDelay:  time.Hour,
		After: func(d time.Duration) <-chan time.Time {
			waiting <- d
			return nil // never fires
		},
		OnGiveUp: func(attempts int, err error) { giveUps = append(giveUps, giveUpCall{attempts, err}) },
	}
	go func() {
		<-waiting
		cancel()
	}()
	fn, calls := always(errBoom)
	err := Do(ctx, p, fn)
	e := asError(t, err)
	if *calls != 1 || e.Attempts != 1 || !errors.Is(err, context.Canceled) || !errors.Is(err, errBoom) {
		t.Errorf("Do = %v after %d calls; want 1 attempt wrapping Canceled and boom", err, *calls)
	}
	if want := "context canceled after 1 attempt: boom"; err.Error() != want {
		t.Errorf("message = %q, want %q", err.Error(), want)
	}
	if len(giveUps) != 1 || giveUps[0].attempts != 1 {
		t.Errorf("OnGiveUp calls = %v, want one with 1 attempt", giveUps)
	}
}

// TestDoCancelDuringRealWait uses the real timer: the context ends while an
// hour-long wait is due, and Do must return without it.
func TestDoCancelDuringRealWait(t *testing.T) {
	cause := errors.New("shutting down")
	ctx, cancel := context.WithCancelCause(t.Context())
	defer cancel(nil)
	p := Policy{
		MaxRetries: 3,
		BaseDelay:  time.Hour,
		OnRetry:    func(int, error, time.Duration) { cancel(cause) },
	}
	fn, calls := always(errBoom)
	err := Do(ctx, p, fn)
	if *calls != 1 || !errors.Is(err, context.Canceled) || !errors.Is(err, cause) || !errors.Is(err, errBoom) {
		t.Errorf("Do = %v after %d calls; want Canceled, its cause and boom", err, *calls)
	}
}

func TestDoRealTimer(t *testing.T) {
	fn, calls := failing(errBoom, errBoom)
	p := Policy{MaxRetries: 2, BaseDelay: time.Microsecond, Jitter: FullJitter}
	if err := Do(t.Context(), p, fn); err != nil || *calls != 3 {
		t.Errorf("Do = %v after %d calls, want success after 3", err, *calls)
	}
}

func TestDoZeroWaitNeedsNoTimer(t *testing.T) {
	p := Policy{MaxRetries: 2, Jitter: FullJitter, Rand: constRand(0)}
	r := record(&p)
	fn, calls := failing(errBoom, errBoom)
	if err := Do(t.Context(), p, fn); err != nil || *calls != 3 {
		t.Errorf("Do = %v after %d calls, want success after 3", err, *calls)
	}
	if len(r.clock.Waits()) != 0 {
		t.Errorf("After called for zero waits: %v", r.clock.Waits())
	}
	if want := []retryCall{{1, errBoom, 0}, {2, errBoom, 0}}; !slices.Equal(r.retries, want) {
		t.Errorf("OnRetry calls = %v, want %v", r.retries, want)
	}
}

func TestDoContextErrors(t *testing.T) {
	t.Run("context already done", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		p := Policy{MaxRetries: 3}
		r := record(&p)
		calls := 0
		err := Do(ctx, p, func(ctx context.Context) error {
			calls++
			return ctx.Err()
		})
		if calls != 1 || len(r.clock.Waits()) != 0 || !errors.Is(err, context.Canceled) {
			t.Errorf("Do = %v after %d calls, %d waits; want Canceled after 1 and no wait", err, calls, len(r.clock.Waits()))
		}
	})
	t.Run("attempt timeout while ctx lives is retried", func(t *testing.T) {
		p := Policy{MaxRetries: 3}
		record(&p)
		fn, calls := failing(context.DeadlineExceeded)
		if err := Do(t.Context(), p, fn); err != nil || *calls != 2 {
			t.Errorf("Do = %v after %d calls, want success after 2", err, *calls)
		}
	})
}

func TestDoRetryablePredicate(t *testing.T) {
	errNotFound := errors.New("not found")
	p := Policy{MaxRetries: 3, Retryable: func(err error) bool { return !errors.Is(err, errNotFound) }}
	r := record(&p)
	fn, calls := always(fmt.Errorf("get: %w", errNotFound))
	err := Do(t.Context(), p, fn)
	if *calls != 1 || !errors.Is(err, errNotFound) || asError(t, err).Attempts != 1 || len(r.giveUps) != 1 {
		t.Errorf("Do = %v after %d calls; want errNotFound after 1 and one give-up", err, *calls)
	}
	fn, calls = failing(errBoom, errBoom)
	if err := Do(t.Context(), p, fn); err != nil || *calls != 3 {
		t.Errorf("Do = %v after %d calls, want success after 3", err, *calls)
	}
}

// TestDoPredicateCannotWiden: a predicate saying yes does not make a
// permanent or self-declared non-retryable error retryable.
func TestDoPredicateCannotWiden(t *testing.T) {
	for _, err := range []error{Permanent(errBoom), rejectError{retryable: false}} {
		p := Policy{MaxRetries: 3, Retryable: func(error) bool { return true }}
		record(&p)
		fn, calls := always(err)
		if got := Do(t.Context(), p, fn); *calls != 1 || got == nil {
			t.Errorf("Do with %v = %v after %d calls, want failure after 1", err, got, *calls)
		}
	}
}

func TestDoPermanent(t *testing.T) {
	if Permanent(nil) != nil {
		t.Error("Permanent(nil) != nil")
	}
	p := Policy{MaxRetries: 5}
	r := record(&p)
	fn, calls := failing(errBoom, Permanent(errBoom))
	err := Do(t.Context(), p, fn)
	e := asError(t, err)
	if *calls != 2 || e.Attempts != 2 || e.Err != errBoom {
		t.Errorf("Do = %#v after %d calls; want 2 attempts with the unmarked error", e, *calls)
	}
	if err.Error() != "after 2 attempts: boom" {
		t.Errorf("message = %q", err.Error())
	}
	if len(r.retries) != 1 {
		t.Errorf("OnRetry called %d times, want 1", len(r.retries))
	}

	// A mark inside a wrapped chain also stops retries; the chain is kept.
	fn, calls = always(fmt.Errorf("load user: %w", Permanent(errBoom)))
	err = Do(t.Context(), p, fn)
	if *calls != 1 || err.Error() != "load user: boom" || !errors.Is(err, errBoom) {
		t.Errorf("Do = %q after %d calls; want %q after 1", err, *calls, "load user: boom")
	}
}

func TestDoRetryableMethod(t *testing.T) {
	tests := []struct {
		name  string
		err   error
		calls int
	}{
		{"false", rejectError{retryable: false}, 1},
		{"false wrapped", fmt.Errorf("query: %w", rejectError{}), 1},
		{"false joined", errors.Join(errBoom, rejectError{}), 1},
		{"false under a true", fmt.Errorf("%w: %w", rejectError{retryable: true}, rejectError{}), 1},
		{"true", rejectError{retryable: true}, 3},
		{"plain", errBoom, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Policy{MaxRetries: 2}
			record(&p)
			fn, calls := always(tt.err)
			err := Do(t.Context(), p, fn)
			if *calls != tt.calls || !errors.Is(err, tt.err) {
				t.Errorf("Do = %v after %d calls, want %d calls", err, *calls, tt.calls)
			}
			var re rejectError
			if _, isReject := tt.err.(rejectError); isReject && !errors.As(err, &re) {
				t.Errorf("errors.As(%v, rejectError) = false", err)
			}
		})
	}
}

func TestIsRetryable(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errBoom, true},
		{context.Canceled, true},
		{Permanent(errBoom), false},
		{fmt.Errorf("x: %w", Permanent(errBoom)), false},
		{rejectError{retryable: false}, false},
		{rejectError{retryable: true}, true},
		{errors.Join(errBoom, fmt.Errorf("y: %w", rejectError{})), false},
		{errors.Join(errBoom, context.Canceled), true},
	}
	for _, tt := range tests {
		if got := IsRetryable(tt.err); got != tt.want {
			t.Errorf("IsRetryable(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestDoBudgetExhausted(t *testing.T) {
	clock := newFakeClock()
	budget := NewBudgetWithClock(0, 0, time.Minute, clock.Now)
	p := Policy{MaxRetries: 3, Budget: budget}
	r := record(&p)
	fn, calls := always(errBoom)
	err := Do(t.Context(), p, fn)
	e := asError(t, err)
	if *calls != 1 || e.Attempts != 1 || !errors.Is(err, ErrBudgetExhausted) || !errors.Is(err, errBoom) {
		t.Errorf("Do = %v after %d calls; want ErrBudgetExhausted and boom after 1", err, *calls)
	}
	if want := "retry budget exhausted after 1 attempt: boom"; err.Error() != want {
		t.Errorf("message = %q, want %q", err.Error(), want)
	}
	if len(r.retries) != 0 || len(r.giveUps) != 1 {
		t.Errorf("OnRetry calls %v, OnGiveUp calls %v; want none and one", r.retries, r.giveUps)
	}
}

func TestDoDrawsOnBudget(t *testing.T) {
	clock := newFakeClock()
	// Half the calls may retry: two Do calls fund one retry.
	budget := NewBudgetWithClock(0.5, 0, time.Minute, clock.Now)
	p := Policy{MaxRetries: 1, Budget: budget}
	record(&p)
	ok, _ := failing()
	if err := Do(t.Context(), p, ok); err != nil {
		t.Fatal(err)
	}
	fn, calls := failing(errBoom)
	if err := Do(t.Context(), p, fn); err != nil || *calls != 2 {
		t.Fatalf("Do = %v after %d calls; want success after 2", err, *calls)
	}
	// Three calls, one retry: the next retry would make 2 > 1.5.
	fn, calls = failing(errBoom)
	if err := Do(t.Context(), p, fn); !errors.Is(err, ErrBudgetExhausted) || *calls != 1 {
		t.Errorf("Do = %v after %d calls; want ErrBudgetExhausted after 1", err, *calls)
	}
}

func TestDoValue(t *testing.T) {
	p := Policy{MaxRetries: 2}
	record(&p)
	calls := 0
	v, err := DoValue(t.Context(), p, func(context.Context) (string, error) {
		calls++
		if calls < 3 {
			return "partial", errBoom
		}
		return "done", nil
	})
	if v != "done" || err != nil || calls != 3 {
		t.Errorf("DoValue = %q, %v after %d calls; want done after 3", v, err, calls)
	}
	v, err = DoValue(t.Context(), p, func(context.Context) (string, error) { return "partial", errBoom })
	if v != "" || asError(t, err).Attempts != 3 {
		t.Errorf("DoValue = %q, %v; want the zero value and 3 attempts", v, err)
	}
	v, err = DoValue(t.Context(), p, func(context.Context) (string, error) { return "first", nil })
	if v != "first" || err != nil {
		t.Errorf("DoValue = %q, %v; want first", v, err)
	}
}

func TestErrorMessage(t *testing.T) {
	tests := []struct {
		err  *Error
		want string
	}{
		{&Error{Attempts: 1, Err: errBoom}, "boom"},
		{&Error{Attempts: 2, Err: errBoom}, "after 2 attempts: boom"},
		{&Error{Attempts: 3, Err: errBoom}, "after 3 attempts: boom"},
		{&Error{Attempts: 1, Err: errBoom, Reason: ErrBudgetExhausted}, "retry budget exhausted after 1 attempt: boom"},
		{&Error{Attempts: 4, Err: errBoom, Reason: ErrMaxElapsed}, "retry max elapsed time reached after 4 attempts: boom"},
		{&Error{}, "<nil>"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

type codeError struct{ code int }

func (e *codeError) Error() string { return fmt.Sprintf("code %d", e.code) }

func TestErrorIsAs(t *testing.T) {
	cause := &codeError{code: 503}
	err := fmt.Errorf("fetch: %w", &Error{Attempts: 3, Err: fmt.Errorf("get: %w", cause), Reason: ErrBudgetExhausted})
	var ce *codeError
	if !errors.As(err, &ce) || ce.code != 503 {
		t.Errorf("errors.As(codeError) = %v", ce)
	}
	var e *Error
	if !errors.As(err, &e) || e.Attempts != 3 {
		t.Errorf("errors.As(*Error) = %v", e)
	}
	if !errors.Is(err, ErrBudgetExhausted) || errors.Is(err, ErrMaxElapsed) || errors.Is(err, context.Canceled) {
		t.Error("errors.Is does not match exactly the reason")
	}
	if errors.Unwrap(e) != e.Err {
		t.Error("Unwrap does not return the last error")
	}

	// Reason's own chain is searched by errors.As too.
	reason := fmt.Errorf("stopped: %w", &codeError{code: 1})
	var rc *codeError
	if !errors.As(&Error{Attempts: 1, Err: errBoom, Reason: reason}, &rc) || rc.code != 1 {
		t.Errorf("errors.As through Reason = %v", rc)
	}
}

func TestDoFastPathDoesNotAllocate(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	policies := map[string]Policy{
		"zero":   {},
		"seed":   Seed,
		"budget": {MaxRetries: 3, MaxElapsed: time.Second, Budget: NewBudgetWithClock(0.1, 1, time.Second, clock.Now)},
	}
	ok := func(context.Context) error { return nil }
	okValue := func(context.Context) (int, error) { return 1, nil }
	for name, p := range policies {
		if n := testing.AllocsPerRun(100, func() { _ = Do(ctx, p, ok) }); n != 0 {
			t.Errorf("%s: Do allocates %v times on success", name, n)
		}
		if n := testing.AllocsPerRun(100, func() { _, _ = DoValue(ctx, p, okValue) }); n != 0 {
			t.Errorf("%s: DoValue allocates %v times on success", name, n)
		}
	}
}
