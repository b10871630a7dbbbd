package search_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/health-exporter/health-exporter/breaker"
	"github.com/health-exporter/health-exporter/retry"
	"github.com/health-exporter/health-exporter/search"
)

// fake is a Searcher whose answers a test sets.
type fake struct {
	mu    sync.Mutex
	err   error // returned when set
	hang  bool  // block until ctx ends
	ws    []search.Workflow
	calls atomic.Int32
	// started is closed when a hanging call has begun, if set.
	started chan struct{}
}

func (f *fake) Search(ctx context.Context, q search.Query) ([]search.Workflow, error) {
	f.calls.Add(1)
	f.mu.Lock()
	err, hang, ws, started := f.err, f.hang, f.ws, f.started
	f.mu.Unlock()
	if hang {
		if started != nil {
			close(started)
		}
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return ws, err
}

func (f *fake) set(err error, hang bool) {
	f.mu.Lock()
	f.err, f.hang = err, hang
	f.mu.Unlock()
}

var (
	errPrimary  = errors.New("primary exploded")
	errFallback = errors.New("fallback exploded")
	primaryHits = []search.Workflow{{ID: "1", Name: "from primary"}}
	fallbackHit = []search.Workflow{{ID: "2", Name: "from fallback"}}
)

// clock is a fake clock for the breaker.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newResilient(t *testing.T, primary, fallback search.Searcher, opts search.Options) *search.Resilient {
	t.Helper()
	opts.Primary = primary
	if fallback != nil {
		opts.Fallback = fallback
	}
	r, err := search.NewResilient(opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var q = search.Query{Text: "onboarding", Tenant: "acme"}

func TestResilientPrimaryServes(t *testing.T) {
	p, f := &fake{ws: primaryHits}, &fake{ws: fallbackHit}
	r := newResilient(t, p, f, search.Options{Name: "wf"})
	a, err := r.Ask(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	if a.Backend != search.Primary || a.Reason != "" || a.PrimaryErr != nil || a.Workflows[0].Name != "from primary" {
		t.Fatalf("got %+v", a)
	}
	if f.calls.Load() != 0 {
		t.Fatal("fallback asked")
	}
	if r.Breaker().Name() != "wf_primary" {
		t.Fatalf("breaker named %q", r.Breaker().Name())
	}
}

func TestResilientFallbackOnError(t *testing.T) {
	p, f := &fake{err: errPrimary}, &fake{ws: fallbackHit}
	var reasons []search.Reason
	r := newResilient(t, p, f, search.Options{OnFallback: func(r search.Reason, err error) {
		if !errors.Is(err, errPrimary) {
			t.Errorf("OnFallback error %v", err)
		}
		reasons = append(reasons, r)
	}})
	a, err := r.Ask(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	if a.Backend != search.Fallback || a.Reason != search.ReasonError || !errors.Is(a.PrimaryErr, errPrimary) || a.Workflows[0].Name != "from fallback" {
		t.Fatalf("got %+v", a)
	}
	if len(reasons) != 1 || reasons[0] != search.ReasonError {
		t.Fatalf("OnFallback reasons %v", reasons)
	}
}

func TestResilientFallbackOnTimeout(t *testing.T) {
	p, f := &fake{hang: true}, &fake{ws: fallbackHit}
	r := newResilient(t, p, f, search.Options{PrimaryTimeout: 10 * time.Millisecond})
	a, err := r.Ask(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	if a.Backend != search.Fallback || a.Reason != search.ReasonTimeout || !errors.Is(a.PrimaryErr, context.DeadlineExceeded) {
		t.Fatalf("got %+v", a)
	}
	if c := r.Breaker().Counts(); c.Failures != 1 {
		t.Fatalf("a timed-out primary is a breaker failure; counts %+v", c)
	}
}

// Without PrimaryTimeout the primary gets half of the caller's time, so the
// fallback still has the rest.
func TestResilientPrimaryGetsHalfTheDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
	defer cancel()
	var primaryDeadline time.Time
	r := newResilient(t, searcherFunc(func(ctx context.Context, _ search.Query) ([]search.Workflow, error) {
		primaryDeadline, _ = ctx.Deadline()
		return nil, errPrimary
	}), &fake{ws: fallbackHit}, search.Options{})
	if _, err := r.Ask(ctx, q); err != nil {
		t.Fatal(err)
	}
	// Half an hour, give or take the time the test took.
	if left := time.Until(primaryDeadline); left > 30*time.Minute || left < 29*time.Minute {
		t.Fatalf("primary had %v of the caller's hour", left)
	}
}

type searcherFunc func(context.Context, search.Query) ([]search.Workflow, error)

func (f searcherFunc) Search(ctx context.Context, q search.Query) ([]search.Workflow, error) {
	return f(ctx, q)
}

func TestResilientBreakerOpensAndRecovers(t *testing.T) {
	clk := newClock()
	p, f := &fake{err: errPrimary}, &fake{ws: fallbackHit}
	r := newResilient(t, p, f, search.Options{
		Breaker: breaker.Settings{FailureThreshold: 3, OpenTimeout: 30 * time.Second, Now: clk.Now},
	})
	for i := range 3 {
		a, err := r.Ask(t.Context(), q)
		if err != nil || a.Reason != search.ReasonError {
			t.Fatalf("call %d: %+v, %v", i, a, err)
		}
	}
	if s := r.Breaker().State(); s != breaker.Open {
		t.Fatalf("breaker %v after 3 failures", s)
	}
	// Open: the primary is not asked, the fallback serves at once.
	a, err := r.Ask(t.Context(), q)
	if err != nil || a.Backend != search.Fallback || a.Reason != search.ReasonBreakerOpen || !errors.Is(a.PrimaryErr, breaker.ErrOpen) {
		t.Fatalf("open: %+v, %v", a, err)
	}
	if n := p.calls.Load(); n != 3 {
		t.Fatalf("primary called %d times, want 3", n)
	}
	// The primary recovers; after OpenTimeout one trial goes through and
	// closes the breaker.
	p.set(nil, false)
	p.mu.Lock()
	p.ws = primaryHits
	p.mu.Unlock()
	clk.Advance(29 * time.Second)
	if a, _ := r.Ask(t.Context(), q); a.Reason != search.ReasonBreakerOpen {
		t.Fatalf("before the open timeout: %+v", a)
	}
	clk.Advance(time.Second)
	if s := r.Breaker().State(); s != breaker.HalfOpen {
		t.Fatalf("breaker %v after the open timeout", s)
	}
	a, err = r.Ask(t.Context(), q)
	if err != nil || a.Backend != search.Primary {
		t.Fatalf("half-open trial: %+v, %v", a, err)
	}
	if s := r.Breaker().State(); s != breaker.Closed {
		t.Fatalf("breaker %v after a successful trial", s)
	}
	st := r.Stats()
	if st.Requests[search.Primary] != 4 || st.Errors[search.Primary] != 3 || st.Requests[search.Fallback] != 5 ||
		st.Fallbacks[search.ReasonBreakerOpen] != 2 || st.Fallbacks[search.ReasonError] != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestResilientBothDown(t *testing.T) {
	p, f := &fake{err: errPrimary}, &fake{err: errFallback}
	r := newResilient(t, p, f, search.Options{Name: "wf"})
	_, err := r.Ask(t.Context(), q)
	var se *search.Error
	if !errors.As(err, &se) || se.Reason != search.ReasonError {
		t.Fatalf("got %v, want *search.Error", err)
	}
	if !errors.Is(err, errPrimary) || !errors.Is(err, errFallback) {
		t.Fatalf("%v does not wrap both causes", err)
	}
	if want := `search "wf": primary: primary exploded; fallback: fallback exploded`; err.Error() != want {
		t.Fatalf("message %q, want %q", err, want)
	}
}

func TestResilientNoFallback(t *testing.T) {
	r := newResilient(t, &fake{err: errPrimary}, nil, search.Options{})
	_, err := r.Ask(t.Context(), q)
	var se *search.Error
	if !errors.As(err, &se) || se.Fallback != nil || !errors.Is(err, errPrimary) {
		t.Fatalf("got %v", err)
	}
	if st := r.Stats(); st.Fallbacks[search.ReasonError] != 0 {
		t.Fatalf("counted a fallback that was not asked: %+v", st)
	}
}

func TestResilientCallerCancels(t *testing.T) {
	p, f := &fake{hang: true, started: make(chan struct{})}, &fake{ws: fallbackHit}
	r := newResilient(t, p, f, search.Options{Breaker: breaker.Settings{FailureThreshold: 1}})
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-p.started
		cancel()
	}()
	_, err := r.Ask(ctx, q)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if f.calls.Load() != 0 {
		t.Fatal("the fallback served a caller that had gone")
	}
	c := r.Breaker().Counts()
	if c.State != breaker.Closed || c.Failures != 0 || c.Excluded != 1 {
		t.Fatalf("breaker counted the cancellation: %+v", c)
	}
	if st := r.Stats(); st.Errors[search.Primary] != 0 || st.Durations[search.Primary].Count != 0 {
		t.Fatalf("stats blame the primary: %+v", st)
	}
}

// A caller whose deadline passes is not the primary's fault either, even
// with a PrimaryTimeout longer than the caller's time.
func TestResilientCallerDeadline(t *testing.T) {
	p, f := &fake{hang: true}, &fake{ws: fallbackHit}
	r := newResilient(t, p, f, search.Options{PrimaryTimeout: time.Hour, Breaker: breaker.Settings{FailureThreshold: 1}})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	_, err := r.Ask(ctx, q)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
	if c := r.Breaker().Counts(); c.State != breaker.Closed || c.Failures != 0 || f.calls.Load() != 0 {
		t.Fatalf("breaker %+v, fallback calls %d", c, f.calls.Load())
	}
}

func TestResilientAlreadyCancelled(t *testing.T) {
	p, f := &fake{ws: primaryHits}, &fake{ws: fallbackHit}
	r := newResilient(t, p, f, search.Options{})
	ctx, cancel := context.WithCancelCause(t.Context())
	cause := errors.New("user left")
	cancel(cause)
	_, err := r.Ask(ctx, q)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, cause) || p.calls.Load()+f.calls.Load() != 0 {
		t.Fatalf("got %v after %d calls", err, p.calls.Load()+f.calls.Load())
	}
}

func TestResilientFallbackCancelled(t *testing.T) {
	f := &fake{hang: true, started: make(chan struct{})}
	r := newResilient(t, &fake{err: errPrimary}, f, search.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-f.started
		cancel()
	}()
	_, err := r.Ask(ctx, q)
	var se *search.Error
	if !errors.Is(err, context.Canceled) || errors.As(err, &se) {
		t.Fatalf("got %v, want the caller's cancellation", err)
	}
}

func TestResilientInvalidQuery(t *testing.T) {
	p, f := &fake{ws: primaryHits}, &fake{ws: fallbackHit}
	r := newResilient(t, p, f, search.Options{})
	for _, bad := range []search.Query{{Text: "  "}, {Text: "x", Tenant: "a\x00"}} {
		if _, err := r.Ask(t.Context(), bad); !errors.Is(err, search.ErrInvalidQuery) {
			t.Fatalf("%+v: got %v", bad, err)
		}
	}
	if p.calls.Load()+f.calls.Load() != 0 {
		t.Fatal("a backend was asked")
	}
	// A primary that refuses the query as invalid is not failing.
	p.set(search.ErrInvalidQuery, false)
	if _, err := r.Ask(t.Context(), q); !errors.Is(err, search.ErrInvalidQuery) || f.calls.Load() != 0 {
		t.Fatalf("got %v, fallback calls %d", err, f.calls.Load())
	}
	if c := r.Breaker().Counts(); c.Failures != 0 || c.Excluded != 1 {
		t.Fatalf("breaker %+v", c)
	}
}

func TestResilientRetries(t *testing.T) {
	instant := func(time.Duration) <-chan time.Time {
		ch := make(chan time.Time, 1)
		ch <- time.Time{}
		return ch
	}
	var calls atomic.Int32
	flaky := searcherFunc(func(context.Context, search.Query) ([]search.Workflow, error) {
		if calls.Add(1) == 1 {
			return nil, errPrimary
		}
		return primaryHits, nil
	})
	f := &fake{ws: fallbackHit}
	r := newResilient(t, flaky, f, search.Options{Retry: retry.Policy{MaxRetries: 2, After: instant}})
	a, err := r.Ask(t.Context(), q)
	if err != nil || a.Backend != search.Primary || calls.Load() != 2 {
		t.Fatalf("got %+v, %v after %d calls", a, err, calls.Load())
	}
	if st := r.Stats(); st.Requests[search.Primary] != 1 || st.Errors[search.Primary] != 0 {
		t.Fatalf("retries of one search are one request: %+v", st)
	}

	// The failure that opens the breaker is not retried.
	p := &fake{err: errPrimary}
	r = newResilient(t, p, f, search.Options{
		Retry:   retry.Policy{MaxRetries: 5, After: instant},
		Breaker: breaker.Settings{FailureThreshold: 2},
	})
	a, err = r.Ask(t.Context(), q)
	if err != nil || a.Reason != search.ReasonError || !errors.Is(a.PrimaryErr, errPrimary) {
		t.Fatalf("got %+v, %v", a, err)
	}
	if n := p.calls.Load(); n != 2 {
		t.Fatalf("primary called %d times; want 2, then the open breaker stops retries", n)
	}
}

func TestNewResilientRefuses(t *testing.T) {
	for name, opts := range map[string]search.Options{
		"no primary": {},
		"breaker":    {Primary: &fake{}, Breaker: breaker.Settings{OpenTimeout: -1}},
		"retry":      {Primary: &fake{}, Retry: retry.Policy{MaxRetries: -1}},
		"buckets":    {Primary: &fake{}, Buckets: []float64{1, 1}},
	} {
		if _, err := search.NewResilient(opts); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestNormalize(t *testing.T) {
	for _, c := range []struct {
		in   search.Query
		want search.Query
	}{
		{search.Query{Text: "  a\tb\n\nc ", Limit: 0}, search.Query{Text: "a b c", Limit: search.DefaultLimit}},
		{search.Query{Text: "x\x00y\xffz", Tenant: "t", Limit: 1000}, search.Query{Text: "x y z", Tenant: "t", Limit: search.MaxLimit}},
		{search.Query{Text: "é", Limit: -3}, search.Query{Text: "é", Limit: search.DefaultLimit}},
	} {
		got, err := c.in.Normalize()
		if err != nil || got != c.want {
			t.Errorf("Normalize(%+v) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
}

func TestResilientHungPrimaryWithoutDeadline(t *testing.T) {
	e := newEngine(t)
	e.mode.Store("hang")
	p := newHTTP(t, e, search.HTTPOptions{})
	f := &fake{ws: fallbackHit}
	r := newResilient(t, p, f, search.Options{Breaker: breaker.Settings{FailureThreshold: 2, OpenTimeout: time.Hour}})
	// The caller sets no deadline: DefaultPrimaryTimeout ends the wait.
	for i := range 2 {
		a, err := r.Ask(context.Background(), q)
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if a.Backend != search.Fallback || a.Reason != search.ReasonTimeout || !errors.Is(a.PrimaryErr, context.DeadlineExceeded) {
			t.Fatalf("call %d: got %+v", i, a)
		}
	}
	if s := r.Breaker().State(); s != breaker.Open {
		t.Fatalf("breaker %v after two hung calls", s)
	}
	a, err := r.Ask(context.Background(), q)
	if err != nil || a.Backend != search.Fallback || a.Reason != search.ReasonBreakerOpen {
		t.Fatalf("with the breaker open: got %+v, %v", a, err)
	}
	if n := e.requests.Load(); n != 2 {
		t.Errorf("engine asked %d times, want 2", n)
	}
}

func TestResilientHungFallbackWithoutDeadline(t *testing.T) {
	p, f := &fake{err: errPrimary}, &fake{hang: true}
	r := newResilient(t, p, f, search.Options{})
	_, err := r.Ask(context.Background(), q)
	var se *search.Error
	if !errors.As(err, &se) || !errors.Is(se.Fallback, context.DeadlineExceeded) || !errors.Is(err, errPrimary) {
		t.Fatalf("got %v, want both backends' errors with the fallback's timeout", err)
	}
}

func TestResilientTimeoutWhileRetryWaits(t *testing.T) {
	p, f := &fake{err: errPrimary}, &fake{ws: fallbackHit}
	r := newResilient(t, p, f, search.Options{
		PrimaryTimeout: 20 * time.Millisecond,
		// The wait between attempts never ends on its own: the primary's
		// timeout ends it.
		Retry: retry.Policy{MaxRetries: 3, BaseDelay: time.Millisecond,
			After: func(time.Duration) <-chan time.Time { return nil }},
	})
	a, err := r.Ask(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if a.Backend != search.Fallback || a.Reason != search.ReasonTimeout || !errors.Is(a.PrimaryErr, errPrimary) {
		t.Fatalf("got %+v, want the fallback's answer for a timeout", a)
	}
	if n := p.calls.Load(); n != 1 {
		t.Errorf("primary asked %d times, want 1", n)
	}
}
