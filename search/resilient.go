package search

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/health-exporter/health-exporter/breaker"
	"github.com/health-exporter/health-exporter/retry"
)

// Backend says which searcher of a Resilient served a query.
type Backend uint8

// The backends of a Resilient.
const (
	Primary Backend = iota
	Fallback
)

var backends = [...]Backend{Primary, Fallback}

// String returns "primary" or "fallback", the backend label's values.
func (b Backend) String() string {
	if b == Fallback {
		return "fallback"
	}
	return "primary"
}

// Reason says why the fallback was asked. The set is closed, so the reason
// label of search_fallbacks_total stays bounded.
type Reason string

// The reasons for a fallback.
const (
	// ReasonBreakerOpen: the primary's breaker refused the call (open, or
	// half-open with its trial calls taken); the primary was not asked.
	ReasonBreakerOpen Reason = "breaker_open"
	// ReasonTimeout: the primary did not answer within its timeout.
	ReasonTimeout Reason = "timeout"
	// ReasonError: the primary failed in any other way (refused
	// connection, error status, a reply that is not a search result).
	ReasonError Reason = "error"
)

// Reasons lists every Reason.
var Reasons = [...]Reason{ReasonBreakerOpen, ReasonTimeout, ReasonError}

// Options configures a Resilient. Zero values mean the documented defaults.
type Options struct {
	// Name identifies the Resilient in metrics (the searcher label) and
	// errors. Default "search".
	Name string
	// Primary is the preferred searcher, required.
	Primary Searcher
	// Fallback serves when the primary cannot. Without one, the primary's
	// error is returned.
	Fallback Searcher

	// Breaker configures the primary's breaker. Its Name defaults to
	// Name + "_primary". Calls the caller cancelled and queries refused as
	// invalid are recorded as excluded, whatever IsExcluded says.
	Breaker breaker.Settings
	// Retry retries the primary within its timeout. The zero Policy makes
	// one attempt. A refusal by the breaker, an invalid query and a call
	// whose caller has gone are never retried.
	Retry retry.Policy
	// PrimaryTimeout bounds the primary's call, retries included, so the
	// fallback has time left. 0 means half of the time left before the
	// caller's deadline, or DefaultPrimaryTimeout when the caller has no
	// deadline; negative means no bound but the caller's deadline.
	PrimaryTimeout time.Duration
	// FallbackTimeout bounds the fallback's call. 0 means only the
	// caller's deadline, or DefaultFallbackTimeout when the caller has no
	// deadline; negative means no bound but the caller's deadline.
	FallbackTimeout time.Duration

	// Buckets are the upper bounds of the search_duration_seconds
	// histogram, in seconds, increasing. Default DefaultBuckets.
	Buckets []float64
	// OnFallback, if set, is called before the fallback is asked, with the
	// reason and the primary's error (for a log line).
	OnFallback func(reason Reason, primaryErr error)
	// Now is the clock that times the backends. Default time.Now.
	Now func() time.Time
}

// DefaultPrimaryTimeout bounds the primary's call when PrimaryTimeout is 0
// and the caller's context has no deadline, so that a hung primary fails
// (and counts against its breaker) instead of blocking the caller.
const DefaultPrimaryTimeout = time.Second

// DefaultFallbackTimeout bounds the fallback's call when FallbackTimeout is
// 0 and the caller's context has no deadline.
const DefaultFallbackTimeout = time.Second

// DefaultBuckets are the default upper bounds of search_duration_seconds,
// from 1ms to 10s.
var DefaultBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Resilient searches through its primary, behind a breaker, and lets its
// fallback serve when the primary fails or its breaker is open (the
// origin's search_workflows_resilient and fallback_search). It is safe for
// concurrent use.
type Resilient struct {
	name            string
	primary         Searcher
	fallback        Searcher
	breaker         *breaker.Breaker
	retry           retry.Policy
	primaryTimeout  time.Duration
	fallbackTimeout time.Duration
	onFallback      func(Reason, error)
	now             func() time.Time
	stats           *counters
}

var _ Searcher = (*Resilient)(nil)

// NewResilient returns a Resilient. It fails when Primary is missing or a
// setting is out of range.
func NewResilient(opts Options) (*Resilient, error) {
	if opts.Name == "" {
		opts.Name = "search"
	}
	if opts.Primary == nil {
		return nil, fmt.Errorf("search %q: no primary searcher", opts.Name)
	}
	if opts.Breaker.Name == "" {
		opts.Breaker.Name = opts.Name + "_primary"
	}
	if err := opts.Breaker.Validate(); err != nil {
		return nil, fmt.Errorf("search %q: %w", opts.Name, err)
	}
	if err := opts.Retry.Validate(); err != nil {
		return nil, fmt.Errorf("search %q: %w", opts.Name, err)
	}
	if opts.Buckets == nil {
		opts.Buckets = DefaultBuckets
	}
	for i, b := range opts.Buckets {
		if i > 0 && b <= opts.Buckets[i-1] {
			return nil, fmt.Errorf("search %q: histogram buckets are not increasing", opts.Name)
		}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}

	excluded := opts.Breaker.IsExcluded
	if excluded == nil {
		excluded = func(err error) bool { return errors.Is(err, context.Canceled) }
	}
	opts.Breaker.IsExcluded = func(err error) bool {
		return isCallerGone(err) || errors.Is(err, ErrInvalidQuery) || excluded(err)
	}
	b := breaker.New(opts.Breaker)
	retryable := opts.Retry.Retryable
	opts.Retry.Retryable = func(err error) bool {
		// A failure that opened the breaker ends the retries with the
		// failure itself, not with a refusal.
		if isCallerGone(err) || errors.Is(err, ErrInvalidQuery) || b.State() == breaker.Open {
			return false
		}
		return retryable == nil || retryable(err)
	}
	return &Resilient{
		name:            opts.Name,
		primary:         opts.Primary,
		fallback:        opts.Fallback,
		breaker:         b,
		retry:           opts.Retry,
		primaryTimeout:  opts.PrimaryTimeout,
		fallbackTimeout: opts.FallbackTimeout,
		onFallback:      opts.OnFallback,
		now:             opts.Now,
		stats:           newCounters(opts.Buckets),
	}, nil
}

// Name returns the Resilient's name.
func (r *Resilient) Name() string { return r.name }

// Breaker returns the primary's breaker, for a breaker.Collector or an
// operator's ForceOpen.
func (r *Resilient) Breaker() *breaker.Breaker { return r.breaker }

// Answer is a served search.
type Answer struct {
	// Workflows are the hits, best first.
	Workflows []Workflow
	// Backend is the searcher that served.
	Backend Backend
	// Reason says why the fallback served; empty when the primary did.
	Reason Reason
	// PrimaryErr is the primary's error when the fallback served.
	PrimaryErr error
}

// Error is returned when no backend could serve: the primary failed (or
// its breaker refused) and the fallback failed too, or there is none.
// errors.Is and errors.As see both causes.
type Error struct {
	// Searcher is the Resilient's name.
	Searcher string
	// Reason is why the primary did not serve.
	Reason Reason
	// Primary is the primary's error.
	Primary error
	// Fallback is the fallback's error; nil when there is no fallback.
	Fallback error
}

// Error reads `search "name": primary: <error>; fallback: <error>`.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "search %q: primary: %v", e.Searcher, e.Primary)
	if e.Fallback != nil {
		fmt.Fprintf(&b, "; fallback: %v", e.Fallback)
	} else {
		b.WriteString("; no fallback")
	}
	return b.String()
}

// Unwrap returns the primary's and the fallback's errors.
func (e *Error) Unwrap() []error {
	if e.Fallback == nil {
		return []error{e.Primary}
	}
	return []error{e.Primary, e.Fallback}
}

// Search returns the workflows of Ask's answer, so that a Resilient is a
// Searcher itself.
func (r *Resilient) Search(ctx context.Context, q Query) ([]Workflow, error) {
	a, err := r.Ask(ctx, q)
	return a.Workflows, err
}

// Ask searches through the primary and, when it fails or its breaker is
// open, through the fallback. The Answer says which served and why. When
// both fail the error is an *Error holding both causes. When ctx ends
// first, no backend is blamed: the error is ctx's (errors.Is matches
// context.Canceled or context.DeadlineExceeded), the fallback is not asked
// and the breaker does not count the call. An invalid query fails with
// ErrInvalidQuery before any backend is asked.
func (r *Resilient) Ask(ctx context.Context, q Query) (Answer, error) {
	q, err := q.Normalize()
	if err != nil {
		return Answer{}, fmt.Errorf("search %q: %w", r.name, err)
	}
	if ctx.Err() != nil {
		return Answer{}, r.callerGone(ctx)
	}
	ws, perr := r.askPrimary(ctx, q)
	switch {
	case perr == nil:
		return Answer{Workflows: ws, Backend: Primary}, nil
	case ctx.Err() != nil:
		return Answer{}, r.callerGone(ctx)
	case errors.Is(perr, ErrInvalidQuery):
		return Answer{}, fmt.Errorf("search %q: primary: %w", r.name, perr)
	}
	reason := reasonFor(perr)
	if r.fallback == nil {
		return Answer{}, &Error{Searcher: r.name, Reason: reason, Primary: perr}
	}
	r.stats.fallbacks[reasonIndex(reason)].Add(1)
	if r.onFallback != nil {
		r.onFallback(reason, perr)
	}
	ws, ferr := r.askFallback(ctx, q)
	switch {
	case ferr == nil:
		return Answer{Workflows: ws, Backend: Fallback, Reason: reason, PrimaryErr: perr}, nil
	case ctx.Err() != nil:
		return Answer{}, r.callerGone(ctx)
	}
	return Answer{}, &Error{Searcher: r.name, Reason: reason, Primary: perr, Fallback: ferr}
}

// askPrimary calls the primary through retry and the breaker, under the
// primary's timeout.
func (r *Resilient) askPrimary(ctx context.Context, q Query) ([]Workflow, error) {
	pctx, cancel := boundContext(ctx, r.primaryTimeout, DefaultPrimaryTimeout, true)
	defer cancel()
	var start time.Time
	ws, err := retry.DoValue(pctx, r.retry, func(actx context.Context) ([]Workflow, error) {
		return breaker.Do(actx, r.breaker, func(actx context.Context) ([]Workflow, error) {
			if start.IsZero() {
				start = r.now()
			}
			ws, err := r.primary.Search(actx, q)
			if err != nil && ctx.Err() != nil {
				return nil, &callerGoneError{err}
			}
			return ws, err
		})
	})
	if !start.IsZero() { // the breaker let at least one attempt through
		r.stats.record(Primary, start, r.now(), err, ctx)
	}
	if err != nil && errors.Is(pctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
		// The primary's own bound ran out, possibly while retry waited
		// between attempts: a timeout, whatever the last attempt said.
		err = &primaryTimeoutError{err}
	}
	return ws, err
}

// primaryTimeoutError marks a primary's error that came after the
// primary's own timeout ended.
type primaryTimeoutError struct{ err error }

func (e *primaryTimeoutError) Error() string { return e.err.Error() }
func (e *primaryTimeoutError) Unwrap() error { return e.err }

func (r *Resilient) askFallback(ctx context.Context, q Query) ([]Workflow, error) {
	fctx, cancel := boundContext(ctx, r.fallbackTimeout, DefaultFallbackTimeout, false)
	defer cancel()
	start := r.now()
	ws, err := r.fallback.Search(fctx, q)
	r.stats.record(Fallback, start, r.now(), err, ctx)
	return ws, err
}

// boundContext bounds a backend's call by d: 0 means half of the time left
// before ctx's deadline when half is set, else only that deadline, or def
// when ctx has none; negative means only ctx's deadline.
func boundContext(ctx context.Context, d, def time.Duration, half bool) (context.Context, context.CancelFunc) {
	if d == 0 {
		deadline, ok := ctx.Deadline()
		switch {
		case !ok:
			d = def
		case half:
			d = max(time.Until(deadline)/2, time.Nanosecond)
		}
	}
	if d <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

// callerGone is the error of a search whose caller gave up.
func (r *Resilient) callerGone(ctx context.Context) error {
	err := ctx.Err()
	if cause := context.Cause(ctx); cause != nil && cause != err {
		return fmt.Errorf("search %q: %w (%w)", r.name, err, cause)
	}
	return fmt.Errorf("search %q: %w", r.name, err)
}

// callerGoneError marks a primary's error that came after the caller's
// context ended: the breaker excludes it and retry stops.
type callerGoneError struct{ err error }

func (e *callerGoneError) Error() string { return e.err.Error() }
func (e *callerGoneError) Unwrap() error { return e.err }

func isCallerGone(err error) bool {
	var cg *callerGoneError
	return errors.As(err, &cg)
}

// reasonFor classifies the primary's error.
func reasonFor(err error) Reason {
	if errors.Is(err, breaker.ErrOpen) || errors.Is(err, breaker.ErrTooManyRequests) {
		return ReasonBreakerOpen
	}
	var pt *primaryTimeoutError
	if errors.As(err, &pt) {
		return ReasonTimeout
	}
	// Otherwise the last attempt's error says what happened, not why retry
	// stopped.
	var re *retry.Error
	if errors.As(err, &re) {
		err = re.Err
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return ReasonTimeout
	}
	return ReasonError
}

func reasonIndex(r Reason) int {
	for i, x := range Reasons {
		if x == r {
			return i
		}
	}
	return len(Reasons) - 1
}
